package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/server"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const secret = "lifecycle-secret"

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
	if m, err := st.Get(context.Background(), "inflight"); err != nil || string(m.Payload) != body {
		t.Fatalf("after shutdown the message is %q, %v; want it committed", m.Payload, err)
	}
}

// A request that does not finish within the drain time is cut off and reported.
func TestShutdownReportsATimedOutDrain(t *testing.T) {
	s, err := server.Open(context.Background(), mustConfig(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	startSlowDelivery(t, s.Addr(), `{"id":"stuck","sender":"a","content":"never finished"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "drain") {
		t.Fatalf("Shutdown = %v, want a drain error", err)
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
