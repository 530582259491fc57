package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/signature"
)

const testSecret = "loadgen-test-secret"

// engines are the ways of sending, which must not differ in anything a report says.
var engines = []loadgen.Engine{loadgen.EngineRaw, loadgen.EngineNetHTTP}

// forEngines runs test once per engine.
func forEngines(t *testing.T, test func(t *testing.T, e loadgen.Engine)) {
	for _, e := range engines {
		t.Run(strings.ReplaceAll(e.String(), "/", ""), func(t *testing.T) { test(t, e) })
	}
}

// fakeVault answers /webhook the way hookvault does, from memory: 401 for a bad signature,
// 200 with duplicate:false for a new id and duplicate:true after that.
type fakeVault struct {
	verifier *signature.Verifier
	mu       sync.Mutex
	stored   map[string][]byte
}

func newFakeVault(t *testing.T, secret string) *fakeVault {
	t.Helper()
	v, err := signature.NewVerifier([][]byte{[]byte(secret)}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeVault{verifier: v, stored: map[string][]byte{}}
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/webhook" || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if _, err := f.verifier.Verify(r.Header, body); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var msg struct{ ID, Sender, Content string }
	if err := json.Unmarshal(body, &msg); err != nil || msg.ID == "" || msg.Sender == "" {
		http.Error(w, "invalid message", http.StatusUnprocessableEntity)
		return
	}
	f.mu.Lock()
	_, dup := f.stored[msg.ID]
	if !dup {
		f.stored[msg.ID] = body
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "id": msg.ID, "duplicate": dup})
}

// serve starts h on a loopback port and returns its URL and a count of the connections
// clients opened to it.
func serve(t *testing.T, h http.Handler) (string, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, &conns
}

func TestRunOutcomes(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		vault := newFakeVault(t, testSecret)
		url, _ := serve(t, vault)

		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Count: 400, Concurrency: 8,
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
		if len(rep.Acked) != rep.Created || len(vault.stored) != rep.Created {
			t.Fatalf("acked %d, stored %d, want %d", len(rep.Acked), len(vault.stored), rep.Created)
		}
		for _, a := range rep.Acked {
			if got := vault.stored[a.ID]; string(got) != string(a.Body) {
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
		if got := l.Histogram.TotalCount(); got != 400 {
			t.Errorf("histogram holds %d latencies, want 400", got)
		}
		if rep.Throughput <= 0 || rep.Duration <= 0 {
			t.Errorf("throughput %f over %s, want positive", rep.Throughput, rep.Duration)
		}
	})
}

func TestRunReusesConnections(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		const concurrency = 8
		// Answers go out in batches of all workers at once, as they do from a server with group
		// commit: a pool that keeps fewer idle connections than there are workers closes the
		// surplus after every batch and dials again for the next.
		batch := newBarrier(concurrency)
		vault := newFakeVault(t, testSecret)
		url, conns := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			batch.wait()
			vault.ServeHTTP(w, r)
		}))
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Count: 100 * concurrency, Concurrency: concurrency,
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
	})
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

func TestRunUnexpected(t *testing.T) {
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
	wrongSecret, _ := serve(t, newFakeVault(t, "not-"+testSecret))
	over, _ := serve(t, overloaded)
	html, _ := serve(t, notHookvault)
	other, _ := serve(t, wrongID)
	dup, _ := serve(t, alwaysDuplicate)

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
		{"nothing listening", closedURL(t), 0, "no answer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEngines(t, func(t *testing.T, e loadgen.Engine) {
				rep, err := loadgen.Run(t.Context(), loadgen.Config{
					URL: tt.url, Secret: []byte(testSecret), Count: 50, Concurrency: 4, Engine: e,
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
		})
	}
}

// closedURL returns the URL of a port that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestRunPrefixIsEscaped(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		vault := newFakeVault(t, testSecret)
		url, _ := serve(t, vault)
		prefix := `say "<hi>" \ ünï`
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url + "/", Secret: []byte(testSecret), Engine: e, Count: 3, Concurrency: 1, Prefix: prefix, Sender: "bench",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != 3 {
			t.Fatalf("created %d, want 3; samples %q", rep.Created, rep.Samples)
		}
		for _, id := range []string{prefix + "-1", prefix + "-2", prefix + "-3"} {
			var msg struct{ ID, Sender string }
			if err := json.Unmarshal(vault.stored[id], &msg); err != nil || msg.ID != id || msg.Sender != "bench" {
				t.Errorf("stored %s under %q, want a message with that id from bench", vault.stored[id], id)
			}
		}
		// Markup stays as typed in the raw body, which is stored byte for byte.
		if body := string(vault.stored[prefix+"-1"]); !strings.Contains(body, `<hi>`) {
			t.Errorf("body %s escapes the prefix's markup", body)
		}
	})
}

func TestRunDurationEndsRun(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		url, _ := serve(t, newFakeVault(t, testSecret))
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Duration: 100 * time.Millisecond, Concurrency: 4,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 || rep.Unexpected != 0 {
			t.Errorf("sent %d, unexpected %d (%q), want some and none", rep.Sent, rep.Unexpected, rep.Samples)
		}
		// Only a hang guard: how long a run takes on a loaded machine is not asserted.
		if rep.Duration > 10*time.Second {
			t.Errorf("run took %s, want it to end soon after 100ms", rep.Duration)
		}
	})
}

func TestRunRate(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		url, _ := serve(t, newFakeVault(t, testSecret))
		// The pacing itself is the limiter's (TestRateLimiterIsEven); this run proves a
		// rate-limited run completes with every answer as expected.
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Count: 20, Rate: 200, Concurrency: 8,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != 20 {
			t.Fatalf("created %d, want 20; samples %q", rep.Created, rep.Samples)
		}
	})
}

func TestRunRateEndsWithDuration(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		url, _ := serve(t, newFakeVault(t, testSecret))
		// At 20/s, 100ms leaves room for 2 or 3 requests; a limiter wait must not outlast it.
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Rate: 20, Duration: 100 * time.Millisecond, Concurrency: 8,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent < 1 || rep.Sent > 3 || rep.Unexpected != 0 {
			t.Errorf("sent %d (unexpected %d), want 1 to 3", rep.Sent, rep.Unexpected)
		}
	})
}

func TestRunCancel(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		vault := newFakeVault(t, testSecret)
		var seen atomic.Int64
		url, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seen.Add(1) == 20 {
				cancel()
			}
			vault.ServeHTTP(w, r)
		}))
		var lastProgress int
		rep, err := loadgen.Run(ctx, loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Count: 1_000_000, Concurrency: 4,
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
	})
}

func TestRunProgress(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		url, _ := serve(t, newFakeVault(t, testSecret))
		var calls []int // progress is called from one goroutine, and not after Run returns
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Secret: []byte(testSecret), Engine: e, Count: 100, Concurrency: 4,
		}, func(done int) { calls = append(calls, done) })
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) == 0 || calls[len(calls)-1] != rep.Sent {
			t.Errorf("progress calls %v, want the last to be %d", calls, rep.Sent)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i] < calls[i-1] {
				t.Errorf("progress went back: %v", calls)
			}
		}
	})
}

func TestConfigErrors(t *testing.T) {
	ok := loadgen.Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1}
	tests := []struct {
		name   string
		change func(*loadgen.Config)
		want   string
	}{
		{"no scheme", func(c *loadgen.Config) { c.URL = "127.0.0.1:8000" }, "bad URL"},
		{"no secret", func(c *loadgen.Config) { c.Secret = nil }, "secret is empty"},
		{"endless", func(c *loadgen.Config) { c.Count = 0 }, "never end"},
		{"negative count", func(c *loadgen.Config) { c.Count = -1 }, "count is negative"},
		{"negative rate", func(c *loadgen.Config) { c.Rate = -1 }, "rate is not a number"},
		{"infinite rate", func(c *loadgen.Config) { c.Rate = math.Inf(1) }, "rate is not a number"},
		{"share not a number", func(c *loadgen.Config) { c.BadSignatureShare = math.NaN() }, "bad-signature share"},
		{"share over 1", func(c *loadgen.Config) { c.DuplicateShare = 1.5 }, "duplicate share"},
		{"shares over 1", func(c *loadgen.Config) { c.DuplicateShare, c.BadSignatureShare = 0.6, 0.6 }, "add up to more than 1"},
		{"long prefix", func(c *loadgen.Config) { c.Prefix = strings.Repeat("p", 201) }, "prefix is longer"},
		{"URL and URLs", func(c *loadgen.Config) { c.URLs = []string{c.URL} }, "not both"},
		{"bad URL in the list", func(c *loadgen.Config) { c.URL, c.URLs = "", []string{"http://127.0.0.1:1", "127.0.0.1:2"} }, `bad URL "127.0.0.1:2"`},
		{"fewer workers than URLs", func(c *loadgen.Config) {
			c.URL, c.URLs, c.Concurrency = "", []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}, 2
		}, "concurrency of 3 at least"},
		{"duplicates across one URL", func(c *loadgen.Config) { c.CrossDuplicates = true }, "two URLs at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := loadgen.Run(t.Context(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRound(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{0, 0},
		{999 * time.Nanosecond, 999 * time.Nanosecond},
		{1234 * time.Nanosecond, 1230 * time.Nanosecond},
		{7_851_234 * time.Nanosecond, 7_850 * time.Microsecond},
		{21_049 * time.Microsecond, 21 * time.Millisecond},
		{123_456 * time.Microsecond, 123 * time.Millisecond},
		{5_384 * time.Millisecond, 5_380 * time.Millisecond},
		{1234 * time.Second, 1234 * time.Second},
	}
	for _, tt := range tests {
		if got := loadgen.Round(tt.in); got != tt.want {
			t.Errorf("Round(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// countingServer serves one vault, which may be shared with other servers, and counts the
// requests it got and, of the duplicates it saw, those whose id another server stored.
type countingServer struct {
	name                 string
	vault                *fakeVault
	owner                *sync.Map // id → name of the server that stored it, shared
	requests, crossDupes atomic.Int64
	url                  string
	conns                *atomic.Int64
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	c.vault.ServeHTTP(rec, r)
	var a struct {
		ID        string
		Duplicate bool
	}
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &a) == nil {
		if owner, loaded := c.owner.LoadOrStore(a.ID, c.name); loaded && a.Duplicate && owner != c.name {
			c.crossDupes.Add(1)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// TestRunSpreadsOverURLs loads several servers in one run, as hookbench loads replicas:
// every server gets requests, the report's per-URL counts are what each server saw, and
// ids are unique over all of them.
func TestRunSpreadsOverURLs(t *testing.T) {
	tests := []struct {
		name        string
		servers     int
		sharedStore bool // one vault behind all servers, as replicas share a database
		concurrency int
		dupShare    float64
		cross       bool
	}{
		{"one in a list", 1, false, 4, 0, false},
		{"two", 2, false, 4, 0, false},
		{"three, odd concurrency", 3, false, 5, 0.1, false},
		// Only with a shared store can a duplicate sent to the wrong server pass unnoticed.
		{"two sharing a store, duplicates to the same server", 2, true, 4, 0.3, false},
		{"two sharing a store, duplicates across", 2, true, 4, 0.3, true},
		{"three sharing a store, duplicates across", 3, true, 6, 0.3, true},
	}
	const count = 600
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEngines(t, func(t *testing.T, e loadgen.Engine) {
				shared := newFakeVault(t, testSecret)
				owner := &sync.Map{}
				var servers []*countingServer
				var urls []string
				for i := range tt.servers {
					s := &countingServer{name: fmt.Sprint("s", i), vault: shared, owner: owner}
					if !tt.sharedStore {
						s.vault = newFakeVault(t, testSecret)
					}
					s.url, s.conns = serve(t, s)
					servers = append(servers, s)
					urls = append(urls, s.url)
				}
				rep, err := loadgen.Run(t.Context(), loadgen.Config{
					URLs: urls, Secret: []byte(testSecret), Engine: e, Count: count, Concurrency: tt.concurrency,
					DuplicateShare: tt.dupShare, CrossDuplicates: tt.cross, KeepAcked: true,
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Sent != count || rep.Unexpected != 0 {
					t.Fatalf("sent %d, unexpected %d, want %d, 0; samples %q", rep.Sent, rep.Unexpected, count, rep.Samples)
				}
				if len(rep.ByURL) != len(servers) {
					t.Fatalf("report has %d servers, want %d: %+v", len(rep.ByURL), len(servers), rep.ByURL)
				}
				var sum loadgen.URLReport
				for i, s := range servers {
					got := rep.ByURL[i]
					if got.URL != s.url || got.Sent == 0 || int64(got.Sent) != s.requests.Load() {
						t.Errorf("server %d: report %+v, want URL %s and the %d requests it saw", i, got, s.url, s.requests.Load())
					}
					// Each worker keeps to its server, and the workers go round the servers.
					workers := tt.concurrency/len(servers) + btoi(i < tt.concurrency%len(servers))
					if e == loadgen.EngineRaw && s.conns.Load() != int64(workers) {
						t.Errorf("server %d: %d connections, want one per worker: %d", i, s.conns.Load(), workers)
					}
					sum.Created += got.Created
					sum.Duplicates += got.Duplicates
				}
				if sum.Created != rep.Created || sum.Duplicates != rep.Duplicates {
					t.Errorf("per-URL created %d, duplicates %d; totals %d, %d", sum.Created, sum.Duplicates, rep.Created, rep.Duplicates)
				}
				// Unique ids: every new message was stored as new, by one server only.
				stored := 0
				seen := map[*fakeVault]bool{}
				for _, s := range servers {
					if !seen[s.vault] {
						seen[s.vault] = true
						stored += len(s.vault.stored)
					}
				}
				if stored != rep.Created || len(rep.Acked) != rep.Created {
					t.Errorf("stored %d, acked %d, want both %d", stored, len(rep.Acked), rep.Created)
				}
				var cross int64
				for _, s := range servers {
					cross += s.crossDupes.Load()
				}
				// A few hundred duplicates with none across is a chance of nil.
				if tt.cross && (rep.Duplicates == 0 || cross != int64(rep.Duplicates)) {
					t.Errorf("%d duplicates, %d of them to another server than the one that stored the id, want all across", rep.Duplicates, cross)
				}
				if !tt.cross && cross != 0 {
					t.Errorf("%d duplicates went to another server, want none", cross)
				}
			})
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
