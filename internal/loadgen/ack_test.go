package loadgen

import (
	"testing"

	"github.com/hookvault/hookvault/internal/signature"
)

func testRunner(t testing.TB, prefix string) *runner {
	t.Helper()
	r, err := newRunner(Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1, Prefix: prefix})
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
	w, err := r.newWorker()
	if err != nil {
		t.Fatal(err)
	}
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
