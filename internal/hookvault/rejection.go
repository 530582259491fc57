package hookvault

import (
	"context"
	"time"
)

// Results of the rejection journal: why a delivery was refused (the result label of
// webhook_requests_total where there is one), or conflict for a body that differs from the
// stored one with the same id.
const (
	RejectUnknownSource    = "unknown_source"
	RejectTooLarge         = "too_large"
	RejectUnsupportedMedia = "unsupported_media_type"
	RejectInvalidSignature = "invalid_signature"
	RejectValidation       = "validation_error"
	RejectConflict         = "conflict"
)

// RejectionResults lists the results, for validating a filter.
var RejectionResults = []string{RejectUnknownSource, RejectTooLarge, RejectUnsupportedMedia,
	RejectInvalidSignature, RejectValidation, RejectConflict}

// Bounds of the journal's fields, so that an entry costs at most a few kilobytes beyond its
// body whatever a sender puts in its request.
const (
	MaxRejectionReasonBytes = 1024
	MaxRejectionHints       = 8
	MaxRejectionHintBytes   = 512
	// MaxRejectionBodyBytes bounds REJECTION_BODY_BYTES: a page of 200 entries (the
	// listing's most) then holds at most 12.5 MiB of bodies.
	MaxRejectionBodyBytes = 64 << 10
)

// Rejection is one entry of the journal: a refused delivery, or a conflicting body.
type Rejection struct {
	// RID is unique, assigned by the store, and grows with the order of appends.
	RID        int64
	ReceivedAt time.Time
	// Source is the source's name, or the name in the path for RejectUnknownSource.
	Source string
	// Status is the HTTP status the sender was answered (200 for a conflict).
	Status int
	Result string
	// Reason is the precise reason: the signature failure, the 422 detail, the conflicting
	// id.
	Reason     string
	RequestID  string
	RemoteAddr string
	// Headers are the request headers as a JSON object {"Name":["value",…]} without
	// Authorization, Cookie and Proxy-Authorization; stored and returned byte for byte.
	Headers []byte
	// BodySHA256 is the SHA-256 of the whole body; nil when it was not read whole (413).
	BodySHA256 []byte
	// BodySize is the size of the body: the bytes read before the limit for a 413.
	BodySize int64
	// Body is the body's first REJECTION_BODY_BYTES bytes, byte for byte.
	Body []byte
	// MessageID and FirstReceivedAt name the stored message a conflicting body collided
	// with (RejectConflict only).
	MessageID       string
	FirstReceivedAt time.Time
	// Hints say what would have matched a signature mismatch; never an expected signature.
	Hints []string
}

// RejectionFilter selects and pages the journal, newest first. Zero fields do not filter.
type RejectionFilter struct {
	Source, Result string
	Since          time.Time // inclusive
	Until          time.Time // exclusive
	Limit          int       // positive
	// Before continues a walk with the entries older than this RID.
	Before int64
}

// RejectionPage is one page of the journal; Next is the RID to continue before (0: the
// last page).
type RejectionPage struct {
	Rejections []Rejection
	Next       int64
}

// Journal is the rejection journal every store keeps beside its messages. Appends come from
// one background writer in batches; they must never hold up the commits of messages for
// long (a flood of forged deliveries is exactly when the journal is busiest).
type Journal interface {
	// AppendRejections stores the entries (ReceivedAt as given; RID assigned).
	AppendRejections(ctx context.Context, rs []Rejection) error
	// ListRejections returns a page of the journal, newest first.
	ListRejections(ctx context.Context, f RejectionFilter) (RejectionPage, error)
	// GetRejection returns one entry, or ENOTFOUND.
	GetRejection(ctx context.Context, rid int64) (Rejection, error)
	// PruneRejections deletes at most batch of the oldest entries that are received before
	// `before` or beyond the newest maxRows (negative: no row bound; 0 keeps none), and returns how many it
	// deleted: the caller repeats while it deletes a full batch.
	PruneRejections(ctx context.Context, before time.Time, maxRows, batch int) (int, error)
}

// Retention deletes old messages (RETENTION) in small batches, with their deliveries.
type Retention interface {
	// DeleteMessagesBefore deletes at most batch of the oldest messages received before
	// `before`, with their deliveries, and returns how many it deleted.
	DeleteMessagesBefore(ctx context.Context, before time.Time, batch int) (int, error)
	// Sizes returns the number of stored messages and the database's size in bytes, for the
	// gauges; both may be estimates where an exact count would scan.
	Sizes(ctx context.Context) (messages, bytes int64, err error)
}
