package httpapi

import (
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

// encodeCursor makes the opaque next_cursor: the position of the page's last message.
func encodeCursor(c *hookvault.Cursor) *string {
	if c == nil {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.ReceivedAt.UnixNano(), 10) + ":" + c.ID))
	return &s
}

func decodeCursor(s string) (*hookvault.Cursor, error) {
	bad := hookvault.Errorf(hookvault.EBADREQUEST, `parameter "cursor": not a next_cursor returned by this API`)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	at, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return nil, bad
	}
	nanos, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil, bad
	}
	return &hookvault.Cursor{ReceivedAt: time.Unix(0, nanos).UTC(), ID: id}, nil
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
	out := gen.ListMessages200JSONResponse{Data: []gen.MessageSummary{}}
	next, err := a.store.List(ctx, f, func(m hookvault.Message) error {
		out.Data = append(out.Data, gen.MessageSummary{Id: m.ID, Sender: m.Sender, Content: m.Content, ReceivedAt: m.ReceivedAt})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.NextCursor = encodeCursor(next)
	return out, nil
}

// GetMessage answers one message with its payload exactly as received.
func (a *api) GetMessage(ctx context.Context, req gen.GetMessageRequestObject) (gen.GetMessageResponseObject, error) {
	m, err := a.store.Get(ctx, req.Id)
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
	var buf bytes.Buffer
	buf.Grow(len(head) + len(m.Payload) + 16)
	buf.Write(head[:len(head)-1]) // the summary object without its closing brace
	buf.WriteString(`,"payload":`)
	buf.Write(m.Payload)
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = buf.WriteTo(w)
	return err
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
