package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	spec "github.com/hookvault/hookvault/api"
)

// contract is api/openapi.yaml, whole (the operator endpoints included, which gen's
// embedded copy leaves out), with a router from its paths to its operations.
type contract struct {
	doc *openapi3.T
	mux *chi.Mux // its paths as chi patterns: the router the server uses reads them the same way
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec.Spec)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	mux := chi.NewRouter()
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			mux.MethodFunc(method, path, func(http.ResponseWriter, *http.Request) {})
		}
	}
	return &contract{doc: doc, mux: mux}, nil
})

// validateResponses wraps h so that every response it gives is checked against
// api/openapi.yaml with kin-openapi's openapi3filter.ValidateResponse: its status must be
// one the operation declares (no `default` lets an undeclared one pass), with the declared
// required headers and a body of the declared media type and schema. A response that does
// not match fails tb, the test that made it. Responses to paths or methods the spec does not
// have must be the router's 404 and 405 problems. Benchmarks are left unwrapped, so that
// they measure the server.
func validateResponses(tb testing.TB, h http.Handler) http.Handler {
	tb.Helper()
	if _, ok := tb.(*testing.B); ok {
		return h
	}
	c, err := loadContract()
	if err != nil {
		tb.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, target := r.Method, r.URL.String()
		tee := &teeWriter{ResponseWriter: w}
		// A handler that panics (http.ErrAbortHandler: an answer cut off on purpose) skips
		// the check: the client gets a broken response, which no schema describes.
		h.ServeHTTP(tee, r)
		if err := c.check(r, tee); err != nil {
			tb.Errorf("%s %s answered %d, which api/openapi.yaml does not allow: %v\nheaders: %v\nbody: %.600q",
				method, target, tee.status, err, tee.header, tee.body.Bytes())
		}
	})
}

// check validates one response.
func (c *contract) check(r *http.Request, rec *teeWriter) error {
	status, header := rec.status, rec.header
	if status == 0 { // nothing written: net/http sends 200
		status, header = http.StatusOK, rec.Header().Clone()
	}
	method := r.Method
	head := method == http.MethodHead
	if head {
		// HEAD is served as GET without a body (kin-openapi skips HEAD altogether).
		method = http.MethodGet
	}
	path := r.URL.Path
	if r.URL.RawPath != "" { // as chi routes: an escaped slash stays inside its segment
		path = r.URL.RawPath
	}
	rctx := chi.NewRouteContext()
	if !c.mux.Match(rctx, method, path) {
		return c.checkUnrouted(r, status, header)
	}
	item := c.doc.Paths.Value(rctx.RoutePattern())
	route := &routers.Route{Spec: c.doc, Path: rctx.RoutePattern(), PathItem: item, Method: method,
		Operation: item.GetOperation(method)}
	req := r.Clone(context.Background())
	req.Method = method
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: head},
	}
	in.SetBodyBytes(rec.body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return clipError(err)
	}
	return nil
}

// checkUnrouted checks the answer to a path or method that the spec does not have: a 405
// problem naming the allowed methods when the path is the spec's (or Swagger UI's), else a
// 404 problem; Swagger UI's own pages are not the spec's to describe.
func (c *contract) checkUnrouted(r *http.Request, status int, header http.Header) error {
	docs := r.URL.Path == "/docs" || strings.HasPrefix(r.URL.Path, "/docs/")
	if docs && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return nil
	}
	switch status {
	case http.StatusMethodNotAllowed:
		if header.Get("Allow") == "" {
			return fmt.Errorf("a 405 without an Allow header")
		}
	case http.StatusNotFound, http.StatusServiceUnavailable, http.StatusInternalServerError:
	default:
		return fmt.Errorf("a path or method that the spec does not have is answered %d, not 404 or 405", status)
	}
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("an error answered as %q, not application/problem+json", ct)
	}
	return nil
}

// clipError keeps kin-openapi's error readable: it quotes whole schemas.
func clipError(err error) error {
	s := err.Error()
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return fmt.Errorf("%s", s)
}

// teeWriter passes a response through and keeps a copy: the status and headers as they
// were sent, and the body.
type teeWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (t *teeWriter) WriteHeader(status int) {
	if t.status == 0 && status >= 200 {
		t.status, t.header = status, t.Header().Clone()
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.WriteHeader(http.StatusOK)
	}
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer (deadlines, flushes).
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// failures is a testing.TB that keeps what validateResponses reports instead of failing.
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
			validateResponses(f, tt.h).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if tt.ok != (len(f.got) == 0) {
				t.Errorf("reported %q; want reported: %v", f.got, !tt.ok)
			}
		})
	}
}
