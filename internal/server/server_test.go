package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/server"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const secret = "lifecycle-secret"

// syncBuffer collects log lines that server goroutines write while the test reads them.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustConfig is the configuration of a server on a free loopback port with a fresh SQLite
// file, cfg.Database.Path.
func mustConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load([]string{
		"--listen-addr=127.0.0.1:0", "--database-url=sqlite:" + filepath.Join(t.TempDir(), "hv.db"), "--webhook-secret=" + secret,
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openServer opens a server on cfg that is shut down when the test ends.
func openServer(t *testing.T, cfg config.Config) *server.Server {
	t.Helper()
	s, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// startSlowDelivery sends the headers and half the body of a signed webhook on a raw
// connection, with Expect: 100-continue, and returns once the server's handler has started
// reading the body (it answers 100 Continue then): the request is in flight.
func startSlowDelivery(t *testing.T, addr, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"X-Signature: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		addr, signature.Sign([]byte(secret), []byte(body)), len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q (%v)", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // blank line after the interim response
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	return conn, br
}

// waitRefusing polls until the server stops accepting connections, proof that shutdown began.
func waitRefusing(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if i > 10000 {
			t.Fatal("server still accepts connections after Shutdown began")
		}
		time.Sleep(time.Millisecond)
	}
}

// A delivery in flight when shutdown starts is finished, answered 200 and committed; the
// store is closed cleanly afterwards.
func TestShutdownDrainsInFlightDelivery(t *testing.T) {
	cfg := mustConfig(t)
	s, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"inflight","sender":"alice","content":"finishing during shutdown"}`
	conn, br := startSlowDelivery(t, s.Addr(), body)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	waitRefusing(t, s.Addr())

	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(answer), `"duplicate":false`) {
		t.Fatalf("in-flight delivery got %d %s, want 200 created", resp.StatusCode, answer)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	st, err := sqlite.Open(context.Background(), cfg.Database.Path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m, err := st.Get(context.Background(), hookvault.DefaultSource, "inflight"); err != nil || string(m.Payload) != body {
		t.Fatalf("after shutdown the message is %q, %v; want it committed", m.Payload, err)
	}
}

// A drain that hits its timeout cuts the connections still busy and says how many; it is
// not an error, since nothing was acknowledged on them, and the store closes cleanly.
func TestShutdownReportsATimedOutDrain(t *testing.T) {
	logs := &syncBuffer{}
	s, err := server.Open(context.Background(), mustConfig(t), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	startSlowDelivery(t, s.Addr(), `{"id":"stuck","sender":"a","content":"never finished"}`)
	startSlowDelivery(t, s.Addr(), `{"id":"stuck-too","sender":"a","content":"never finished"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil: a cut drain loses nothing acknowledged", err)
	}
	if !strings.Contains(logs.String(), `"msg":"drain timed out: cut the connections still busy; no answer was sent on them","connections_cut":2`) {
		t.Errorf("log does not report 2 connections cut:\n%s", logs)
	}
}

func TestOpenFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := mustConfig(t)
	cfg.ListenAddr = ln.Addr().String()
	if _, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Fatalf("Open on a busy address = %v, want an error naming LISTEN_ADDR", err)
	}
}

func TestPprofOnlyOnItsOwnAddress(t *testing.T) {
	cfg := mustConfig(t)
	cfg.PprofAddr = "127.0.0.1:0"
	s := openServer(t, cfg)
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("http://" + s.PprofAddr() + "/debug/pprof/"); got != 200 {
		t.Errorf("pprof index = %d", got)
	}
	if got := status("http://" + s.Addr() + "/debug/pprof/"); got != 404 {
		t.Errorf("pprof on the public address = %d, want 404", got)
	}
}

func TestPprofOffByDefault(t *testing.T) {
	s := openServer(t, mustConfig(t))
	if s.PprofAddr() != "" {
		t.Fatalf("pprof listens on %s without PPROF_ADDR", s.PprofAddr())
	}
}

// At MAX_CONNECTIONS with every connection busy, a few more connections are still accepted,
// and on them the probes and /metrics answer while everything else is refused with 503:
// the orchestrator can tell an overloaded instance from a dead one.
func TestProbesAnswerAtTheConnectionCap(t *testing.T) {
	cfg := mustConfig(t)
	cfg.MaxConnections = 2
	s := openServer(t, cfg)
	body := `{"id":"busy","sender":"a","content":"holding a connection"}`
	startSlowDelivery(t, s.Addr(), body)
	startSlowDelivery(t, s.Addr(), body)

	get := func(path string) (int, bool) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatalf("GET %s at the cap: %v", path, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Close
	}
	for _, path := range []string{"/health/live", "/health/ready", "/metrics"} {
		if code, closed := get(path); code != 200 || !closed {
			t.Errorf("GET %s at the cap = %d (closed %v), want 200 on a connection that then closes", path, code, closed)
		}
	}
	if code, _ := get("/openapi.json"); code != 503 {
		t.Errorf("GET /openapi.json at the cap = %d, want 503", code)
	}
	resp, err := http.Post("http://"+s.Addr()+"/webhook", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST /webhook at the cap = %d, want 503 with Retry-After", resp.StatusCode)
	}
}

// writeSources writes a sources file for the test and returns its path.
func writeSources(t *testing.T, path, content string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "sources.yaml")
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postGitHub posts a GitHub push signed with secret to the server's github source.
func postGitHub(t *testing.T, addr, secret, delivery string) int {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main"}`)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+signature.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A reload swaps the sources in whole (a secret rotated in the file takes effect at once);
// a file with mistakes changes nothing and says what is wrong.
func TestReloadSwapsSourcesOrKeepsThem(t *testing.T) {
	cfg := mustConfig(t)
	cfg.SourcesFile = writeSources(t, "", "sources:\n  - name: github\n    provider: github\n    secrets: [first-secret]\n")
	s := openServer(t, cfg)
	if got := postGitHub(t, s.Addr(), "first-secret", "d-1"); got != 200 {
		t.Fatalf("before the reload: %d, want 200", got)
	}
	writeSources(t, cfg.SourcesFile, "sources:\n  - name: github\n    provider: github\n    secrets: [second-secret]\n  - name: payments\n    provider: stripe\n    secrets: [whsec_x]\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Sources(), ","); got != "default,github,payments" {
		t.Errorf("sources after the reload: %s", got)
	}
	if got := postGitHub(t, s.Addr(), "first-secret", "d-2"); got != 401 {
		t.Errorf("the old secret after the reload: %d, want 401", got)
	}
	if got := postGitHub(t, s.Addr(), "second-secret", "d-3"); got != 200 {
		t.Errorf("the new secret after the reload: %d, want 200", got)
	}
	writeSources(t, cfg.SourcesFile, "sources:\n  - name: github\n    provider: gitlab\n    secrets: [third-secret]\n")
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), `source "github"`) || !strings.Contains(err.Error(), "provider") {
		t.Fatalf("reload of a bad file: %v, want an error naming the source and the field", err)
	}
	if got := postGitHub(t, s.Addr(), "second-secret", "d-4"); got != 200 {
		t.Errorf("after a failed reload, the running secret: %d, want 200", got)
	}
	if got := strings.Join(s.Sources(), ","); got != "default,github,payments" {
		t.Errorf("sources after a failed reload: %s", got)
	}
}

// A reload that drops a source drops its series too, on every metric with a source label;
// the kept sources and default keep theirs, counts included.
func TestReloadRemovesMetricsOfDroppedSources(t *testing.T) {
	cfg := mustConfig(t)
	cfg.SourcesFile = writeSources(t, "", "sources:\n  - name: github\n    provider: github\n    secrets: [gh-secret]\n  - name: payments\n    provider: stripe\n    secrets: [whsec_x]\n")
	s := openServer(t, cfg)
	if got := postGitHub(t, s.Addr(), "gh-secret", "d-1"); got != 200 {
		t.Fatalf("github: %d, want 200", got)
	}
	// An unsigned Stripe delivery: a signature failure series beyond the ones made at zero.
	resp, err := http.Post("http://"+s.Addr()+"/webhook/payments", "application/json", strings.NewReader(`{"id":"evt_1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unsigned payments delivery: %d, want 401", resp.StatusCode)
	}
	if got := scrape(t, s.Addr()); !strings.Contains(got, `source="payments"`) {
		t.Fatalf("before the reload no payments series:\n%s", got)
	}
	writeSources(t, cfg.SourcesFile, "sources:\n  - name: github\n    provider: github\n    secrets: [gh-secret]\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, s.Addr())
	for line := range strings.Lines(got) {
		if strings.Contains(line, `source="payments"`) {
			t.Errorf("after the reload: %s", strings.TrimSpace(line))
		}
	}
	for _, want := range []string{
		`webhook_requests_total{result="created",source="github"} 1`,
		`webhook_messages_received_total{source="github"} 1`,
		`webhook_requests_total{result="created",source="default"} 0`,
		`webhook_signature_failures_total{reason="missing",scheme="none",source="default"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("after the reload, missing %s", want)
		}
	}
}

// scrape returns the server's /metrics text.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A sources file with mistakes stops the start with a configuration error (exit 2 in main).
func TestBadSourcesFileStopsTheStart(t *testing.T) {
	cfg := mustConfig(t)
	cfg.SourcesFile = writeSources(t, "", "sources:\n  - name: github\n    provider: github\n    secrets: [\"${UNSET_SECRET}\"]\n")
	_, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if _, ok := errors.AsType[*server.ConfigError](err); !ok || !strings.Contains(err.Error(), "${UNSET_SECRET} is not set") {
		t.Fatalf("Open = %v, want a ConfigError naming the variable", err)
	}
}
