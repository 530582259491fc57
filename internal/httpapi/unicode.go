package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// checkUnicode refuses a body that is not Unicode text: bytes that are not UTF-8 (RFC 8259
// §8.1) or a \u escape of a lone surrogate (§8.2). Decoders replace either with U+FFFD,
// so without this check "sur-\ud800" and "sur-\udbff" decode to one id and the second
// delivery is dropped as its duplicate; and bytes that are not UTF-8 would be stored and
// served back as JSON that is not JSON. Both scans are linear and allocate nothing; only a
// body that fails pays for finding the field to name.
func checkUnicode(raw []byte) error { return checkUnicodeIn(raw, "body") }

// checkUnicodeIn is checkUnicode for a JSON document that is not the whole body, such as
// the payload field of a form (provider.Request.CheckJSON): doc names it in the detail, and
// byte offsets count from its start.
func checkUnicodeIn(raw []byte, doc string) error {
	bad := -1
	if !utf8.Valid(raw) {
		bad = firstInvalidUTF8(raw)
	}
	of := ""
	if doc != "body" {
		of = " of " + doc
	}
	if s := firstLoneSurrogate(raw); s >= 0 && (bad < 0 || s < bad) {
		return hookvault.Errorf(hookvault.EINVALID, "%s: %s at byte %d%s is a lone surrogate, not a character "+
			"(RFC 8259 §8.2: a surrogate escape must be one of a pair)", placeOf(raw, s, doc), raw[s:s+6], s, of)
	}
	if bad >= 0 {
		return hookvault.Errorf(hookvault.EINVALID, "%s: byte %d%s is not valid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8)",
			placeOf(raw, bad, doc), bad, of)
	}
	return nil
}

// firstInvalidUTF8 is the offset of the first byte of raw that does not start a valid
// UTF-8 sequence.
func firstInvalidUTF8(raw []byte) int {
	for i := 0; i < len(raw); {
		if raw[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// firstLoneSurrogate is the offset of the first \uXXXX escape of a surrogate that is not
// a high surrogate directly followed by an escaped low one, or -1. A backslash only occurs
// inside JSON strings (anywhere else the body is malformed and refused as such), so the
// scan need not track where strings begin and end.
func firstLoneSurrogate(raw []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return -1
		}
		i += j
		r, ok := escapedRune(raw[i:])
		switch {
		case !ok: // an escape of one character, such as \\ or \", or a malformed one
			i += 2
			continue
		case r >= 0xD800 && r <= 0xDBFF:
			if low, ok := escapedRune(raw[i+6:]); ok && low >= 0xDC00 && low <= 0xDFFF {
				i += 12
				continue
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 6
	}
}

// escapedRune decodes a \uXXXX escape at the start of b.
func escapedRune(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

// placeOf names the JSON value or member name that holds byte at of raw, as "body field
// /a/0/b", "a member name in body field /a", or "body" (doc in place of "body" for another
// document). It walks the tokens up to that byte, so it is only called for a document
// already known to be bad.
func placeOf(raw []byte, at int, doc string) string {
	type level struct {
		object  bool
		key     string
		index   int
		wantKey bool
	}
	var stack []level
	pointer := func() string {
		var b strings.Builder
		for _, l := range stack {
			b.WriteByte('/')
			if l.object {
				b.WriteString(pointerEscape(l.key))
			} else {
				b.WriteString(strconv.Itoa(l.index))
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return doc
		}
		end := int(dec.InputOffset())
		top := len(stack) - 1
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top >= 0 && !stack[top].object {
				stack[top].index++
			}
			stack = append(stack, level{object: tok == json.Delim('{'), wantKey: true, index: -1})
			if at < end {
				return doc
			}
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantKey = true
			}
			if at < end {
				return doc
			}
			continue
		}
		if top >= 0 && stack[top].object && stack[top].wantKey {
			stack[top].key, _ = tok.(string)
			stack[top].wantKey = false
			if at < end {
				stack[top].key = ""
				stack = stack[:top]
				if p := pointer(); p != "" {
					return "a member name in " + doc + " field " + p
				}
				return "a member name of the " + doc
			}
			continue
		}
		if top >= 0 && !stack[top].object {
			stack[top].index++
		}
		if at < end {
			if p := pointer(); p != "" {
				return doc + " field " + p
			}
			return doc
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
}

// pointerEscape writes a member name as a JSON Pointer token (RFC 6901), shortened so that
// a detail never echoes much of the body.
func pointerEscape(key string) string {
	if len(key) > 64 {
		key = strings.ToValidUTF8(key[:64], "") + "…"
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
