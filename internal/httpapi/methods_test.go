package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
)

// routeTable walks the real router and returns each route pattern with the methods it
// serves, so that a route added later is in TestMethodsOnEveryRoute without a new row.
func routeTable(t *testing.T) map[string][]string {
	t.Helper()
	h, err := httpapi.New(httpapi.Deps{Metrics: metrics.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("httpapi.New returned a %T, not a chi router", h)
	}
	routes := map[string][]string{}
	err = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[route] = append(routes[route], method)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

// allMethods are the methods tried on every route: HTTP's, and one that no server knows.
var allMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, "FOO"}

// Every route answers HEAD wherever it answers GET, with the same status and headers and no
// body, and every other method it does not serve with a 405 problem whose Allow header lists
// the methods it does (a contract tester found /metrics answering TRACE with 200, and HEAD
// refused on GET routes).
func TestMethodsOnEveryRoute(t *testing.T) {
	ts := newServer(t)
	routes := routeTable(t)
	for _, want := range []string{"/webhook", "/webhook/{source}", "/messages", "/messages/{id}", "/stats", "/sources",
		"/health/live", "/health/ready", "/metrics", "/openapi.yaml", "/openapi.json", "/docs", "/docs/", "/docs/*"} {
		if _, ok := routes[want]; !ok {
			t.Errorf("the router has no route %s: %v", want, routes)
		}
	}
	// Headers that differ between any two answers.
	volatile := []string{"Date", "X-Request-Id", "Content-Length"}
	for pattern, methods := range routes {
		path := strings.NewReplacer("{source}", "default", "{id}", "x", "*", "index.html").Replace(pattern)
		var allow []string
		for _, m := range allMethods {
			if slices.Contains(methods, m) || m == http.MethodHead && slices.Contains(methods, http.MethodGet) {
				allow = append(allow, m)
			}
		}
		t.Run(pattern, func(t *testing.T) {
			send := func(method string) (*http.Response, []byte) {
				t.Helper()
				req, err := http.NewRequest(method, ts.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept-Encoding", "gzip") // the same for both; Go's client asks only on GET
				// Redirects are answers to compare, not to follow.
				client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}
			if slices.Contains(methods, http.MethodGet) {
				get, _ := send(http.MethodGet)
				head, body := send(http.MethodHead)
				if head.StatusCode != get.StatusCode || len(body) > 0 {
					t.Errorf("HEAD %s = %d with %d body bytes; GET = %d, want the same status and no body", path, head.StatusCode, len(body), get.StatusCode)
				}
				for _, h := range [2]http.Header{get.Header, head.Header} {
					for _, v := range volatile {
						h.Del(v)
					}
				}
				for name := range mergedKeys(get.Header, head.Header) {
					if g, h := get.Header.Values(name), head.Header.Values(name); !slices.Equal(g, h) {
						t.Errorf("HEAD %s: %s = %q; GET's is %q", path, name, h, g)
					}
				}
			}
			for _, m := range allMethods {
				if slices.Contains(allow, m) {
					continue
				}
				resp, body := send(m)
				if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != strings.Join(allow, ", ") {
					t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", m, path, resp.StatusCode, resp.Header.Values("Allow"), strings.Join(allow, ", "))
					continue
				}
				if m == http.MethodHead { // no body, but the problem's headers
					if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("HEAD %s: Content-Type %q", path, ct)
					}
				} else if p := decodeProblem(t, resp, body); p.Status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: problem %+v", m, path, p)
				}
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		for _, m := range allMethods {
			req, err := http.NewRequest(m, ts.URL+"/nowhere", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp, _ := do(t, req); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Allow") != "" {
				t.Errorf("%s /nowhere = %d, Allow %q; want 404 without Allow", m, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	})
}

func mergedKeys(a, b http.Header) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
