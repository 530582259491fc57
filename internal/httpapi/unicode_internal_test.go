package httpapi

import (
	"testing"

	"github.com/hookvault/hookvault/internal/hookvault"
)

func TestCheckUnicode(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // the detail; "" means the body passes
	}{
		{"ascii", `{"id":"1"}`, ""},
		{"escaped pair", `{"id":"\ud83d\ude00"}`, ""},
		{"raw emoji", `{"id":"😀"}`, ""},
		{"replacement character itself", `{"id":"sur-\ufffd"}`, ""},
		{"escaped backslash then u", `{"id":"\\ud800"}`, ""},
		{"escapes of one character", `{"id":"a\"b\\\/\n"}`, ""},
		{"lone high", `{"id":"sur-\ud800"}`,
			`body field /id: \ud800 at byte 11 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"lone high, upper case hex", `{"id":"sur-\uDBFF"}`,
			`body field /id: \uDBFF at byte 11 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"lone low", `{"x":1,"content":"\udc00"}`,
			`body field /content: \udc00 at byte 18 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"high then a non-surrogate escape", `{"id":"\ud800\u0041"}`,
			`body field /id: \ud800 at byte 7 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"two highs", `{"id":"\ud800\ud800"}`,
			`body field /id: \ud800 at byte 7 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"high at the end of the body", `"\ud800`,
			`body: \ud800 at byte 1 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"nested in arrays and objects", `{"meta":{"tags":["a",{"k":"\udfff"}]}}`,
			`body field /meta/tags/1/k: \udfff at byte 27 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"in a member name", `{"meta":{"\ud800":1}}`,
			`a member name in body field /meta: \ud800 at byte 10 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"invalid byte", "{\"id\":\"sur-\xff\"}",
			`body field /id: byte 11 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"surrogate encoded as UTF-8", "{\"id\":\"\xed\xa0\x80\"}",
			`body field /id: byte 7 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"overlong encoding", "{\"sender\":\"a\",\"id\":\"\xc0\xaf\"}",
			`body field /id: byte 20 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"truncated sequence in an unterminated body", "{\"id\":\"\xe2\x82",
			`body: byte 7 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"invalid byte in a member name", "{\"\xff\":1}",
			`a member name of the body: byte 2 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"invalid byte outside strings", "{\"id\":1}\xff",
			`body: byte 8 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"the first fault is named", "{\"a\":\"\\udc00\",\"b\":\"\xff\"}",
			`body field /a: \udc00 at byte 6 is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"array index", "[\"ok\",\"\xff\"]",
			`body field /1: byte 7 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"pointer escapes", "{\"a/b~c\":\"\xff\"}",
			`body field /a~1b~0c: byte 10 is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUnicode([]byte(tt.body))
			got := ""
			if err != nil {
				got = hookvault.ErrorMessage(err)
				if code := hookvault.ErrorCode(err); code != hookvault.EINVALID {
					t.Errorf("code %q, want %q", code, hookvault.EINVALID)
				}
			}
			if got != tt.want {
				t.Errorf("checkUnicode(%q)\n got %q\nwant %q", tt.body, got, tt.want)
			}
		})
	}
}

// checkUnicodeIn names the document it checks, for JSON that is not the whole body.
func TestCheckUnicodeIn(t *testing.T) {
	const doc = "form field payload"
	tests := []struct {
		name, body string
		want       string
	}{
		{"passes", `{"zen":"\ud83d\ude00"}`, ""},
		{"lone surrogate", `{"zen":"\ud800"}`,
			`form field payload field /zen: \ud800 at byte 8 of form field payload is a lone surrogate, not a character (RFC 8259 §8.2: a surrogate escape must be one of a pair)`},
		{"invalid byte", "{\"zen\":\"\xff\"}",
			`form field payload field /zen: byte 8 of form field payload is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"in a member name", "{\"a\":{\"\xff\":1}}",
			`a member name in form field payload field /a: byte 7 of form field payload is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"a top-level member name", "{\"\xff\":1}",
			`a member name of the form field payload: byte 2 of form field payload is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
		{"not in a value", "[1]\xff",
			`form field payload: byte 3 of form field payload is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := checkUnicodeIn([]byte(tt.body), doc); err != nil {
				got = hookvault.ErrorMessage(err)
			}
			if got != tt.want {
				t.Errorf("checkUnicodeIn(%q)\n got %q\nwant %q", tt.body, got, tt.want)
			}
		})
	}
}

// BenchmarkCheckUnicode measures the check on a typical delivery, which passes.
func BenchmarkCheckUnicode(b *testing.B) {
	body := []byte(`{"id":"evt_1NrZ2q","sender":"payments","content":"invoice.paid for customer \u00e9 – 42 €","amount":4200}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkUnicode(body); err != nil {
			b.Fatal(err)
		}
	}
}
