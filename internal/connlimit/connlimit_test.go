package connlimit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/connlimit"
)

// serve runs an HTTP server on a connlimit listener; the handler answers "overflow" on
// connections beyond the cap and "ok" on the others.
func serve(t *testing.T, opts connlimit.Options) (*connlimit.Listener, *refusals) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := &refusals{n: map[string]int{}}
	opts.OnRefuse = refused.add
	l := connlimit.New(inner, opts)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if connlimit.Overflow(r.Context()) {
				_, _ = io.WriteString(w, "overflow")
				return
			}
			_, _ = io.WriteString(w, "ok")
		}),
		ConnState:   l.ConnState,
		ConnContext: l.ConnContext,
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, refused
}

type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
}

func (r *refusals) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// client is one keep-alive connection from a chosen loopback address (all of 127/8 is
// loopback on Linux, so each address is a distinct client).
type client struct {
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, l *connlimit.Listener, from string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{conn: c, br: bufio.NewReader(c)}
}

// get sends one request and returns the answer's body, or "closed" when the server closed
// the connection, or the status line of a refusal.
func (c *client) get(t *testing.T) string {
	t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "closed"
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return "closed"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.Status
	}
	return string(b)
}

// wantRefusal reads what the server wrote to c at accept, without sending a request (one
// sent to a connection closed unread could turn the close into a reset): a retryable 503
// with a problem document, as every error answer has.
func wantRefusal(t *testing.T, c *client) {
	t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the refusal's body: %v", err)
	}
	for _, h := range []struct{ name, got, want string }{
		{"status", resp.Status, "503 Service Unavailable"},
		{"Retry-After", resp.Header.Get("Retry-After"), "5"},
		{"Content-Type", resp.Header.Get("Content-Type"), "application/problem+json"},
	} {
		if h.got != h.want {
			t.Errorf("refusal %s = %q, want %q", h.name, h.got, h.want)
		}
	}
	if !resp.Close {
		t.Error("the refusal does not say Connection: close")
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("refusal body %q: %v", body, err)
	}
	want := map[string]any{"type": "about:blank", "title": "Service Unavailable", "status": 503.0,
		"detail": "connection limit reached; retry later"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("refusal body = %v, want %v", got, want)
	}
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

func TestPerClientCap(t *testing.T) {
	l, refused := serve(t, connlimit.Options{PerClient: 2})
	a1, a2 := dial(t, l, "127.0.0.2"), dial(t, l, "127.0.0.2")
	if a1.get(t) != "ok" || a2.get(t) != "ok" {
		t.Fatal("the first two connections of a client are served")
	}
	wantRefusal(t, dial(t, l, "127.0.0.2")) // the third connection of one client
	if got := dial(t, l, "127.0.0.3").get(t); got != "ok" {
		t.Errorf("another client: %q, want ok", got)
	}
	if refused.get("client") != 1 {
		t.Errorf("refused for client = %d, want 1", refused.get("client"))
	}
	a1.conn.Close()
	waitFor(t, "the closed connection to be counted out", func() bool { return l.Open() == 2 })
	if got := dial(t, l, "127.0.0.2").get(t); got != "ok" {
		t.Errorf("after one of its connections closed, the client gets %q, want ok", got)
	}
}

func TestExemptAddressesHaveNoPerClientCap(t *testing.T) {
	l, _ := serve(t, connlimit.Options{PerClient: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}})
	for i := 0; i < 3; i++ {
		if got := dial(t, l, "127.0.0.4").get(t); got != "ok" {
			t.Fatalf("connection %d of a trusted proxy: %q", i+1, got)
		}
	}
}

// At the cap the longest idle connection makes room; with none idle, a connection of the
// reserve serves only what the handler allows on it; beyond the reserve, it is refused.
func TestTotalCapEvictsIdleThenReserves(t *testing.T) {
	l, refused := serve(t, connlimit.Options{Max: 2, Reserve: 1})
	// Both served, then idle, first the longest. A connection turns idle when its server
	// goroutine gets there, which can be after the client has read the answer: each is
	// waited for, or on a loaded machine the second could turn idle first.
	first := dial(t, l, "127.0.0.2")
	if first.get(t) != "ok" {
		t.Fatal("under the cap, connections are served")
	}
	waitFor(t, "the first connection to be idle", func() bool { return l.Busy() == 0 })
	second := dial(t, l, "127.0.0.3")
	if second.get(t) != "ok" {
		t.Fatal("under the cap, connections are served")
	}
	waitFor(t, "the second connection to be idle", func() bool { return l.Busy() == 0 })
	third := dial(t, l, "127.0.0.4")
	if got := third.get(t); got != "ok" {
		t.Fatalf("a new connection at the cap with idle ones: %q, want ok", got)
	}
	if got := first.get(t); got != "closed" {
		t.Errorf("the longest idle connection: %q, want it closed to make room", got)
	}
	if refused.get("evicted") != 1 {
		t.Errorf("evicted = %d, want 1", refused.get("evicted"))
	}

	// Busy connections: the handler is slow to start because the request is not yet sent.
	// Make both served connections active by holding a request open on each.
	hold := func(c *client) {
		_, _ = io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	}
	hold(second)
	hold(third)
	waitFor(t, "both connections to be busy", func() bool { return l.Busy() == 2 })
	reserve := dial(t, l, "127.0.0.5")
	if got := reserve.get(t); got != "overflow" {
		t.Errorf("with none idle, a connection of the reserve: %q, want overflow", got)
	}
	hold(reserve)
	waitFor(t, "all three connections to be busy", func() bool { return l.Busy() == 3 })
	wantRefusal(t, dial(t, l, "127.0.0.6")) // beyond the reserve
	if refused.get("total") != 1 {
		t.Errorf("refused total = %d, want 1", refused.get("total"))
	}
}

func TestOverflowIsFalseOutsideTheReserve(t *testing.T) {
	if connlimit.Overflow(context.Background()) {
		t.Fatal("a plain context is not an overflow")
	}
	l, _ := serve(t, connlimit.Options{})
	if got := dial(t, l, "127.0.0.2").get(t); got != "ok" {
		t.Fatalf("no bounds: %q", got)
	}
	if !strings.HasPrefix(l.Addr().String(), "127.0.0.1:") {
		t.Fatalf("listener at %s", l.Addr())
	}
}

// A connection that has sent no request yet gives way at the cap like an idle one, oldest
// first: a flood of silent connections cannot lock out a client that sends a request.
func TestSilentConnectionsGiveWayAtTheCap(t *testing.T) {
	l, refused := serve(t, connlimit.Options{Max: 2})
	silent1 := dial(t, l, "127.0.0.2")
	waitFor(t, "the first silent connection", func() bool { return l.Open() == 1 })
	silent2 := dial(t, l, "127.0.0.3")
	waitFor(t, "the second silent connection", func() bool { return l.Open() == 2 })
	if got := dial(t, l, "127.0.0.4").get(t); got != "ok" {
		t.Fatalf("a client with a request at the cap: %q, want ok", got)
	}
	if got := silent1.get(t); got != "closed" {
		t.Errorf("the oldest silent connection: %q, want closed", got)
	}
	if refused.get("evicted") != 1 {
		t.Errorf("evicted = %d, want 1", refused.get("evicted"))
	}
	_ = silent2
}
