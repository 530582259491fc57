package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
)

const defaultLimit = 50

// encodeCursor makes the opaque next_cursor: the position of the page's last message,
// "nanos/source:id". A source name has no ':' (configuration allows [a-z0-9_-] only), so the
// first ':' ends it; the id may hold any byte.
func encodeCursor(c *hookvault.Cursor) *string {
	if c == nil {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.ReceivedAt.UnixNano(), 10) + "/" + c.Source + ":" + c.ID))
	return &s
}

// decodeCursor reads a next_cursor. One from before sources ("nanos:id") still continues its
// walk: every message then was the default source's.
func decodeCursor(s string) (*hookvault.Cursor, error) {
	bad := hookvault.Errorf(hookvault.EBADREQUEST, `parameter "cursor": not a next_cursor returned by this API`)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	head, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return nil, bad
	}
	at, source, ok := strings.Cut(head, "/")
	if !ok {
		source = hookvault.DefaultSource
	}
	nanos, err := strconv.ParseInt(at, 10, 64)
	if err != nil || source == "" {
		return nil, bad
	}
	return &hookvault.Cursor{ReceivedAt: time.Unix(0, nanos).UTC(), Source: source, ID: id}, nil
}

// Arrival times are stored as int64 nanoseconds, which span the years 1677 to 2262.
var (
	earliest = time.Unix(0, math.MinInt64).UTC()
	latest   = time.Unix(0, math.MaxInt64).UTC()
)

// representable clamps a filter time into the stored range, which keeps its meaning (no
// arrival is outside it) and keeps it non-zero, so that even year 1 filters.
func representable(t time.Time) time.Time {
	if t.Before(earliest) {
		return earliest
	}
	if t.After(latest) {
		return latest
	}
	return t
}

// ListMessages answers one keyset page.
func (a *api) ListMessages(ctx context.Context, req gen.ListMessagesRequestObject) (gen.ListMessagesResponseObject, error) {
	p := req.Params
	f := hookvault.ListFilter{Limit: defaultLimit}
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Sender != nil {
		f.Sender = *p.Sender
	}
	if p.Q != nil {
		f.Q = *p.Q
	}
	if p.Since != nil {
		f.Since = representable(*p.Since)
	}
	if p.Until != nil {
		f.Until = representable(*p.Until)
	}
	if p.Cursor != nil {
		c, err := decodeCursor(*p.Cursor)
		if err != nil {
			return nil, err
		}
		f.After = c
	}
	return messagePage{ctx: ctx, store: a.store, filter: f}, nil
}

// messagePage streams one page from the store into the answer as the store reads it:
// {"data":[, each message, then ],"next_cursor":…}, the bytes that encoding the whole
// gen.MessageList would give. The server then holds one message and a write buffer per
// request, not the page, its copy and its encoding.
//
// The status line waits for the first message (or the end of an empty page), so that a
// store that fails before it is answered with its problem+json status as any other error.
// A failure after that cannot be answered any more: an error appended to the part already
// sent, or a page closed early, would read as a valid page that silently lacks messages,
// so the answer is aborted instead and the client sees a broken response.
type messagePage struct {
	ctx    context.Context
	store  hookvault.Reader
	filter hookvault.ListFilter
}

// pageBufferBytes is the write buffer of a streamed page: small messages go out in chunks
// of this size; one larger than it goes through unbuffered.
const pageBufferBytes = 32 << 10

func (p messagePage) VisitListMessagesResponse(w http.ResponseWriter) error {
	s := pageWriter{w: w}
	next, err := p.store.List(p.ctx, p.filter, s.message)
	if err == nil {
		err = s.end(next)
	}
	if err != nil && s.started {
		infoFrom(p.ctx).err = err
		panic(http.ErrAbortHandler)
	}
	return err
}

// pageWriter writes a page as it arrives.
type pageWriter struct {
	w       http.ResponseWriter
	buf     *bufio.Writer
	item    bytes.Buffer // one encoded message; json.Encoder adds a newline to drop
	enc     *json.Encoder
	started bool
	count   int
}

func (s *pageWriter) start() error {
	s.started = true
	s.w.Header().Set("Content-Type", "application/json")
	s.w.WriteHeader(http.StatusOK)
	s.buf = bufio.NewWriterSize(s.w, pageBufferBytes)
	s.enc = json.NewEncoder(&s.item)
	_, err := s.buf.WriteString(`{"data":[`)
	return err
}

func (s *pageWriter) message(m hookvault.Message) error {
	if !s.started {
		if err := s.start(); err != nil {
			return err
		}
	}
	if s.count > 0 {
		if err := s.buf.WriteByte(','); err != nil {
			return err
		}
	}
	s.count++
	s.item.Reset()
	if err := s.enc.Encode(gen.MessageSummary{Id: m.ID, Sender: m.Sender, Content: m.Content, ReceivedAt: m.ReceivedAt}); err != nil {
		return err
	}
	_, err := s.buf.Write(s.item.Bytes()[:s.item.Len()-1])
	return err
}

func (s *pageWriter) end(next *hookvault.Cursor) error {
	if !s.started {
		if err := s.start(); err != nil {
			return err
		}
	}
	tail, err := json.Marshal(struct {
		NextCursor *string `json:"next_cursor"`
	}{encodeCursor(next)})
	if err != nil {
		return err
	}
	s.buf.WriteString(`],`)
	s.buf.Write(tail[1:]) // "next_cursor":…}
	s.buf.WriteByte('\n')
	return s.buf.Flush() // a bufio.Writer keeps its first error and returns it here
}

// GetMessage answers one message with its payload exactly as received.
func (a *api) GetMessage(ctx context.Context, req gen.GetMessageRequestObject) (gen.GetMessageResponseObject, error) {
	m, err := a.store.Get(ctx, hookvault.DefaultSource, req.Id)
	if err != nil {
		return nil, err
	}
	return rawMessage(m), nil
}

// rawMessage writes the stored payload bytes into the answer unchanged: the generated
// response would pass them through encoding/json, which compacts and escapes them.
type rawMessage hookvault.Message

func (m rawMessage) VisitGetMessageResponse(w http.ResponseWriter) error {
	head, err := json.Marshal(gen.MessageSummary{Id: m.ID, Sender: m.Sender, Content: m.Content, ReceivedAt: m.ReceivedAt})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// The summary without its closing brace, then the payload, each written where it lies:
	// joining them first would copy a payload that may be as large as the body limit.
	for _, part := range [][]byte{head[:len(head)-1], []byte(`,"payload":`), m.Payload, []byte("}\n")} {
		if _, err := w.Write(part); err != nil {
			// The status is out: a problem written now would trail a partial answer.
			panic(http.ErrAbortHandler)
		}
	}
	return nil
}

// GetStats answers the totals.
func (a *api) GetStats(ctx context.Context, _ gen.GetStatsRequestObject) (gen.GetStatsResponseObject, error) {
	st, err := a.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := gen.GetStats200JSONResponse{
		TotalMessages: st.TotalMessages,
		SendersCount:  st.SendersCount,
		TopSenders:    make([]gen.SenderCount, len(st.TopSenders)),
	}
	for i, sc := range st.TopSenders {
		out.TopSenders[i] = gen.SenderCount{Sender: sc.Sender, Count: sc.Count}
	}
	if !st.FirstReceivedAt.IsZero() {
		out.FirstReceivedAt, out.LastReceivedAt = &st.FirstReceivedAt, &st.LastReceivedAt
	}
	return out, nil
}
