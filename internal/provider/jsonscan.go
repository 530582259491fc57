package provider

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// pointer is a JSON pointer (RFC 6901) with its reference tokens unescaped. A preset's
// pointers are parsed once, at New; a request only compares them.
type pointer struct {
	text   string
	tokens []string
	index  []int // per token: the array index it names, or -1 when it cannot name one
}

func parsePointer(s string) (pointer, error) {
	if s == "" || s[0] != '/' {
		return pointer{}, fmt.Errorf("%q is not a JSON pointer: it must start with /", s)
	}
	if len(s) > 1024 {
		return pointer{}, errors.New("the JSON pointer is longer than 1024 bytes")
	}
	p := pointer{text: s}
	for _, tok := range strings.Split(s[1:], "/") {
		for i := 0; i < len(tok); i++ {
			if tok[i] == '~' && (i+1 == len(tok) || (tok[i+1] != '0' && tok[i+1] != '1')) {
				return pointer{}, fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 or 1", s)
			}
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		p.tokens = append(p.tokens, tok)
		p.index = append(p.index, arrayIndex(tok))
	}
	if len(p.tokens) > 64 {
		return pointer{}, errors.New("the JSON pointer has more than 64 tokens")
	}
	return p, nil
}

// arrayIndex is the index a token names in an array (RFC 6901 §4: no leading zeros), or -1.
func arrayIndex(tok string) int {
	if tok == "" || len(tok) > 9 || (tok[0] == '0' && len(tok) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return -1
		}
		n = n*10 + int(tok[i]-'0')
	}
	return n
}

// span is where a value sits in the scanned bytes; to == 0 means the pointer found nothing.
type span struct{ from, to int }

// maxDepth is encoding/json's nesting limit, so that the scanner refuses exactly what
// json.Valid refuses (FuzzScanJSON compares the two).
const maxDepth = 10000

// jsonScanner validates one JSON text and, in the same pass, notes where the values of a
// few pointers are. It decodes nothing: a member name is unescaped only when it may match
// a pointer and has escapes, and the caller decodes just the values it keeps. This is what
// lets Read take an id from a 1 MiB body without building the document.
type jsonScanner struct {
	raw   []byte
	ptrs  []pointer
	found []span
}

// scanJSON reports whether raw is one JSON text, and fills found[i] with the span of the
// value at ptrs[i] (a member named twice counts by its last value, as in encoding/json).
func scanJSON(raw []byte, ptrs []pointer, found []span) bool {
	if len(ptrs) > 64 {
		panic("provider: more than 64 pointers in one scan")
	}
	for i := range found {
		found[i] = span{}
	}
	sc := jsonScanner{raw: raw, ptrs: ptrs, found: found}
	all := uint64(1)<<len(ptrs) - 1
	i, ok := sc.value(skipSpace(raw, 0), all, 0, 1)
	return ok && skipSpace(raw, i) == len(raw)
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// value scans the value at i. active holds the pointers whose first depth tokens name the
// path to this value; level is the nesting depth of containers, for the limit.
func (sc *jsonScanner) value(i int, active uint64, depth, level int) (int, bool) {
	raw := sc.raw
	if i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; {
	case c == '{':
		if level > maxDepth {
			return i, false
		}
		return sc.object(i, active, depth, level)
	case c == '[':
		if level > maxDepth {
			return i, false
		}
		return sc.array(i, active, depth, level)
	case c == '"':
		end, _, ok := scanString(raw, i)
		return end, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(raw, i)
	case c == 't':
		return literal(raw, i, "true")
	case c == 'f':
		return literal(raw, i, "false")
	case c == 'n':
		return literal(raw, i, "null")
	}
	return i, false
}

func literal(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// child narrows active to the pointers whose token at depth the member (or element) matches,
// and records the span of those that end here.
func (sc *jsonScanner) child(active uint64, depth int, match func(p *pointer) bool) uint64 {
	var next uint64
	for k := range sc.ptrs {
		if active&(1<<k) == 0 {
			continue
		}
		p := &sc.ptrs[k]
		if depth < len(p.tokens) && match(p) {
			next |= 1 << k
		}
	}
	return next
}

func (sc *jsonScanner) record(matched uint64, depth int, from, to int) {
	for k := range sc.ptrs {
		if matched&(1<<k) != 0 && len(sc.ptrs[k].tokens) == depth+1 {
			sc.found[k] = span{from, to}
		}
	}
}

func (sc *jsonScanner) object(i int, active uint64, depth, level int) (int, bool) {
	raw := sc.raw
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return i, false
		}
		keyEnd, escaped, ok := scanString(raw, i)
		if !ok {
			return i, false
		}
		var matched uint64
		if active != 0 {
			key := raw[i+1 : keyEnd-1]
			name, decoded := string(key), true
			if escaped {
				name, decoded = unescapeName(key)
			}
			if decoded {
				matched = sc.child(active, depth, func(p *pointer) bool { return p.tokens[depth] == name })
			}
		}
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			return i, false
		}
		from := skipSpace(raw, i+1)
		end, ok := sc.value(from, matched, depth+1, level+1)
		if !ok {
			return end, false
		}
		if matched != 0 {
			sc.record(matched, depth, from, end)
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return i, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func (sc *jsonScanner) array(i int, active uint64, depth, level int) (int, bool) {
	raw := sc.raw
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return i + 1, true
	}
	for n := 0; ; n++ {
		var matched uint64
		if active != 0 {
			matched = sc.child(active, depth, func(p *pointer) bool { return p.index[depth] == n })
		}
		from := i
		end, ok := sc.value(from, matched, depth+1, level+1)
		if !ok {
			return end, false
		}
		if matched != 0 {
			sc.record(matched, depth, from, end)
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return i, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanString returns the offset past the string that starts at the quote at i, and whether
// it has escapes. It checks the escapes and refuses control characters, as RFC 8259 does;
// like encoding/json it does not check UTF-8 here (Read checks what it keeps).
func scanString(raw []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c < 0x20:
			return j, escaped, false
		case c == '\\':
			escaped = true
			if j+1 >= len(raw) {
				return j, escaped, false
			}
			switch raw[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+6 > len(raw) {
					return j, escaped, false
				}
				if _, ok := hex4(raw[j+2 : j+6]); !ok {
					return j, escaped, false
				}
				j += 5
			default:
				return j, escaped, false
			}
		}
	}
	return len(raw), escaped, false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber returns the offset past the number at i (RFC 8259 §6 grammar).
func scanNumber(raw []byte, i int) (int, bool) {
	if raw[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case !digits():
		return i, false
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		if !digits() {
			return i, false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		if !digits() {
			return i, false
		}
	}
	return i, true
}

// unescapeName decodes a member name that has escapes, for comparing it with a token. A name
// with a lone surrogate escape names no member a pointer can reach.
func unescapeName(key []byte) (string, bool) {
	s, problem := unescape(key)
	return s, problem == ""
}

// unescape decodes the inside of a JSON string that scanString accepted. It says what is
// wrong instead of replacing it with U+FFFD as encoding/json does: two ids that differ only
// in a lone surrogate must not become one id (see internal/httpapi/unicode.go).
func unescape(b []byte) (string, string) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
				i++
				continue
			}
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return "", "is not valid UTF-8"
			}
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		switch b[i+1] {
		case 'u':
			r, _ := hex4(b[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
					return "", "has a lone surrogate escape, not a character"
				}
				low, _ := hex4(b[i+2 : i+6])
				pair := utf16.DecodeRune(r, low)
				if pair == utf8.RuneError {
					return "", "has a lone surrogate escape, not a character"
				}
				r = pair
				i += 6
			}
			sb.WriteRune(r)
			continue
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		default: // " \ /
			sb.WriteByte(b[i+1])
		}
		i += 2
	}
	return sb.String(), ""
}

// jsonValue is what a pointer found: a string decoded, a number as its literal text.
type jsonValue struct {
	text    string
	present bool   // false: missing or null
	problem string // why it cannot be used; "" if it can
}

func valueAt(raw []byte, sp span) jsonValue {
	if sp.to == 0 {
		return jsonValue{}
	}
	v := raw[sp.from:sp.to]
	switch c := v[0]; {
	case c == '"':
		inner := v[1 : len(v)-1]
		if !hasByte(inner, '\\') {
			if !utf8.Valid(inner) {
				return jsonValue{present: true, problem: "is not valid UTF-8"}
			}
			return jsonValue{text: string(inner), present: true}
		}
		s, problem := unescape(inner)
		return jsonValue{text: s, present: true, problem: problem}
	case c == '-' || (c >= '0' && c <= '9'):
		return jsonValue{text: string(v), present: true}
	case c == 'n':
		return jsonValue{}
	case c == 't' || c == 'f':
		return jsonValue{present: true, problem: "is a boolean, not a string or a number"}
	case c == '{':
		return jsonValue{present: true, problem: "is an object, not a string or a number"}
	}
	return jsonValue{present: true, problem: "is an array, not a string or a number"}
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// digitsValue parses a JSON number or string of decimal digits, as a timestamp.
func digitsValue(raw []byte, sp span) (string, bool) {
	if sp.to == 0 {
		return "", false
	}
	v := raw[sp.from:sp.to]
	if v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	if !allDigits(string(v)) {
		return "", false
	}
	return string(v), true
}

func allDigits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseDigits(s string) (int64, bool) {
	if !allDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
