package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

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

func (r accepted) VisitPostWebhookResponse(w http.ResponseWriter) error {
	return gen.PostWebhook200JSONResponse{Status: gen.WebhookAcceptedStatusOk, Id: r.id, Duplicate: r.duplicate}.VisitPostWebhookResponse(w)
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
// values, without the credentials a delivery may carry for a proxy in front. contentType is
// the Content-Type as received, which the request path may have renamed for the validator.
func storedHeaders(h http.Header, contentType string) []byte {
	kept := make(map[string][]string, len(h))
	for name, values := range h {
		switch name {
		case "Authorization", "Cookie", "Proxy-Authorization":
			continue
		case "Content-Type":
			values = []string{contentType}
		}
		kept[name] = values
	}
	b, _ := json.Marshal(kept) // strings and string slices always marshal
	return b
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
