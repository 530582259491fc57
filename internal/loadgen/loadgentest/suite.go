package loadgentest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// Run runs loadgen.Run with connect (nil: net/http) through every case a way of sending
// must get right: the answers counted as what they are, whatever their framing, one
// kept-alive connection per worker, a server closing idle connections, timeouts and
// cancellation.
func Run(t *testing.T, connect Connect) {
	t.Run("Outcomes", func(t *testing.T) { testOutcomes(t, connect) })
	t.Run("ReusesConnections", func(t *testing.T) { testReusesConnections(t, connect) })
	t.Run("Unexpected", func(t *testing.T) { testUnexpected(t, connect) })
	t.Run("Framings", func(t *testing.T) { testFramings(t, connect) })
	t.Run("ServerClosesIdleConnections", func(t *testing.T) { testServerClosesIdle(t, connect) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, connect) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, connect) })
	t.Run("CancelWhileWaiting", func(t *testing.T) { testCancelWhileWaiting(t, connect) })
}

func testOutcomes(t *testing.T, connect Connect) {
	vault := NewFakeVault(t, Secret)
	url, _ := Serve(t, vault)

	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(Secret), Connect: connect, Count: 400, Concurrency: 8,
		DuplicateShare: 0.2, BadSignatureShare: 0.1, KeepAcked: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 400 || rep.Unexpected != 0 || rep.Errors != 0 {
		t.Fatalf("sent %d, unexpected %d, errors %d, want 400, 0, 0; samples: %q", rep.Sent, rep.Unexpected, rep.Errors, rep.Samples)
	}
	if got := rep.Created + rep.Duplicates + rep.Rejected; got != 400 {
		t.Errorf("created %d + duplicates %d + rejected %d = %d, want 400", rep.Created, rep.Duplicates, rep.Rejected, got)
	}
	// With these shares, none of either kind among 400 is a chance of about 1e-18.
	if rep.Duplicates == 0 || rep.Rejected == 0 {
		t.Errorf("duplicates %d, rejected %d, want some of each", rep.Duplicates, rep.Rejected)
	}
	if got, want := rep.Status[http.StatusOK]+rep.Status[http.StatusUnauthorized], 400; got != want || rep.Status[http.StatusUnauthorized] != rep.Rejected {
		t.Errorf("status counts %v, want %d answers, %d of them 401", rep.Status, want, rep.Rejected)
	}

	// Every acked message is stored with the bytes sent, and nothing else is.
	stored := vault.Stored()
	if len(rep.Acked) != rep.Created || len(stored) != rep.Created {
		t.Fatalf("acked %d, stored %d, want %d", len(rep.Acked), len(stored), rep.Created)
	}
	for _, a := range rep.Acked {
		if got := stored[a.ID]; string(got) != string(a.Body) {
			t.Errorf("%s: stored %s, sent %s", a.ID, got, a.Body)
		}
		if !strings.HasPrefix(a.ID, rep.Prefix+"-") {
			t.Errorf("id %q does not start with the run prefix %q", a.ID, rep.Prefix)
		}
		var msg struct{ Sender string }
		if err := json.Unmarshal(a.Body, &msg); err != nil || msg.Sender != rep.Sender {
			t.Errorf("%s: sender %q (%v), want %q", a.ID, msg.Sender, err, rep.Sender)
		}
	}

	l := rep.Latency
	if l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency p50 %s, p90 %s, p99 %s, max %s: want 0 < p50 <= p90 <= p99 <= max", l.P50, l.P90, l.P99, l.Max)
	}
	if rep.Throughput <= 0 || rep.Duration <= 0 {
		t.Errorf("throughput %f over %s, want positive", rep.Throughput, rep.Duration)
	}
}

func testReusesConnections(t *testing.T, connect Connect) {
	const concurrency = 8
	// Answers go out in batches of all workers at once, as they do from a server with group
	// commit: a pool that keeps fewer idle connections than there are workers closes the
	// surplus after every batch and dials again for the next.
	batch := newBarrier(concurrency)
	vault := NewFakeVault(t, Secret)
	url, conns := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		batch.wait()
		vault.ServeHTTP(w, r)
	}))
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(Secret), Connect: connect, Count: 100 * concurrency, Concurrency: concurrency,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 100*concurrency {
		t.Fatalf("created %d, want %d; samples: %q", rep.Created, 100*concurrency, rep.Samples)
	}
	// The batches also keep a worker from overtaking another's dial at the start, so the
	// count is exact: Go's default of 2 idle connections per host needs about 20 here.
	if got := conns.Load(); got != concurrency {
		t.Errorf("%d connections for %d requests from %d workers, want one per worker", got, rep.Sent, concurrency)
	}
}

// barrier holds callers until size of them are waiting, then lets them all go.
type barrier struct {
	mu      sync.Mutex
	size, n int
	release chan struct{}
}

func newBarrier(size int) *barrier {
	return &barrier{size: size, release: make(chan struct{})}
}

func (b *barrier) wait() {
	b.mu.Lock()
	release := b.release
	b.n++
	if b.n == b.size {
		close(release)
		b.release, b.n = make(chan struct{}), 0
	}
	b.mu.Unlock()
	<-release
}

func testUnexpected(t *testing.T, connect Connect) {
	overloaded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	notHookvault := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "<html>welcome</html>")
	})
	wrongID := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"status":"ok","id":"someone-else","duplicate":false}`)
	})
	alwaysDuplicate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"status":"ok","duplicate":true}`)
	})
	wrongSecret, _ := Serve(t, NewFakeVault(t, "not-"+Secret))
	over, _ := Serve(t, overloaded)
	html, _ := Serve(t, notHookvault)
	other, _ := Serve(t, wrongID)
	dup, _ := Serve(t, alwaysDuplicate)

	tests := []struct {
		name       string
		url        string
		wantStatus int // every answer; 0 for no answer
		wantSample string
		overloaded bool
	}{
		{"wrong secret", wrongSecret, 401, `401 ("invalid signature"), want 200`, false},
		{"overloaded", over, 503, "503 (overloaded", true},
		{"not hookvault", html, 200, "not hookvault's", false},
		{"wrong id", other, 200, "not hookvault's", false},
		{"new id answered as duplicate", dup, 200, "duplicate:true", false},
		{"nothing listening", ClosedURL(t), 0, "no answer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := loadgen.Run(t.Context(), loadgen.Config{
				URL: tt.url, Secret: []byte(Secret), Count: 50, Concurrency: 4, Connect: connect,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sent != 50 || rep.Unexpected != 50 || rep.Created != 0 {
				t.Errorf("sent %d, unexpected %d, created %d, want 50, 50, 0", rep.Sent, rep.Unexpected, rep.Created)
			}
			if tt.wantStatus == 0 {
				if rep.Errors != 50 || len(rep.Status) != 0 {
					t.Errorf("errors %d, statuses %v, want 50 transport errors", rep.Errors, rep.Status)
				}
			} else if rep.Status[tt.wantStatus] != 50 {
				t.Errorf("statuses %v, want 50 × %d", rep.Status, tt.wantStatus)
			}
			if got := rep.Overloaded == 50; got != tt.overloaded {
				t.Errorf("overloaded %d, want all: %t", rep.Overloaded, tt.overloaded)
			}
			if len(rep.Samples) == 0 || len(rep.Samples) > 5 || !strings.Contains(rep.Samples[0], tt.wantSample) {
				t.Errorf("samples %q, want 1 to 5 of them containing %q", rep.Samples, tt.wantSample)
			}
			if len(rep.Acked) != 0 {
				t.Errorf("acked %d, want none", len(rep.Acked))
			}
		})
	}
}

// framings are the framings of a correct answer, each of which every way of sending must
// read as the same answer.
var framings = []struct {
	name  string
	frame func(w io.Writer, code int, body string) bool
	// Each request on a connection of its own, rather than one connection per worker.
	connPerRequest bool
}{
	{"content length", WithLength, false},
	{"chunked with trailer", func(w io.Writer, code int, body string) bool {
		half := len(body) / 2
		fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n",
			code, http.StatusText(code), half, body[:half], len(body)-half, body[half:])
		return false
	}, false},
	{"connection close", func(w io.Writer, code int, body string) bool {
		fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", code, http.StatusText(code), len(body), body)
		return true
	}, true},
	{"HTTP/1.0 body to the close", func(w io.Writer, code int, body string) bool {
		fmt.Fprintf(w, "HTTP/1.0 %d %s\r\n\r\n%s", code, http.StatusText(code), body)
		return true
	}, true},
	{"HTTP/1.0 keep-alive", func(w io.Writer, code int, body string) bool {
		fmt.Fprintf(w, "HTTP/1.0 %d %s\r\nConnection: Keep-Alive\r\nContent-Length: %d\r\n\r\n%s", code, http.StatusText(code), len(body), body)
		return false
	}, false},
	{"interim answers first", func(w io.Writer, code int, body string) bool {
		io.WriteString(w, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
		return WithLength(w, code, body)
	}, false},
	{"lower-case names, bare LF, no reason", func(w io.Writer, code int, body string) bool {
		fmt.Fprintf(w, "HTTP/1.1 %d\ncontent-length: %d\n\n%s", code, len(body), body)
		return false
	}, false},
	{"escaped id, spaces", func(w io.Writer, code int, body string) bool {
		body = strings.ReplaceAll(body, "-", `\u002d`)
		body = strings.ReplaceAll(body, `":`, `": `)
		return WithLength(w, code, body)
	}, false},
}

// testFramings sends every kind of request through each framing of the answers: each must
// be counted as the one it is.
func testFramings(t *testing.T, connect Connect) {
	const count = 60
	for _, f := range framings {
		t.Run(f.name, func(t *testing.T) {
			url, conns := AnswerServer(t, f.frame)
			rep, err := loadgen.Run(t.Context(), loadgen.Config{
				URL: url, Secret: []byte(Secret), Count: count, Concurrency: 1, Connect: connect,
				DuplicateShare: 0.3, BadSignatureShare: 0.2,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Unexpected != 0 || rep.Created+rep.Duplicates+rep.Rejected != count {
				t.Fatalf("unexpected %d, created %d + duplicates %d + rejected %d, want 0 and %d; samples %q",
					rep.Unexpected, rep.Created, rep.Duplicates, rep.Rejected, count, rep.Samples)
			}
			// Left to chance: none of either among 60 has a chance of about 1e-6.
			if rep.Duplicates == 0 || rep.Rejected == 0 {
				t.Errorf("duplicates %d, rejected %d, want some of each", rep.Duplicates, rep.Rejected)
			}
			want := map[int]int{200: rep.Created + rep.Duplicates, 401: rep.Rejected}
			if !reflect.DeepEqual(rep.Status, want) {
				t.Errorf("statuses %v, want %v", rep.Status, want)
			}
			wantConns := int64(1)
			if f.connPerRequest {
				wantConns = count
			}
			if got := conns.Load(); got != wantConns {
				t.Errorf("%d connections, want %d", got, wantConns)
			}
		})
	}
}

// testServerClosesIdle has the server close each connection soon after its answer, before
// the next request: the sender must notice and dial again, not report the next request as
// failed.
func testServerClosesIdle(t *testing.T, connect Connect) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(NewFakeVault(t, Secret))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: srv.URL, Secret: []byte(Secret), Count: 4, Concurrency: 1, Rate: 10, Connect: connect,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 4 || rep.Errors != 0 {
		t.Errorf("created %d, errors %d, want 4, 0; samples %q", rep.Created, rep.Errors, rep.Samples)
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("%d connections, want 4: one per request, each closed while idle", got)
	}
}

func testTimeout(t *testing.T, connect Connect) {
	start := time.Now()
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: HangingServer(t), Secret: []byte(Secret), Count: 2, Concurrency: 2, Timeout: 100 * time.Millisecond, Connect: connect,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 2 || len(rep.Samples) == 0 || !strings.Contains(strings.ToLower(rep.Samples[0]), "timeout") {
		t.Errorf("errors %d, samples %q, want 2 timeouts", rep.Errors, rep.Samples)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %s with a 100ms timeout", d)
	}
}

func testCancel(t *testing.T, connect Connect) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	vault := NewFakeVault(t, Secret)
	var seen atomic.Int64
	url, _ := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 20 {
			cancel()
		}
		vault.ServeHTTP(w, r)
	}))
	var lastProgress int
	rep, err := loadgen.Run(ctx, loadgen.Config{
		URL: url, Secret: []byte(Secret), Connect: connect, Count: 1_000_000, Concurrency: 4,
	}, func(done int) { lastProgress = done })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if rep.Sent >= 1_000_000 || rep.Errors != 0 {
		t.Errorf("sent %d, errors %d: want the run cut short, abandoned requests not counted", rep.Sent, rep.Errors)
	}
	if lastProgress != rep.Sent {
		t.Errorf("last progress %d, want the final count %d", lastProgress, rep.Sent)
	}
}

func testCancelWhileWaiting(t *testing.T, connect Connect) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := loadgen.Run(ctx, loadgen.Config{
		URL: HangingServer(t), Secret: []byte(Secret), Count: 4, Concurrency: 4, Connect: connect,
	}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if rep.Sent != 0 || rep.Errors != 0 {
		t.Errorf("sent %d, errors %d: want the requests in flight abandoned, not counted", rep.Sent, rep.Errors)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %s after its context ended at 100ms", d)
	}
}
