package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// An operation without the fast validator is validated by kin-openapi, whose decoded value
// (Options.KeepValidatedValue) the delivery carries on; r.Body is the delivery again, read
// from its start.
func TestKinValidatedValueIsCarried(t *testing.T) {
	op := *webhookOperation(t)
	op.fast = nil // as for a schema the fast validator does not take
	body := `{"id":"k-1","sender":"alice","content":"hi"}`
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(contextWithRoute(r, chi.NewRouteContext()))
	d := newDelivery([]byte(body), "default", "application/json")
	r.Body = d
	a := &api{validation: newValidationOptions()}
	if err := a.validate(r, &op, d); err != nil {
		t.Fatal(err)
	}
	v, ok := d.value.(map[string]any)
	if !ok || v["id"] != "k-1" || v["sender"] != "alice" || v["content"] != "hi" {
		t.Fatalf("carried value = %#v", d.value)
	}
	if r.Body != io.ReadCloser(d) {
		t.Fatalf("r.Body is %T, want the delivery", r.Body)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != body {
		t.Fatalf("r.Body reads %q, want the whole body", got)
	}
}
