// Package problem writes RFC 9457 problem details, the body of every error answer.
package problem

import (
	"encoding/json"
	"net/http"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// Details is an RFC 9457 problem document. `detail` keeps FastAPI-style clients working.
type Details struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id,omitempty"`
}

// New returns a problem of the generic type for status, with a caller-facing detail.
func New(status int, detail string) Details {
	return Details{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// Write sends p as the whole response. Headers set on w before, like Retry-After, are kept.
func Write(w http.ResponseWriter, p Details) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for strings and an int; keep the status regardless
		body = []byte(`{"type":"about:blank","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}
