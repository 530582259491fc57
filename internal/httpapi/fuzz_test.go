package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// fuzzContentTypes are the media types a fuzzed request picks from: the accepted ones with
// odd parameters, near misses, and none at all.
var fuzzContentTypes = []string{
	"application/json",
	"application/json; charset=utf-8",
	"application/cloudevents+json",
	"APPLICATION/JSON; charset=\"latin1\"",
	"text/plain",
	"application/json;;;",
	"",
}

// newFuzzHandler is the real router on a real SQLite file. NORMAL synchronous keeps the
// fuzzer fast; durability is not what is being fuzzed.
func newFuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	m := metrics.New()
	h, _ := newHandler(tb, sqlite.Options{Synchronous: "NORMAL", Observer: m}, httpapi.Deps{
		Metrics: m, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		MaxBodyBytes: maxBody, APITokens: []string{token},
		Limits: httpapi.Limits{MaxInFlight: 1024}, // the default, as in production
	})
	return h
}

// FuzzWebhookRouter sends arbitrary bodies through the whole router. Half of the inputs
// carry a correct signature over the fuzzed bytes, so that the validator and the store are
// reached and not only the signature check. No input may panic or be answered with a 5xx.
func FuzzWebhookRouter(f *testing.F) {
	for _, seed := range []string{
		msg("seed-1"),
		`{"id":"x","sender":"a","content":"b","extra":{"deep":[1,2,3]}}`,
		`{"id":"","sender":"","content":""}`,
		`{"id":"x","sender":"a"`,
		`{"id":1e999999,"sender":"a","content":"b"}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"id":"\ud800","sender":"a","content":"b"}`,
		`{"ID":"x","id":"y","sender":"a","content":"b"}`,
		"\x00\xff\xfe",
		"",
		"null",
	} {
		for _, signed := range []bool{true, false} {
			f.Add([]byte(seed), signed, uint8(0), false)
		}
	}
	f.Add([]byte(msg("seed-2")), true, uint8(2), true)
	f.Add([]byte(msg("seed-3")), true, uint8(4), false)

	h := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte, signed bool, contentType uint8, hub bool) {
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		if ct := fuzzContentTypes[int(contentType)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		header := signature.HeaderSignature
		if hub {
			header = signature.HeaderHubSignature
		}
		if signed {
			req.Header.Set(header, signature.Sign([]byte(secret), body))
		} else {
			req.Header.Set(header, "sha256=00")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q (signed %v): %s", rec.Code, body, signed, rec.Body)
		}
	})
}
