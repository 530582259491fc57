package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/journal"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/sources"
)

// Journal takes the refused deliveries (journal.Recorder). Record never blocks.
type Journal interface {
	Record(journal.Entry)
	// WantsHints reports whether the hint rate of source has room now; when it has, the
	// request's body is kept with the entry for the hints.
	WantsHints(source string) bool
}

// rejectedResults maps the result label of a webhook request to the journal's result, for
// the results the journal keeps, with the status they are answered.
var rejectedResults = map[string]struct {
	result string
	status int
}{
	"not_found":              {hookvault.RejectUnknownSource, http.StatusNotFound},
	"too_large":              {hookvault.RejectTooLarge, http.StatusRequestEntityTooLarge},
	"unsupported_media_type": {hookvault.RejectUnsupportedMedia, http.StatusUnsupportedMediaType},
	"invalid_signature":      {hookvault.RejectInvalidSignature, http.StatusUnauthorized},
	"validation_error":       {hookvault.RejectValidation, http.StatusUnprocessableEntity},
	"conflict":               {hookvault.RejectConflict, http.StatusOK},
}

// maxHintBody is the largest body kept for hints; provider.Source.Hints does no MAC over a
// larger one anyway.
const maxHintBody = 64 << 10

// recordRejection hands a refused delivery (or a conflicting body) to the journal: raw is
// what was read of its body, d the delivery once the body was read whole (nil before). It runs
// on the request's goroutine before its answer is flushed, so it does only what is cheap: the
// headers as JSON and a copy of the body (made by the journal's queue once it has room for
// it); the body's SHA-256 and the hints are computed by the journal's writer.
func (a *api) recordRejection(r *http.Request, info *requestInfo, raw []byte, d *delivery) {
	rej, ok := rejectedResults[info.result]
	if !ok {
		return
	}
	source := info.source
	if source == "" {
		source = sources.Default
		if name := chi.URLParam(r, "source"); name != "" {
			source = clip(name)
		}
	}
	status := rej.status
	if info.err != nil {
		// The status answered: a body the sender cut short is a 400 with the 422's label.
		if o, ok := outcomes[hookvault.ErrorCode(info.err)]; ok {
			status = o.status
		}
	}
	// The request path renames a JSON media type for the validator; the entry keeps the one
	// sent, which the delivery holds.
	contentType := r.Header.Get("Content-Type")
	if d != nil {
		contentType = d.contentType
	}
	e := journal.Entry{Rejection: hookvault.Rejection{
		ReceivedAt: time.Now(), Source: source, Status: status, Result: rej.result,
		Reason: rejectionReason(info, rej.result), RequestID: info.requestID, RemoteAddr: r.RemoteAddr,
		Headers:  storedHeaders(r.Header, contentType),
		BodySize: int64(len(raw)), Body: raw,
	}}
	// Without a delivery, raw may be the start of a body refused while it was read (413, or
	// cut short by the sender), whose hash means nothing. The journal's writer hashes it,
	// after the answer has left.
	e.HashBody = d != nil
	if rej.result == hookvault.RejectConflict {
		e.MessageID, e.FirstReceivedAt = info.messageID, info.firstReceivedAt
	}
	if rej.result == hookvault.RejectInvalidSignature && e.HashBody && len(raw) <= maxHintBody {
		if set := a.sources(); set != nil {
			if src, ok := set.Get(source); ok && a.journal.WantsHints(source) {
				// The request as it was verified; the writer hands it the journal's copy of
				// the body (this request's buffer goes back to the byte budget at its end).
				req := provider.Request{Method: r.Method, URL: r.URL, Header: r.Header.Clone()}
				var others []*provider.Source
				for _, o := range set.All() {
					others = append(others, o.Source)
				}
				e.Hints = func(body []byte) []string {
					req.Body = body
					return src.Hints(req, others)
				}
			}
		}
	}
	a.journal.Record(e)
}

// rejectionReason is the precise reason of a refusal: the signature's failure, the 422's
// detail, the conflicting id.
func rejectionReason(info *requestInfo, result string) string {
	switch result {
	case hookvault.RejectInvalidSignature:
		if info.sigScheme != "" {
			return fmt.Sprintf("%s: %s", info.sigScheme, info.sigReason)
		}
		return string(info.sigReason)
	case hookvault.RejectConflict:
		return fmt.Sprintf("id %q was stored first at %s with a different body; the first was kept",
			clip(info.messageID), info.firstReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	if info.err != nil {
		return hookvault.ErrorMessage(info.err)
	}
	return result
}
