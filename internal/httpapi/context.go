package httpapi

import (
	"context"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// requestInfo collects what inner layers learn about a request, for the one access log line
// and the metrics written by the outermost layer after the response.
type requestInfo struct {
	requestID string
	client    string            // the client address the per-client limits count
	raw       []byte            // the body as received, for the signature and the store
	values    map[string]string // the body's members as the validator read them
	delivery  provider.Delivery // what a source's preset read from a delivery
	// contentType and headers are kept with a delivery's message.
	contentType string
	headers     []byte

	source    string // the source of a delivery, once it is known to be configured
	messageID string
	// firstReceivedAt is when the stored message a conflicting body collided with arrived.
	firstReceivedAt time.Time
	result          string // webhook_requests_total's label, set on the webhook routes
	dup             bool
	sigScheme       string
	sigReason       signature.Reason
	err             error // the cause of an error answer, for the log only
}

type infoKey struct{}

func withInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// infoFrom returns the request's info, or a throwaway one so that callers never check nil.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}
