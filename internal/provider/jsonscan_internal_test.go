package provider

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanPointers are the pointers the scanner fuzz compares against encoding/json.
var scanPointers = []pointer{
	mustPointer("/id"), mustPointer("/a/b"), mustPointer("/a/0"), mustPointer("/0"), mustPointer("/é"),
	mustPointer("/a~1b"), mustPointer("/"), mustPointer("/a/1/id"),
}

// FuzzScanJSON holds the one-pass scanner to encoding/json: it accepts exactly what
// json.Valid accepts, and what it finds at each pointer is what decoding the whole body
// finds there (a string decoded the same, a number as its literal), except that a string
// encoding/json would repair with U+FFFD is reported instead.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"x"}`, `{"id":1.5e3,"a":{"b":"c"}}`, `[{"id":"a"},2]`, `{"a":["x",{"id":"y"}]}`,
		`{"\u0069d":"esc","id":"last"}`, `{"id":"\ud83d\ude00 \ud800"}`, "{\"id\":\"\xff\"}", `{"é":"e","a/b":1,"":2}`,
		`  {"a" : [ 1 , { "id" : null } ] }  `, `{"id":-0}`, `{"id":01}`, `{"id":"\x01"}`, `[`, `{"a":}`, `"top"`, `1e`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		found := make([]span, len(scanPointers))
		ok := scanJSON(raw, scanPointers, found)
		if ok != json.Valid(raw) {
			t.Fatalf("scanJSON = %v, json.Valid = %v for %q", ok, !ok, raw)
		}
		if !ok {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("json.Decode of a valid body: %v", err)
		}
		for k, p := range scanPointers {
			want, wantOK := lookup(doc, p.tokens)
			got := valueAt(raw, found[k])
			switch {
			case !wantOK || want == nil:
				if got.present {
					t.Fatalf("%s: found %+v, encoding/json finds nothing in %q", p.text, got, raw)
				}
			case !got.present:
				t.Fatalf("%s: found nothing, encoding/json finds %#v in %q", p.text, want, raw)
			}
			switch w := want.(type) {
			case string:
				if got.problem == "" && got.text != w {
					t.Fatalf("%s: %q, encoding/json %q", p.text, got.text, w)
				}
				if got.problem != "" && !strings.ContainsRune(w, utf8.RuneError) {
					t.Fatalf("%s: %s, but encoding/json decodes %q cleanly", p.text, got.problem, w)
				}
			case json.Number:
				if got.text != string(w) || got.problem != "" {
					t.Fatalf("%s: %+v, encoding/json %s", p.text, got, w)
				}
			case bool, map[string]any, []any:
				if got.problem == "" {
					t.Fatalf("%s: %+v usable, encoding/json %T", p.text, got, w)
				}
			}
		}
	})
}

// lookup follows tokens through a decoded document, as RFC 6901 does.
func lookup(doc any, tokens []string) (any, bool) {
	for _, tok := range tokens {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[tok]
			if !ok {
				return nil, false
			}
			doc = v
		case []any:
			i := arrayIndex(tok)
			if i < 0 || i >= len(d) {
				return nil, false
			}
			doc = d[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

func TestScanJSONDepth(t *testing.T) {
	for _, n := range []int{1, 10000, 10001} {
		raw := []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
		if got, want := scanJSON(raw, nil, nil), json.Valid(raw); got != want {
			t.Errorf("depth %d: scanJSON = %v, json.Valid = %v", n, got, want)
		}
	}
}

func TestParsePointer(t *testing.T) {
	for _, tc := range []struct {
		in     string
		tokens []string
		err    bool
	}{
		{"/a", []string{"a"}, false},
		{"/a/b", []string{"a", "b"}, false},
		{"/", []string{""}, false},
		{"/a~1b/~0", []string{"a/b", "~"}, false},
		{"/~01", []string{"~1"}, false},
		{"", nil, true},
		{"a", nil, true},
		{"/~", nil, true},
		{"/~2", nil, true},
		{"/" + strings.Repeat("a/", 64) + "a", nil, true},
	} {
		p, err := parsePointer(tc.in)
		if (err != nil) != tc.err || (!tc.err && strings.Join(p.tokens, "|") != strings.Join(tc.tokens, "|")) {
			t.Errorf("parsePointer(%q) = %q, %v", tc.in, p.tokens, err)
		}
	}
	for _, tc := range []struct {
		tok  string
		want int
	}{{"0", 0}, {"12", 12}, {"01", -1}, {"-1", -1}, {"", -1}, {"1a", -1}, {strconv.Itoa(1e9), -1}} {
		if got := arrayIndex(tc.tok); got != tc.want {
			t.Errorf("arrayIndex(%q) = %d, want %d", tc.tok, got, tc.want)
		}
	}
}

// TestSetMember keeps every other byte of the body.
func TestSetMember(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"k":1}`},
		{` { } `, ` {"k":1 } `},
		{`{"a":2}`, `{"k":1,"a":2}`},
		{`{"k":"old","a":2}`, `{"k":1,"a":2}`},
		{`{"k":0,"k":{"x":[1]}}`, `{"k":0,"k":1}`},
	} {
		got, err := setMember([]byte(tc.in), "k", []byte("1"))
		if err != nil || string(got) != tc.want {
			t.Errorf("setMember(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`[]`, `"s"`, `{`} {
		if _, err := setMember([]byte(bad), "k", []byte("1")); err == nil {
			t.Errorf("setMember(%s) = nil error", bad)
		}
	}
}
