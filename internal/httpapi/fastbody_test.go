package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// webhookOperation is POST /webhook's operation as the router loads it from the spec.
func webhookOperation(tb testing.TB) *operation {
	tb.Helper()
	doc, err := gen.GetSpec()
	if err != nil {
		tb.Fatal(err)
	}
	ops, err := loadOperations(doc)
	if err != nil {
		tb.Fatal(err)
	}
	op := ops[opKey{http.MethodPost, webhookRoute}]
	if op == nil {
		tb.Fatal("the spec has no POST /webhook")
	}
	return op
}

var fieldInDetail = regexp.MustCompile(`(?:/|")(id|sender|content)\b`)

// The hand validator of POST /webhook must accept and reject exactly what kin-openapi does
// with the spec, and name the same field: the same bodies go through both.
func TestFastWebhookValidationMatchesKin(t *testing.T) {
	op := webhookOperation(t)
	if op.fast == nil {
		t.Fatal("POST /webhook does not use the fast validator; the spec's schema changed shape?")
	}
	a := &api{validation: newValidationOptions()}
	long := strings.Repeat("é", 257)
	bodies := []string{
		`{"id":"1","sender":"alice","content":"hello"}`,
		`{"id":"1","sender":"alice","content":""}`,
		`{"id":"1","sender":"alice","content":"x","extra":{"nested":[1,null,true]},"n":1e400}`,
		`{"id":"` + strings.Repeat("é", 256) + `","sender":"` + strings.Repeat("s", 256) + `","content":"x"}`,
		`{"id":"` + long + `","sender":"a","content":"x"}`,
		`{"id":"1","sender":"` + long + `","content":"x"}`,
		`{"id":"","sender":"a","content":"x"}`,
		`{"id":"1","sender":"","content":"x"}`,
		`{"sender":"a","content":"x"}`,
		`{"id":"1","content":"x"}`,
		`{"id":"1","sender":"a"}`,
		`{}`,
		`{"ID":"1","Sender":"a","Content":"x"}`,
		`{"id":1,"sender":"a","content":"x"}`,
		`{"id":"1","sender":true,"content":"x"}`,
		`{"id":"1","sender":"a","content":null}`,
		`{"id":"1","sender":"a","content":["x"]}`,
		`{"id":{"x":1},"sender":"a","content":"x"}`,
		`{"id":"a","id":5,"sender":"a","content":"x"}`,
		`{"id":5,"id":"a","sender":"a","content":"x"}`,
		`{"id":"\u0000\ud800","sender":"a","content":"x"}`,
		`[{"id":"1","sender":"a","content":"x"}]`,
		`"text"`, `42`, `null`, `true`,
		`{"\u0069d":"1","sender":"a","content":"x"}`,
		`{"id":"1","sender":"a","content":"x","se\u006eder":5}`,
		`{"id":"a\"b\\","sender":"a","content":"\\\"{}[],:"}`,
		` { "id" : "1" , "sender" :"a",` + "\n\t" + `"content":"x" } `,
		`{"x":{"id":5,"a":[{"}":"]"}]},"id":"1","sender":"a","content":"x"}`,
		`{"x":["id","sender"],"id":"1","sender":"a"}`,
		`{"id":"1","sender":"a","content":"x","id":"2"}`,
		`{"id":"1","sender":"a","content":"\u00e9\ud83d\ude00"}`,
		`{"id":"` + strings.Repeat("\u00e9", 257) + `","sender":"a","content":"x"}`,
		`{"id":"1","sender":"a","content":-1.5e3}`,
	}
	for _, body := range bodies {
		t.Run(body[:min(len(body), 40)], func(t *testing.T) {
			_, fastErr := op.fast.validate([]byte(body))

			r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader([]byte(body)))
			r.Header.Set("Content-Type", "application/json")
			rc := chi.NewRouteContext()
			r = r.WithContext(contextWithRoute(r, rc))
			kinErr := a.validateWithKin(r, op)

			if (fastErr == nil) != (kinErr == nil) {
				t.Fatalf("fast: %v; kin: %v", fastErr, kinErr)
			}
			if fastErr == nil {
				return
			}
			if hookvault.ErrorCode(fastErr) != hookvault.ErrorCode(kinErr) {
				t.Errorf("codes differ: fast %v, kin %v", fastErr, kinErr)
			}
			f, k := fieldInDetail.FindStringSubmatch(hookvault.ErrorMessage(fastErr)), fieldInDetail.FindStringSubmatch(hookvault.ErrorMessage(kinErr))
			if (f == nil) != (k == nil) || (f != nil && f[1] != k[1]) {
				t.Errorf("fields differ: fast %q, kin %q", hookvault.ErrorMessage(fastErr), hookvault.ErrorMessage(kinErr))
			}
		})
	}
}

// A member without escapes is the body's own bytes: validating a 1 MiB content copies
// nothing of it.
func TestFastValidationSharesTheBody(t *testing.T) {
	v := webhookOperation(t).fast
	body := []byte(`{"id":"1","sender":"a","content":"` + strings.Repeat("x", 1<<20) + `"}`)
	var values map[string]any
	var err error
	allocated := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			values, err = v.validate(body)
		}
	}).AllocedBytesPerOp()
	if content, _ := values["content"].(string); err != nil || len(content) != 1<<20 {
		t.Fatalf("validate: %v, content of %d bytes", err, len(content))
	}
	if allocated > 4096 {
		t.Errorf("validating a 1 MiB body allocates %d bytes, want no copy of it", allocated)
	}
	escaped := []byte(`{"id":"1","sender":"a","content":"line\nbreak"}`)
	if values, err := v.validate(escaped); err != nil || values["content"] != "line\nbreak" {
		t.Errorf("escaped content = %q, %v", values["content"], err)
	}
}

func BenchmarkWebhookValidation(b *testing.B) {
	op := webhookOperation(b)
	body := []byte(`{"id":"evt_1NrZ2q","sender":"payments","content":"invoice.paid","amount":4200}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := op.fast.validate(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kin", func(b *testing.B) {
		a := &api{validation: newValidationOptions()}
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(contextWithRoute(r, chi.NewRouteContext()))
			if err := a.validateWithKin(r, op); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func contextWithRoute(r *http.Request, rc *chi.Context) context.Context {
	return context.WithValue(r.Context(), chi.RouteCtxKey, rc)
}
