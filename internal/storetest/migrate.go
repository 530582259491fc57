package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// LegacyOpener writes old, in order, into a fresh database at the schema before sources, as
// the previous version's writer did (the /stats counters included), then opens a store on it
// whose arrival clock is now, which migrates it. Only ID, Sender, Content, ReceivedAt and
// Payload of each message existed then. The store is closed by the opener's cleanup.
type LegacyOpener func(t *testing.T, old []hookvault.Message, now func() time.Time) hookvault.Store

// RunMigrated runs the cases about a database that held messages before sources existed.
func RunMigrated(t *testing.T, open LegacyOpener) {
	t.Run("OldMessagesBecomeTheDefaultSource", func(t *testing.T) { testOldMessagesBecomeDefault(t, open) })
}

// legacyMessages are messages as the schema before sources could hold them: ids, senders and
// contents with any bytes, empty contents, several messages at one arrival time (ids against
// arrival order), a large payload, and 12 senders, so that the top senders are cut at ten.
// Arrival times are whole microseconds, PostgreSQL's resolution.
func legacyMessages() []hookvault.Message {
	var old []hookvault.Message
	for i := range 40 {
		old = append(old, hookvault.Message{
			ID:         fmt.Sprintf("old-%02d", 39-i),
			Sender:     fmt.Sprintf("sender-%02d", (i*7)%12),
			Content:    fmt.Sprintf("content %d", i),
			ReceivedAt: epoch.Add(time.Duration(i/3) * time.Second).Add(time.Duration(i%2) * time.Microsecond),
			Payload:    fmt.Appendf(nil, `{"id":"old-%02d"}`, 39-i),
		})
	}
	odd := []hookvault.Message{
		{ID: "nul\x00id\xff", Sender: "nul\x00sender", Content: "a\x00b", Payload: []byte(`{"id":"nul\u0000id"}`)},
		{ID: "empty-content", Sender: "sender-00", Content: "", Payload: []byte("{ \"id\" : \"empty-content\" }\r\n")},
		{ID: "large", Sender: "sender-01", Content: strings.Repeat("x", 300<<10), Payload: []byte(`{"content":"` + strings.Repeat("x", 300<<10) + `"}`)},
	}
	for i, m := range odd {
		m.ReceivedAt = epoch.Add(time.Minute + time.Duration(i)*time.Second)
		old = append(old, m)
	}
	return old
}

// A database from before sources keeps every message, now in the default source, with no
// type, an application/json content type and no headers: Get by (default, id) finds each
// with its fields and arrival; listings walk them in order under every filter that applies;
// /stats counts them as before and per source. Then it works as a new one: a redelivery of
// an old id is a duplicate (or a conflict) of the old message, and the same id in another
// source is a new message.
//
// A store that keeps arrival stamps unique (see uniqueStamps) makes the old ones unique:
// each message that shared its stamp with one before it in listing order, (received_at,
// source, id), moves to one nanosecond after that one, and every other keeps its stamp.
func testOldMessagesBecomeDefault(t *testing.T, open LegacyOpener) {
	old := legacyMessages()
	clock := NewClock(epoch.Add(time.Hour))
	s := open(t, old, clock.Now)

	// old-37 and old-39 were both received at epoch.
	if uniqueStamps(t, mustGet(t, s, hookvault.DefaultSource, "old-37").ReceivedAt, mustGet(t, s, hookvault.DefaultSource, "old-39").ReceivedAt) {
		order := make([]int, len(old))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			if c := old[a].ReceivedAt.Compare(old[b].ReceivedAt); c != 0 {
				return c
			}
			return strings.Compare(old[a].ID, old[b].ID)
		})
		var prev time.Time
		for _, i := range order {
			if !old[i].ReceivedAt.After(prev) && !prev.IsZero() {
				old[i].ReceivedAt = prev.Add(time.Nanosecond)
			}
			prev = old[i].ReceivedAt
		}
	}

	for _, m := range old {
		want := m
		want.Source, want.ContentType = hookvault.DefaultSource, "application/json"
		if d := sameMessage(mustGet(t, s, hookvault.DefaultSource, m.ID), want); d != "" {
			t.Errorf("old message %q: %s", m.ID, d)
		}
	}
	model := make([]listed, len(old))
	for i, m := range old {
		model[i] = listed{source: hookvault.DefaultSource, id: m.ID, sender: m.Sender, content: m.Content, at: m.ReceivedAt}
	}
	slices.SortFunc(model, func(a, b listed) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	for _, f := range []hookvault.ListFilter{
		{}, {Source: hookvault.DefaultSource}, {Source: "github"}, {Type: "push"}, {Sender: "sender-03"},
		{Source: hookvault.DefaultSource, Sender: "sender-05", Since: epoch.Add(2 * time.Second)},
		{Source: hookvault.DefaultSource, Q: "content 1"}, {Until: epoch.Add(5 * time.Second)},
	} {
		var want []string
		for _, m := range model {
			if m.matches(f) {
				want = append(want, m.String())
			}
		}
		f.Limit = 4
		var got []string
		for _, page := range walkPages(t, s, f) {
			for _, m := range page {
				got = append(got, m.Source+"/"+m.ID)
				if m.Type != "" {
					t.Errorf("old message %q listed with type %q", m.ID, m.Type)
				}
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("List(source %q, type %q, sender %q):\n got %s\nwant %s", f.Source, f.Type, f.Sender, strings.Join(got, ","), strings.Join(want, ","))
		}
	}

	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, m := range old {
		counts[m.Sender]++
	}
	var top []hookvault.SenderCount
	for sender, n := range counts {
		top = append(top, hookvault.SenderCount{Sender: sender, Count: n})
	}
	slices.SortFunc(top, func(a, b hookvault.SenderCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Sender, b.Sender)
	})
	if st.TotalMessages != int64(len(old)) || st.SendersCount != int64(len(counts)) ||
		fmt.Sprint(st.TopSenders) != fmt.Sprint(top[:10]) || sourceCounts(st) != fmt.Sprintf("default:%d", len(old)) {
		t.Errorf("stats: %d messages, %d senders, top %v, sources %s;\nwant %d, %d, %v, default:%d",
			st.TotalMessages, st.SendersCount, st.TopSenders, sourceCounts(st), len(old), len(counts), top[:10], len(old))
	}
	if !st.FirstReceivedAt.Equal(epoch) || !st.LastReceivedAt.Equal(old[len(old)-1].ReceivedAt) {
		t.Errorf("first %v last %v, want %v and %v", st.FirstReceivedAt, st.LastReceivedAt, epoch, old[len(old)-1].ReceivedAt)
	}

	first := old[0]
	again := hookvault.Message{Source: hookvault.DefaultSource, ID: first.ID, Sender: first.Sender, Content: first.Content, Payload: first.Payload}
	if r := mustInsert(t, s, again); r.Outcome != hookvault.Duplicate || !r.ReceivedAt.Equal(first.ReceivedAt) {
		t.Errorf("redelivery of an old message: %+v, want Duplicate at %v", r, first.ReceivedAt)
	}
	again.Payload = []byte(`{"other":1}`)
	if r := mustInsert(t, s, again); r.Outcome != hookvault.Conflict {
		t.Errorf("other body for an old id: %v, want Conflict", r.Outcome)
	}
	if r := mustInsert(t, s, delivery("github", first.ID, "push", `{"gh":1}`)); r.Outcome != hookvault.Created || !r.ReceivedAt.Equal(clock.Now()) {
		t.Errorf("an old id in another source: %+v, want Created at %v", r, clock.Now())
	}
	if r := mustInsert(t, s, message("new", `{}`)); r.Outcome != hookvault.Created {
		t.Errorf("a new default message: %v, want Created", r.Outcome)
	}
	st, err = s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("default:%d,github:1", len(old)+1); sourceCounts(st) != want || st.TotalMessages != int64(len(old)+2) {
		t.Errorf("after new messages: %d messages, sources %s; want %d, %s", st.TotalMessages, sourceCounts(st), len(old)+2, want)
	}
	if got := walk(t, s, hookvault.ListFilter{Source: "github", Limit: 10}); strings.Join(got, ",") != first.ID {
		t.Errorf("github lists %v, want [%s]", got, first.ID)
	}
}
