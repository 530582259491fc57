package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/metrics"
)

func TestPanicBecomesLogged500Problem(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := observe(log, metrics.New(), newRequestIDs())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom: secret-looking internals")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))

	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p struct{ Detail string }
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail != "internal error" {
		t.Fatalf("problem %s (%v): the panic value must not reach the caller", rec.Body, err)
	}
	if !strings.Contains(logs.String(), `"msg":"panic serving request"`) || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("logs do not show the panic and the 500 line:\n%s", logs.String())
	}
}

func TestAbortHandlerPanicPropagates(t *testing.T) {
	h := observe(slog.New(slog.DiscardHandler), metrics.New(), newRequestIDs())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler { //nolint:errorlint // identity is the contract
			t.Fatalf("recovered %v, want http.ErrAbortHandler to reach net/http", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestMethodLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "POST": "POST", "BREW": "OTHER", "get": "OTHER"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
