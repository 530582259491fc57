// Package storetest is the conformance suite that every hookvault.Store backend passes: one
// set of behaviours, run against each backend's real database.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Opener opens a fresh, empty store whose arrival clock is now. The store is closed by the
// suite or by the opener's cleanup; closing twice must be harmless.
type Opener func(t *testing.T, now func() time.Time) hookvault.Store

// Clock is a settable test clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock, backwards too.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var epoch = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// message is a POST /webhook message of the default source.
func message(id, body string) hookvault.Message {
	return hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "alice", Content: "hello",
		ContentType: "application/json", Payload: []byte(body)}
}

// Run runs every conformance case against the backend.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"InsertThenGet", testInsertThenGet},
		{"SameBodyIsDuplicate", testSameBodyIsDuplicate},
		{"DifferentBodyIsConflictKeepingFirst", testConflictKeepsFirst},
		{"ConcurrentSameID", testConcurrentSameID},
		{"ConcurrentDistinctIDs", testConcurrentDistinct},
		{"GetUnknown", testGetUnknown},
		{"ArrivalNeverGoesBackwards", testArrivalMonotonic},
		{"PayloadBytesExact", testPayloadBytesExact},
		{"FieldsBytesExact", testFieldsBytesExact},
		{"ConcurrentSameIDDifferentBodies", testConcurrentSameIDDifferentBodies},
		{"ListPagesInOrder", testListPagesInOrder},
		{"ListFilters", testListFilters},
		{"ListWhileInserting", testListWhileInserting},
		{"ListPagesCutByBytes", testListPagesCutByBytes},
		{"ListPagesCutByBytesWithSourceAndType", testListPagesCutByBytesWithSourceAndType},
		{"ListStopsWhenEmitFails", testListStopsWhenEmitFails},
		{"Stats", testStats},
		{"ClosedStoreIsUnavailable", testClosedIsUnavailable},
		{"ReadinessWhileReadersAreHeld", testPingWhileReadersAreHeld},
		{"SameIDInTwoSources", testSameIDInTwoSources},
		{"ConcurrentSameIDAcrossSources", testConcurrentSameIDAcrossSources},
		{"SourceFieldsBytesExact", testSourceFieldsBytesExact},
		{"ListBySourceAndType", testListBySourceAndType},
		{"StatsPerSource", testStatsPerSource},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

func mustInsert(t *testing.T, s hookvault.Store, m hookvault.Message) hookvault.Receipt {
	t.Helper()
	r, err := s.Insert(context.Background(), m)
	if err != nil {
		t.Fatalf("Insert(%q): %v", m.ID, err)
	}
	return r
}

func mustGet(t *testing.T, s hookvault.Store, source, id string) hookvault.Message {
	t.Helper()
	m, err := s.Get(context.Background(), source, id)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", source, id, err)
	}
	return m
}

func testInsertThenGet(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	body := `{"id":"m1","sender":"alice","content":"hello","extra":[1,2]}`
	r := mustInsert(t, s, message("m1", body))
	if r.Outcome != hookvault.Created || !r.ReceivedAt.Equal(epoch) {
		t.Fatalf("receipt = %+v, want Created at %v", r, epoch)
	}
	got := mustGet(t, s, hookvault.DefaultSource, "m1")
	if got.Source != hookvault.DefaultSource || got.ID != "m1" || got.Type != "" || got.Sender != "alice" || got.Content != "hello" ||
		got.ContentType != "application/json" || got.Headers != nil || string(got.Payload) != body || !got.ReceivedAt.Equal(epoch) {
		t.Fatalf("Get = %+v (payload %q)", got, got.Payload)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testSameBodyIsDuplicate(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	mustInsert(t, s, message("m1", `{"a":1}`))
	clock.Set(epoch.Add(time.Hour))
	r := mustInsert(t, s, message("m1", `{"a":1}`))
	if r.Outcome != hookvault.Duplicate || !r.ReceivedAt.Equal(epoch) {
		t.Fatalf("receipt = %+v, want Duplicate with the first arrival %v", r, epoch)
	}
}

func testConflictKeepsFirst(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: "m1", Sender: "alice", Content: "first", Payload: []byte(`{"v":1}`)})
	r := mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: "m1", Sender: "mallory", Content: "second", Payload: []byte(`{"v":2}`)})
	if r.Outcome != hookvault.Conflict {
		t.Fatalf("outcome = %v, want conflict", r.Outcome)
	}
	got := mustGet(t, s, hookvault.DefaultSource, "m1")
	if got.Sender != "alice" || got.Content != "first" || string(got.Payload) != `{"v":1}` {
		t.Fatalf("stored = %+v, want the first message kept", got)
	}
}

func testConcurrentSameID(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	const n = 32
	outcomes := make([]hookvault.Outcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := s.Insert(context.Background(), message("same", `{"same":true}`))
			outcomes[i], errs[i] = r.Outcome, err
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		switch outcomes[i] {
		case hookvault.Created:
			created++
		case hookvault.Duplicate:
		default:
			t.Fatalf("insert %d: outcome %v", i, outcomes[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d inserts were Created, want exactly 1", created)
	}
}

func testConcurrentDistinct(t *testing.T, open Opener) {
	s := open(t, time.Now)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				r, err := s.Insert(context.Background(), message(id, `{"id":"`+id+`"}`))
				if err == nil && r.Outcome != hookvault.Created {
					err = fmt.Errorf("%s: outcome %v", id, r.Outcome)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		for i := range each {
			id := fmt.Sprintf("w%d-%d", w, i)
			if got := mustGet(t, s, hookvault.DefaultSource, id); string(got.Payload) != `{"id":"`+id+`"}` {
				t.Fatalf("%s payload = %q", id, got.Payload)
			}
		}
	}
}

func testGetUnknown(t *testing.T, open Opener) {
	s := open(t, time.Now)
	mustInsert(t, s, message("known", `{}`))
	for _, k := range [][2]string{{hookvault.DefaultSource, "nope"}, {"github", "known"}, {"", "known"}, {"defaul", "known"}} {
		_, err := s.Get(context.Background(), k[0], k[1])
		if code := hookvault.ErrorCode(err); code != hookvault.ENOTFOUND {
			t.Errorf("Get(%q, %q) code = %q (err %v), want %q", k[0], k[1], code, err, hookvault.ENOTFOUND)
		}
	}
}

// Arrival times order the read API's pages, so a clock stepping back must not let a later
// commit sort before an earlier one.
func testArrivalMonotonic(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	a := mustInsert(t, s, message("a", `{}`))
	clock.Set(epoch.Add(-time.Minute))
	b := mustInsert(t, s, message("b", `{}`))
	if b.ReceivedAt.Before(a.ReceivedAt) {
		t.Fatalf("b arrived at %v, before a at %v, after the clock stepped back", b.ReceivedAt, a.ReceivedAt)
	}
}

func testPayloadBytesExact(t *testing.T, open Opener) {
	s := open(t, time.Now)
	payloads := map[string][]byte{
		"spacing": []byte("{ \"id\" : \"x\",\n\t\"sender\":\"a\" ,\"content\":\"\" }\r\n"),
		"escapes": []byte(`{"content":"\u00e9\ud83d\ude00 <b>&amp;</b>","n":1.0e+3}`),
		"unicode": []byte(`{"content":"héllo 世界 😀"}`),
		"large":   append(append([]byte(`{"content":"`), bytes.Repeat([]byte("x"), 900<<10)...), `"}`...),
	}
	for id, p := range payloads {
		mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "s", Content: strings.Repeat("c", 3), Payload: p})
	}
	for id, p := range payloads {
		if got := mustGet(t, s, hookvault.DefaultSource, id); !bytes.Equal(got.Payload, p) {
			t.Errorf("%s: stored payload differs from the bytes received (%d vs %d bytes)", id, len(got.Payload), len(p))
		}
	}
}

// Ids, senders and contents are kept byte for byte: a JSON string may hold U+0000, and an id
// from a URL path need not be UTF-8. A backend that cannot store such a value turns a valid
// request into a 503; one that cannot look it up turns a 404 into one.
func testFieldsBytesExact(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	msgs := []hookvault.Message{
		{ID: "nul\x00id", Sender: "nul\x00sender", Content: "a\x00b", Payload: []byte(`{"id":"nul\u0000id"}`)},
		{ID: "caf\u00e9", Sender: "\u00e9", Content: "\U0001F600", Payload: []byte(`{}`)},
		{ID: "plain", Sender: "nul\x00sender", Content: "no nul", Payload: []byte(`{}`)},
	}
	for i := range msgs {
		msgs[i].Source = hookvault.DefaultSource
	}
	for _, m := range msgs {
		if r := mustInsert(t, s, m); r.Outcome != hookvault.Created {
			t.Fatalf("insert %q: %v", m.ID, r.Outcome)
		}
	}
	for _, m := range msgs {
		got := mustGet(t, s, hookvault.DefaultSource, m.ID)
		if got.Sender != m.Sender || got.Content != m.Content {
			t.Errorf("%q: stored sender %q content %q, want %q %q", m.ID, got.Sender, got.Content, m.Sender, m.Content)
		}
	}
	for _, id := range []string{"\xff\xfe", "nul\x00", "caf\xe9"} {
		if _, err := s.Get(context.Background(), hookvault.DefaultSource, id); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
			t.Errorf("Get(%q) = %v, want %q", id, err, hookvault.ENOTFOUND)
		}
	}
	filters := []struct {
		f    hookvault.ListFilter
		want string
	}{
		{hookvault.ListFilter{Sender: "nul\x00sender"}, "nul\x00id,plain"},
		{hookvault.ListFilter{Sender: "\xff"}, ""},
		{hookvault.ListFilter{Q: "\x00"}, "nul\x00id"},
		{hookvault.ListFilter{Q: "\xff"}, ""},
		{hookvault.ListFilter{Q: "\U0001F600"}, "caf\u00e9"},
	}
	for _, tt := range filters {
		tt.f.Limit = 10
		if got := strings.Join(walk(t, s, tt.f), ","); got != tt.want {
			t.Errorf("List(sender %q, q %q) = %q, want %q", tt.f.Sender, tt.f.Q, got, tt.want)
		}
	}
}

// Deliveries of one id with different bodies racing each other: one is stored, every other
// is told whether its body equals the stored one.
func testConcurrentSameIDDifferentBodies(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	const n = 24
	receipts := make([]hookvault.Receipt, n)
	errs := make([]error, n)
	body := func(i int) string { return fmt.Sprintf(`{"v":%d}`, i%3) }
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			receipts[i], errs[i] = s.Insert(context.Background(), message("race", body(i)))
		})
	}
	close(start)
	wg.Wait()
	stored := string(mustGet(t, s, hookvault.DefaultSource, "race").Payload)
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		want := hookvault.Conflict
		if body(i) == stored {
			want = hookvault.Duplicate
		}
		if receipts[i].Outcome == hookvault.Created {
			created++
			want = hookvault.Created
			if body(i) != stored {
				t.Errorf("insert %d was Created with %s, but %s is stored", i, body(i), stored)
			}
		}
		if receipts[i].Outcome != want {
			t.Errorf("insert %d with %s: %v, want %v (stored %s)", i, body(i), receipts[i].Outcome, want, stored)
		}
	}
	if created != 1 {
		t.Fatalf("%d inserts were Created, want exactly 1", created)
	}
}

// A failing database must surface as EUNAVAILABLE, which the edge answers with 503 and
// Retry-After: never as a success, never as a 500.
// Listings stream to slow clients while they hold a read connection; however many do,
// readiness still answers.
func testPingWhileReadersAreHeld(t *testing.T, open Opener) {
	s := open(t, time.Now)
	mustInsert(t, s, message("held", `{"id":"held"}`))
	release := make(chan struct{})
	var holding atomic.Int32
	var done sync.WaitGroup
	for range 16 { // more listings than either backend has read connections (4 by default)
		done.Go(func() {
			first := true
			_, _ = s.List(context.Background(), hookvault.ListFilter{Limit: 10}, func(hookvault.Message) error {
				if first {
					first = false
					holding.Add(1)
				}
				<-release
				return nil
			})
		})
	}
	defer done.Wait()
	defer close(release)
	for deadline := time.Now().Add(10 * time.Second); holding.Load() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d listings got a read connection", holding.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping while %d listings hold the read connections: %v", holding.Load(), err)
	}
}

func testClosedIsUnavailable(t *testing.T, open Opener) {
	s := open(t, time.Now)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := s.Insert(context.Background(), message("late", `{}`))
	if code := hookvault.ErrorCode(err); code != hookvault.EUNAVAILABLE {
		t.Errorf("Insert after Close: code %q (err %v), want %q", code, err, hookvault.EUNAVAILABLE)
	}
	if code := hookvault.ErrorCode(s.Ping(context.Background())); code != hookvault.EUNAVAILABLE {
		t.Errorf("Ping after Close: code %q, want %q", code, hookvault.EUNAVAILABLE)
	}
	if _, err := s.List(context.Background(), hookvault.ListFilter{Limit: 1}, keep(nil)); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Errorf("List after Close: %v, want %q", err, hookvault.EUNAVAILABLE)
	}
	if _, err := s.Stats(context.Background()); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Errorf("Stats after Close: %v, want %q", err, hookvault.EUNAVAILABLE)
	}
}

// seed inserts messages at one-second steps of the clock from epoch: sender, content pairs.
func seed(t *testing.T, s hookvault.Store, clock *Clock, msgs ...[2]string) []string {
	t.Helper()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		clock.Set(epoch.Add(time.Duration(i) * time.Second))
		ids[i] = fmt.Sprintf("m%02d", i)
		mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: ids[i], Sender: m[0], Content: m[1], Payload: []byte(`{}`)})
	}
	return ids
}

// keep returns an emit function that appends each message to *into (nil: drops them).
func keep(into *[]hookvault.Message) func(hookvault.Message) error {
	return func(m hookvault.Message) error {
		if into != nil {
			*into = append(*into, m)
		}
		return nil
	}
}

// list reads one page.
func list(t *testing.T, s hookvault.Store, f hookvault.ListFilter) ([]hookvault.Message, *hookvault.Cursor) {
	t.Helper()
	var page []hookvault.Message
	next, err := s.List(context.Background(), f, keep(&page))
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return page, next
}

// walkPages follows cursors from the first page to the last and returns the pages. Every
// page holds at least one message and at most f.Limit, and stays within MaxPageBytes unless
// it holds one message; a page with a cursor ends with the message the cursor names.
func walkPages(t *testing.T, s hookvault.Store, f hookvault.ListFilter) [][]hookvault.Message {
	t.Helper()
	var pages [][]hookvault.Message
	for {
		if len(pages) > 10000 {
			t.Fatal("walk does not end")
		}
		page, next := list(t, s, f)
		if len(page) > f.Limit {
			t.Fatalf("page of %d messages, limit %d", len(page), f.Limit)
		}
		if n := pageBytes(page); len(page) > 1 && n > hookvault.MaxPageBytes {
			t.Fatalf("page of %d messages holds %d bytes, over MaxPageBytes (%d)", len(page), n, hookvault.MaxPageBytes)
		}
		if next != nil {
			if len(page) == 0 {
				t.Fatalf("an empty page with a next cursor %+v", next)
			}
			if last := page[len(page)-1]; next.ID != last.ID || !next.ReceivedAt.Equal(last.ReceivedAt) {
				t.Fatalf("next cursor %+v does not name the page's last message %q at %v", next, last.ID, last.ReceivedAt)
			}
		}
		if len(page) > 0 || len(pages) == 0 {
			pages = append(pages, page)
		}
		if next == nil {
			return pages
		}
		f.After = next
	}
}

func pageBytes(page []hookvault.Message) int {
	n := 0
	for _, m := range page {
		n += m.ListedBytes()
	}
	return n
}

func pageIDs(page []hookvault.Message) []string {
	ids := make([]string, len(page))
	for i, m := range page {
		ids[i] = m.ID
	}
	return ids
}

// walk follows cursors from the first page to the last and returns the ids in order.
func walk(t *testing.T, s hookvault.Store, f hookvault.ListFilter) []string {
	t.Helper()
	var ids []string
	for _, page := range walkPages(t, s, f) {
		ids = append(ids, pageIDs(page)...)
	}
	return ids
}

// uniqueStamps tells, from the stamps a store gave two messages committed one after the other
// at one instant of its clock, which of the two rules it follows, and fails on anything else:
// either both have the clock's time, a tie that listings break by (source, id) (PostgreSQL,
// where replicas stamp independently), or the second is one nanosecond later, so that no two
// messages share a stamp (SQLite, where arrival order is the rowid).
func uniqueStamps(t *testing.T, first, second time.Time) bool {
	t.Helper()
	switch second.Sub(first) {
	case 0:
		return false
	case time.Nanosecond:
		return true
	}
	t.Fatalf("two messages at one instant stamped %v and %v: want a tie or one nanosecond apart", first, second)
	return false
}

func testListPagesInOrder(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	var stamps []time.Time
	for i := range 7 {
		// Pairs arrive at one time of the clock, and their ids run against arrival order.
		clock.Set(epoch.Add(time.Duration(i/2) * time.Second))
		stamps = append(stamps, mustInsert(t, s, message(fmt.Sprintf("id-%d", 6-i), `{}`)).ReceivedAt)
	}
	// Within each tie the smaller id comes first.
	want := []string{"id-5", "id-6", "id-3", "id-4", "id-1", "id-2", "id-0"}
	unique := uniqueStamps(t, stamps[0], stamps[1])
	if unique {
		// No ties: the second of each pair one nanosecond after the first, so commit order.
		want = []string{"id-6", "id-5", "id-4", "id-3", "id-2", "id-1", "id-0"}
	}
	for i, at := range stamps {
		wantAt := epoch.Add(time.Duration(i/2) * time.Second)
		if unique && i%2 == 1 {
			wantAt = wantAt.Add(time.Nanosecond)
		}
		if !at.Equal(wantAt) {
			t.Errorf("message %d stamped %v, want %v", i, at, wantAt)
		}
	}
	for _, limit := range []int{1, 2, 3, 7, 100} {
		got := walk(t, s, hookvault.ListFilter{Limit: limit})
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("limit %d: walked %v, want %v", limit, got, want)
		}
	}
	page, next := list(t, s, hookvault.ListFilter{Limit: 7})
	if next != nil {
		t.Fatalf("a page holding the last message must have no next cursor: %+v", next)
	}
	if m := page[0]; m.Source != hookvault.DefaultSource || m.Type != "" || m.Sender != "alice" || m.Content != "hello" ||
		!m.ReceivedAt.Equal(epoch) || m.Payload != nil || m.Headers != nil || m.ContentType != "" {
		t.Errorf("listed message = %+v, want fields without payload, headers and content type", m)
	}
}

func testListFilters(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	ids := seed(t, s, clock,
		[2]string{"alice", "invoice paid"},     // m00 at +0s
		[2]string{"bob", "100% done"},          // m01 at +1s
		[2]string{"alice", "snake_case"},       // m02 at +2s
		[2]string{"bob", `it's "quoted"`},      // m03 at +3s
		[2]string{"alice", "Invoice upper"},    // m04 at +4s
		[2]string{"carol", "100 percent done"}, // m05 at +5s
	)
	at := func(sec int) time.Time { return epoch.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		f    hookvault.ListFilter
		want []string
	}{
		{"all", hookvault.ListFilter{}, ids},
		{"sender", hookvault.ListFilter{Sender: "alice"}, []string{"m00", "m02", "m04"}},
		{"unknown sender", hookvault.ListFilter{Sender: "zed"}, nil},
		{"since is inclusive", hookvault.ListFilter{Since: at(4)}, []string{"m04", "m05"}},
		{"until is exclusive", hookvault.ListFilter{Until: at(2)}, []string{"m00", "m01"}},
		{"window", hookvault.ListFilter{Since: at(1), Until: at(4)}, []string{"m01", "m02", "m03"}},
		{"q substring", hookvault.ListFilter{Q: "done"}, []string{"m01", "m05"}},
		{"q is case-sensitive", hookvault.ListFilter{Q: "invoice"}, []string{"m00"}},
		{"q percent is literal", hookvault.ListFilter{Q: "%"}, []string{"m01"}},
		{"q underscore is literal", hookvault.ListFilter{Q: "_"}, []string{"m02"}},
		{"q quotes are literal", hookvault.ListFilter{Q: `'s "quoted"`}, []string{"m03"}},
		{"q like-pattern matches nothing", hookvault.ListFilter{Q: "1%done"}, nil},
		{"combined", hookvault.ListFilter{Sender: "alice", Since: at(1), Q: "nvoice"}, []string{"m04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 50} {
				f := tt.f
				f.Limit = limit
				if got := walk(t, s, f); strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("limit %d: got %v, want %v", limit, got, tt.want)
				}
			}
		})
	}
}

// A walk that runs while messages keep arriving sees every message stored before it began
// exactly once, in order: arrival stamps follow commit order, so nothing lands behind a
// cursor.
func testListWhileInserting(t *testing.T, open Opener) {
	s := open(t, time.Now)
	const before = 60
	for i := range before {
		mustInsert(t, s, message(fmt.Sprintf("old-%03d", i), `{}`))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Insert(context.Background(), message(fmt.Sprintf("new-%d-%d", w, i), `{}`)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := walk(t, s, hookvault.ListFilter{Limit: 7})
	close(stop)
	wg.Wait()

	seen := map[string]int{}
	old := 0
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("%s listed twice", id)
		}
		if strings.HasPrefix(id, "old-") {
			old++
		}
	}
	if old != before {
		t.Fatalf("walk saw %d of the %d messages stored before it began", old, before)
	}
	// The walk's order is the store's order.
	all := walk(t, s, hookvault.ListFilter{Limit: 1000})
	pos := map[string]int{}
	for i, id := range all {
		pos[id] = i
	}
	for i := 1; i < len(got); i++ {
		if pos[got[i]] <= pos[got[i-1]] {
			t.Fatalf("walk order %s then %s differs from the store's order", got[i-1], got[i])
		}
	}
}

// Pages end at MaxPageBytes as well as at the limit, and a walk over large messages still
// sees each exactly once, in order, with its content whole, under any filter. The sizes
// are chosen around the bound: a page that reaches it exactly, a message that alone is
// larger than it, and one that would pass it by one byte.
func testListPagesCutByBytes(t *testing.T, open Opener) {
	cutByBytes(t, open, hookvault.DefaultSource, "")
}

// The same in a source of another name with a type, which a page's bytes count too.
func testListPagesCutByBytesWithSourceAndType(t *testing.T, open Opener) {
	cutByBytes(t, open, "an-app-with-a-long-name", "order.created.with.a.long.type")
}

func cutByBytes(t *testing.T, open Opener, source, typ string) {
	const mib = 1 << 20
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	small := len(source) + len("b00") + len(typ) + len("alice") + len("even:") + 1
	sizes := []int{ // ListedBytes of b00…b08: source + id (3 bytes) + type + sender "alice" (5) + content
		mib, mib, mib, mib, // b00…b03: exactly MaxPageBytes together
		small,   // b04: "even:" and one byte, which no longer fit after b03
		5 * mib, // b05: larger than a page alone
		3 * mib, // b06
		mib + 1, // b07: one byte too many to join b06
		small,   // b08
	}
	at := make([]time.Time, len(sizes))
	contents := map[string]string{}
	for i, size := range sizes {
		id := fmt.Sprintf("b%02d", i)
		marker := []string{"even:", "odd:"}[i%2] // q filters on it
		content := marker + strings.Repeat(string(rune('a'+i)), size-len(source)-len(id)-len(typ)-len("alice")-len(marker))
		at[i] = epoch.Add(time.Duration(i) * time.Second)
		clock.Set(at[i])
		m := hookvault.Message{Source: source, ID: id, Type: typ, Sender: "alice", Content: content, Payload: []byte(`{}`)}
		if m.ListedBytes() != size {
			t.Fatalf("%s: %d listed bytes, want %d", id, m.ListedBytes(), size)
		}
		mustInsert(t, s, m)
		contents[id] = content
	}
	tests := []struct {
		name  string
		f     hookvault.ListFilter
		pages string // ids of each page, pages separated by " | "
	}{
		{"limit 1000", hookvault.ListFilter{Limit: 1000}, "b00 b01 b02 b03 | b04 | b05 | b06 | b07 b08"},
		{"limit 3", hookvault.ListFilter{Limit: 3}, "b00 b01 b02 | b03 b04 | b05 | b06 | b07 b08"},
		{"limit 1", hookvault.ListFilter{Limit: 1}, "b00 | b01 | b02 | b03 | b04 | b05 | b06 | b07 | b08"},
		{"since", hookvault.ListFilter{Limit: 1000, Since: at[2]}, "b02 b03 b04 | b05 | b06 | b07 b08"},
		{"q", hookvault.ListFilter{Limit: 1000, Q: "odd:"}, "b01 b03 | b05 | b07"},
		{"sender", hookvault.ListFilter{Limit: 1000, Sender: "alice"}, "b00 b01 b02 b03 | b04 | b05 | b06 | b07 b08"},
		{"source", hookvault.ListFilter{Limit: 1000, Source: source}, "b00 b01 b02 b03 | b04 | b05 | b06 | b07 b08"},
		{"source and since", hookvault.ListFilter{Limit: 1000, Source: source, Since: at[2]}, "b02 b03 b04 | b05 | b06 | b07 b08"},
		{"source and q", hookvault.ListFilter{Limit: 1000, Source: source, Q: "odd:"}, "b01 b03 | b05 | b07"},
		{"type", hookvault.ListFilter{Limit: 1000, Type: typ}, "b00 b01 b02 b03 | b04 | b05 | b06 | b07 b08"},
		{"source, type and sender", hookvault.ListFilter{Limit: 3, Source: source, Type: typ, Sender: "alice"}, "b00 b01 b02 | b03 b04 | b05 | b06 | b07 b08"},
		{"too large alone and last", hookvault.ListFilter{Limit: 1000, Since: at[5], Until: at[6]}, "b05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, page := range walkPages(t, s, tt.f) {
				got = append(got, strings.Join(pageIDs(page), " "))
				for _, m := range page {
					if m.Content != contents[m.ID] || m.Sender != "alice" || m.Source != source || m.Type != typ {
						t.Fatalf("%s: listed %d bytes of content from %q in %q of type %q, want the %d stored from alice in %q of type %q",
							m.ID, len(m.Content), m.Sender, m.Source, m.Type, len(contents[m.ID]), source, typ)
					}
				}
			}
			if strings.Join(got, " | ") != tt.pages {
				t.Fatalf("pages %q\nwant  %q", strings.Join(got, " | "), tt.pages)
			}
		})
	}
}

// An error from emit stops the listing and comes back unchanged, so the caller can tell
// its own failure (a client gone) from the store's; and the read connection goes back to
// the pool, or the read API would run dry after a few such requests.
func testListStopsWhenEmitFails(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	seed(t, s, clock, [2]string{"alice", "1"}, [2]string{"alice", "2"}, [2]string{"alice", "3"})
	errGone := errors.New("client gone")
	for i := range 20 { // more than any read pool holds
		calls := 0
		next, err := s.List(context.Background(), hookvault.ListFilter{Limit: 10}, func(hookvault.Message) error {
			calls++
			if calls == 2 {
				return errGone
			}
			return nil
		})
		if !errors.Is(err, errGone) || next != nil || calls != 2 {
			t.Fatalf("try %d: List = %v, %v after %d calls; want the emit error after 2 calls", i, next, err, calls)
		}
	}
	if got := walk(t, s, hookvault.ListFilter{Limit: 10}); strings.Join(got, ",") != "m00,m01,m02" {
		t.Fatalf("after failed listings: %v", got)
	}
}

func testStats(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalMessages != 0 || st.SendersCount != 0 || len(st.TopSenders) != 0 || !st.FirstReceivedAt.IsZero() || !st.LastReceivedAt.IsZero() {
		t.Fatalf("empty store stats = %+v", st)
	}

	var load [][2]string
	for i := range 12 { // senders s00..s11 once each
		load = append(load, [2]string{fmt.Sprintf("s%02d", i), ""})
	}
	load = append(load, [2]string{"alice", ""}, [2]string{"alice", ""}, [2]string{"alice", ""},
		[2]string{"bob", ""}, [2]string{"bob", ""}, [2]string{"carol", ""}, [2]string{"carol", ""})
	seed(t, s, clock, load...)
	// Repeats change nothing.
	mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: "m00", Sender: "s00", Payload: []byte(`{}`)})
	mustInsert(t, s, hookvault.Message{Source: hookvault.DefaultSource, ID: "m01", Sender: "mallory", Payload: []byte(`{"other":1}`)})

	st, err = s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalMessages != 19 || st.SendersCount != 15 {
		t.Errorf("total %d senders %d, want 19 and 15", st.TotalMessages, st.SendersCount)
	}
	var top []string
	for _, sc := range st.TopSenders {
		top = append(top, fmt.Sprintf("%s:%d", sc.Sender, sc.Count))
	}
	want := "alice:3,bob:2,carol:2,s00:1,s01:1,s02:1,s03:1,s04:1,s05:1,s06:1"
	if strings.Join(top, ",") != want {
		t.Errorf("top senders = %v, want %s (by count, ties by name, ten)", top, want)
	}
	if !st.FirstReceivedAt.Equal(epoch) || !st.LastReceivedAt.Equal(epoch.Add(18*time.Second)) {
		t.Errorf("first %v last %v", st.FirstReceivedAt, st.LastReceivedAt)
	}
	if got := sourceCounts(st); got != "default:19" {
		t.Errorf("sources %s, want default:19", got)
	}
}

// ReplicaOpener opens n stores on one fresh, empty database, as n replicas of the service
// would. They are closed by the opener's cleanup.
type ReplicaOpener func(t *testing.T, n int) []hookvault.Store

// RunReplicas runs the cases that need several stores sharing one database.
func RunReplicas(t *testing.T, open ReplicaOpener) {
	t.Run("SameIDAcrossReplicas", func(t *testing.T) { testSameIDAcrossReplicas(t, open) })
	t.Run("SameSourceAndIDAcrossReplicas", func(t *testing.T) { testSameSourceAndIDAcrossReplicas(t, open) })
}

// Every id sent to all replicas at once is stored once: exactly one caller in all is told
// Created, the others Duplicate, and every replica reads the same totals afterwards.
func testSameIDAcrossReplicas(t *testing.T, open ReplicaOpener) {
	stores := open(t, 3)
	const ids, each = 40, 2 // each store receives every id twice, all at once
	outcomes := make([][]hookvault.Outcome, ids)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id := range ids {
		start := make(chan struct{})
		for _, s := range stores {
			for range each {
				wg.Go(func() {
					<-start
					r, err := s.Insert(context.Background(), message(fmt.Sprintf("shared-%02d", id), `{"n":1}`))
					if err != nil {
						t.Errorf("shared-%02d: %v", id, err)
						return
					}
					mu.Lock()
					outcomes[id] = append(outcomes[id], r.Outcome)
					mu.Unlock()
				})
			}
		}
		close(start)
	}
	wg.Wait()
	for id, got := range outcomes {
		created := 0
		for _, o := range got {
			switch o {
			case hookvault.Created:
				created++
			case hookvault.Duplicate:
			default:
				t.Errorf("shared-%02d: outcome %v", id, o)
			}
		}
		if created != 1 || len(got) != len(stores)*each {
			t.Errorf("shared-%02d: %d of %d answers Created, want exactly 1", id, created, len(got))
		}
	}
	for i, s := range stores {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalMessages != ids || st.SendersCount != 1 || len(st.TopSenders) != 1 || st.TopSenders[0].Count != ids {
			t.Errorf("replica %d stats = %+v, want %d messages from one sender", i, st, ids)
		}
		if got := walk(t, s, hookvault.ListFilter{Limit: 7}); len(got) != ids {
			t.Errorf("replica %d lists %d messages, want %d", i, len(got), ids)
		}
	}
}
