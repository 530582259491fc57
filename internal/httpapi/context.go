package httpapi

import (
	"context"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

// requestInfo is what a request's handling found out, for the one access log line, the
// metrics and the rejection journal, which the outermost layer writes after the response.
// It holds outputs only: the request's input goes on in its body (delivery).
type requestInfo struct {
	requestID string
	client    string // the client address the per-client limits count (and the log shows)
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
