package httpapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// objectOfStrings validates a JSON object body whose schema is only string members with
// length bounds: POST /webhook's WebhookMessage. It is compiled from the spec, so the
// bounds cannot drift from it, and it answers what kin-openapi answers (a test posts the
// same bodies through both) at a fraction of the cost on the hottest path: one decode, with
// exact, case-sensitive member names as JSON Schema has them (encoding/json's struct
// decoding would also take "ID" for "id").
type objectOfStrings struct {
	props []stringProp
}

type stringProp struct {
	name     string
	min, max int // max < 0: unbounded
	required bool
}

// compileObjectOfStrings returns nil when the schema asks for more than it checks; the
// operation is then validated by kin-openapi.
func compileObjectOfStrings(ref *openapi3.SchemaRef) *objectOfStrings {
	if ref == nil || ref.Value == nil {
		return nil
	}
	s := ref.Value
	if !s.Type.Is("object") || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil ||
		s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil ||
		s.MinProps != 0 || s.MaxProps != nil || s.Nullable || len(s.Enum) > 0 {
		return nil
	}
	v := &objectOfStrings{}
	for name, pref := range s.Properties {
		p := pref.Value
		if p == nil || !p.Type.Is("string") || p.Pattern != "" || p.Format != "" || len(p.Enum) > 0 ||
			p.Nullable || len(p.AllOf)+len(p.AnyOf)+len(p.OneOf) > 0 || p.Not != nil {
			return nil
		}
		prop := stringProp{name: name, min: int(p.MinLength), max: -1, required: slices.Contains(s.Required, name)}
		if p.MaxLength != nil {
			prop.max = int(*p.MaxLength)
		}
		v.props = append(v.props, prop)
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			return nil
		}
	}
	// kin reports missing members in the order of `required`, before any bad member; so
	// does validate.
	rank := func(p stringProp) int {
		if i := slices.Index(s.Required, p.name); i >= 0 {
			return i
		}
		return len(s.Required)
	}
	slices.SortStableFunc(v.props, func(a, b stringProp) int { return rank(a) - rank(b) })
	return v
}

// validate checks raw and returns the string members it checked, as the value a JSON decoder
// would have made of them (what the typed body is bound from). Malformed JSON is answered
// as (*api).validate answers it. The body is scanned once for its syntax and once for its
// top-level members, without copying them: a member's string is the body's own bytes
// unless it has escapes to decode, so a 1 MiB content costs no second megabyte.
func (v *objectOfStrings) validate(raw []byte) (map[string]any, error) {
	if !json.Valid(raw) {
		return nil, malformedJSON(raw)
	}
	// Spans of the members' values in raw, by the index of their prop; a member named twice
	// counts as its last value, as in encoding/json and kin-openapi.
	type span struct{ from, to int }
	var spans [8]span
	found := make([]span, len(v.props))
	if len(v.props) <= len(spans) {
		found = spans[:len(v.props)]
	}
	i := skipSpace(raw, 0)
	if raw[i] != '{' {
		return nil, hookvault.Errorf(hookvault.EINVALID, "body: value must be an object")
	}
	for i = skipSpace(raw, i+1); raw[i] != '}'; {
		keyEnd := skipValue(raw, i)
		key := raw[i+1 : keyEnd-1]
		valueAt := skipSpace(raw, skipSpace(raw, keyEnd)+1) // past the colon
		valueEnd := skipValue(raw, valueAt)
		for k, p := range v.props {
			if memberNamed(key, p.name) {
				found[k] = span{valueAt, valueEnd}
			}
		}
		if i = skipSpace(raw, valueEnd); raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	for k, p := range v.props {
		if found[k].to == 0 && p.required {
			return nil, hookvault.Errorf(hookvault.EINVALID, "body field /%s: property %q is missing", p.name, p.name)
		}
	}
	values := make(map[string]any, len(v.props))
	for k, p := range v.props {
		if found[k].to == 0 {
			continue
		}
		s, ok := stringValue(raw[found[k].from:found[k].to])
		if !ok {
			return nil, hookvault.Errorf(hookvault.EINVALID, "body field /%s: value must be a string", p.name)
		}
		// JSON Schema counts characters, not bytes.
		switch n := utf8.RuneCountInString(s); {
		case n < p.min:
			return nil, hookvault.Errorf(hookvault.EINVALID, "body field /%s: minimum string length is %d", p.name, p.min)
		case p.max >= 0 && n > p.max:
			return nil, hookvault.Errorf(hookvault.EINVALID, "body field /%s: maximum string length is %d", p.name, p.max)
		}
		values[p.name] = s
	}
	return values, nil
}

// The scanning functions below run on a body that json.Valid has accepted, so they need not
// check its syntax again: they only find where each value ends.

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the value that starts at i.
func skipValue(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for {
			switch raw[i] {
			case '"':
				i = stringEnd(raw, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for ; i < len(raw); i++ {
		switch raw[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// stringEnd returns the offset just past the string that starts at i: the first quote that
// an even number of backslashes precedes.
func stringEnd(raw []byte, i int) int {
	for j := i + 1; ; j++ {
		j += bytes.IndexByte(raw[j:], '"')
		escapes := 0
		for k := j - 1; raw[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1
		}
	}
}

// memberNamed reports whether the raw (still escaped) member name key is name. A name with
// escapes is decoded to compare: {"\u0069d": …} is the member id.
func memberNamed(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == name
	}
	var decoded string
	return json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &decoded) == nil && decoded == name
}

// stringValue decodes the JSON value v when it is a string. Without escapes the string is
// v's own bytes, shared, not copied: the body is never written after it has been read.
func stringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		if len(inner) == 0 {
			return "", true
		}
		return unsafe.String(&inner[0], len(inner)), true
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}
