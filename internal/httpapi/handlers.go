package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/provider"
)

var _ gen.StrictServerInterface = received{}

// received is the strict server of one webhook request: the API and the request's delivery,
// as the checks verified it (nil on any other operation, which never reads it).
type received struct {
	*api
	delivery *delivery
}

// PostWebhook stores the verified delivery, whose members the typed body was bound from
// as validated (exact, case-sensitive names), and answers only after the commit. It stores
// the raw bytes the signature was verified on, never re-encoded JSON.
func (rc received) PostWebhook(ctx context.Context, req gen.PostWebhookRequestObject) (gen.PostWebhookResponseObject, error) {
	if rc.delivery == nil || req.Body == nil {
		return nil, errors.New("POST /webhook reached its handler without a verified delivery")
	}
	b := req.Body
	return rc.insert(ctx, rc.delivery, hookvault.Message{ID: b.Id, Sender: b.Sender, Content: b.Content})
}

// PostWebhookSource answers a provider's handshake, or stores the verified delivery under
// the id and type its source's preset read, and answers only after the commit.
func (rc received) PostWebhookSource(ctx context.Context, req gen.PostWebhookSourceRequestObject) (gen.PostWebhookSourceResponseObject, error) {
	d, ok := req.Body.(*delivery)
	if !ok {
		return nil, errors.New("POST /webhook/{source} reached its handler without a verified delivery")
	}
	if d.read.Challenge != nil {
		infoFrom(ctx).result = "challenge"
		return challengeAnswer(*d.read.Challenge), nil
	}
	m := hookvault.Message{ID: d.read.ID, Type: d.read.Type}
	if v, ok := d.value.(map[string]any); ok { // a body of the hookvault preset
		m.Sender, _ = v["sender"].(string)
		m.Content, _ = v["content"].(string)
	}
	return rc.insert(ctx, d, m)
}

// insert stores m, the delivery d of its source with its body, content type and headers,
// and says what happened.
func (a *api) insert(ctx context.Context, d *delivery, m hookvault.Message) (accepted, error) {
	info := infoFrom(ctx)
	m.Source, m.ContentType, m.Headers, m.Payload = d.source, d.contentType, d.headers, d.raw
	info.messageID = m.ID
	// The outbox rows are written in the message's transaction: what is acknowledged is
	// also on its way to every destination, even if the process dies right after.
	m.Destinations = a.sources().DestinationsFor(m.Source, m.Type)
	receipt, err := a.store.Insert(ctx, m)
	if err != nil {
		return accepted{}, err
	}
	info.result = receipt.Outcome.String()
	info.dup = receipt.Outcome != hookvault.Created
	switch receipt.Outcome {
	case hookvault.Created:
		a.metrics.Received(m.Source)
		if len(m.Destinations) > 0 && a.notify != nil {
			a.notify(m.Destinations)
		}
	case hookvault.Conflict:
		info.firstReceivedAt = receipt.ReceivedAt
		a.log.WarnContext(ctx, "message id reused with a different body; kept the first",
			slog.String("request_id", info.requestID),
			slog.String("source", m.Source),
			slog.String("message_id", m.ID),
			slog.Time("first_received_at", receipt.ReceivedAt))
	}
	return accepted{id: m.ID, duplicate: info.dup}, nil
}

// accepted is the answer to a stored delivery, on either webhook route.
type accepted struct {
	id        string
	duplicate bool
}

// VisitPostWebhookResponse writes the bytes gen.PostWebhook200JSONResponse writes, the same
// header and body (TestAcceptedAnswerAsGenerated), by hand: every delivery is answered so,
// and the generated code's encoding/json (reflection, an encoder and a buffer) was a tenth of
// the handler's time.
func (r accepted) VisitPostWebhookResponse(w http.ResponseWriter) error {
	b := make([]byte, 0, len(`{"duplicate":false,"id":"","status":"ok"}`)+1+len(r.id)+len(r.id)/8)
	b = append(b, `{"duplicate":`...)
	b = strconv.AppendBool(b, r.duplicate)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, r.id, true)
	b = append(b, `,"status":"`+gen.WebhookAcceptedStatusOk+`"}`+"\n"...)
	w.Header()["Content-Type"] = applicationJSON
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

func (r accepted) VisitPostWebhookSourceResponse(w http.ResponseWriter) error {
	return r.VisitPostWebhookResponse(w)
}

// challengeAnswer is the answer a provider's handshake expects, written as the preset made it.
type challengeAnswer provider.Challenge

func (c challengeAnswer) VisitPostWebhookSourceResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", c.ContentType)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(c.Body)
	return err
}

// storedHeaders are the request headers kept with a message, as a JSON object of each name's
// values in name order, without the credentials a delivery may carry for a proxy in front.
// contentType is the Content-Type as received, which the request path may have renamed for
// the validator. It is written by hand: every delivery pays for it, and encoding/json's map
// encoding (reflection, a sorted copy of the keys, 14 allocations) costs three times as much
// (BenchmarkStoredHeaders).
func storedHeaders(h http.Header, contentType string) []byte {
	var names [32]string
	kept := names[:0]
	size := 2
	for name, values := range h {
		switch name {
		case "Authorization", "Cookie", "Proxy-Authorization":
			continue
		}
		kept = append(kept, name)
		size += len(name) + 6
		for _, v := range values {
			size += len(v) + 3
		}
	}
	slices.Sort(kept)
	b := make([]byte, 0, size+16)
	b = append(b, '{')
	for i, name := range kept {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name, false)
		b = append(b, ':', '[')
		values := h[name]
		if name == "Content-Type" {
			values = []string{contentType}
		}
		for j, v := range values {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v, false)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string as encoding/json writes it: quotes,
// backslashes and control characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped for JavaScript's sake, and with html <, > and & too (json.Marshal's default, which
// JSON itself does not need).
func appendJSONString(b []byte, s string, html bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// GetLiveness answers while the process serves; it deliberately checks nothing else.
func (a *api) GetLiveness(context.Context, gen.GetLivenessRequestObject) (gen.GetLivenessResponseObject, error) {
	return gen.GetLiveness200JSONResponse{Status: gen.HealthStatusOk}, nil
}

// readinessTimeout bounds the store check, so a hung database fails the probe instead of
// hanging it.
const readinessTimeout = 2 * time.Second

// GetReadiness reports whether the store answers and the server is not draining.
func (a *api) GetReadiness(ctx context.Context, _ gen.GetReadinessRequestObject) (gen.GetReadinessResponseObject, error) {
	checks := map[string]string{"store": "ok", "shutdown": "ok"}
	ready := true
	if a.draining() {
		checks["shutdown"] = "draining"
		ready = false
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		checks["store"] = "unavailable"
		ready = false
		infoFrom(ctx).err = err
	}
	if !ready {
		return gen.GetReadiness503JSONResponse{
			Body:    gen.Health{Status: gen.HealthStatusUnavailable, Checks: &checks},
			Headers: gen.GetReadiness503ResponseHeaders{RetryAfter: retryAfterSeconds},
		}, nil
	}
	return gen.GetReadiness200JSONResponse{Status: gen.HealthStatusOk, Checks: &checks}, nil
}
