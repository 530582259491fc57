package hookvault

import (
	"context"
	"time"
)

// DeliveryStatus is where a delivery of a message to one destination stands.
type DeliveryStatus string

const (
	// Pending deliveries are attempted at NextAttemptAt (again, after a failed attempt).
	Pending DeliveryStatus = "pending"
	// Delivered means the destination acknowledged it (an HTTP 2xx, a JetStream ack).
	Delivered DeliveryStatus = "delivered"
	// Failed means it will not be attempted again unless someone asks (Redeliver): a
	// refusal that a retry cannot change, or max_attempts reached.
	Failed DeliveryStatus = "failed"
)

// Valid reports whether s is one of the three statuses.
func (s DeliveryStatus) Valid() bool {
	return s == Pending || s == Delivered || s == Failed
}

// Bounds of the outbox.
const (
	// MaxDestinations bounds Message.Destinations, and the destinations of a sources file.
	MaxDestinations = 64
	// MaxDestinationBytes bounds a destination's name (it is a metric label and an index key).
	MaxDestinationBytes = 64
	// MaxClaim bounds the deliveries one Claim leases.
	MaxClaim = 100
	// MaxAttemptsKept bounds the attempts a delivery keeps: the newest are kept, and Tries
	// still counts them all.
	MaxAttemptsKept = 50
	// MaxAttemptErrorBytes bounds an attempt's Error as stored.
	MaxAttemptErrorBytes = 512
)

// Attempt is one try to hand a message to a destination.
type Attempt struct {
	At time.Time
	// StatusCode is the HTTP status the destination answered; 0 when there was no answer
	// or for a NATS destination.
	StatusCode int
	// Error says why the attempt failed ("HTTP 503", a timeout, a refused connection);
	// "" when it succeeded.
	Error    string
	Duration time.Duration
}

// Delivery is a message's journey to one destination: one row of the outbox.
type Delivery struct {
	// DID is unique, assigned by the store, and grows with creation order.
	DID         int64
	Destination string
	Source      string
	MessageID   string
	Status      DeliveryStatus
	CreatedAt   time.Time
	// NextAttemptAt is when a pending delivery is due; zero unless Status is Pending.
	NextAttemptAt time.Time
	// DeliveredAt is when the destination acknowledged it; zero unless Delivered.
	DeliveredAt time.Time
	// Tries counts the attempts since the delivery was created or last redelivered; the
	// relay compares it with max_attempts.
	Tries int
	// Attempts are the newest MaxAttemptsKept attempts, oldest first (filled by
	// GetDelivery and ListDeliveries; not by Claim).
	Attempts []Attempt
}

// Claimed is a delivery leased to one relay worker, with the message it carries.
type Claimed struct {
	Delivery
	Message Message
}

// AttemptResult is what Record stores after an attempt of a claimed delivery.
type AttemptResult struct {
	Attempt Attempt
	// Status is Delivered, Failed, or Pending with the next try at NextAttemptAt.
	Status        DeliveryStatus
	NextAttemptAt time.Time
}

// Recorded is one attempt's result to store with RecordAll.
type Recorded struct {
	DID   int64
	Owner string
	AttemptResult
}

// DeliveryFilter selects and pages deliveries, newest first. Zero fields do not filter.
type DeliveryFilter struct {
	Destination string
	Status      DeliveryStatus
	Source      string
	Limit       int // positive
	// Before continues a walk with the deliveries older than this DID.
	Before int64
}

// DeliveryPage is one page of deliveries; Next is the DID to continue before (0: the last
// page).
type DeliveryPage struct {
	Deliveries []Delivery
	Next       int64
}

// Deliveries is the outbox every store implements beside Store. Insert writes one Pending
// delivery per name in Message.Destinations, due at once, in the transaction that stores a
// Created message (none for a Duplicate or Conflict).
//
// A claim is a lease: Claim moves NextAttemptAt of each leased delivery to now+lease and
// marks it with owner, so that no other worker (in this process or in another replica)
// claims it until the lease runs out, and a worker that dies mid-attempt strands nothing:
// its deliveries are claimed again when the lease ends.
type Deliveries interface {
	// Claim leases up to n (at most MaxClaim) pending deliveries of destination that are
	// due (NextAttemptAt <= now), the longest due first, each with its message.
	Claim(ctx context.Context, destination, owner string, n int, lease time.Duration) ([]Claimed, error)
	// Record appends r.Attempt to the delivery, increments Tries, and sets its status (and
	// DeliveredAt or NextAttemptAt), releasing the lease. It fails with ErrNotLeased when
	// the delivery is no longer leased to owner (the lease ran out and another worker
	// claimed it, or it was redelivered meanwhile): the attempt is then not recorded.
	Record(ctx context.Context, did int64, owner string, r AttemptResult) error
	// RecordAll is Record for many deliveries at once, in one transaction: the relay records
	// its attempts in batches, so that its bookkeeping costs a commit per batch, not per
	// message. errs[i] is Record's answer for rs[i] (nil, ErrNotLeased, ENOTFOUND, EINVALID);
	// err is a failure of the whole, when nothing was recorded.
	//
	// The outbox's bookkeeping (Claim, Record, RecordAll) need not be durable the way a
	// message is: a lease or a result lost to a power cut only makes the delivery go out
	// again, which at-least-once delivery allows (the receiver drops it by webhook-id). The
	// stores may commit it without waiting for the disk.
	RecordAll(ctx context.Context, rs []Recorded) (errs []error, err error)
	// ListDeliveries returns a page of deliveries with their attempts, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter) (DeliveryPage, error)
	// GetDelivery returns one delivery with its attempts, or ENOTFOUND.
	GetDelivery(ctx context.Context, did int64) (Delivery, error)
	// Redeliver makes a Delivered or Failed delivery Pending again, due now, with Tries
	// back to 0 (its attempts are kept). ENOTFOUND when there is none; ErrAlreadyPending
	// (ECONFLICT) when it is pending.
	Redeliver(ctx context.Context, did int64) (Delivery, error)
	// PendingCounts returns the number of pending deliveries per destination (destinations
	// with none are left out).
	PendingCounts(ctx context.Context) (map[string]int, error)
}

// ECONFLICT: the request conflicts with the state of the thing it names.
const ECONFLICT = "conflict"

var (
	// ErrNotLeased: see Deliveries.Record.
	ErrNotLeased = Errorf(ECONFLICT, "the delivery is not leased to this worker")
	// ErrAlreadyPending: see Deliveries.Redeliver.
	ErrAlreadyPending = Errorf(ECONFLICT, "the delivery is pending: it will be attempted again without being asked")
)

// CheckDestinations reports why a store must refuse m's destinations: too many, an empty or
// too long name, or a name twice (EINVALID; a bug of the caller, who takes them from the
// configuration).
func (m Message) CheckDestinations() error {
	if len(m.Destinations) > MaxDestinations {
		return Errorf(EINVALID, "a message has at most %d destinations", MaxDestinations)
	}
	for i, d := range m.Destinations {
		if d == "" || len(d) > MaxDestinationBytes {
			return Errorf(EINVALID, "destination name %q is empty or longer than %d bytes", d, MaxDestinationBytes)
		}
		for _, e := range m.Destinations[:i] {
			if e == d {
				return Errorf(EINVALID, "destination %q is named twice", d)
			}
		}
	}
	return nil
}
