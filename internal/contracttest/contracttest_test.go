package contracttest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hookvault/hookvault/internal/contracttest"
)

// failures is a testing.TB that keeps what Handler reports instead of failing.
type failures struct {
	testing.TB
	mu  sync.Mutex
	got []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fmt.Sprintf(format, args...))
}

// The validator itself: each drift that slipped through before is caught, and a response
// that keeps the contract is not reported.
func TestValidateResponsesCatchesDrift(t *testing.T) {
	problem := func(status int, headers ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i+1 < len(headers); i += 2 {
				w.Header().Set(headers[i], headers[i+1])
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":"x"}`, http.StatusText(status), status)
		}
	}
	body := func(contentType, b string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			_, _ = io.WriteString(w, b)
		}
	}
	for _, tt := range []struct {
		name, method, path string
		h                  http.Handler
		ok                 bool
	}{
		{"valid", http.MethodGet, "/health/live", body("application/json", `{"status":"ok"}`), true},
		{"undeclared status", http.MethodGet, "/health/live", problem(http.StatusTeapot), false},
		{"body breaks the schema", http.MethodGet, "/health/live", body("application/json", `{"status":"fine"}`), false},
		{"undeclared media type", http.MethodGet, "/stats", body("text/plain", "3 messages"), false},
		{"401 without a challenge", http.MethodGet, "/messages", problem(http.StatusUnauthorized), false},
		{"401 with a challenge", http.MethodPost, "/webhook", problem(http.StatusUnauthorized, "WWW-Authenticate", `Signature realm="x"`), true},
		{"503 without Retry-After", http.MethodGet, "/stats", problem(http.StatusServiceUnavailable), false},
		{"the spec as a string", http.MethodGet, "/openapi.yaml", body("application/yaml", "just text"), false},
		{"HEAD checks headers", http.MethodHead, "/messages", problem(http.StatusUnauthorized), false},
		{"405 without Allow", http.MethodDelete, "/metrics", problem(http.StatusMethodNotAllowed), false},
		{"405 with Allow", http.MethodDelete, "/metrics", problem(http.StatusMethodNotAllowed, "Allow", "GET, HEAD"), true},
		{"TRACE answered", http.MethodTrace, "/metrics", body("text/plain", "ok"), false},
		{"unknown path answered", http.MethodGet, "/nowhere", body("application/json", "{}"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &failures{TB: t}
			rec := httptest.NewRecorder()
			contracttest.Handler(f, tt.h).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if tt.ok != (len(f.got) == 0) {
				t.Errorf("reported %q; want reported: %v", f.got, !tt.ok)
			}
		})
	}
}

// The transport fails a request whose answer the spec does not describe, and lets through
// the answers of paths the spec does not have (another server's).
func TestTransportFailsDrift(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"fine"}`)
	}))
	defer srv.Close()
	client := &http.Client{Transport: contracttest.Transport(nil)}
	if resp, err := client.Get(srv.URL + "/health/live"); err == nil {
		resp.Body.Close()
		t.Error("GET /health/live with a status the schema does not allow: no error")
	}
	resp, err := client.Get(srv.URL + "/api/v1/query")
	if err != nil {
		t.Fatalf("a path the spec does not have: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"status":"fine"}` {
		t.Errorf("body handed on = %q", b)
	}
	resp.Body.Close()
}
