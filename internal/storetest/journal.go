package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// JournalStore is a store with the rejection journal, retention and the outbox, as every
// backend is.
type JournalStore interface {
	hookvault.Store
	hookvault.Deliveries
	hookvault.Journal
	hookvault.Retention
}

func journal(t *testing.T, s hookvault.Store) JournalStore {
	t.Helper()
	j, ok := s.(JournalStore)
	if !ok {
		t.Fatalf("%T implements no hookvault.Journal and hookvault.Retention", s)
	}
	return j
}

// RunJournal runs the cases of the rejection journal and of retention.
func RunJournal(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RejectionsRoundTrip", testRejectionsRoundTrip},
		{"RejectionsNewestFirstInPages", testRejectionsPages},
		{"RejectionFilters", testRejectionFilters},
		{"RejectionLimit", testRejectionLimit},
		{"GetRejectionUnknown", testGetRejectionUnknown},
		{"PruneRejectionsByAge", testPruneByAge},
		{"PruneRejectionsByRows", testPruneByRows},
		{"RetentionDeletesOnlyOlder", testRetention},
		{"RetentionDeletesEveryDelivery", testRetentionManyDestinations},
		{"RedeliveryAfterRetentionIsCreated", testRedeliveryAfterRetention},
		{"Sizes", testSizes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// rejection is an entry of source received at, with a body that names it.
func rejection(source, result string, at time.Time, n int) hookvault.Rejection {
	body := fmt.Appendf(nil, `{"n":%d}`, n)
	sum := sha256.Sum256(body)
	return hookvault.Rejection{ReceivedAt: at, Source: source, Status: 401, Result: result, Reason: "mismatch",
		RequestID: fmt.Sprintf("req-%d", n), RemoteAddr: "192.0.2.1:4000", Headers: []byte(`{"X-Signature":["00"]}`),
		BodySHA256: sum[:], BodySize: int64(len(body)), Body: body, Hints: []string{}}
}

func mustAppend(t *testing.T, s hookvault.Journal, rs ...hookvault.Rejection) {
	t.Helper()
	if err := s.AppendRejections(context.Background(), rs); err != nil {
		t.Fatalf("AppendRejections(%d): %v", len(rs), err)
	}
}

func mustListRejections(t *testing.T, s hookvault.Journal, f hookvault.RejectionFilter) hookvault.RejectionPage {
	t.Helper()
	p, err := s.ListRejections(context.Background(), f)
	if err != nil {
		t.Fatalf("ListRejections(%+v): %v", f, err)
	}
	return p
}

// walkRejections lists every page of f and returns the request ids in order.
func walkRejections(t *testing.T, s hookvault.Journal, f hookvault.RejectionFilter) []string {
	t.Helper()
	var got []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the walk does not end")
		}
		p := mustListRejections(t, s, f)
		for _, r := range p.Rejections {
			got = append(got, r.RequestID)
		}
		if p.Next == 0 {
			return got
		}
		if len(p.Rejections) == 0 || p.Next != p.Rejections[len(p.Rejections)-1].RID {
			t.Fatalf("page %d: Next = %d after %d entries; want the last entry's rid", pages, p.Next, len(p.Rejections))
		}
		f.Before = p.Next
	}
}

func reqIDs(ns ...int) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = fmt.Sprintf("req-%d", n)
	}
	return ids
}

// Every field comes back as appended, byte for byte: NUL bytes and bytes that are not UTF-8
// in every text a sender controls, a body of the largest size kept (MaxRejectionBodyBytes), a conflict's message and first arrival, no
// body hash for a 413, hints with NUL and non-ASCII text.
func testRejectionsRoundTrip(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	ctx := context.Background()
	big := bytes.Repeat([]byte("\x00\xff\xfeA\xc3"), hookvault.MaxRejectionBodyBytes/5+1)[:hookvault.MaxRejectionBodyBytes]
	odd := "a\x00b\xff\xfe\xc3(é"
	at := epoch.Add(1234567 * time.Microsecond)
	in := []hookvault.Rejection{
		{ReceivedAt: at, Source: "git" + odd, Status: 401, Result: hookvault.RejectInvalidSignature, Reason: "mismatch " + odd,
			RequestID: "rq" + odd, RemoteAddr: "[2001:db8::1]:443" + odd, Headers: []byte("{\"X\":[\"\x00\xff\"]}"),
			BodySHA256: bytes.Repeat([]byte{0, 0xff}, 16), BodySize: int64(len(big)), Body: big,
			Hints: []string{"the body without its trailing newline matches", "ünïcode \x00 nul", ""}},
		{ReceivedAt: at.Add(time.Microsecond), Source: "github", Status: 413, Result: hookvault.RejectTooLarge,
			Reason: "body over 1048576 bytes", RequestID: "r2", RemoteAddr: "192.0.2.1:1", Headers: []byte(`{}`),
			BodySize: 4096, Body: []byte("partial\x00"), Hints: []string{}},
		{ReceivedAt: at.Add(2 * time.Microsecond), Source: "stripe", Status: 200, Result: hookvault.RejectConflict,
			Reason: "evt_1" + odd, RequestID: "r3", RemoteAddr: "192.0.2.2:2", Headers: []byte(`{"A":["b"]}`),
			BodySHA256: make([]byte, 32), BodySize: 0, Body: []byte{}, MessageID: "evt_1" + odd,
			FirstReceivedAt: epoch.Add(-time.Hour + 3*time.Microsecond), Hints: []string{}},
	}
	mustAppend(t, s, in...)
	p := mustListRejections(t, s, hookvault.RejectionFilter{Limit: 10})
	if len(p.Rejections) != 3 || p.Next != 0 {
		t.Fatalf("listed %d entries (next %d), want 3 and no next page", len(p.Rejections), p.Next)
	}
	rids := map[int64]bool{}
	for i, got := range p.Rejections {
		want := in[len(in)-1-i] // newest first
		if got.RID <= 0 || rids[got.RID] {
			t.Errorf("entry %d: rid %d, want a new positive one", i, got.RID)
		}
		rids[got.RID] = true
		if i > 0 && got.RID >= p.Rejections[i-1].RID {
			t.Errorf("entry %d: rid %d not below the newer entry's %d", i, got.RID, p.Rejections[i-1].RID)
		}
		one, err := s.GetRejection(ctx, got.RID)
		if err != nil {
			t.Fatalf("GetRejection(%d): %v", got.RID, err)
		}
		for _, r := range []hookvault.Rejection{got, one} {
			want.RID = got.RID
			if !sameRejection(r, want) {
				t.Errorf("entry %d (rid %d) = %s,\nwant %s", i, got.RID, brief(r), brief(want))
			}
		}
	}
}

func sameRejection(a, b hookvault.Rejection) bool {
	if !a.ReceivedAt.Equal(b.ReceivedAt) || !a.FirstReceivedAt.Equal(b.FirstReceivedAt) ||
		a.ReceivedAt.Location() != time.UTC || (!a.FirstReceivedAt.IsZero() && a.FirstReceivedAt.Location() != time.UTC) {
		return false
	}
	if (a.BodySHA256 == nil) != (b.BodySHA256 == nil) {
		return false
	}
	if len(a.Hints) == 0 && len(b.Hints) == 0 {
		a.Hints, b.Hints = nil, nil
	}
	a.ReceivedAt, b.ReceivedAt, a.FirstReceivedAt, b.FirstReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	eqBytes := func(x, y []byte) bool { return bytes.Equal(x, y) }
	return eqBytes(a.Headers, b.Headers) && eqBytes(a.Body, b.Body) && eqBytes(a.BodySHA256, b.BodySHA256) &&
		reflect.DeepEqual(
			[]any{a.RID, a.Source, a.Status, a.Result, a.Reason, a.RequestID, a.RemoteAddr, a.BodySize, a.MessageID, a.Hints},
			[]any{b.RID, b.Source, b.Status, b.Result, b.Reason, b.RequestID, b.RemoteAddr, b.BodySize, b.MessageID, b.Hints})
}

func brief(r hookvault.Rejection) string {
	body := r.Body
	if len(body) > 16 {
		body = body[:16]
	}
	return fmt.Sprintf("{rid %d at %v src %q st %d %q reason %q req %q addr %q hdr %q sha %x size %d body %q(%d) msg %q first %v hints %q}",
		r.RID, r.ReceivedAt, r.Source, r.Status, r.Result, r.Reason, r.RequestID, r.RemoteAddr, r.Headers, r.BodySHA256,
		r.BodySize, body, len(r.Body), r.MessageID, r.FirstReceivedAt, r.Hints)
}

// Entries come newest first, in pages of Limit that continue before Next, from appends of
// several batches; a page neither repeats nor skips an entry, also while more are appended.
func testRejectionsPages(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	var want []string
	n := 0
	for _, size := range []int{1, 256, 7, 100} {
		var batch []hookvault.Rejection
		for range size {
			batch = append(batch, rejection("github", hookvault.RejectInvalidSignature, epoch.Add(time.Duration(n)*time.Millisecond), n))
			want = append([]string{fmt.Sprintf("req-%d", n)}, want...)
			n++
		}
		mustAppend(t, s, batch...)
	}
	for _, limit := range []int{1, 50, 364, 1000} {
		if got := walkRejections(t, s, hookvault.RejectionFilter{Limit: limit}); !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d: %d entries, want %d newest first (got %v…)", limit, len(got), len(want), got[:min(5, len(got))])
		}
	}
	// Appends between pages land before the walk's start and never in it.
	p := mustListRejections(t, s, hookvault.RejectionFilter{Limit: 100})
	mustAppend(t, s, rejection("github", hookvault.RejectInvalidSignature, epoch.Add(time.Hour), 9999))
	rest := walkRejections(t, s, hookvault.RejectionFilter{Limit: 100, Before: p.Next})
	if !reflect.DeepEqual(rest, want[100:]) {
		t.Errorf("the walk after an append: %d entries, want %d", len(rest), len(want)-100)
	}
}

// Each filter and their combinations select exactly their entries, newest first: since is
// inclusive, until exclusive.
func testRejectionFilters(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	at := func(i int) time.Time { return epoch.Add(time.Duration(i) * time.Second) }
	var rs []hookvault.Rejection
	for i := range 12 {
		source := []string{"github", "stripe", "nosuch"}[i%3]
		result := []string{hookvault.RejectInvalidSignature, hookvault.RejectValidation}[i%2]
		if source == "nosuch" {
			result = hookvault.RejectUnknownSource
		}
		rs = append(rs, rejection(source, result, at(i), i))
	}
	mustAppend(t, s, rs...)
	tests := []struct {
		name string
		f    hookvault.RejectionFilter
		want []string
	}{
		{"all", hookvault.RejectionFilter{}, reqIDs(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)},
		{"source", hookvault.RejectionFilter{Source: "github"}, reqIDs(9, 6, 3, 0)},
		{"unknown source", hookvault.RejectionFilter{Source: "gitlab"}, nil},
		{"result", hookvault.RejectionFilter{Result: hookvault.RejectUnknownSource}, reqIDs(11, 8, 5, 2)},
		{"since", hookvault.RejectionFilter{Since: at(9)}, reqIDs(11, 10, 9)},
		{"until", hookvault.RejectionFilter{Until: at(2)}, reqIDs(1, 0)},
		{"since and until", hookvault.RejectionFilter{Since: at(3), Until: at(6)}, reqIDs(5, 4, 3)},
		{"source and result", hookvault.RejectionFilter{Source: "stripe", Result: hookvault.RejectValidation}, reqIDs(7, 1)},
		{"source and since", hookvault.RejectionFilter{Source: "stripe", Since: at(4)}, reqIDs(10, 7, 4)},
		{"result and until", hookvault.RejectionFilter{Result: hookvault.RejectInvalidSignature, Until: at(5)}, reqIDs(4, 0)},
		{"everything", hookvault.RejectionFilter{Source: "github", Result: hookvault.RejectValidation, Since: at(1), Until: at(9)}, reqIDs(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 1000} {
				f := tt.f
				f.Limit = limit
				if got := walkRejections(t, s, f); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("limit %d: %v, want %v", limit, got, tt.want)
				}
			}
		})
	}
}

func testRejectionLimit(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	for _, limit := range []int{0, -1, 1001} {
		if _, err := s.ListRejections(context.Background(), hookvault.RejectionFilter{Limit: limit}); hookvault.ErrorCode(err) != hookvault.EBADREQUEST {
			t.Errorf("limit %d: %v, want EBADREQUEST", limit, err)
		}
	}
	p := mustListRejections(t, s, hookvault.RejectionFilter{Limit: 1000})
	if p.Rejections == nil || len(p.Rejections) != 0 || p.Next != 0 {
		t.Errorf("empty journal: %+v, want an empty, non-nil page", p)
	}
}

func testGetRejectionUnknown(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	mustAppend(t, s, rejection("github", hookvault.RejectTooLarge, epoch, 1))
	p := mustListRejections(t, s, hookvault.RejectionFilter{Limit: 1})
	for _, rid := range []int64{p.Rejections[0].RID + 1, 0, -1} {
		if _, err := s.GetRejection(context.Background(), rid); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
			t.Errorf("GetRejection(%d) = %v, want ENOTFOUND", rid, err)
		}
	}
}

func prune(t *testing.T, s hookvault.Journal, before time.Time, maxRows, batch int) int {
	t.Helper()
	n, err := s.PruneRejections(context.Background(), before, maxRows, batch)
	if err != nil {
		t.Fatalf("PruneRejections(%v, %d, %d): %v", before, maxRows, batch, err)
	}
	return n
}

// Entries received before the cut go, oldest first, at most a batch per call; the caller
// repeats while a batch is full. Newer ones stay.
func testPruneByAge(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	var rs []hookvault.Rejection
	for i := range 25 {
		rs = append(rs, rejection("github", hookvault.RejectValidation, epoch.Add(time.Duration(i)*time.Minute), i))
	}
	mustAppend(t, s, rs...)
	cut := epoch.Add(20 * time.Minute) // entries 0..19 are older
	var got []int
	for {
		n := prune(t, s, cut, -1, 8)
		got = append(got, n)
		if n < 8 {
			break
		}
	}
	if !reflect.DeepEqual(got, []int{8, 8, 4}) {
		t.Errorf("batches deleted %v, want [8 8 4]", got)
	}
	if ids := walkRejections(t, s, hookvault.RejectionFilter{Limit: 100}); !reflect.DeepEqual(ids, reqIDs(24, 23, 22, 21, 20)) {
		t.Errorf("left %v, want the five newest", ids)
	}
	if n := prune(t, s, time.Time{}, -1, 8); n != 0 {
		t.Errorf("pruned %d with no bound, want 0", n)
	}
}

// Entries beyond the newest maxRows go, oldest first, at most a batch per call, and the
// newest maxRows stay whatever their age; both bounds together delete what either selects.
func testPruneByRows(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	var rs []hookvault.Rejection
	for i := range 30 {
		rs = append(rs, rejection("stripe", hookvault.RejectInvalidSignature, epoch.Add(time.Duration(i)*time.Second), i))
	}
	mustAppend(t, s, rs...)
	if n := prune(t, s, time.Time{}, 20, 6); n != 6 {
		t.Fatalf("first batch deleted %d, want 6", n)
	}
	if n := prune(t, s, time.Time{}, 20, 6); n != 4 {
		t.Fatalf("second batch deleted %d, want the 4 left beyond 20 rows", n)
	}
	if n := prune(t, s, time.Time{}, 20, 6); n != 0 {
		t.Fatalf("third batch deleted %d, want 0", n)
	}
	want := make([]int, 0, 20)
	for i := 29; i >= 10; i-- {
		want = append(want, i)
	}
	if ids := walkRejections(t, s, hookvault.RejectionFilter{Limit: 7}); !reflect.DeepEqual(ids, reqIDs(want...)) {
		t.Errorf("left %v, want the 20 newest", ids)
	}
	// 20 rows left, received 10 s … 29 s: the row bound selects 5, the age bound those
	// before 18 s (8), overlapping.
	if n := prune(t, s, epoch.Add(18*time.Second), 15, 100); n != 8 {
		t.Errorf("both bounds deleted %d, want 8", n)
	}
	if ids := walkRejections(t, s, hookvault.RejectionFilter{Limit: 100}); len(ids) != 12 || ids[11] != "req-18" {
		t.Errorf("left %v, want 29 … 18", ids)
	}
	// A row bound of 0 keeps none (a negative one is no bound).
	if n := prune(t, s, time.Time{}, 0, 100); n != 12 {
		t.Errorf("a bound of 0 deleted %d, want all 12", n)
	}
}

// sourceMessage is a provider's message of source with an id, for two destinations.
func sourceMessage(source, id string) hookvault.Message {
	return hookvault.Message{Source: source, ID: id, Type: "push", ContentType: "application/json", Payload: []byte(`{"id":"` + id + `"}`),
		Destinations: []string{"app", "stream"}}
}

// Retention deletes the oldest messages received before the cut, a batch at a time, with
// their deliveries, and leaves the newer ones, theirs, and the /stats counters right.
func testRetention(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := journal(t, open(t, clock.Now))
	ctx := context.Background()
	for i := range 10 {
		clock.Set(epoch.Add(time.Duration(i) * time.Minute))
		mustInsert(t, s, message(fmt.Sprintf("m%d", i), fmt.Sprintf(`{"n":%d}`, i)))
		mustInsert(t, s, sourceMessage("github", fmt.Sprintf("g%d", i)))
	}
	cut := epoch.Add(6 * time.Minute) // m0..m5 and g0..g5: 12 older
	var got []int
	for {
		n, err := s.DeleteMessagesBefore(ctx, cut, 5)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 5 {
			break
		}
	}
	if !reflect.DeepEqual(got, []int{5, 5, 2}) {
		t.Errorf("batches deleted %v, want [5 5 2]", got)
	}
	for i := range 10 {
		for _, k := range [][2]string{{hookvault.DefaultSource, fmt.Sprintf("m%d", i)}, {"github", fmt.Sprintf("g%d", i)}} {
			_, err := s.Get(ctx, k[0], k[1])
			if i < 6 && hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
				t.Errorf("Get(%s/%s), older than the cut: %v, want ENOTFOUND", k[0], k[1], err)
			}
			if i >= 6 && err != nil {
				t.Errorf("Get(%s/%s), newer than the cut: %v", k[0], k[1], err)
			}
		}
	}
	page, err := s.ListDeliveries(ctx, hookvault.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, d := range page.Deliveries {
		left = append(left, d.Source+"/"+d.MessageID+"→"+d.Destination)
	}
	if want := []string{"github/g9→stream", "github/g9→app", "github/g8→stream", "github/g8→app", "github/g7→stream", "github/g7→app",
		"github/g6→stream", "github/g6→app"}; !reflect.DeepEqual(left, want) {
		t.Errorf("deliveries left %v, want %v: those of the newer messages", left, want)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalMessages != 8 || st.SendersCount != 1 || len(st.TopSenders) != 1 || st.TopSenders[0].Count != 4 ||
		!st.FirstReceivedAt.Equal(cut) || fmt.Sprint(st.Sources) != fmt.Sprint([]hookvault.SourceCount{{Source: hookvault.DefaultSource, Count: 4}, {Source: "github", Count: 4}}) {
		t.Errorf("stats after retention: %+v", st)
	}
	// Every message of a sender gone: the sender is no longer counted.
	if n, err := s.DeleteMessagesBefore(ctx, epoch.Add(time.Hour), 100); err != nil || n != 8 {
		t.Fatalf("deleting the rest: %d, %v; want 8", n, err)
	}
	if page, err := s.ListDeliveries(ctx, hookvault.DeliveryFilter{Limit: 100}); err != nil || len(page.Deliveries) != 0 {
		t.Errorf("deliveries left after deleting every message: %d, %v", len(page.Deliveries), err)
	}
	if st, err = s.Stats(ctx); err != nil || st.TotalMessages != 0 || st.SendersCount != 0 || len(st.TopSenders) != 0 || len(st.Sources) != 0 {
		t.Errorf("stats after deleting everything: %+v, %v", st, err)
	}
	if n, err := s.DeleteMessagesBefore(ctx, epoch.Add(time.Hour), 100); err != nil || n != 0 {
		t.Errorf("deleting from an empty store: %d, %v", n, err)
	}
}

// Retention deletes every delivery of the messages it deletes, however many destinations
// each has, and none of the newer ones: a delivery left without its message could never be
// claimed, and would count as pending for ever.
func testRetentionManyDestinations(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := journal(t, open(t, clock.Now))
	ctx := context.Background()
	dests := make([]string, 12)
	for i := range dests {
		dests[i] = fmt.Sprintf("d%02d", i)
	}
	for i := range 30 {
		clock.Set(epoch.Add(time.Duration(i) * time.Second))
		m := sourceMessage("github", fmt.Sprintf("g%d", i))
		m.Destinations = dests
		mustInsert(t, s, m)
	}
	cut := epoch.Add(20 * time.Second) // g0..g19 older: 240 deliveries, 24 for each batch of 2
	for {
		n, err := s.DeleteMessagesBefore(ctx, cut, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			break
		}
	}
	counts, err := s.PendingCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dests {
		if counts[d] != 10 {
			t.Errorf("pending for %s after retention: %d, want 10 (those of g20..g29)", d, counts[d])
		}
	}
	left := map[string]int{}
	for before := int64(0); ; {
		page, err := s.ListDeliveries(ctx, hookvault.DeliveryFilter{Limit: 100, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Deliveries {
			left[d.MessageID]++
		}
		if page.Next == 0 {
			break
		}
		before = page.Next
	}
	for i := range 30 {
		id, want := fmt.Sprintf("g%d", i), 0
		if i >= 20 {
			want = len(dests)
		}
		if left[id] != want {
			t.Errorf("deliveries of %s left: %d, want %d", id, left[id], want)
		}
	}
}

// Idempotency holds within retention only: a redelivery of a deleted message is new.
func testRedeliveryAfterRetention(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := journal(t, open(t, clock.Now))
	mustInsert(t, s, message("m1", `{"v":1}`))
	clock.Set(epoch.Add(time.Hour))
	if r := mustInsert(t, s, message("m1", `{"v":1}`)); r.Outcome != hookvault.Duplicate {
		t.Fatalf("redelivery before retention: %v, want Duplicate", r.Outcome)
	}
	if n, err := s.DeleteMessagesBefore(context.Background(), epoch.Add(time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("DeleteMessagesBefore: %d, %v; want 1", n, err)
	}
	r := mustInsert(t, s, message("m1", `{"v":2}`))
	if r.Outcome != hookvault.Created || !r.ReceivedAt.Equal(epoch.Add(time.Hour)) {
		t.Errorf("redelivery after retention: %+v, want Created now", r)
	}
	if got := mustGet(t, s, hookvault.DefaultSource, "m1"); string(got.Payload) != `{"v":2}` {
		t.Errorf("stored %q, want the redelivered body", got.Payload)
	}
}

func testSizes(t *testing.T, open Opener) {
	s := journal(t, open(t, NewClock(epoch).Now))
	ctx := context.Background()
	_, empty, err := s.Sizes(ctx)
	if err != nil || empty <= 0 {
		t.Fatalf("Sizes of an empty store: %d bytes, %v", empty, err)
	}
	for i := range 50 {
		mustInsert(t, s, message(fmt.Sprintf("m%d", i), fmt.Sprintf(`{"pad":"%0512d"}`, i)))
	}
	if n, err := s.DeleteMessagesBefore(ctx, epoch.Add(time.Second), 10); err != nil || n != 10 {
		t.Fatalf("DeleteMessagesBefore: %d, %v", n, err)
	}
	messages, size, err := s.Sizes(ctx)
	if err != nil || messages != 40 || size < empty {
		t.Errorf("Sizes = %d messages, %d bytes, %v; want 40 and at least %d", messages, size, err, empty)
	}
}
