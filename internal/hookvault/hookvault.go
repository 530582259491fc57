// Package hookvault holds the domain of the service: the stored message, the outcome of an
// insert, the Store every backend implements, and the error codes the HTTP edge maps to
// statuses. It imports nothing of this module, so every other package can depend on it.
package hookvault

import (
	"context"
	"time"
)

// Message is one verified webhook delivery as it is stored.
type Message struct {
	ID      string
	Sender  string
	Content string
	// ReceivedAt is set by the store when the message is committed; it orders the messages.
	ReceivedAt time.Time
	// Payload is the request body exactly as received, byte for byte.
	Payload []byte
}

// Outcome says what an insert did.
type Outcome int

const (
	// Created means the id was new and the message is now committed.
	Created Outcome = iota + 1
	// Duplicate means the id was stored before with the same payload.
	Duplicate
	// Conflict means the id was stored before with a different payload; the first is kept.
	Conflict
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Store keeps messages durably and exactly once per id.
//
// Implementations must let the database decide uniqueness, so that concurrent inserts of one
// id store one row, and must return from Insert with a nil error only after the commit is
// durable. Failures of the underlying database are reported as errors with code EUNAVAILABLE.
type Store interface {
	// Insert stores m unless its id exists. It sets nothing on m; the stored arrival time is
	// in the returned Receipt.
	Insert(ctx context.Context, m Message) (Receipt, error)
	// Get returns the message with the given id, or an error with code ENOTFOUND.
	Get(ctx context.Context, id string) (Message, error)
	Reader
	// Ping reports whether the store accepts writes. A healthy store answers without waiting
	// behind writes; after a failed commit it probes with a write that changes no data, and
	// fails until a commit or a probe succeeds.
	Ping(ctx context.Context) error
	// Close waits for running operations and releases the database.
	Close() error
}

// Receipt is the result of an insert.
type Receipt struct {
	Outcome Outcome
	// ReceivedAt is the arrival time of the stored message: the new one for Created, the
	// first one for Duplicate and Conflict.
	ReceivedAt time.Time
}

// CommitObserver is told about every commit of the write path, so that metrics can show
// batch sizes and commit latency without the store knowing about Prometheus.
type CommitObserver interface {
	ObserveCommit(messages int, took time.Duration)
}

// Cursor is a position in the arrival order: the last message of a page.
type Cursor struct {
	ReceivedAt time.Time
	ID         string
}

// ListFilter selects and pages messages. Zero fields do not filter.
type ListFilter struct {
	Sender string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	// Q is a substring of content, matched literally and case-sensitively.
	Q     string
	Limit int
	// After continues a walk after this position.
	After *Cursor
}

// Page is one page of a listing. Messages carry no Payload.
type Page struct {
	Messages []Message
	// Next is the position to continue from, nil on the last page.
	Next *Cursor
}

// PageOf makes a page from the messages a backend read in order, asking for one more than
// limit: that extra message is not shown, it only says that another page follows, which
// then starts after the last message shown.
func PageOf(msgs []Message, limit int) Page {
	if len(msgs) <= limit {
		return Page{Messages: msgs}
	}
	last := msgs[limit-1]
	return Page{Messages: msgs[:limit], Next: &Cursor{ReceivedAt: last.ReceivedAt, ID: last.ID}}
}

// SenderCount is one row of the top senders.
type SenderCount struct {
	Sender string
	Count  int64
}

// Stats summarises what is stored.
type Stats struct {
	TotalMessages int64
	SendersCount  int64
	// TopSenders holds up to ten senders by count, ties by name.
	TopSenders []SenderCount
	// FirstReceivedAt and LastReceivedAt are zero when nothing is stored.
	FirstReceivedAt time.Time
	LastReceivedAt  time.Time
}

// Reader is the read side of a store, served from connections that never wait for writes.
type Reader interface {
	// List returns messages in (ReceivedAt, ID) order that match f, at most f.Limit.
	List(ctx context.Context, f ListFilter) (Page, error)
	// Stats returns the totals.
	Stats(ctx context.Context) (Stats, error)
}
