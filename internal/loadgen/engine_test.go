package loadgen_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/signature"
)

// answerServer serves /webhook over raw TCP: the fake vault decides each answer, and frame
// writes it with whatever framing the test wants, closing the connection after it if it
// returns true. It returns the server's URL and a count of the connections made to it.
func answerServer(t *testing.T, frame func(w io.Writer, code int, body string) (closeAfter bool)) (string, *atomic.Int64) {
	t.Helper()
	vault := newFakeVault(t, testSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, err := io.ReadAll(req.Body)
					if err != nil {
						return
					}
					req.Body = io.NopCloser(bytes.NewReader(body))
					rec := httptest.NewRecorder()
					vault.ServeHTTP(rec, req)
					if frame(c, rec.Code, rec.Body.String()) {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String(), &conns
}

func withLength(w io.Writer, code int, body string) bool {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
	return false
}

// Framings of a correct answer, each of which both engines must read as the same answer.
var framings = []struct {
	name  string
	frame func(w io.Writer, code int, body string) bool
	// Each request on a connection of its own, rather than one connection per worker.
	connPerRequest bool
}{
	{"content length", withLength, false},
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
		return withLength(w, code, body)
	}, false},
	{"lower-case names, bare LF, no reason", func(w io.Writer, code int, body string) bool {
		fmt.Fprintf(w, "HTTP/1.1 %d\ncontent-length: %d\n\n%s", code, len(body), body)
		return false
	}, false},
	{"escaped id, spaces", func(w io.Writer, code int, body string) bool {
		body = strings.ReplaceAll(body, "-", `\u002d`)
		body = strings.ReplaceAll(body, `":`, `": `)
		return withLength(w, code, body)
	}, false},
}

// TestEnginesReadFramingsAlike sends every kind of request through each framing of the
// answers, with both engines: each must count every answer as the one it is.
func TestEnginesReadFramingsAlike(t *testing.T) {
	const count = 60
	for _, f := range framings {
		t.Run(f.name, func(t *testing.T) {
			forEngines(t, func(t *testing.T, e loadgen.Engine) {
				url, conns := answerServer(t, f.frame)
				rep, err := loadgen.Run(t.Context(), loadgen.Config{
					URL: url, Secret: []byte(testSecret), Count: count, Concurrency: 1, Engine: e,
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
		})
	}
}

// TestEnginesReportAlike gives both engines answers that are not hookvault's, or not HTTP,
// and checks they report them the same.
func TestEnginesReportAlike(t *testing.T) {
	fixed := func(raw string, closeAfter bool) func(io.Writer, int, string) bool {
		return func(w io.Writer, _ int, _ string) bool {
			io.WriteString(w, raw)
			return closeAfter
		}
	}
	const count = 12
	tests := []struct {
		name  string
		frame func(io.Writer, int, string) bool
		want  string // in the first sample, ids as "ID"
		err   bool   // no answer
	}{
		{"no content", fixed("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", false),
			`new ID: 204 (""), want 200`, false},
		{"overloaded", fixed("HTTP/1.1 503 Service Unavailable\r\nretry-after:  7 \r\nRetry-After: 9\r\nContent-Length: 5\r\n\r\nbusy\n", false),
			`new ID: 503 (overloaded; Retry-After "7")`, false},
		{"problem", fixed("HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/problem+json\r\nContent-Length: 42\r\n\r\n"+
			`{"title":"Invalid message","detail":"bad"}`, false), `new ID: 422 (Invalid message: bad), want 200`, false},
		{"odd status", fixed("HTTP/1.1 299 Odd\r\nContent-Length: 2\r\n\r\n{}", false),
			`new ID: 299 ("{}"), want 200`, false},
		{"large page", fixed("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("<p>", 33333)+"x", false),
			`new ID: 200 with an answer that is not hookvault's ("<p><p>`, false},
		{"large chunked page", fixed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
			strings.Repeat("1000\r\n"+strings.Repeat("a", 0x1000)+"\r\n", 20)+"0\r\n\r\n", false),
			`new ID: 200 with an answer that is not hookvault's ("aaaa`, false},
		{"hookvault with extra member", fixed("HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n"+
			`{"status":"ok","duplicate":false,"extra":[1,2]}`+"\n", false), "", false},
		{"duplicate null", fixed("HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n"+
			`{"status":"ok","duplicate":null}`+"\n", false), `new ID: 200 with an answer that is not hookvault's`, false},
		{"status case", fixed("HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n"+
			`{"Status":"ok","duplicate":false}`, false), "", false},
		{"hang up", func(io.Writer, int, string) bool { return true }, "no answer", true},
		{"not HTTP", fixed("SSH-2.0-OpenSSH_9.6\r\n", true), "no answer", true},
		{"truncated body", fixed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\"", true), "no answer", true},
		{"bad length", fixed("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}", true), "no answer", true},
		{"unknown transfer encoding", fixed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true), "no answer", true},
		{"switching protocols", fixed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", true),
			`new ID: 101 (""), want 200`, false},
	}
	ids := regexp.MustCompile(`lg-[0-9]+`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reports []string
			for _, e := range engines {
				url, _ := answerServer(t, tt.frame)
				rep, err := loadgen.Run(t.Context(), loadgen.Config{
					URL: url, Secret: []byte(testSecret), Count: count, Concurrency: 1, Engine: e, Prefix: "lg",
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				sample := ""
				if len(rep.Samples) > 0 {
					sample = ids.ReplaceAllString(rep.Samples[0], "ID")
				}
				if !strings.Contains(sample, tt.want) {
					t.Errorf("%s: first sample %q, want one containing %q", e, sample, tt.want)
				}
				if tt.err {
					if rep.Errors != count || len(rep.Status) != 0 {
						t.Errorf("%s: errors %d, statuses %v, want %d transport errors", e, rep.Errors, rep.Status, count)
					}
					sample = "" // the transport's own words differ
				}
				reports = append(reports, fmt.Sprintf("sent %d, statuses %v, created %d, duplicates %d, rejected %d, unexpected %d, overloaded %d, errors %d, sample %q",
					rep.Sent, rep.Status, rep.Created, rep.Duplicates, rep.Rejected, rep.Unexpected, rep.Overloaded, rep.Errors, sample))
			}
			if reports[0] != reports[1] {
				t.Errorf("the engines report differently:\n%s: %s\n%s: %s", engines[0], reports[0], engines[1], reports[1])
			}
		})
	}
}

// TestEnginesSendSameRequest checks that a server sees the same request from both engines.
func TestEnginesSendSameRequest(t *testing.T) {
	type seen struct {
		Method, RequestURI, Host, Proto string
		ContentLength                   int64
		TransferEncoding                []string
		Header                          http.Header
		Body                            string
	}
	var got []seen
	var mu sync.Mutex
	verifier, err := signature.NewVerifier([][]byte{[]byte(testSecret)}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, r.Proto, r.ContentLength, r.TransferEncoding, r.Header.Clone(), string(body)})
		mu.Unlock()
		if _, err := verifier.Verify(r.Header, body); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		// Both runs send the same message, so both must be answered as new.
		_, _ = io.WriteString(w, `{"status":"ok","duplicate":false}`)
	}))
	for _, e := range engines {
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url + "/base/", Secret: []byte(testSecret), Count: 1, Concurrency: 1, Engine: e, Prefix: "same",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != 1 {
			t.Fatalf("%s: created %d, want 1; samples %q", e, rep.Created, rep.Samples)
		}
	}
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(got))
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("the engines' requests differ:\n%s: %+v\n%s: %+v", engines[0], got[0], engines[1], got[1])
	}
	if got[0].RequestURI != "/base/webhook" {
		t.Errorf("request URI %q, want /base/webhook", got[0].RequestURI)
	}
}

// TestRunServerClosesIdleConnections has the server close each connection soon after its
// answer, before the next request: the generator must notice and dial again, not report
// the next request as failed.
func TestRunServerClosesIdleConnections(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(newFakeVault(t, testSecret))
		srv.Config.IdleTimeout = 20 * time.Millisecond
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: srv.URL, Secret: []byte(testSecret), Count: 4, Concurrency: 1, Rate: 10, Engine: e,
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
	})
}

func TestRunTimeout(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		start := time.Now()
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: hangingServer(t), Secret: []byte(testSecret), Count: 2, Concurrency: 2, Timeout: 100 * time.Millisecond, Engine: e,
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
	})
}

func TestRunCancelWhileWaiting(t *testing.T) {
	forEngines(t, func(t *testing.T, e loadgen.Engine) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep, err := loadgen.Run(ctx, loadgen.Config{
			URL: hangingServer(t), Secret: []byte(testSecret), Count: 4, Concurrency: 4, Engine: e,
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
	})
}

// hangingServer reads requests and answers none, until the test ends.
func hangingServer(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	url, _ := answerServer(t, func(io.Writer, int, string) bool {
		<-done
		return true
	})
	t.Cleanup(func() { close(done) }) // runs before answerServer's cleanup, which waits
	return url
}

func TestEngineConfig(t *testing.T) {
	tls := httptest.NewUnstartedServer(newFakeVault(t, testSecret))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes cut short by the bad configurations
	tls.StartTLS()
	t.Cleanup(tls.Close)
	bad := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"raw over TLS", loadgen.Config{URL: tls.URL, Engine: loadgen.EngineRaw}, "raw engine cannot send"},
		{"raw with a client", loadgen.Config{URL: "http://127.0.0.1:1", Engine: loadgen.EngineRaw, Client: http.DefaultClient}, "Config.Client"},
		{"raw with credentials", loadgen.Config{URL: "http://u:p@127.0.0.1:1", Engine: loadgen.EngineRaw}, "credentials"},
		{"raw with one URL over TLS", loadgen.Config{URLs: []string{"http://127.0.0.1:1", tls.URL}, Engine: loadgen.EngineRaw, Concurrency: 2}, "raw engine cannot send"},
		{"unknown engine", loadgen.Config{URL: "http://127.0.0.1:1", Engine: 7}, "unknown engine"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Secret, tt.cfg.Count = []byte(testSecret), 1
			_, err := loadgen.Run(t.Context(), tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The default takes net/http where the raw engine cannot go.
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: tls.URL, Secret: []byte(testSecret), Count: 5, Concurrency: 2, Client: tls.Client(),
	}, nil)
	if err != nil || rep.Created != 5 {
		t.Errorf("over TLS with the server's client: created %d, err %v, want 5; samples %q", rep.Created, err, rep.Samples)
	}
}
