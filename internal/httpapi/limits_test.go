package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/signature"
)

// newLimitedServer is newServer with limits and one read token.
func newLimitedServer(t *testing.T, limits httpapi.Limits) *testServer {
	t.Helper()
	return newServerWith(t, httpapi.Deps{APITokens: []string{token}, Limits: limits})
}

// status is the status of a GET with the Authorization header bearer ("" sends none).
func (ts *testServer) status(t *testing.T, path, bearer string) int {
	t.Helper()
	resp, _ := ts.get(t, path, bearer)
	return resp.StatusCode
}

// A request beyond MAX_IN_FLIGHT is shed at once with 503 + Retry-After, counted as
// unavailable, while the probes and /metrics still answer.
func TestMaxInFlightShedsLoad(t *testing.T) {
	ts := newLimitedServer(t, httpapi.Limits{MaxInFlight: 1})

	// A delivery whose body never ends holds the one slot: the body is read inside it.
	pr, pw := io.Pipe()
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhook", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Signature", signature.Sign([]byte(secret), []byte(msg("held"))))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"id":"held",`)); err != nil {
		t.Fatal(err)
	}

	// Poll until the held delivery has the slot; /stats shares the cap and counts nothing.
	for deadline := time.Now().Add(10 * time.Second); ts.status(t, "/stats", "Bearer "+token) != 503; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held delivery never took the slot")
		}
	}
	resp, body := ts.post(t, delivery{body: msg("shed")})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5; body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, "overloaded") {
		t.Errorf("detail %q should say overloaded", p.Detail)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("unavailable")); got != 1 {
		t.Errorf("result=unavailable counted %v, want 1", got)
	}
	for _, path := range []string{"/health/live", "/health/ready", "/metrics", "/openapi.json"} {
		if code := ts.status(t, path, ""); code != 200 {
			t.Errorf("GET %s while full = %d, want 200: the cap must not blind the operator", path, code)
		}
	}

	if _, err := pw.Write([]byte(`"sender":"alice","content":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-held; code != 200 {
		t.Fatalf("held delivery = %d, want 200", code)
	}
	if resp, body := ts.post(t, delivery{body: msg("after")}); resp.StatusCode != 200 {
		t.Fatalf("after the slot is free: %d %s, want 200", resp.StatusCode, body)
	}
}

func TestRateLimitPerClientIP(t *testing.T) {
	// A long window so that the test cannot straddle two windows.
	limits := httpapi.Limits{RateLimit: 2, RateLimitWindow: time.Hour}
	ts := newLimitedServer(t, limits)
	for i, want := range []int{200, 200, 503} {
		resp, body := ts.post(t, delivery{body: msg("rl-" + string(rune('a'+i)))})
		if resp.StatusCode != want {
			t.Fatalf("request %d = %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
		if want == 503 {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, "rate limit") {
				t.Errorf("detail %q should name the rate limit", p.Detail)
			}
		}
	}
	// X-Forwarded-For is not believed without TRUSTED_PROXIES: it cannot buy a new bucket.
	resp, body := ts.post(t, delivery{body: msg("rl-xff"), headers: map[string]string{"X-Forwarded-For": "198.51.100.7"}})
	if resp.StatusCode != 503 {
		t.Errorf("spoofed X-Forwarded-For = %d %s, want 503", resp.StatusCode, body)
	}
	if code := ts.status(t, "/health/ready", ""); code != 200 {
		t.Errorf("readiness under the rate limit = %d, want 200", code)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("unavailable")); got != 2 {
		t.Errorf("result=unavailable counted %v, want 2", got)
	}
}

func TestRateLimitBehindTrustedProxy(t *testing.T) {
	ts := newLimitedServer(t, httpapi.Limits{RateLimit: 1, RateLimitWindow: time.Hour, TrustedProxies: []string{"127.0.0.0/8", "::1/128"}})
	post := func(id, client string) int {
		t.Helper()
		resp, _ := ts.post(t, delivery{body: msg(id), headers: map[string]string{"X-Forwarded-For": client}})
		return resp.StatusCode
	}
	if got := post("tp-1", "198.51.100.7"); got != 200 {
		t.Fatalf("first client = %d, want 200", got)
	}
	if got := post("tp-2", "198.51.100.7"); got != 503 {
		t.Errorf("first client again = %d, want 503", got)
	}
	if got := post("tp-3", "198.51.100.8"); got != 200 {
		t.Errorf("second client behind the proxy = %d, want 200: its own bucket", got)
	}
}
