package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sqlite"
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

// gatedStore holds the insert of the message "held" until release is closed, so a test can
// keep a request in processing for as long as it needs.
type gatedStore struct {
	hookvault.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Insert(ctx context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	if m.ID == "held" {
		close(g.entered)
		<-g.release
	}
	return g.Store.Insert(ctx, m)
}

// newGatedServer is the real router with limits on a SQLite store whose insert of "held"
// waits for the gate.
func newGatedServer(t *testing.T, limits httpapi.Limits) (*testServer, *gatedStore) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	gate := &gatedStore{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	ts := &testServer{metrics: metrics.New(), logs: &syncBuffer{}}
	h := newHandlerOn(t, gate, httpapi.Deps{APITokens: []string{token}, Limits: limits, Metrics: ts.metrics,
		Logger: slog.New(slog.NewJSONHandler(ts.logs, nil))})
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, gate
}

// postAsync posts body (an io.Reader, so it may never end) and sends the status on the
// returned channel, 0 for a transport error.
func (ts *testServer) postAsync(body io.Reader, id string, headers map[string]string) <-chan int {
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhook", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Signature", signature.Sign([]byte(secret), []byte(msg(id))))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// holdSlot sends the delivery "held", which stops in the store until gate is released, and
// returns its answer's channel once it is there. The slot of the request answered just
// before is freed only after its client has read the answer, so "held" may come too early
// and be shed: it is then sent again (early counts those 503s). Waiting on the gate alone
// would hang the test on a loaded machine.
func (ts *testServer) holdSlot(t *testing.T, gate *gatedStore) (held <-chan int, early int) {
	t.Helper()
	for {
		held := ts.postAsync(strings.NewReader(msg("held")), "held", nil)
		select {
		case <-gate.entered:
			return held, early
		case code := <-held:
			if code != http.StatusServiceUnavailable || early == 100 {
				t.Fatalf("delivery held answered %d before it reached the store", code)
			}
			early++
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A request takes a MAX_IN_FLIGHT slot only once its body is in: a delivery whose body is
// still arriving holds none, one being stored does. A request beyond the cap is shed at
// once with 503 + Retry-After, counted as unavailable, while the probes and /metrics still
// answer.
func TestMaxInFlightShedsLoad(t *testing.T) {
	ts, gate := newGatedServer(t, httpapi.Limits{MaxInFlight: 1})

	pr, pw := io.Pipe()
	slow := ts.postAsync(pr, "slow", nil)
	if _, err := pw.Write([]byte(`{"id":"slow",`)); err != nil {
		t.Fatal(err)
	}
	if resp, body := ts.post(t, delivery{body: msg("passes")}); resp.StatusCode != 200 {
		t.Fatalf("while a body is still arriving: %d %s, want 200: it holds no slot", resp.StatusCode, body)
	}

	held, early := ts.holdSlot(t, gate)
	if code := ts.status(t, "/stats", "Bearer "+token); code != 503 {
		t.Errorf("/stats while the slot is held = %d, want 503", code)
	}
	resp, body := ts.post(t, delivery{body: msg("shed")})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5; body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, "overloaded") {
		t.Errorf("detail %q should say overloaded", p.Detail)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("default", "unavailable")); got != float64(1+early) {
		t.Errorf("result=unavailable counted %v, want %d", got, 1+early)
	}
	if got := testutil.ToFloat64(ts.metrics.RequestsShed.WithLabelValues("in_flight")); got != float64(2+early) {
		t.Errorf("shed in_flight = %v, want %d", got, 2+early)
	}
	for _, path := range []string{"/health/live", "/health/ready", "/metrics", "/openapi.json"} {
		if code := ts.status(t, path, ""); code != 200 {
			t.Errorf("GET %s while full = %d, want 200: the cap must not blind the operator", path, code)
		}
	}

	close(gate.release)
	if code := <-held; code != 200 {
		t.Fatalf("held delivery = %d, want 200", code)
	}
	if _, err := pw.Write([]byte(`"sender":"alice","content":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-slow; code != 200 {
		t.Fatalf("slow delivery = %d, want 200", code)
	}
	if resp, body := ts.post(t, delivery{body: msg("after")}); resp.StatusCode != 200 {
		t.Fatalf("after the slot is free: %d %s, want 200", resp.StatusCode, body)
	}
}

// MAX_CLIENT_REQUESTS counts one client's requests from their first byte, so a client whose
// bodies dribble in cannot hold more than its share; other clients are not affected.
func TestMaxClientRequests(t *testing.T) {
	ts, _ := newGatedServer(t, httpapi.Limits{MaxClientRequests: 2, TrustedProxies: []string{"127.0.0.0/8", "::1/128"}})
	alice := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	pipes := make([]*io.PipeWriter, 2)
	pending := make([]<-chan int, 2)
	dribble := func(i int) {
		pr, pw := io.Pipe()
		pipes[i] = pw
		id := fmt.Sprintf("dribble-%d", i)
		pending[i] = ts.postAsync(pr, id, alice)
		if _, err := pw.Write([]byte(`{"id":"` + id + `",`)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // a failed test must not leave the server waiting for bodies
		for _, pw := range pipes {
			pw.CloseWithError(errors.New("test over"))
		}
	})
	dribble(0)
	dribble(1)
	// The third request of alice is shed once both of hers are in; poll for that. A poll
	// that the server takes in before a dribbling request sheds that one instead: send it
	// again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp, _ := ts.post(t, delivery{body: msg("third"), headers: alice})
		if resp.StatusCode == 503 {
			break
		}
		for i := range pending {
			select {
			case code := <-pending[i]:
				if code != 503 {
					t.Fatalf("dribbled delivery %d answered %d before its body was in", i, code)
				}
				dribble(i)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's third request at once = %d, want 503", resp.StatusCode)
		}
	}
	if resp, body := ts.post(t, delivery{body: msg("bob"), headers: map[string]string{"X-Forwarded-For": "198.51.100.8"}}); resp.StatusCode != 200 {
		t.Errorf("another client = %d %s, want 200", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(ts.metrics.RequestsShed.WithLabelValues("client_requests")); got < 1 {
		t.Errorf("shed client_requests = %v, want at least 1", got)
	}
	for i, pw := range pipes {
		fmt.Fprintf(pw, `"sender":"alice","content":"hello"}`)
		pw.Close()
		if code := <-pending[i]; code != 200 {
			t.Errorf("dribbled delivery %d = %d, want 200", i, code)
		}
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
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("default", "unavailable")); got != 2 {
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

// A client address that keeps failing its signatures has its deliveries shed with 503 before
// they are read, for a second, past MAX_CLIENT_SIGNATURE_FAILURES (twice that in a burst);
// another address is not affected, and the forger's first refusals are plain 401s.
func TestSignatureFailuresShedTheClient(t *testing.T) {
	ts := newServerWith(t, httpapi.Deps{APITokens: []string{token}, Limits: httpapi.Limits{
		MaxClientSignatureFailures: 5, TrustedProxies: []string{"127.0.0.0/8", "::1/128"}}})
	forger := map[string]string{"X-Forwarded-For": "198.51.100.66", "X-Signature": strings.Repeat("0", 64)}
	codes := map[int]int{}
	var retryAfter string
	for i := range 40 {
		resp, _ := ts.post(t, delivery{body: msg(fmt.Sprint("forged-", i)), headers: forger})
		codes[resp.StatusCode]++
		if resp.StatusCode == 503 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	// The burst is 10; the rate adds at most a few more while the 40 are sent.
	if codes[401] < 10 || codes[401] > 20 || codes[503] != 40-codes[401] || retryAfter == "" {
		t.Errorf("answers %v (Retry-After %q), want 10 to 20 refusals, then 503s with Retry-After", codes, retryAfter)
	}
	if got := testutil.ToFloat64(ts.metrics.RequestsShed.WithLabelValues("signature_failures")); got != float64(codes[503]) {
		t.Errorf("shed signature_failures = %v, want %d", got, codes[503])
	}
	honest := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	if resp, body := ts.post(t, delivery{body: msg("honest"), headers: honest}); resp.StatusCode != 200 {
		t.Errorf("another address: %d %s, want 200", resp.StatusCode, body)
	}
	// The read API of the forger's address is not shed.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Forwarded-For", "198.51.100.66")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /stats from the forger's address = %d, want 200", resp.StatusCode)
	}
	// After the cool-down, a correctly signed delivery from that address goes through.
	time.Sleep(1100 * time.Millisecond)
	if resp, body := ts.post(t, delivery{body: msg("repented"), headers: map[string]string{"X-Forwarded-For": "198.51.100.66"}}); resp.StatusCode != 200 {
		t.Errorf("after the cool-down: %d %s, want 200", resp.StatusCode, body)
	}
}
