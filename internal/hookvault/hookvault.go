// Package hookvault holds the domain of the service: the stored message, the outcome of an
// insert, the Store every backend implements, and the error codes the HTTP edge maps to
// statuses. It imports nothing of this module, so every other package can depend on it.
package hookvault

import (
	"context"
	"time"
)

// DefaultSource is the source of POST /webhook, and of every message stored before sources
// existed.
const DefaultSource = "default"

// Message is one verified webhook delivery as it is stored. Every field is kept byte for
// byte: ids, types and headers come from senders and need not be UTF-8.
type Message struct {
	// Source is the configured source's name; DefaultSource for POST /webhook. A store
	// refuses a message without one: it is a bug of the caller, not a valid delivery.
	Source string
	// ID is unique per source: GitHub's delivery "abc" and Stripe's event "abc" are two
	// messages.
	ID string
	// Type is the provider's event type; "" means none (null in the API).
	Type string
	// Sender and Content exist only for messages in POST /webhook's {id,sender,content}
	// format. Sender == "" means the message has neither (null in the API; NULL in the
	// database): a store then keeps no Content either.
	Sender, Content string
	// ContentType is the request's Content-Type as received.
	ContentType string
	// Headers are the request headers as a JSON object {"Name":["value",…]}, already encoded
	// by the HTTP layer (credentials removed); stored and returned byte for byte. nil (or
	// empty) means none.
	Headers []byte
	// ReceivedAt is set by the store when the message is committed; it orders the messages.
	ReceivedAt time.Time
	// Payload is the request body exactly as received, byte for byte.
	Payload []byte
	// Destinations names the destinations the message goes to: Insert writes one pending
	// delivery per name with a Created message (see Deliveries). Not read back by Get.
	Destinations []string
}

// Bounds of the fields that the stores index. PostgreSQL refuses an index entry of more
// than about 2.7 kB, and an id, type or sender longer than these could make one: every
// retry of such a message would fail alike with a 503. A store refuses a message over a
// bound with EINVALID instead, which the sender is told not to retry (422). POST /webhook's
// own limits (256 characters, 1,024 bytes at most) are within them; a source's name is at
// most 64 bytes by configuration.
const (
	MaxSourceBytes = 64
	MaxKeyBytes    = 1024 // an id, a type, a sender
)

// Check reports why a store must refuse m: no source (a bug of the caller: EINTERNAL), no
// id, or a source, id, type or sender over its bound (EINVALID).
func (m Message) Check() error {
	switch {
	case m.Source == "":
		return Errorf(EINTERNAL, "message %q has no source", m.ID)
	case m.ID == "":
		return Errorf(EINVALID, "id is empty")
	case len(m.Source) > MaxSourceBytes:
		return Errorf(EINVALID, "source name is longer than %d bytes", MaxSourceBytes)
	case len(m.ID) > MaxKeyBytes:
		return Errorf(EINVALID, "id is longer than %d bytes", MaxKeyBytes)
	case len(m.Type) > MaxKeyBytes:
		return Errorf(EINVALID, "type is longer than %d bytes", MaxKeyBytes)
	case len(m.Sender) > MaxKeyBytes:
		return Errorf(EINVALID, "sender is longer than %d bytes", MaxKeyBytes)
	}
	return nil
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

// Store keeps messages durably and exactly once per (source, id).
//
// Implementations must let the database decide uniqueness, so that concurrent inserts of one
// (source, id) store one row, and must return from Insert with a nil error only after the
// commit is durable. Failures of the underlying database are reported as errors with code
// EUNAVAILABLE.
type Store interface {
	// Insert stores m unless its (source, id) exists. A message already stored is a
	// Duplicate when its payload equals m's and a Conflict otherwise: only payloads are
	// compared, since a redelivery may carry other headers. It sets nothing on m; the stored
	// arrival time is in the returned Receipt. It refuses what m.Check refuses, with its
	// error.
	Insert(ctx context.Context, m Message) (Receipt, error)
	// Get returns the message with the given source and id, with every field, or an error
	// with code ENOTFOUND.
	Get(ctx context.Context, source, id string) (Message, error)
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
// (ReceivedAt, Source, ID) is unique and is the order of every listing.
type Cursor struct {
	ReceivedAt time.Time
	Source, ID string
}

// ListFilter selects and pages messages. Zero fields do not filter.
type ListFilter struct {
	// Source, Type and Sender match exactly; "" does not filter. Messages without a type or
	// a sender never match a Type or Sender filter.
	Source, Type, Sender string
	Since                time.Time // inclusive
	Until                time.Time // exclusive
	// Q is a substring of content, matched literally and case-sensitively; messages
	// without content never match.
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
	return len(m.Source) + len(m.ID) + len(m.Type) + len(m.Sender) + len(m.Content)
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
		p.next = &Cursor{ReceivedAt: p.last.ReceivedAt, Source: p.last.Source, ID: p.last.ID}
		return false, nil
	}
	if err := p.emit(m); err != nil {
		return false, err
	}
	p.sent++
	p.bytes += size
	p.last = Cursor{ReceivedAt: m.ReceivedAt, Source: m.Source, ID: m.ID}
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

// SourceCount is the number of messages stored for one source.
type SourceCount struct {
	Source string
	Count  int64
}

// Stats summarises what is stored.
type Stats struct {
	TotalMessages int64
	// SendersCount and TopSenders count only messages that have a sender.
	SendersCount int64
	// TopSenders holds up to ten senders by count, ties by name.
	TopSenders []SenderCount
	// Sources holds every source with stored messages, by name.
	Sources []SourceCount
	// FirstReceivedAt and LastReceivedAt are zero when nothing is stored.
	FirstReceivedAt time.Time
	LastReceivedAt  time.Time
}

// Reader is the read side of a store, served from connections that never wait for writes.
type Reader interface {
	// List hands the messages of one page in (ReceivedAt, Source, ID) order that match f to
	// emit, one at a time as they are read, with Source, ID, Type, Sender, Content and
	// ReceivedAt (Payload, Headers and ContentType are for Get); a page ends after f.Limit
	// messages or at MaxPageBytes (see Pager). It returns the position to continue from, nil on the
	// last page. The read connection is held until List returns, so emit is the caller's
	// chance to pass each message on without keeping the page. An error from emit stops
	// List, which returns it unchanged.
	List(ctx context.Context, f ListFilter, emit func(Message) error) (next *Cursor, err error)
	// Stats returns the totals.
	Stats(ctx context.Context) (Stats, error)
}
