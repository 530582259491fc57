package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
)

// storedHeaders writes what encoding/json writes for the same headers (it escapes <, > and &
// too, which JSON does not need), and what reads back as the headers that were kept.
func TestStoredHeadersAsEncodingJSON(t *testing.T) {
	h := http.Header{
		"Content-Type":        {"application/json; charset=utf-8"},
		"X-Signature":         {"sha256=abc"},
		"Authorization":       {"Bearer secret"},
		"Cookie":              {"a=b"},
		"X-Quotes":            {`say "hi" \ back\slash`},
		"X-Control":           {"tab\there\nnew\rline\x00\x1f\x7f"},
		"X-Invalid-Utf8":      {"a\xffb\xc3", "\xe2\x80"},
		"X-Unicode":           {"héllo ✓ 🎉", "line\u2028sep\u2029para"},
		"X-Many":              {"1", "2", ""},
		"X-Html":              {"<b>&amp;</b>"},
		"X-Empty-List":        {},
		"Proxy-Authorization": {"Basic x"},
	}
	got := storedHeaders(h, "application/vnd.api+json")

	want := map[string][]string{}
	for name, values := range h {
		switch name {
		case "Authorization", "Cookie", "Proxy-Authorization":
			continue
		case "Content-Type":
			values = []string{"application/vnd.api+json"}
		}
		want[name] = values
	}
	wantBytes, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(wantBytes))
	if string(got) != unescaped {
		t.Errorf("storedHeaders =\n%s\nencoding/json (HTML unescaped) =\n%s", got, unescaped)
	}
	var back map[string][]string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if len(back) != len(want) {
		t.Errorf("%d names read back, want %d", len(back), len(want))
	}
}

// BenchmarkStoredHeaders is storedHeaders against encoding/json on the same headers, which
// it replaced.
func BenchmarkStoredHeaders(b *testing.B) {
	h := http.Header{
		"Content-Type": {"application/json"}, "X-Signature": {"sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		"User-Agent": {"Go-http-client/1.1"}, "Content-Length": {"64"}, "Accept-Encoding": {"gzip"},
	}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			storedHeaders(h, "application/json")
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			kept := make(map[string][]string, len(h))
			for name, values := range h {
				kept[name] = values
			}
			if _, err := json.Marshal(kept); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// accepted answers with the bytes and the header that the generated response writes, for
// ids that need every kind of escape.
func TestAcceptedAnswerAsGenerated(t *testing.T) {
	for _, id := range []string{"1", "evt_1NqDh2", `say "hi" \ back\slash`, "<b>&amp;</b>", "tab\there\nnew\x00\x1f\x7f",
		"a\xffb\xc3", "héllo ✓ 🎉", "line\u2028sep\u2029para", strings.Repeat("x", 256)} {
		for _, dup := range []bool{false, true} {
			want := httptest.NewRecorder()
			if err := (gen.PostWebhook200JSONResponse{Status: gen.WebhookAcceptedStatusOk, Id: id, Duplicate: dup}).VisitPostWebhookResponse(want); err != nil {
				t.Fatal(err)
			}
			got := httptest.NewRecorder()
			if err := (accepted{id: id, duplicate: dup}).VisitPostWebhookResponse(got); err != nil {
				t.Fatal(err)
			}
			if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) {
				t.Errorf("id %q, duplicate %v: %d %v %q, want %d %v %q", id, dup,
					got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
	}
}
