package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	spec "github.com/hookvault/hookvault/api"
	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/contracttest"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const (
	secret    = "test-secret-5f1e"
	oldSecret = "old-secret-77aa"
	token     = "read-token-9c2d"
	oldToken  = "old-read-token-31b0"
	maxBody   = 4096
)

// syncBuffer collects log output written by server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// lines returns the JSON log lines with the given msg.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

type testServer struct {
	*httptest.Server
	store    *sqlite.Store
	metrics  *metrics.Metrics
	logs     *syncBuffer
	draining atomic.Bool
}

// newServer serves the real router on a real SQLite file over real HTTP, with the read API
// enabled by two tokens.
func newServer(t *testing.T) *testServer {
	t.Helper()
	return newServerWith(t, httpapi.Deps{APITokens: []string{token, oldToken}})
}

// newServerWith is newServer with the APITokens and Limits of deps; the test server sets the
// metrics, logger, body limit and draining switch.
func newServerWith(t *testing.T, deps httpapi.Deps) *testServer {
	t.Helper()
	return newServerWrapped(t, deps, nil)
}

// newServerWrapped is newServerWith with the API seeing the store through wrap (nil: as it
// is), e.g. to make it fail; ts.store is still the store itself.
func newServerWrapped(t *testing.T, deps httpapi.Deps, wrap func(hookvault.Store) hookvault.Store) *testServer {
	t.Helper()
	ts := &testServer{metrics: metrics.New(), logs: &syncBuffer{}}
	deps.Metrics = ts.metrics
	deps.Logger = slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps.MaxBodyBytes = maxBody
	deps.Draining = ts.draining.Load
	var h http.Handler
	h, ts.store = newHandlerWrapped(t, sqlite.Options{Observer: ts.metrics}, deps, wrap)
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// newHandler is the real router on a real SQLite file opened with opts, verifying secret and
// oldSecret; deps gives everything else.
func newHandler(tb testing.TB, opts sqlite.Options, deps httpapi.Deps) (http.Handler, *sqlite.Store) {
	tb.Helper()
	return newHandlerWrapped(tb, opts, deps, nil)
}

func newHandlerWrapped(tb testing.TB, opts sqlite.Options, deps httpapi.Deps, wrap func(hookvault.Store) hookvault.Store) (http.Handler, *sqlite.Store) {
	tb.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "hv.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	var api hookvault.Store = store
	if wrap != nil {
		api = wrap(store)
	}
	return newHandlerOn(tb, api, deps), store
}

// newHandlerOn is the real router on store, verifying secret and oldSecret; deps gives
// everything else.
func newHandlerOn(tb testing.TB, store hookvault.Store, deps httpapi.Deps) http.Handler {
	tb.Helper()
	var err error
	deps.Store = store
	if outbox, ok := store.(hookvault.Deliveries); ok && deps.Deliveries == nil {
		deps.Deliveries = outbox
	}
	deps.Verifier, err = signature.NewVerifier([][]byte{[]byte(secret), []byte(oldSecret)}, signature.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.MaxBodyBytes == 0 {
		deps.MaxBodyBytes = maxBody
	}
	if deps.Sources == nil { // as the server: the default source has the webhook secrets
		def, err := sources.NewDefault([][]byte{[]byte(secret), []byte(oldSecret)}, provider.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		set := sources.With(def, nil)
		deps.Sources = func() *sources.Set { return set }
	}
	h, err := httpapi.New(deps)
	if err != nil {
		tb.Fatal(err)
	}
	return contracttest.Handler(tb, h)
}

// backends opens a fresh store of each backend: SQLite always, PostgreSQL when
// HOOKVAULT_TEST_POSTGRES_URL is set (and always under CI).
func backends(t *testing.T) map[string]func(t *testing.T) hookvault.Store {
	return map[string]func(t *testing.T) hookvault.Store{
		"sqlite": func(t *testing.T) hookvault.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) hookvault.Store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(t), postgres.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

type delivery struct {
	body        string
	contentType string            // "" means application/json; "-" means none
	headers     map[string]string // extra headers, e.g. a hand-made signature
	unsigned    bool
	chunked     bool // send without Content-Length
}

func (ts *testServer) post(t *testing.T, d delivery) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader = strings.NewReader(d.body)
	if d.chunked {
		body = io.MultiReader(body) // hides the length, so the client streams chunks
	}
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/webhook", body)
	if err != nil {
		t.Fatal(err)
	}
	switch d.contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", d.contentType)
	}
	if !d.unsigned {
		req.Header.Set("X-Signature", signature.Sign([]byte(secret), []byte(d.body)))
	}
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// get sends a GET with the Authorization header bearer ("" sends none).
func (ts *testServer) get(t *testing.T, path, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	return do(t, req)
}

// do sends req and returns the answer with its whole body.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// health asks a probe and returns its status, answer and Retry-After header.
func (ts *testServer) health(t *testing.T, path string) (int, gen.Health, string) {
	t.Helper()
	resp, body := ts.get(t, path, "")
	var h gen.Health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h, resp.Header.Get("Retry-After")
}

func msg(id string) string {
	return fmt.Sprintf(`{"id":%q,"sender":"alice","content":"hello"}`, id)
}

// TestWebhookContract pins the answer to every case of the contract's table, and the order
// of the checks with rows that break two rules at once: the first check in the order wins.
func TestWebhookContract(t *testing.T) {
	ts := newServer(t)
	big := `{"id":"big","sender":"a","content":"` + strings.Repeat("x", maxBody) + `"}`

	tests := []struct {
		name       string
		before     *delivery // sent first, e.g. to store an id
		d          delivery
		wantStatus int
		wantResult string
		wantBody   string // exact JSON for 200s
		wantDetail string // substring of a problem's detail
		stored     bool   // the row must hold exactly d.body afterwards
	}{
		{name: "created", d: delivery{body: msg("c1")}, wantStatus: 200, wantResult: "created",
			wantBody: `{"duplicate":false,"id":"c1","status":"ok"}`, stored: true},
		{name: "duplicate", before: &delivery{body: msg("d1")}, d: delivery{body: msg("d1")}, wantStatus: 200,
			wantResult: "duplicate", wantBody: `{"duplicate":true,"id":"d1","status":"ok"}`, stored: true},
		{name: "conflict keeps first", before: &delivery{body: msg("k1")},
			d:          delivery{body: `{"id":"k1","sender":"mallory","content":"changed"}`},
			wantStatus: 200, wantResult: "conflict", wantBody: `{"duplicate":true,"id":"k1","status":"ok"}`},
		{name: "extra members and odd spacing kept", d: delivery{body: "{ \"id\":\"e1\", \"sender\":\"a\",\"content\":\"\",\"amount\":42 }\n"},
			wantStatus: 200, wantResult: "created", stored: true},
		{name: "+json with charset", d: delivery{body: msg("j1"), contentType: "application/cloudevents+json; charset=utf-8"},
			wantStatus: 200, wantResult: "created", stored: true},
		{name: "github header and prefix", d: delivery{body: msg("g1"), unsigned: true,
			headers: map[string]string{"X-Hub-Signature-256": "sha256=" + signature.Sign([]byte(secret), []byte(msg("g1")))}},
			wantStatus: 200, wantResult: "created", stored: true},
		{name: "rotated secret", d: delivery{body: msg("r1"), unsigned: true,
			headers: map[string]string{"X-Signature": signature.Sign([]byte(oldSecret), []byte(msg("r1")))}},
			wantStatus: 200, wantResult: "created", stored: true},
		{name: "too large", d: delivery{body: big}, wantStatus: 413, wantResult: "too_large", wantDetail: "larger than 4096 bytes"},
		{name: "too large chunked", d: delivery{body: big, chunked: true}, wantStatus: 413, wantResult: "too_large", wantDetail: "larger than 4096 bytes"},
		{name: "text/plain", d: delivery{body: msg("t1"), contentType: "text/plain"}, wantStatus: 415,
			wantResult: "unsupported_media_type", wantDetail: `"text/plain" is not JSON`},
		{name: "no content type", d: delivery{body: msg("t2"), contentType: "-"}, wantStatus: 415, wantResult: "unsupported_media_type"},
		{name: "missing signature", d: delivery{body: msg("s1"), unsigned: true}, wantStatus: 401,
			wantResult: "invalid_signature", wantDetail: "missing signature"},
		{name: "wrong secret", d: delivery{body: msg("s2"), unsigned: true,
			headers: map[string]string{"X-Signature": signature.Sign([]byte("guess"), []byte(msg("s2")))}},
			wantStatus: 401, wantResult: "invalid_signature", wantDetail: "invalid signature"},
		{name: "malformed signature", d: delivery{body: msg("s3"), headers: map[string]string{"X-Signature": "not-hex"}},
			wantStatus: 401, wantResult: "invalid_signature", wantDetail: "invalid signature"},
		{name: "malformed JSON", d: delivery{body: `{"id":"m1",}`}, wantStatus: 422, wantResult: "validation_error",
			wantDetail: "malformed JSON at byte 12"},
		{name: "trailing data", d: delivery{body: msg("m2") + `{"id":"m3"}`}, wantStatus: 422, wantResult: "validation_error",
			wantDetail: "malformed JSON"},
		{name: "empty body", d: delivery{body: ""}, wantStatus: 422, wantResult: "validation_error", wantDetail: "empty"},
		{name: "array body", d: delivery{body: `[1,2]`}, wantStatus: 422, wantResult: "validation_error", wantDetail: "body: value must be an object"},
		{name: "missing sender", d: delivery{body: `{"id":"v1","content":"x"}`}, wantStatus: 422, wantResult: "validation_error",
			wantDetail: `property "sender" is missing`},
		{name: "missing content", d: delivery{body: `{"id":"v2","sender":"x"}`}, wantStatus: 422, wantResult: "validation_error",
			wantDetail: `property "content" is missing`},
		{name: "id not a string", d: delivery{body: `{"id":7,"sender":"a","content":"x"}`}, wantStatus: 422,
			wantResult: "validation_error", wantDetail: "body field /id: value must be a string"},
		{name: "empty id", d: delivery{body: `{"id":"","sender":"a","content":"x"}`}, wantStatus: 422,
			wantResult: "validation_error", wantDetail: "body field /id: minimum string length is 1"},
		{name: "id too long", d: delivery{body: msg(strings.Repeat("i", 257))}, wantStatus: 422,
			wantResult: "validation_error", wantDetail: "body field /id: maximum string length is 256"},
		{name: "id of 256 runes", d: delivery{body: msg(strings.Repeat("é", 256))}, wantStatus: 200,
			wantResult: "created", stored: true},
		{name: "sender too long", d: delivery{body: `{"id":"v3","sender":"` + strings.Repeat("s", 257) + `","content":"x"}`},
			wantStatus: 422, wantResult: "validation_error", wantDetail: "body field /sender"},
		// Two faults: the earlier check answers.
		{name: "too large and not JSON", d: delivery{body: big, contentType: "text/plain", unsigned: true},
			wantStatus: 413, wantResult: "too_large"},
		{name: "not JSON and unsigned", d: delivery{body: msg("x1"), contentType: "text/plain", unsigned: true},
			wantStatus: 415, wantResult: "unsupported_media_type"},
		{name: "unsigned and breaks schema", d: delivery{body: `{"id":7}`, unsigned: true},
			wantStatus: 401, wantResult: "invalid_signature", wantDetail: "missing signature"},
		{name: "wrong signature and malformed", d: delivery{body: `{{{`, headers: map[string]string{"X-Signature": strings.Repeat("0", 64)}},
			wantStatus: 401, wantResult: "invalid_signature", wantDetail: "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				if resp, b := ts.post(t, *tt.before); resp.StatusCode != 200 {
					t.Fatalf("setup: %d %s", resp.StatusCode, b)
				}
			}
			counter := ts.metrics.WebhookRequests.WithLabelValues("default", tt.wantResult)
			before := testutil.ToFloat64(counter)

			resp, body := ts.post(t, tt.d)

			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := testutil.ToFloat64(counter) - before; got != 1 {
				t.Errorf("webhook_requests_total{result=%q} grew by %v, want 1", tt.wantResult, got)
			}
			if tt.wantStatus == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if tt.wantBody != "" && strings.TrimSpace(string(body)) != tt.wantBody {
					t.Errorf("body = %s, want %s", body, tt.wantBody)
				}
			} else {
				p := decodeProblem(t, resp, body)
				if p.Status != tt.wantStatus || p.Title != http.StatusText(tt.wantStatus) || p.Type != "about:blank" {
					t.Errorf("problem = %+v", p)
				}
				if !strings.Contains(p.Detail, tt.wantDetail) {
					t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
				}
				if p.RequestId == nil || *p.RequestId != resp.Header.Get("X-Request-Id") {
					t.Errorf("request_id %v does not match X-Request-Id %q", p.RequestId, resp.Header.Get("X-Request-Id"))
				}
			}
			if tt.stored {
				var in struct{ ID string }
				if err := json.Unmarshal([]byte(tt.d.body), &in); err != nil {
					t.Fatal(err)
				}
				m, err := ts.store.Get(context.Background(), hookvault.DefaultSource, in.ID)
				if err != nil {
					t.Fatalf("stored message: %v", err)
				}
				if string(m.Payload) != tt.d.body {
					t.Errorf("stored payload = %q, want the bytes sent %q", m.Payload, tt.d.body)
				}
			}
		})
	}

	t.Run("conflict kept the first body and warned", func(t *testing.T) {
		m, err := ts.store.Get(context.Background(), hookvault.DefaultSource, "k1")
		if err != nil || string(m.Payload) != msg("k1") {
			t.Fatalf("k1 = %q, %v; want the first body", m.Payload, err)
		}
		warns := ts.logs.lines(t, "message id reused with a different body; kept the first")
		if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["message_id"] != "k1" {
			t.Fatalf("conflict warnings = %v", warns)
		}
	})
	t.Run("signature failures counted by reason", func(t *testing.T) {
		for _, c := range []struct {
			scheme, reason string
			want           float64
		}{{"none", "missing", 2}, {"hmac_sha256", "mismatch", 2}, {"hmac_sha256", "malformed", 1}} {
			if got := testutil.ToFloat64(ts.metrics.SignatureFailures.WithLabelValues("default", c.scheme, c.reason)); got != c.want {
				t.Errorf("signature failures {%s,%s} = %v, want %v", c.scheme, c.reason, got, c.want)
			}
		}
	})
	t.Run("secret never logged", func(t *testing.T) {
		logs := ts.logs.String()
		for _, s := range []string{secret, oldSecret, signature.Sign([]byte(secret), []byte(msg("s2")))} {
			if strings.Contains(logs, s) {
				t.Fatalf("logs contain a secret or an expected signature %q", s)
			}
		}
	})
}

func decodeProblem(t *testing.T, resp *http.Response, body []byte) gen.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, body)
	}
	var p gen.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	return p
}

func TestConcurrentDeliveriesOfOneIDStoreOneRow(t *testing.T) {
	ts := newServer(t)
	const n = 24
	var created, dups atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, body := ts.post(t, delivery{body: msg("same")})
			var a gen.WebhookAccepted
			if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil {
				t.Errorf("status %d body %s", resp.StatusCode, body)
				return
			}
			if a.Duplicate {
				dups.Add(1)
			} else {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || dups.Load() != n-1 {
		t.Fatalf("created %d, duplicates %d; want 1 and %d", created.Load(), dups.Load(), n-1)
	}
	if got := testutil.ToFloat64(ts.metrics.MessagesReceived.WithLabelValues("default")); got != 1 {
		t.Fatalf("webhook_messages_received_total = %v, want 1", got)
	}
}

// A store that cannot write must produce 503 with Retry-After: never a 2xx, never a 500.
func TestStoreFailureIs503WithRetryAfter(t *testing.T) {
	ts := newServer(t)
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body := ts.post(t, delivery{body: msg("lost")})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5; body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	p := decodeProblem(t, resp, body)
	if strings.Contains(p.Detail, "sql") || !strings.Contains(p.Detail, "unavailable") {
		t.Errorf("detail %q should say unavailable and hide the driver's text", p.Detail)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("default", "unavailable")); got != 1 {
		t.Errorf("result=unavailable counted %v, want 1", got)
	}

	if code, h, _ := ts.health(t, "/health/ready"); code != 503 || h.Status != gen.HealthStatusUnavailable || (*h.Checks)["store"] != "unavailable" {
		t.Fatalf("readiness = %d %+v, want 503 naming the store", code, h)
	}
}

func TestHealth(t *testing.T) {
	ts := newServer(t)
	if code, h, _ := ts.health(t, "/health/live"); code != 200 || h.Status != gen.HealthStatusOk {
		t.Errorf("live = %d %+v", code, h)
	}
	if code, h, _ := ts.health(t, "/health/ready"); code != 200 || (*h.Checks)["store"] != "ok" || (*h.Checks)["shutdown"] != "ok" {
		t.Errorf("ready = %d %+v", code, h)
	}
	ts.draining.Store(true)
	code, h, retry := ts.health(t, "/health/ready")
	if code != 503 || (*h.Checks)["shutdown"] != "draining" || (*h.Checks)["store"] != "ok" || retry != "5" {
		t.Errorf("ready while draining = %d %+v Retry-After %q", code, h, retry)
	}
	if code, _, _ := ts.health(t, "/health/live"); code != 200 {
		t.Errorf("live while draining = %d, want 200: draining is not death", code)
	}
}

// Every operation in the spec is served (none answers 404/405), and every operation that
// the spec secures refuses a request without credentials with 401.
func TestSpecOperationsAreServedAndSecured(t *testing.T) {
	ts := newServer(t)
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			t.Run(method+" "+path, func(t *testing.T) {
				target := strings.NewReplacer("{source}", "default", "{id}", "spec", "{did}", "1").Replace(path)
				req, err := http.NewRequest(method, ts.URL+target, strings.NewReader(msg("spec")))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, body := do(t, req)
				if resp.StatusCode == 404 || resp.StatusCode == 405 {
					t.Fatalf("%s %s is in the spec but answers %d", method, path, resp.StatusCode)
				}
				if op.Security != nil && len(*op.Security) > 0 {
					want := "missing signature"
					if _, ok := (*op.Security)[0]["bearerAuth"]; ok {
						want = "missing bearer token"
					}
					if resp.StatusCode != 401 || decodeProblem(t, resp, body).Detail != want {
						t.Fatalf("%s %s without credentials = %d %s, want 401 %s", method, path, resp.StatusCode, body, want)
					}
					challenge := `Signature realm="hookvault"`
					if want == "missing bearer token" {
						challenge = `Bearer realm="hookvault"`
					}
					if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
						t.Errorf("%s %s: 401 with WWW-Authenticate %q, want %q", method, path, got, challenge)
					}
				}
			})
		}
	}
}

func TestOperatorEndpoints(t *testing.T) {
	ts := newServer(t)
	ts.post(t, delivery{body: msg("metrics-1")})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, b := ts.get(t, path, "")
		return resp, string(b)
	}

	_, metricsText := get("/metrics")
	for _, want := range []string{
		`webhook_requests_total{result="created",source="default"} 1`,
		`webhook_requests_total{result="invalid_signature",source="default"} 0`,
		`webhook_messages_received_total{source="default"} 1`,
		"# TYPE webhook_signature_failures_total counter",
		`http_requests_total{code="200",method="POST",route="/webhook"} 1`,
		`http_request_duration_seconds_count{method="POST",route="/webhook"} 1`,
		"store_commit_batch_size_count 1",
		"store_commit_duration_seconds_count 1",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	resp, yaml := get("/openapi.yaml")
	if yaml != string(spec.Spec) || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Errorf("/openapi.yaml is not the embedded spec (Content-Type %q)", resp.Header.Get("Content-Type"))
	}
	_, js := get("/openapi.json")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil || doc.OpenAPI != "3.0.3" {
		t.Errorf("/openapi.json: %v, openapi %q", err, doc.OpenAPI)
	}
	// Every operation of api/openapi.yaml, the ones excluded from code generation included:
	// Swagger UI lists what /openapi.json has.
	for path, methods := range map[string]string{"/webhook": "post", "/messages": "get", "/messages/{id}": "get",
		"/stats": "get", "/health/live": "get", "/health/ready": "get", "/metrics": "get", "/openapi.yaml": "get", "/openapi.json": "get"} {
		if doc.Paths[path][methods] == nil {
			t.Errorf("/openapi.json lacks %s %s", methods, path)
		}
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/docs", "/docs/"} {
		resp, err := noRedirect.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/docs/index.html" {
			t.Errorf("GET %s = %d to %q, want a redirect to /docs/index.html", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, index := get("/docs/index.html")
	if resp.StatusCode != 200 || !strings.Contains(index, `url: "\/openapi.json"`) {
		t.Errorf("/docs/index.html = %d, does not load /openapi.json", resp.StatusCode)
	}
	if resp, _ := get("/docs/swagger-ui-bundle.js"); resp.StatusCode != 200 {
		t.Errorf("Swagger UI asset = %d", resp.StatusCode)
	}
}

func TestUnknownRoutesAnswerProblems(t *testing.T) {
	ts := newServer(t)
	resp, body := ts.get(t, "/nope", "")
	if p := decodeProblem(t, resp, body); p.Status != 404 {
		t.Errorf("GET /nope = %+v", p)
	}
	resp, body = ts.get(t, "/webhook", "")
	if p := decodeProblem(t, resp, body); p.Status != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /webhook = %+v, Allow %q", p, resp.Header.Get("Allow"))
	}
}

func TestAccessLogLine(t *testing.T) {
	ts := newServer(t)
	resp, _ := ts.post(t, delivery{body: msg("log-1"), headers: map[string]string{"X-Request-Id": "trace-abc"}})
	if got := resp.Header.Get("X-Request-Id"); got != "trace-abc" {
		t.Errorf("X-Request-Id = %q, want the caller's", got)
	}
	ts.post(t, delivery{body: msg("log-2"), unsigned: true, headers: map[string]string{"X-Request-Id": "bad id with spaces"}})

	lines := ts.logs.lines(t, "request")
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", len(lines), ts.logs.String())
	}
	ok, denied := lines[0], lines[1]
	for k, want := range map[string]any{
		"request_id": "trace-abc", "method": "POST", "path": "/webhook", "route": "/webhook",
		"status": 200.0, "message_id": "log-1", "dup": false, "result": "created", "signature_scheme": "hmac_sha256",
		"client": "127.0.0.1",
	} {
		if ok[k] != want {
			t.Errorf("log %s = %v, want %v", k, ok[k], want)
		}
	}
	if _, has := ok["latency_ms"].(float64); !has {
		t.Errorf("log has no latency_ms: %v", ok)
	}
	if denied["status"] != 401.0 || denied["result"] != "invalid_signature" || denied["signature_failure"] != "missing" {
		t.Errorf("denied line = %v", denied)
	}
	if id, _ := denied["request_id"].(string); id == "" || strings.Contains(id, " ") {
		t.Errorf("a bad caller id should be replaced, got %q", id)
	}
}

// benchHandler is the real router on a real SQLite file, served in-process.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	h, _ := newHandler(b, sqlite.Options{}, httpapi.Deps{Metrics: metrics.New(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), MaxBodyBytes: 1 << 20})
	return h
}

func benchPost(b *testing.B, h http.Handler, body string) {
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", signature.Sign([]byte(secret), []byte(body)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// BenchmarkPostWebhook is the whole request path with a durable commit per message.
func BenchmarkPostWebhook(b *testing.B) {
	h := benchHandler(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		benchPost(b, h, msg(fmt.Sprintf("bench-%d", i)))
	}
}

// BenchmarkPostWebhookDuplicate is the same path where the store only reads (no fsync):
// what the HTTP layers, signature and validation cost without the commit.
func BenchmarkPostWebhookDuplicate(b *testing.B) {
	h := benchHandler(b)
	body := msg("dup")
	benchPost(b, h, body)
	b.ReportAllocs()
	for b.Loop() {
		benchPost(b, h, body)
	}
}

// kin-openapi quotes the offending value in its errors; a large body must not end up in the
// log line, nor in the answer.
func TestValidationErrorsStayBrief(t *testing.T) {
	ts := newServer(t)
	body := `["` + strings.Repeat("x", 3000) + `"]`
	resp, answer := ts.post(t, delivery{body: body})
	if resp.StatusCode != 422 || len(answer) > 300 {
		t.Fatalf("status %d, answer of %d bytes", resp.StatusCode, len(answer))
	}
	lines := ts.logs.lines(t, "request")
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	if e, _ := lines[0]["error"].(string); e == "" || strings.Contains(e, "xxxxxxxxxx") {
		t.Fatalf("logged error %q: want a brief reason without the value", e)
	}
}

// BenchmarkPostWebhookConcurrent is the whole request path from 64 goroutines, so that the
// store's group commit shares fsyncs as it does under a real load.
func BenchmarkPostWebhookConcurrent(b *testing.B) {
	h := benchHandler(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchPost(b, h, msg(fmt.Sprintf("bench-%d", n.Add(1))))
		}
	})
}

// JSON Schema member names are case-sensitive; encoding/json's struct decoding is not. The
// message is stored under the "id" that was validated, never under an "ID" beside it.
func TestCaseVariantMemberDoesNotShadowID(t *testing.T) {
	ts := newServer(t)
	body := `{"id":"exact","sender":"alice","content":"x","ID":"shadow"}`
	resp, answer := ts.post(t, delivery{body: body})
	if resp.StatusCode != 200 || !strings.Contains(string(answer), `"id":"exact"`) {
		t.Fatalf("%d %s", resp.StatusCode, answer)
	}
	if m, err := ts.store.Get(context.Background(), hookvault.DefaultSource, "exact"); err != nil || string(m.Payload) != body {
		t.Fatalf("stored under exact: %q, %v", m.Payload, err)
	}
	if _, err := ts.store.Get(context.Background(), hookvault.DefaultSource, "shadow"); err == nil {
		t.Fatal("stored under the case-variant member")
	}
}
