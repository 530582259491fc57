// Package loadgentest holds the fake servers loadgen's tests load, and Run, the suite that
// every way of sending (net/http's, or a loadgen.Config.Connect such as hookbench's raw
// engine) passes: the same cases, so that a sender cannot count an answer differently.
package loadgentest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/signature"
)

// Secret is the webhook secret of the fake servers.
const Secret = "loadgen-test-secret"

// Connect is a loadgen.Config.Connect; nil sends through net/http.
type Connect = func(endpoint *url.URL, timeout time.Duration) (loadgen.Conn, error)

// FakeVault answers /webhook the way hookvault does, from memory: 401 for a bad signature,
// 200 with duplicate:false for a new id and duplicate:true after that.
type FakeVault struct {
	verifier *signature.Verifier
	mu       sync.Mutex
	stored   map[string][]byte
}

// NewFakeVault returns an empty vault that verifies signatures with secret.
func NewFakeVault(tb testing.TB, secret string) *FakeVault {
	tb.Helper()
	v, err := signature.NewVerifier([][]byte{[]byte(secret)}, signature.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return &FakeVault{verifier: v, stored: map[string][]byte{}}
}

func (f *FakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// Stored returns a copy of the stored messages by id.
func (f *FakeVault) Stored() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	stored := make(map[string][]byte, len(f.stored))
	for id, body := range f.stored {
		stored[id] = body
	}
	return stored
}

// Serve starts h on a loopback port and returns its URL and a count of the connections
// clients opened to it.
func Serve(tb testing.TB, h http.Handler) (string, *atomic.Int64) {
	tb.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv.URL, &conns
}

// AnswerServer serves /webhook over raw TCP: a FakeVault decides each answer, and frame
// writes it with whatever framing the test wants, closing the connection after it if it
// returns true. It returns the server's URL and a count of the connections made to it.
func AnswerServer(tb testing.TB, frame func(w io.Writer, code int, body string) (closeAfter bool)) (string, *atomic.Int64) {
	tb.Helper()
	vault := NewFakeVault(tb, Secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var conns atomic.Int64
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
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

// WithLength frames an answer with Content-Length, as most servers do.
func WithLength(w io.Writer, code int, body string) bool {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
	return false
}

// HangingServer reads requests and answers none, until the test ends.
func HangingServer(tb testing.TB) string {
	tb.Helper()
	done := make(chan struct{})
	url, _ := AnswerServer(tb, func(io.Writer, int, string) bool {
		<-done
		return true
	})
	tb.Cleanup(func() { close(done) }) // runs before AnswerServer's cleanup, which waits
	return url
}

// ClosedURL returns the URL of a port that nothing listens on.
func ClosedURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
