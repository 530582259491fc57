package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/httpapi"
)

// Ids that differ only in what a decoder would replace with U+FFFD stay distinct: a body
// that is not Unicode text is refused with a 422 that says where, and stores nothing, so
// "sur-\ufffd" is stored as the new message it is instead of a duplicate of "sur-\ud800".
func TestIdsThatAreNotUnicodeNeverMerge(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ts := &testServer{Server: httptest.NewServer(newHandlerOn(t, open(t), httpapi.Deps{APITokens: []string{token}}))}
			t.Cleanup(ts.Close)

			refused := []struct{ body, detail string }{
				{`{"id":"sur-\ud800","sender":"a","content":"x"}`, `body field /id: \ud800 at byte 11 is a lone surrogate`},
				{`{"id":"sur-\udbff","sender":"a","content":"x"}`, `body field /id: \udbff at byte 11 is a lone surrogate`},
				{`{"id":"sur-\udc00\ud800","sender":"a","content":"x"}`, `body field /id: \udc00 at byte 11 is a lone surrogate`},
				{"{\"id\":\"sur-\xff\",\"sender\":\"a\",\"content\":\"x\"}", `body field /id: byte 11 is not valid UTF-8`},
				{"{\"id\":\"sur-ok\",\"sender\":\"a\",\"content\":\"\xed\xa0\x80\"}", `body field /content: byte 39 is not valid UTF-8`},
				{`{"id":"sur-ok","sender":"a","content":"x","meta":{"k":"\ude00"}}`, `body field /meta/k: \ude00 at byte 55 is a lone surrogate`},
			}
			for _, r := range refused {
				resp, body := ts.post(t, delivery{body: r.body})
				p := decodeProblem(t, resp, body)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(p.Detail, r.detail) {
					t.Errorf("%q: %d %q, want 422 starting %q", r.body, resp.StatusCode, p.Detail, r.detail)
				}
			}

			for _, body := range []string{
				`{"id":"sur-\ufffd","sender":"a","content":"x"}`,
				`{"id":"sur-\ud83d\ude00","sender":"a","content":"x"}`,
				`{"id":"sur-😀-raw","sender":"a","content":"x"}`,
			} {
				resp, got := ts.post(t, delivery{body: body})
				var ok gen.WebhookAccepted
				if err := json.Unmarshal(got, &ok); err != nil || resp.StatusCode != 200 || ok.Duplicate {
					t.Errorf("%s: %d %s, want 200 and a new message", body, resp.StatusCode, got)
				}
			}
			resp, raw := ts.get(t, "/stats", "Bearer "+token)
			var st gen.Stats
			if err := json.Unmarshal(raw, &st); err != nil || resp.StatusCode != 200 {
				t.Fatalf("stats: %d %s", resp.StatusCode, raw)
			}
			if st.TotalMessages != 3 {
				t.Errorf("stored %d messages, want the 3 valid ones", st.TotalMessages)
			}
		})
	}
}
