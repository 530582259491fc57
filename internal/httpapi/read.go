package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/sources"
)

const defaultLimit = 50

// encodeCursor makes the opaque next_cursor: the position of the page's last message,
// "nanos/source/id" ('/' cannot occur in a source name).
func encodeCursor(c *hookvault.Cursor) *string {
	if c == nil {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.ReceivedAt.UnixNano(), 10) + "/" + c.Source + "/" + c.ID))
	return &s
}

// decodeCursor reads a next_cursor, also one made before sources existed ("nanos:id"), whose
// messages were all of the default source, so that a walk begun before an upgrade goes on.
func decodeCursor(s string) (*hookvault.Cursor, error) {
	bad := hookvault.Errorf(hookvault.EBADREQUEST, `parameter "cursor": not a next_cursor returned by this API`)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	at, rest, _ := strings.Cut(string(raw), "/")
	source, id, ok := strings.Cut(rest, "/")
	if before, old, isOld := strings.Cut(string(raw), ":"); isOld && !strings.Contains(before, "/") {
		at, source, id, ok = before, hookvault.DefaultSource, old, true
	}
	if !ok || id == "" || source == "" {
		return nil, bad
	}
	nanos, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
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
	if p.Source != nil {
		f.Source = *p.Source
	}
	if p.Type != nil {
		f.Type = *p.Type
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
	if err := s.enc.Encode(summary(m)); err != nil {
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

// summary is a message as a listing shows it: type null when it has none, sender and content
// only for messages of POST /webhook's format.
func summary(m hookvault.Message) gen.MessageSummary {
	s := gen.MessageSummary{Id: m.ID, Source: m.Source, ReceivedAt: m.ReceivedAt}
	if m.Type != "" {
		s.Type = &m.Type
	}
	if m.Sender != "" {
		s.Sender, s.Content = &m.Sender, &m.Content
	}
	return s
}

// GetMessage answers one message with its payload exactly as received.
func (a *api) GetMessage(ctx context.Context, req gen.GetMessageRequestObject) (gen.GetMessageResponseObject, error) {
	source := hookvault.DefaultSource
	if req.Params.Source != nil {
		source = *req.Params.Source
	}
	m, err := a.store.Get(ctx, source, req.Id)
	if err != nil {
		return nil, err
	}
	return rawMessage(m), nil
}

// rawMessage writes the stored payload bytes into the answer unchanged: the generated
// response would pass them through encoding/json, which compacts and escapes them.
type rawMessage hookvault.Message

func (m rawMessage) VisitGetMessageResponse(w http.ResponseWriter) error {
	headers := m.Headers
	if headers == nil {
		headers = []byte("{}")
	}
	head, err := json.Marshal(struct {
		gen.MessageSummary
		ContentType string          `json:"content_type"`
		Headers     json.RawMessage `json:"headers"`
	}{summary(hookvault.Message(m)), m.ContentType, headers})
	if err != nil {
		return err
	}
	// JSON goes out as it came; a form or other text body as a JSON string of it; bytes
	// that are not text in base64 beside a null payload.
	payload, tail := m.Payload, []byte("}\n")
	if !json.Valid(payload) {
		if utf8.Valid(payload) {
			payload = textJSON(payload)
		} else {
			tail = fmt.Appendf(nil, `,"payload_base64":"%s"}`+"\n", base64.StdEncoding.EncodeToString(payload))
			payload = []byte("null")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// The summary without its closing brace, then the payload, each written where it lies:
	// joining them first would copy a payload that may be as large as the body limit.
	for _, part := range [][]byte{head[:len(head)-1], []byte(`,"payload":`), payload, tail} {
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
	out.Sources = make([]gen.SourceCount, len(st.Sources))
	for i, sc := range st.Sources {
		out.Sources[i] = gen.SourceCount{Source: sc.Source, Count: sc.Count}
	}
	return out, nil
}

// ListSources answers the configured sources, default first; never a secret.
func (a *api) ListSources(context.Context, gen.ListSourcesRequestObject) (gen.ListSourcesResponseObject, error) {
	all := a.sources().All()
	out := gen.ListSources200JSONResponse{Data: make([]gen.SourceInfo, len(all))}
	for i, src := range all {
		info := src.Info()
		si := gen.SourceInfo{Name: src.Name, Provider: src.Provider, Path: "/webhook/" + src.Name, Id: info.ID}
		if src.Name == sources.Default {
			si.Path = "/webhook"
		}
		if info.Type != "" {
			si.Type = &info.Type
		}
		if info.URL != "" {
			si.Url = &info.URL
		}
		out.Data[i] = si
	}
	return out, nil
}

// textJSON is text as a JSON string, without encoding/json's HTML escapes, so that a form
// body reads as it was sent ("a=1&b=2", not "a=1\u0026b=2").
func textJSON(text []byte) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(string(text)) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
