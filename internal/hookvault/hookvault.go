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
	Q string
	// Limit is the most messages a page holds (it must be positive); MaxPageBytes may end
	// a page sooner.
	Limit int
	// After continues a walk after this position.
	After *Cursor
}

// MaxPageBytes bounds one page of a listing by the bytes of its messages (ListedBytes), as
// Limit bounds it by count: a page of 1000 messages of a request body each would otherwise be
// a gigabyte that the database, the server and the client all carry. A page ends before the
// message that would take it past this bound, but always holds at least one message, so a
// message larger than the bound is listed alone and a walk never stalls.
//
// It lives here, not at the HTTP edge, because the stores apply it while they read (one
// asks the database not to send rows that cannot fit) and the conformance suite holds every
// backend to it.
const MaxPageBytes = 4 << 20

// ListedBytes is what m counts against MaxPageBytes: the bytes of the fields a listing
// shows, which are also what a listing's answer grows with.
func (m Message) ListedBytes() int {
	return len(m.ID) + len(m.Sender) + len(m.Content)
}

// Pager cuts one page while a store reads the messages of a listing in order, so that every
// backend cuts pages by the same rule. Stores read one message more than a page can hold
// (f.Limit+1 rows, or the first that would pass MaxPageBytes): that message is not sent, it
// only says that another page follows, which starts after the last message sent.
type Pager struct {
	emit  func(Message) error
	limit int
	sent  int
	bytes int
	last  Cursor
	next  *Cursor
}

// NewPager returns a Pager for a page of at most limit messages that hands each message it
// keeps to emit.
func NewPager(limit int, emit func(Message) error) *Pager {
	return &Pager{emit: emit, limit: limit}
}

// Add takes the next message read, in order. When the page has room for m, Add hands it to
// emit and returns true (read on), or emit's error unchanged. When the page is full, m is
// not sent, Next holds the position to continue from, and Add returns false: stop reading.
func (p *Pager) Add(m Message) (bool, error) {
	size := m.ListedBytes()
	if p.sent == p.limit || (p.sent > 0 && p.bytes+size > MaxPageBytes) {
		p.next = &Cursor{ReceivedAt: p.last.ReceivedAt, ID: p.last.ID}
		return false, nil
	}
	if err := p.emit(m); err != nil {
		return false, err
	}
	p.sent++
	p.bytes += size
	p.last = Cursor{ReceivedAt: m.ReceivedAt, ID: m.ID}
	return true, nil
}

// Next is the position after the last message sent when another page follows, nil when
// the page was the last (the store ran out of rows before the page was full).
func (p *Pager) Next() *Cursor { return p.next }

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
	// List hands the messages of one page in (ReceivedAt, ID) order that match f to emit,
	// one at a time as they are read, without Payload; a page ends after f.Limit messages
	// or at MaxPageBytes (see Pager). It returns the position to continue from, nil on the
	// last page. The read connection is held until List returns, so emit is the caller's
	// chance to pass each message on without keeping the page. An error from emit stops
	// List, which returns it unchanged.
	List(ctx context.Context, f ListFilter, emit func(Message) error) (next *Cursor, err error)
	// Stats returns the totals.
	Stats(ctx context.Context) (Stats, error)
}
