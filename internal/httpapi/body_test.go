package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/signature"
)

// gauge reads a gauge of the server's registry.
func (ts *testServer) gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := ts.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// MAX_BODY_BYTES_IN_FLIGHT bounds the body bytes held at once, a quarter of it per client:
// one client cannot take the budget, and beyond it a body is refused with 503 at once.
func TestBodyBytesInFlight(t *testing.T) {
	// A chunked body under a limit of maxBody reserves maxBody+1 bytes from its start (the
	// buffer may need one byte over the limit to see it), so four such bodies fill it.
	const each = maxBody + 1
	ts, _ := newGatedServer(t, httpapi.Limits{MaxBodyBytesInFlight: 4 * each, TrustedProxies: []string{"127.0.0.0/8", "::1/128"}})
	from := func(client string) map[string]string { return map[string]string{"X-Forwarded-For": client} }

	var open []*io.PipeWriter
	var pending []<-chan int
	hold := func(client string) {
		t.Helper()
		pr, pw := io.Pipe()
		id := "held-by-" + client
		open = append(open, pw)
		pending = append(pending, ts.postAsync(pr, id, from(client)))
		if _, err := pw.Write([]byte(`{"id":"` + id + `",`)); err != nil {
			t.Fatal(err)
		}
	}
	waitHeld := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ts.gauge(t, "http_request_body_bytes_in_flight") != float64(n*each); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("body bytes in flight = %v, want %d", ts.gauge(t, "http_request_body_bytes_in_flight"), n*each)
			}
		}
	}

	hold("198.51.100.1")
	waitHeld(1)
	resp, body := ts.post(t, delivery{body: msg("second-of-one-client"), headers: from("198.51.100.1")})
	if p := decodeProblem(t, resp, body); resp.StatusCode != 503 || !strings.Contains(p.Detail, "this client address") {
		t.Errorf("a client over its quarter: %d %q, want 503 naming the client", resp.StatusCode, p.Detail)
	}
	if !resp.Close {
		t.Errorf("refused mid-body without Connection: close")
	}
	for _, c := range []string{"198.51.100.2", "198.51.100.3", "198.51.100.4"} {
		hold(c)
	}
	waitHeld(4)
	resp, body = ts.post(t, delivery{body: msg("over-the-budget"), headers: from("198.51.100.5")})
	if p := decodeProblem(t, resp, body); resp.StatusCode != 503 || !strings.Contains(p.Detail, "too many request body bytes") {
		t.Errorf("over the budget: %d %q, want 503", resp.StatusCode, p.Detail)
	}
	if got := testutil.ToFloat64(ts.metrics.RequestsShed.WithLabelValues("client_body_bytes")); got != 1 {
		t.Errorf("shed client_body_bytes = %v, want 1", got)
	}
	if got := testutil.ToFloat64(ts.metrics.RequestsShed.WithLabelValues("body_bytes")); got != 1 {
		t.Errorf("shed body_bytes = %v, want 1", got)
	}

	for i, pw := range open {
		fmt.Fprint(pw, `"sender":"alice","content":"hello"}`)
		pw.Close()
		if code := <-pending[i]; code != 200 {
			t.Errorf("held delivery %d = %d, want 200", i, code)
		}
	}
	waitHeld(0)
	if resp, body := ts.post(t, delivery{body: msg("after"), headers: from("198.51.100.5")}); resp.StatusCode != 200 {
		t.Errorf("after the bodies are done: %d %s, want 200", resp.StatusCode, body)
	}
}

// A body that does not arrive within READ_BODY_TIMEOUT is answered 408 and its connection
// closed, while other deliveries go on.
func TestSlowBodyIsCutAtTheBodyDeadline(t *testing.T) {
	ts, _ := newGatedServer(t, httpapi.Limits{ReadBodyTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := msg("slow")
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Signature: %s\r\nContent-Length: %d\r\n\r\n%s",
		signature.Sign([]byte(secret), []byte(body)), len(body), body[:5])
	if resp, got := ts.post(t, delivery{body: msg("meanwhile")}); resp.StatusCode != 200 {
		t.Fatalf("a delivery while another dribbles: %d %s", resp.StatusCode, got)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the slow body: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close || !strings.Contains(string(answer), "did not arrive in time") {
		t.Errorf("slow body: %d close=%v %s, want 408, closed, saying why", resp.StatusCode, resp.Close, answer)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("default", "timeout")); got != 1 {
		t.Errorf("result=timeout counted %v, want 1", got)
	}
}

// rawExchange writes request on a fresh connection and returns everything the server sends
// until it closes the connection (or 5 s pass, which fails the test).
func rawExchange(t *testing.T, addr, request string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = io.WriteString(conn, request) }()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open; it sent %q", got)
	}
	return string(got)
}

// An oversized chunked body is answered 413 as soon as the limit is crossed, and the
// connection closed: the server does not wait for the sender to send more.
func TestChunkedOversizeIs413AtOnce(t *testing.T) {
	ts := newServer(t)
	chunk := strings.Repeat("x", maxBody+100)
	got := rawExchange(t, ts.Listener.Addr().String(), "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"X-Signature: 00\r\nTransfer-Encoding: chunked\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk))
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") {
		t.Fatalf("answer %q, want a 413", got)
	}
}

// A request with both Content-Length and Transfer-Encoding is answered and its connection
// closed (RFC 9112 §6.1), so bytes after the chunks cannot run as a second request.
func TestChunkedRequestClosesTheConnection(t *testing.T) {
	ts := newServer(t)
	body := msg("smuggle")
	smuggled := "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
	got := rawExchange(t, ts.Listener.Addr().String(), "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"X-Signature: "+signature.Sign([]byte(secret), []byte(body))+"\r\n"+
		fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(body)+5+len(smuggled))+
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)+smuggled)
	if n := strings.Count(got, "HTTP/1.1 "); n != 1 || !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "Connection: close\r\n") {
		t.Fatalf("got %d answers:\n%s\nwant one 200 that closes the connection", n, got)
	}
}

// Answers are never sniffed into another type, API answers are never cached, and the
// Swagger UI page cannot be framed and runs only its own scripts.
func TestSecurityHeaders(t *testing.T) {
	ts := newServer(t)
	ts.deliver(t, msg("h1"))
	for _, tt := range []struct {
		path, bearer string
		want         map[string]string
	}{
		{"/stats", "Bearer " + token, map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}},
		{"/messages/h1", "Bearer " + token, map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}},
		{"/messages", "", map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}},
		{"/health/ready", "", map[string]string{"Cache-Control": "no-store"}},
		{"/nowhere", "", map[string]string{"X-Content-Type-Options": "nosniff"}},
		{"/docs/index.html", "", map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}},
	} {
		resp, _ := ts.get(t, tt.path, tt.bearer)
		for k, v := range tt.want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, k, got, v)
			}
		}
	}
	resp, _ := ts.get(t, "/docs/index.html", "")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'sha256-", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("CSP %q allows any inline script", csp)
	}
	resp, _ = ts.post(t, delivery{body: msg("h2")})
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("POST /webhook headers %v", resp.Header)
	}
}
