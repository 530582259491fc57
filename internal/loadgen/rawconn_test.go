package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

func testRunner(t testing.TB, prefix string) *runner {
	t.Helper()
	r, err := newRunner(Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1, Prefix: prefix, Engine: EngineRaw})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var ackSamples = []string{
	`{"status":"ok","duplicate":false}` + "\n",
	`{"status":"ok","duplicate":true}`,
	`{"duplicate":false,"id":"p-42","status":"ok"}` + "\n",
	`{"duplicate":true,"id":"p-42","status":"ok"}`,
	`{"duplicate":true,"id":"p-43","status":"ok"}`,
	`{"duplicate":true,"id":"p-4","status":"ok"}`,
	`{"duplicate":true,"id":"p-420","status":"ok"}`,
	`{"duplicate":true,"id":"q-42","status":"ok"}`,
	`{"duplicate":true,"id":"","status":"ok"}`,
	`{"duplicate":true,"id":"p\u002d42","status":"ok"}`,
	`{"status":"OK","duplicate":false}`,
	`{"status":"ok"}`,
	`{"duplicate":false}`,
	`{}`,
	` {"status":"ok","duplicate":false}`,
	`{"status" : "ok", "duplicate" : false}`,
	`{"status":"ok","duplicate":false,}`,
	`{"status":"ok","duplicate":false}}`,
	`{"status":"ok","duplicate":false} x`,
	`{"status":"ok","duplicate":null}`,
	`{"status":"ok","duplicate":"false"}`,
	`{"status":"ok","duplicate":falsey}`,
	`{"status":"ok","duplicate":false,"duplicate":true}`,
	`{"status":"no","status":"ok","duplicate":false}`,
	`{"Status":"ok","DUPLICATE":true}`,
	`{"status":"ok","duplicate":false,"extra":1}`,
	`{"status":"ok","id":1,"duplicate":false}`,
	`{"status":"ok\u0000","duplicate":false}`,
	"{\"status\":\"ok\",\"id\":\"p-42\xff\",\"duplicate\":false}",
	`["status","ok"]`,
	`null`,
	``,
	`<html>welcome</html>`,
}

func TestDecodeAckAgreesWithJSON(t *testing.T) {
	r := testRunner(t, "p")
	for _, body := range ackSamples {
		dup, ok := r.decodeAck([]byte(body), 42)
		wantDup, wantOK := r.decodeAckJSON([]byte(body), 42)
		if dup != wantDup || ok != wantOK {
			t.Errorf("%s: duplicate %t, ok %t; encoding/json: %t, %t", body, dup, ok, wantDup, wantOK)
		}
	}
	// The common shapes take the cheap way.
	for _, body := range ackSamples[:4] {
		if _, scanned := scanAck([]byte(body)); !scanned {
			t.Errorf("%s: not scanned", body)
		}
	}
}

func FuzzDecodeAck(f *testing.F) {
	for _, body := range ackSamples {
		f.Add(body, int64(42))
	}
	r := testRunner(f, "p")
	f.Fuzz(func(t *testing.T, body string, n int64) {
		dup, ok := r.decodeAck([]byte(body), n)
		wantDup, wantOK := r.decodeAckJSON([]byte(body), n)
		if dup != wantDup || ok != wantOK {
			t.Errorf("%q: duplicate %t, ok %t; encoding/json: %t, %t", body, dup, ok, wantDup, wantOK)
		}
	})
}

func TestSignMatchesSignature(t *testing.T) {
	r := testRunner(t, "p")
	w := r.newWorker()
	for n := range int64(5) {
		body := r.appendBody(nil, n)
		if got, want := string(w.sign(w.mac, body)), signature.Sign(r.cfg.Secret, body); got != want {
			t.Errorf("message %d: signed %s, want %s", n, got, want)
		}
		if got, want := string(w.sign(w.badMac, body)), signature.Sign(r.badKey, body); got != want {
			t.Errorf("message %d with the wrong key: signed %s, want %s", n, got, want)
		}
	}
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line          string
		minor, status int
		ok            bool
	}{
		{"HTTP/1.1 200 OK", 1, 200, true},
		{"HTTP/1.0 503 Service Unavailable", 0, 503, true},
		{"HTTP/1.1 204", 1, 204, true},
		{"HTTP/1.1 999 ", 1, 999, true},
		{"HTTP/1.1 20 OK", 0, 0, false},
		{"HTTP/1.1 2000 OK", 0, 0, false},
		{"HTTP/1.1 2x0 OK", 0, 0, false},
		{"HTTP/1.2 200 OK", 0, 0, false},
		{"HTTP/2 200 OK", 0, 0, false},
		{"http/1.1 200 OK", 0, 0, false},
		{"HTTP/1.1  200 OK", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		minor, status, ok := parseStatusLine([]byte(tt.line))
		if minor != tt.minor || status != tt.status || ok != tt.ok {
			t.Errorf("%q: %d, %d, %t, want %d, %d, %t", tt.line, minor, status, ok, tt.minor, tt.status, tt.ok)
		}
	}
}

// deadConn is a kept-alive connection whose next write fails before sending anything.
type deadConn struct {
	net.Conn
	closed bool
}

func (*deadConn) Write([]byte) (int, error)       { return 0, syscall.EPIPE }
func (*deadConn) SetDeadline(time.Time) error     { return nil }
func (c *deadConn) Close() error                  { c.closed = true; return nil }
func (*deadConn) SetReadDeadline(time.Time) error { return nil }

// TestRawRetriesOnlyUnsent checks the one case in which a request is sent again, as
// net/http does it: nothing of it was written, to a connection that had carried requests.
func TestRawRetriesOnlyUnsent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"status":"ok","duplicate":false}`)
	}))
	t.Cleanup(srv.Close)
	r, err := newRunner(Config{URL: srv.URL, Secret: []byte("s"), Count: 1, Engine: EngineRaw})
	if err != nil {
		t.Fatal(err)
	}
	for _, reused := range []bool{true, false} {
		c := &rawConn{r: r, t: r.targets[0]}
		dead := &deadConn{}
		start := time.Now()
		c.conn, c.reused, c.idle, c.stop = dead, reused, start, func() bool { return true }
		a, err := c.roundTrip(context.Background(), []byte("{}"), []byte("sig"), start)
		if !dead.closed {
			t.Errorf("reused %t: the dead connection was not closed", reused)
		}
		if reused {
			if err != nil || a.status != http.StatusOK {
				t.Errorf("reused: status %d, err %v, want 200 on a new connection", a.status, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("fresh: status %d, err %v, want the write's error", a.status, err)
		}
		c.close()
	}
}

// A rate is enforced by one limiter over all workers with a burst of one, so idle workers
// cannot fire together; the pacing itself is golang.org/x/time/rate's and not timed here.
func TestRateLimiterIsEven(t *testing.T) {
	r, err := newRunner(Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1, Concurrency: 8, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.limiter == nil || r.limiter.Limit() != 200 || r.limiter.Burst() != 1 {
		t.Fatalf("limiter %+v, want 200/s with a burst of 1", r.limiter)
	}
	r, err = newRunner(Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1, Concurrency: 8})
	if err != nil || r.limiter != nil {
		t.Fatalf("without a rate: limiter %v, err %v; want none", r.limiter, err)
	}
}
