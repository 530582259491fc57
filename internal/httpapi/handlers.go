package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
)

var _ gen.StrictServerInterface = (*api)(nil)

// PostWebhook stores the verified, validated delivery and answers only after the commit.
// It stores the raw bytes read by the request path, never re-encoded JSON.
func (a *api) PostWebhook(ctx context.Context, req gen.PostWebhookRequestObject) (gen.PostWebhookResponseObject, error) {
	info := infoFrom(ctx)
	// The members as validated, with exact names; the generated decoding matches names
	// case-insensitively and would take {"ID": …} for the id.
	m := hookvault.Message{Source: hookvault.DefaultSource, ID: req.Body.Id, Sender: req.Body.Sender, Content: req.Body.Content, Payload: info.raw}
	if v := info.values; v != nil {
		m.ID, m.Sender, m.Content = v["id"], v["sender"], v["content"]
	}
	info.messageID = m.ID
	receipt, err := a.store.Insert(ctx, m)
	if err != nil {
		return nil, err
	}
	info.result = receipt.Outcome.String()
	info.dup = receipt.Outcome != hookvault.Created
	switch receipt.Outcome {
	case hookvault.Created:
		a.metrics.MessagesReceived.Inc()
	case hookvault.Conflict:
		a.log.WarnContext(ctx, "message id reused with a different body; kept the first",
			slog.String("request_id", info.requestID),
			slog.String("message_id", m.ID),
			slog.Time("first_received_at", receipt.ReceivedAt))
	}
	return gen.PostWebhook200JSONResponse{Status: gen.WebhookAcceptedStatusOk, Id: m.ID, Duplicate: info.dup}, nil
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
		retry := retryAfterSeconds
		return gen.GetReadiness503JSONResponse{
			Body:    gen.Health{Status: gen.HealthStatusUnavailable, Checks: &checks},
			Headers: gen.GetReadiness503ResponseHeaders{RetryAfter: &retry},
		}, nil
	}
	return gen.GetReadiness200JSONResponse{Status: gen.HealthStatusOk, Checks: &checks}, nil
}
