package hookvault

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// attemptJSON is one attempt as both stores keep it in a delivery's attempts column: a JSON
// array, oldest first.
type attemptJSON struct {
	At         int64  `json:"at"` // Unix nanoseconds
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	Duration   int64  `json:"duration_ns"`
}

// EncodeAttempts is the attempts column for list: each error made valid UTF-8 without NUL
// (PostgreSQL's jsonb takes neither, and both stores keep the same text) and cut to
// MaxAttemptErrorBytes.
func EncodeAttempts(list []Attempt) ([]byte, error) {
	out := make([]attemptJSON, len(list))
	for i, a := range list {
		e := strings.ReplaceAll(strings.ToValidUTF8(a.Error, "\uFFFD"), "\x00", "\uFFFD")
		out[i] = attemptJSON{At: a.At.UnixNano(), StatusCode: a.StatusCode, Error: TruncateUTF8(e, MaxAttemptErrorBytes), Duration: int64(a.Duration)}
	}
	return json.Marshal(out)
}

// DecodeAttempts reads an attempts column; nil for none.
func DecodeAttempts(stored []byte) ([]Attempt, error) {
	if len(stored) == 0 {
		return nil, nil
	}
	var list []attemptJSON
	if err := json.Unmarshal(stored, &list); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]Attempt, len(list))
	for i, a := range list {
		out[i] = Attempt{At: time.Unix(0, a.At).UTC(), StatusCode: a.StatusCode, Error: a.Error, Duration: time.Duration(a.Duration)}
	}
	return out, nil
}

// TruncateUTF8 cuts s to at most n bytes, never inside a character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
