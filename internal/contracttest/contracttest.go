// Package contracttest holds api/openapi.yaml to what the server answers, in tests: a
// handler wrapper for tests that serve the router in process, and a client transport for
// tests that drive the built binary. A response that the spec does not describe fails the
// test that made it, so that spec and server cannot drift apart.
package contracttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
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

// Handler wraps h so that every response it gives is checked against
// api/openapi.yaml with kin-openapi's openapi3filter.ValidateResponse: its status must be
// one the operation declares (no `default` lets an undeclared one pass), with the declared
// required headers and a body of the declared media type and schema. A response that does
// not match fails tb, the test that made it. Responses to paths or methods the spec does not
// have must be the router's 404 and 405 problems. Benchmarks are left unwrapped, so that
// they measure the server.
func Handler(tb testing.TB, h http.Handler) http.Handler {
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
		status, header := tee.status, tee.header
		if status == 0 { // nothing written: net/http sends 200
			status, header = http.StatusOK, tee.Header().Clone()
		}
		if err := c.check(r, status, header, tee.body.Bytes()); err != nil {
			tb.Errorf("%s %s answered %d, which api/openapi.yaml does not allow: %v\nheaders: %v\nbody: %.600q",
				method, target, status, err, header, tee.body.Bytes())
		}
	})
}

// check validates one response to r.
func (c *contract) check(r *http.Request, status int, header http.Header, body []byte) error {
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
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return clipError(err)
	}
	return nil
}

// knows reports whether the spec has r's path, whatever the method.
func (c *contract) knows(r *http.Request) bool {
	path := r.URL.Path
	if r.URL.RawPath != "" {
		path = r.URL.RawPath
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if c.mux.Match(chi.NewRouteContext(), m, path) {
			return true
		}
	}
	return false
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

// Transport returns a client transport (base, or http.DefaultTransport when nil) that checks
// every response to a path of api/openapi.yaml as Handler does, for tests that drive the
// built binary. Other paths are let through: the client may talk to other servers too (a
// Prometheus). A response that does not match is returned as the request's error, so the request
// that got it fails; its body is read whole to be checked, and handed on unread.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{base}
}

type roundTripper struct{ base http.RoundTripper }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := loadContract()
	if err != nil {
		return nil, err
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if !c.knows(req) {
		return resp, nil
	}
	if err := c.check(req, resp.StatusCode, resp.Header, body); err != nil {
		return nil, fmt.Errorf("%s %s answered %d, which api/openapi.yaml does not allow: %w\nheaders: %v\nbody: %.600q",
			req.Method, req.URL, resp.StatusCode, err, resp.Header, body)
	}
	return resp, nil
}
