package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Outbox is a store with its outbox: every backend is both.
type Outbox interface {
	hookvault.Store
	hookvault.Deliveries
}

// OutboxOpener opens a fresh, empty store whose clock (arrivals, due times, leases) is now.
type OutboxOpener func(t *testing.T, now func() time.Time) Outbox

// RunDeliveries runs the conformance cases of the outbox.
func RunDeliveries(t *testing.T, open OutboxOpener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open OutboxOpener)
	}{
		{"WrittenOnlyForCreated", testDeliveriesOnlyForCreated},
		{"RefusesBadDestinations", testRefusesBadDestinations},
		{"KeepsDestinationNamesExactly", testDestinationNamesExact},
		{"WrittenByConcurrentBatches", testDeliveriesInBatches},
		{"ClaimOrderLimitAndLease", testClaimOrderLimitAndLease},
		{"ClaimIsExclusive", testClaimIsExclusive},
		{"InsertsUnderRelayLoad", testInsertsUnderRelayLoad},
		{"Record", testRecord},
		{"RecordWithALostLease", testRecordLostLease},
		{"RecordAll", testRecordAll},
		{"AttemptsKeptAreBounded", testAttemptsBounded},
		{"Redeliver", testRedeliver},
		{"ListDeliveries", testListDeliveries},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// to is a message of source with destinations.
func to(source, id string, dests ...string) hookvault.Message {
	return hookvault.Message{Source: source, ID: id, Type: "push", ContentType: "application/json",
		Headers: []byte(`{"X-Id":["` + id + `"]}`), Payload: []byte(`{"id":"` + id + `"}`), Destinations: dests}
}

func mustList(t *testing.T, s Outbox, f hookvault.DeliveryFilter) hookvault.DeliveryPage {
	t.Helper()
	p, err := s.ListDeliveries(context.Background(), f)
	if err != nil {
		t.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	return p
}

// allDeliveries walks every page of f and returns the deliveries, newest first.
func allDeliveries(t *testing.T, s Outbox, f hookvault.DeliveryFilter) []hookvault.Delivery {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 1000
	}
	var all []hookvault.Delivery
	for range 10000 {
		p := mustList(t, s, f)
		if len(p.Deliveries) > f.Limit {
			t.Fatalf("page of %d deliveries, limit %d", len(p.Deliveries), f.Limit)
		}
		all = append(all, p.Deliveries...)
		if p.Next == 0 {
			return all
		}
		if len(p.Deliveries) == 0 || p.Next != p.Deliveries[len(p.Deliveries)-1].DID {
			t.Fatalf("next %d does not name the page's last delivery", p.Next)
		}
		f.Before = p.Next
	}
	t.Fatal("walk does not end")
	return nil
}

func mustClaim(t *testing.T, s Outbox, dest, owner string, n int, lease time.Duration) []hookvault.Claimed {
	t.Helper()
	c, err := s.Claim(context.Background(), dest, owner, n, lease)
	if err != nil {
		t.Fatalf("Claim(%q, %q, %d): %v", dest, owner, n, err)
	}
	return c
}

func mustRecord(t *testing.T, s Outbox, did int64, owner string, r hookvault.AttemptResult) {
	t.Helper()
	if err := s.Record(context.Background(), did, owner, r); err != nil {
		t.Fatalf("Record(%d, %q): %v", did, owner, err)
	}
}

func mustGetDelivery(t *testing.T, s Outbox, did int64) hookvault.Delivery {
	t.Helper()
	d, err := s.GetDelivery(context.Background(), did)
	if err != nil {
		t.Fatalf("GetDelivery(%d): %v", did, err)
	}
	return d
}

func pending(t *testing.T, s Outbox) string {
	t.Helper()
	counts, err := s.PendingCounts(context.Background())
	if err != nil {
		t.Fatalf("PendingCounts: %v", err)
	}
	var out []string
	for d, n := range counts {
		out = append(out, fmt.Sprintf("%s:%d", d, n))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func dids(ds []hookvault.Delivery) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprint(d.DID))
	}
	return strings.Join(out, ",")
}

func claimedDIDs(cs []hookvault.Claimed) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprint(c.DID))
	}
	return strings.Join(out, ",")
}

// Insert writes one pending delivery per destination of a Created message, due at its
// arrival; a Duplicate or a Conflict writes none, whatever destinations it names, and so
// does a message with none.
func testDeliveriesOnlyForCreated(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	r := mustInsert(t, s, to("github", "a", "app", "stream"))
	clock.Set(epoch.Add(time.Second))
	mustInsert(t, s, to("github", "none"))
	if got := mustInsert(t, s, to("github", "a", "app", "other")); got.Outcome != hookvault.Duplicate {
		t.Fatalf("repeat: %v, want duplicate", got.Outcome)
	}
	conflict := to("github", "a", "other")
	conflict.Payload = []byte(`{"other":1}`)
	if got := mustInsert(t, s, conflict); got.Outcome != hookvault.Conflict {
		t.Fatalf("other body: %v, want conflict", got.Outcome)
	}
	all := allDeliveries(t, s, hookvault.DeliveryFilter{})
	if len(all) != 2 {
		t.Fatalf("%d deliveries, want 2 (app and stream of a): %+v", len(all), all)
	}
	if all[0].DID <= all[1].DID {
		t.Errorf("dids %d, %d: want newest first", all[0].DID, all[1].DID)
	}
	byDest := map[string]hookvault.Delivery{}
	for _, d := range all {
		byDest[d.Destination] = d
		if d.Source != "github" || d.MessageID != "a" || d.Status != hookvault.Pending || !d.CreatedAt.Equal(r.ReceivedAt) ||
			!d.NextAttemptAt.Equal(r.ReceivedAt) || !d.DeliveredAt.IsZero() || d.Tries != 0 || len(d.Attempts) != 0 {
			t.Errorf("delivery %+v, want pending, due at the arrival %v, no tries", d, r.ReceivedAt)
		}
		if got := mustGetDelivery(t, s, d.DID); fmt.Sprint(got) != fmt.Sprint(d) {
			t.Errorf("GetDelivery(%d) = %+v, listed %+v", d.DID, got, d)
		}
	}
	if _, ok := byDest["app"]; !ok || byDest["stream"].DID == 0 {
		t.Errorf("destinations %v, want app and stream", byDest)
	}
	if got := pending(t, s); got != "app:1,stream:1" {
		t.Errorf("PendingCounts %s, want app:1,stream:1", got)
	}
	if _, err := s.GetDelivery(context.Background(), 1<<40); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
		t.Errorf("GetDelivery(unknown) = %v, want ENOTFOUND", err)
	}
}

// A message whose destinations m.CheckDestinations refuses is refused whole: no message, no
// delivery.
func testRefusesBadDestinations(t *testing.T, open OutboxOpener) {
	s := open(t, NewClock(epoch).Now)
	many := make([]string, hookvault.MaxDestinations+1)
	for i := range many {
		many[i] = fmt.Sprintf("d%d", i)
	}
	for name, dests := range map[string][]string{
		"too many": many,
		"empty":    {"app", ""},
		"too long": {strings.Repeat("x", hookvault.MaxDestinationBytes+1)},
		"twice":    {"app", "stream", "app"},
	} {
		m := to("github", "bad-"+strings.ReplaceAll(name, " ", "-"), dests...)
		if _, err := s.Insert(context.Background(), m); hookvault.ErrorCode(err) != hookvault.EINVALID {
			t.Errorf("%s: Insert = %v, want EINVALID", name, err)
		}
		if _, err := s.Get(context.Background(), m.Source, m.ID); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
			t.Errorf("%s: Get after the refusal = %v, want ENOTFOUND", name, err)
		}
	}
	ok := make([]string, hookvault.MaxDestinations)
	for i := range ok {
		ok[i] = fmt.Sprintf("%s%02d", strings.Repeat("x", hookvault.MaxDestinationBytes-2), i)
	}
	mustInsert(t, s, to("github", "most", ok...))
	if got := len(allDeliveries(t, s, hookvault.DeliveryFilter{})); got != hookvault.MaxDestinations {
		t.Errorf("%d deliveries, want %d", got, hookvault.MaxDestinations)
	}
}

// A destination's name is stored as given, whatever its characters (a backend that carries
// names in JSON or SQL text must quote them), and a message's deliveries take dids in the
// order of its destinations.
func testDestinationNamesExact(t *testing.T, open OutboxOpener) {
	s := open(t, NewClock(epoch).Now)
	names := []string{`quote"d`, `back\slash`, "tab\tnew\nline", "ünïcødé ✓", "it's'); DROP TABLE deliveries;--", "\x01\x1f", "[1,\"x\"]"}
	mustInsert(t, s, to("github", "names", names...))
	all := allDeliveries(t, s, hookvault.DeliveryFilter{})
	slices.Reverse(all) // oldest first
	var got []string
	for _, d := range all {
		got = append(got, d.Destination)
		if d.MessageID != "names" {
			t.Errorf("delivery %d to %q is of message %q", d.DID, d.Destination, d.MessageID)
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("destinations in did order %q, want %q", got, names)
	}
	for _, n := range names {
		if c := mustClaim(t, s, n, "w", 10, time.Minute); len(c) != 1 || c[0].Destination != n {
			t.Errorf("Claim(%q) = %d deliveries", n, len(c))
		}
	}
}

// Inserts from many goroutines are committed in batches: each Created message has exactly its
// deliveries, a repeat in the same batch none.
func testDeliveriesInBatches(t *testing.T, open OutboxOpener) {
	s := open(t, time.Now)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := map[string]int{}
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				// Every id is sent by two workers at once; destinations 0, 1 or 2.
				id := fmt.Sprintf("m%02d-%d", (w/2)*each+i, i%3)
				dests := []string{"app", "stream"}[:i%3]
				r, err := s.Insert(context.Background(), to("github", id, dests...))
				if err != nil {
					t.Error(err)
					return
				}
				if r.Outcome == hookvault.Created {
					mu.Lock()
					created[id]++
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	per := map[string]int{}
	for _, d := range allDeliveries(t, s, hookvault.DeliveryFilter{Limit: 97}) {
		per[d.MessageID]++
	}
	want := 0
	for id, n := range created {
		if n != 1 {
			t.Fatalf("%s created %d times", id, n)
		}
		dests := int(id[len(id)-1] - '0')
		want += dests
		if per[id] != dests {
			t.Errorf("%s has %d deliveries, want %d", id, per[id], dests)
		}
	}
	if len(created) != workers/2*each {
		t.Errorf("%d messages created, want %d", len(created), workers/2*each)
	}
	if got := pending(t, s); got != fmt.Sprintf("app:%d,stream:%d", (workers/2)*(13), (workers/2)*6) {
		t.Errorf("PendingCounts %s (deliveries %d)", got, want)
	}
}

// Claim leases the due deliveries of one destination, longest due first, at most n (and
// MaxClaim), each with its message. A leased delivery is not claimed again until its lease
// ends; then it is, by any worker.
func testClaimOrderLimitAndLease(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	for i := range 4 {
		clock.Set(epoch.Add(time.Duration(i) * time.Second))
		mustInsert(t, s, to("github", fmt.Sprintf("m%d", i), "app", "other"))
	}
	clock.Set(epoch.Add(1500 * time.Millisecond)) // m0 and m1 are due
	if got := mustClaim(t, s, "app", "w1", 0, time.Minute); len(got) != 0 {
		t.Fatalf("Claim of 0 = %d deliveries", len(got))
	}
	got := mustClaim(t, s, "app", "w1", 1, time.Minute)
	if len(got) != 1 || got[0].MessageID != "m0" {
		t.Fatalf("Claim(1) = %+v, want m0", got)
	}
	c := got[0]
	m := c.Message
	if c.Destination != "app" || c.Status != hookvault.Pending || c.Tries != 0 || !c.CreatedAt.Equal(epoch) ||
		!c.NextAttemptAt.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("claimed %+v, want pending app, leased until now+1m", c.Delivery)
	}
	if m.Source != "github" || m.ID != "m0" || m.Type != "push" || m.ContentType != "application/json" ||
		string(m.Headers) != `{"X-Id":["m0"]}` || string(m.Payload) != `{"id":"m0"}` || !m.ReceivedAt.Equal(epoch) {
		t.Errorf("claimed message %+v (payload %s)", m, m.Payload)
	}
	got = mustClaim(t, s, "app", "w2", 10, time.Minute)
	if len(got) != 1 || got[0].MessageID != "m1" {
		t.Fatalf("second Claim = %+v, want m1 alone (m0 is leased, m2 not due)", got)
	}
	clock.Set(epoch.Add(10 * time.Second)) // m2, m3 due; m0, m1 leased until 1m01.5s
	got = mustClaim(t, s, "app", "w3", 10, time.Minute)
	if ids := claimedMessageIDs(got); ids != "m2,m3" {
		t.Fatalf("Claim at +10s = %s, want m2,m3", ids)
	}
	if got := pending(t, s); got != "app:4,other:4" {
		t.Errorf("PendingCounts %s: leased deliveries are pending", got)
	}
	clock.Set(epoch.Add(61500 * time.Millisecond)) // the leases of m0 and m1 end
	got = mustClaim(t, s, "app", "w4", 10, time.Minute)
	if ids := claimedMessageIDs(got); ids != "m0,m1" {
		t.Fatalf("Claim after the leases ended = %s, want m0,m1", ids)
	}
	got = mustClaim(t, s, "other", "w5", 1000, time.Minute)
	if ids := claimedMessageIDs(got); ids != "m0,m1,m2,m3" {
		t.Fatalf("Claim of other = %s, want m0,m1,m2,m3", ids)
	}
	if got := mustClaim(t, s, "nowhere", "w6", 10, time.Minute); len(got) != 0 {
		t.Errorf("Claim of an unknown destination = %d deliveries", len(got))
	}
	for _, bad := range []struct {
		owner string
		lease time.Duration
	}{{"", time.Minute}, {"w", 0}, {"w", -time.Second}} {
		if _, err := s.Claim(context.Background(), "app", bad.owner, 1, bad.lease); hookvault.ErrorCode(err) != hookvault.EINVALID {
			t.Errorf("Claim(owner %q, lease %v) = %v, want EINVALID", bad.owner, bad.lease, err)
		}
	}

	// At most MaxClaim, longest due first.
	for i := range hookvault.MaxClaim + 5 {
		clock.Set(epoch.Add(time.Hour + time.Duration(i)*time.Millisecond))
		mustInsert(t, s, to("github", fmt.Sprintf("bulk-%03d", i), "bulk"))
	}
	clock.Set(epoch.Add(2 * time.Hour))
	got = mustClaim(t, s, "bulk", "w7", 1000, time.Minute)
	if len(got) != hookvault.MaxClaim {
		t.Fatalf("Claim(1000) = %d deliveries, want MaxClaim (%d)", len(got), hookvault.MaxClaim)
	}
	for i, c := range got {
		if want := fmt.Sprintf("bulk-%03d", i); c.MessageID != want {
			t.Fatalf("claimed #%d = %s, want %s", i, c.MessageID, want)
		}
	}
}

func claimedMessageIDs(cs []hookvault.Claimed) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.MessageID)
	}
	return strings.Join(out, ",")
}

// Workers claiming one destination at once never get one delivery twice, and between them
// get every one.
func testClaimIsExclusive(t *testing.T, open OutboxOpener) {
	s := open(t, time.Now)
	claimConcurrently(t, []Outbox{s})
}

// claimConcurrently inserts deliveries through the first store, then claims them from many
// goroutines spread over the stores.
func claimConcurrently(t *testing.T, stores []Outbox) {
	const total = 300
	for i := range total {
		mustInsert(t, stores[0], to("github", fmt.Sprintf("x%03d", i), "app"))
	}
	seen := map[int64]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		s := stores[w%len(stores)]
		owner := fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			for {
				got, err := s.Claim(context.Background(), "app", owner, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					if other, ok := seen[c.DID]; ok {
						t.Errorf("delivery %d claimed by %s and %s", c.DID, other, owner)
					}
					seen[c.DID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("%d deliveries claimed, want %d", len(seen), total)
	}
}

// Inserts with destinations go on while relay workers claim and record as fast as they can:
// none fails (a relay must never turn a sender's delivery into a 503), and every delivery
// is delivered once.
func testInsertsUnderRelayLoad(t *testing.T, open OutboxOpener) {
	s := open(t, time.Now)
	const inserters, each, relays = 8, 40, 4
	var inserting, relaying sync.WaitGroup
	done := make(chan struct{})
	var mu sync.Mutex
	delivered := map[int64]int{}
	for w := range relays {
		owner := fmt.Sprintf("relay-%d", w)
		relaying.Go(func() {
			for {
				got, err := s.Claim(context.Background(), "app", owner, 10, time.Minute)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				for _, c := range got {
					if err := s.Record(context.Background(), c.DID, owner, hookvault.AttemptResult{Status: hookvault.Delivered,
						Attempt: hookvault.Attempt{At: time.Now(), StatusCode: 200}}); err != nil {
						t.Errorf("Record(%d): %v", c.DID, err)
						return
					}
					mu.Lock()
					delivered[c.DID]++
					mu.Unlock()
				}
				if len(got) == 0 {
					select {
					case <-done:
						return
					default:
						time.Sleep(time.Millisecond)
					}
				}
			}
		})
	}
	for w := range inserters {
		inserting.Go(func() {
			for i := range each {
				if _, err := s.Insert(context.Background(), to("github", fmt.Sprintf("load-%d-%d", w, i), "app")); err != nil {
					t.Errorf("Insert under relay load: %v", err)
				}
			}
		})
	}
	inserting.Wait()
	close(done)
	relaying.Wait()
	if len(delivered) != inserters*each {
		t.Errorf("%d deliveries delivered, want %d", len(delivered), inserters*each)
	}
	for did, n := range delivered {
		if n != 1 {
			t.Errorf("delivery %d delivered %d times", did, n)
		}
	}
	if got := pending(t, s); got != "" {
		t.Errorf("PendingCounts %s, want none", got)
	}
}

// Record stores the attempt and the outcome, and releases the lease.
func testRecord(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	mustInsert(t, s, to("github", "ok", "app"))
	mustInsert(t, s, to("github", "retry", "app"))
	mustInsert(t, s, to("github", "refused", "app"))
	got := mustClaim(t, s, "app", "w", 10, time.Minute)
	if len(got) != 3 {
		t.Fatalf("claimed %d, want 3", len(got))
	}
	byID := map[string]int64{}
	for _, c := range got {
		byID[c.MessageID] = c.DID
	}
	at := epoch.Add(time.Second)
	clock.Set(at.Add(40 * time.Millisecond))
	mustRecord(t, s, byID["ok"], "w", hookvault.AttemptResult{Status: hookvault.Delivered,
		Attempt: hookvault.Attempt{At: at, StatusCode: 204, Duration: 40 * time.Millisecond}})
	next := epoch.Add(5 * time.Second)
	mustRecord(t, s, byID["retry"], "w", hookvault.AttemptResult{Status: hookvault.Pending, NextAttemptAt: next,
		Attempt: hookvault.Attempt{At: at, Error: "connection refused", Duration: time.Millisecond}})
	mustRecord(t, s, byID["refused"], "w", hookvault.AttemptResult{Status: hookvault.Failed,
		Attempt: hookvault.Attempt{At: at, StatusCode: 410, Duration: 2 * time.Millisecond}})

	d := mustGetDelivery(t, s, byID["ok"])
	if d.Status != hookvault.Delivered || !d.DeliveredAt.Equal(clock.Now()) || !d.NextAttemptAt.IsZero() || d.Tries != 1 ||
		len(d.Attempts) != 1 || fmt.Sprint(d.Attempts[0]) != fmt.Sprint(hookvault.Attempt{At: at, StatusCode: 204, Duration: 40 * time.Millisecond}) {
		t.Errorf("delivered: %+v", d)
	}
	d = mustGetDelivery(t, s, byID["retry"])
	if d.Status != hookvault.Pending || !d.NextAttemptAt.Equal(next) || !d.DeliveredAt.IsZero() || d.Tries != 1 ||
		len(d.Attempts) != 1 || d.Attempts[0].Error != "connection refused" || d.Attempts[0].StatusCode != 0 {
		t.Errorf("retried: %+v", d)
	}
	d = mustGetDelivery(t, s, byID["refused"])
	if d.Status != hookvault.Failed || !d.NextAttemptAt.IsZero() || !d.DeliveredAt.IsZero() || d.Tries != 1 || d.Attempts[0].StatusCode != 410 {
		t.Errorf("failed: %+v", d)
	}
	if got := pending(t, s); got != "app:1" {
		t.Errorf("PendingCounts %s, want app:1", got)
	}
	// The lease is released: Record again is refused, and the retry is claimed when due,
	// not before, by anyone.
	for _, did := range byID {
		if err := s.Record(context.Background(), did, "w", hookvault.AttemptResult{Status: hookvault.Delivered}); !errors.Is(err, hookvault.ErrNotLeased) {
			t.Errorf("Record(%d) after Record = %v, want ErrNotLeased", did, err)
		}
	}
	if got := mustClaim(t, s, "app", "w2", 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed %s before the retry is due", claimedDIDs(got))
	}
	clock.Set(next)
	got = mustClaim(t, s, "app", "w2", 10, time.Minute)
	if len(got) != 1 || got[0].DID != byID["retry"] || got[0].Tries != 1 {
		t.Fatalf("Claim when due = %+v, want the retry with 1 try", got)
	}
	if err := s.Record(context.Background(), byID["retry"], "w2", hookvault.AttemptResult{Status: "lost"}); hookvault.ErrorCode(err) != hookvault.EINVALID {
		t.Errorf("Record with a bad status = %v, want EINVALID", err)
	}
	if err := s.Record(context.Background(), 1<<40, "w2", hookvault.AttemptResult{Status: hookvault.Delivered}); err == nil {
		t.Errorf("Record of an unknown delivery succeeded")
	}
}

// A worker whose lease ran out and whose delivery another worker claimed cannot record its
// attempt: the other worker's attempt counts.
func testRecordLostLease(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	mustInsert(t, s, to("github", "slow", "app"))
	a := mustClaim(t, s, "app", "a", 1, time.Minute)
	clock.Set(epoch.Add(2 * time.Minute))
	b := mustClaim(t, s, "app", "b", 1, time.Minute)
	if len(a) != 1 || len(b) != 1 || a[0].DID != b[0].DID {
		t.Fatalf("claims %s and %s, want one delivery claimed twice after the lease", claimedDIDs(a), claimedDIDs(b))
	}
	did := a[0].DID
	if err := s.Record(context.Background(), did, "a", hookvault.AttemptResult{Status: hookvault.Delivered,
		Attempt: hookvault.Attempt{At: epoch.Add(time.Minute), StatusCode: 200}}); !errors.Is(err, hookvault.ErrNotLeased) {
		t.Fatalf("Record by the worker that lost the lease = %v, want ErrNotLeased", err)
	}
	if hookvault.ErrorCode(hookvault.ErrNotLeased) != hookvault.ECONFLICT {
		t.Errorf("ErrNotLeased is not ECONFLICT")
	}
	mustRecord(t, s, did, "b", hookvault.AttemptResult{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 200}})
	if d := mustGetDelivery(t, s, did); d.Tries != 1 || len(d.Attempts) != 1 || d.Status != hookvault.Delivered {
		t.Errorf("after the lost lease: %+v, want b's attempt alone", d)
	}
}

// RecordAll stores a batch in one go and answers for each: recorded, a lost lease, an unknown
// delivery, an invalid status; the others of the batch are recorded all the same.
func testRecordAll(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	for _, id := range []string{"1", "2", "3"} {
		mustInsert(t, s, to("github", id, "app"))
	}
	c := mustClaim(t, s, "app", "w", 3, time.Minute)
	if len(c) != 3 {
		t.Fatalf("claimed %s", claimedDIDs(c))
	}
	ok := hookvault.AttemptResult{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: epoch, StatusCode: 204}}
	retry := hookvault.AttemptResult{Status: hookvault.Pending, NextAttemptAt: epoch.Add(time.Hour),
		Attempt: hookvault.Attempt{At: epoch, StatusCode: 503, Error: "HTTP 503"}}
	errs, err := s.RecordAll(context.Background(), []hookvault.Recorded{
		{DID: c[0].DID, Owner: "w", AttemptResult: ok},
		{DID: c[1].DID, Owner: "someone else", AttemptResult: ok},
		{DID: c[2].DID, Owner: "w", AttemptResult: retry},
		{DID: c[2].DID + 1000, Owner: "w", AttemptResult: ok},
		{DID: c[1].DID, Owner: "w", AttemptResult: hookvault.AttemptResult{Status: "lost"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", hookvault.ECONFLICT, "", hookvault.ENOTFOUND, hookvault.EINVALID}
	for i, e := range errs {
		got := ""
		if e != nil {
			got = hookvault.ErrorCode(e)
		}
		if got != want[i] {
			t.Errorf("answer %d = %v, want code %q", i, e, want[i])
		}
	}
	if d := mustGetDelivery(t, s, c[0].DID); d.Status != hookvault.Delivered || d.Tries != 1 {
		t.Errorf("first: %+v", d)
	}
	if d := mustGetDelivery(t, s, c[1].DID); d.Status != hookvault.Pending || d.Tries != 0 {
		t.Errorf("second (not recorded): %+v", d)
	}
	if d := mustGetDelivery(t, s, c[2].DID); d.Status != hookvault.Pending || d.Tries != 1 || !d.NextAttemptAt.Equal(epoch.Add(time.Hour)) || len(d.Attempts) != 1 || d.Attempts[0].Error != "HTTP 503" {
		t.Errorf("third: %+v", d)
	}
	if errs, err := s.RecordAll(context.Background(), nil); err != nil || len(errs) != 0 {
		t.Errorf("RecordAll(nil) = %v, %v", errs, err)
	}
}

// A delivery keeps its newest MaxAttemptsKept attempts, oldest first, while Tries counts
// them all; an error is kept to MaxAttemptErrorBytes of valid UTF-8.
func testAttemptsBounded(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	mustInsert(t, s, to("github", "flaky", "app"))
	const tries = hookvault.MaxAttemptsKept + 10
	var did int64
	for i := range tries {
		clock.Set(epoch.Add(time.Duration(i) * time.Minute))
		got := mustClaim(t, s, "app", "w", 1, time.Second)
		if len(got) != 1 {
			t.Fatalf("try %d: claimed %d", i, len(got))
		}
		did = got[0].DID
		if got[0].Tries != i {
			t.Fatalf("try %d: Tries %d", i, got[0].Tries)
		}
		mustRecord(t, s, did, "w", hookvault.AttemptResult{Status: hookvault.Pending, NextAttemptAt: clock.Now().Add(time.Second),
			Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 500 + i%4, Error: fmt.Sprintf("try %d", i), Duration: time.Duration(i)}})
	}
	d := mustGetDelivery(t, s, did)
	if d.Tries != tries || len(d.Attempts) != hookvault.MaxAttemptsKept {
		t.Fatalf("Tries %d, %d attempts kept; want %d and %d", d.Tries, len(d.Attempts), tries, hookvault.MaxAttemptsKept)
	}
	for i, a := range d.Attempts {
		n := tries - hookvault.MaxAttemptsKept + i
		want := hookvault.Attempt{At: epoch.Add(time.Duration(n) * time.Minute), StatusCode: 500 + n%4, Error: fmt.Sprintf("try %d", n), Duration: time.Duration(n)}
		if fmt.Sprint(a) != fmt.Sprint(want) {
			t.Fatalf("attempt %d = %+v, want %+v", i, a, want)
		}
	}
	listed := mustList(t, s, hookvault.DeliveryFilter{Limit: 1})
	if len(listed.Deliveries) != 1 || fmt.Sprint(listed.Deliveries[0]) != fmt.Sprint(d) {
		t.Errorf("listed %+v, want %+v", listed.Deliveries, d)
	}

	clock.Set(epoch.Add(2 * time.Hour))
	long := "\x00bad \xff" + strings.Repeat("é", hookvault.MaxAttemptErrorBytes) // 2-byte runes across the bound
	mustClaim(t, s, "app", "w", 1, time.Minute)
	mustRecord(t, s, did, "w", hookvault.AttemptResult{Status: hookvault.Failed, Attempt: hookvault.Attempt{At: clock.Now(), Error: long}})
	d = mustGetDelivery(t, s, did)
	e := d.Attempts[len(d.Attempts)-1].Error
	if len(e) > hookvault.MaxAttemptErrorBytes || len(e) < hookvault.MaxAttemptErrorBytes-4 || !utf8.ValidString(e) ||
		strings.ContainsRune(e, 0) || !strings.HasSuffix(e, "éé") || !strings.Contains(e, "bad ") {
		t.Errorf("stored error of %d bytes %q: want the start of it in at most %d bytes of valid UTF-8", len(e), e[:min(len(e), 20)], hookvault.MaxAttemptErrorBytes)
	}
	if len(d.Attempts) != hookvault.MaxAttemptsKept || d.Tries != tries+1 {
		t.Errorf("%d attempts, Tries %d", len(d.Attempts), d.Tries)
	}
}

// Redeliver makes a delivered or failed delivery pending, due now, with no tries, its
// attempts kept; a pending one is refused, an unknown one not found.
func testRedeliver(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	mustInsert(t, s, to("github", "done", "app"))
	mustInsert(t, s, to("github", "gone", "app"))
	mustInsert(t, s, to("github", "waiting", "app"))
	got := mustClaim(t, s, "app", "w", 2, time.Minute)
	if len(got) != 2 {
		t.Fatalf("claimed %d, want 2", len(got))
	}
	mustRecord(t, s, got[0].DID, "w", hookvault.AttemptResult{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: epoch, StatusCode: 200}})
	mustRecord(t, s, got[1].DID, "w", hookvault.AttemptResult{Status: hookvault.Failed, Attempt: hookvault.Attempt{At: epoch, StatusCode: 404}})
	waiting := allDeliveries(t, s, hookvault.DeliveryFilter{Status: hookvault.Pending})
	if len(waiting) != 1 {
		t.Fatalf("%d pending, want 1", len(waiting))
	}
	if _, err := s.Redeliver(context.Background(), waiting[0].DID); !errors.Is(err, hookvault.ErrAlreadyPending) {
		t.Errorf("Redeliver(pending) = %v, want ErrAlreadyPending", err)
	}
	if _, err := s.Redeliver(context.Background(), 1<<40); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
		t.Errorf("Redeliver(unknown) = %v, want ENOTFOUND", err)
	}
	clock.Set(epoch.Add(time.Hour))
	for _, c := range got {
		d, err := s.Redeliver(context.Background(), c.DID)
		if err != nil {
			t.Fatalf("Redeliver(%d): %v", c.DID, err)
		}
		if d.DID != c.DID || d.Status != hookvault.Pending || !d.NextAttemptAt.Equal(clock.Now()) || !d.DeliveredAt.IsZero() ||
			d.Tries != 0 || len(d.Attempts) != 1 {
			t.Errorf("redelivered %+v, want pending, due now, no tries, the attempt kept", d)
		}
		if fmt.Sprint(mustGetDelivery(t, s, c.DID)) != fmt.Sprint(d) {
			t.Errorf("GetDelivery after Redeliver differs from its answer")
		}
		if _, err := s.Redeliver(context.Background(), c.DID); !errors.Is(err, hookvault.ErrAlreadyPending) {
			t.Errorf("Redeliver twice = %v, want ErrAlreadyPending", err)
		}
		// The old lease is gone with it.
		if err := s.Record(context.Background(), c.DID, "w", hookvault.AttemptResult{Status: hookvault.Delivered}); !errors.Is(err, hookvault.ErrNotLeased) {
			t.Errorf("Record under the lease before Redeliver = %v, want ErrNotLeased", err)
		}
	}
	if got := pending(t, s); got != "app:3" {
		t.Errorf("PendingCounts %s, want app:3", got)
	}
	again := mustClaim(t, s, "app", "w2", 10, time.Minute)
	if len(again) != 3 {
		t.Errorf("claimed %d after Redeliver, want 3 (the waiting one, which is due, too)", len(again))
	}
}

// Listings are newest first, filtered by destination, status and source in any mix, walked
// by keyset pages that see each delivery once.
func testListDeliveries(t *testing.T, open OutboxOpener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	for i := range 30 {
		clock.Set(epoch.Add(time.Duration(i) * time.Second))
		source := []string{"github", "stripe", "default"}[i%3]
		mustInsert(t, s, to(source, fmt.Sprintf("m%02d", i), []string{"app", "stream"}[:1+i%2]...))
	}
	clock.Set(epoch.Add(time.Hour))
	// Deliver app's deliveries of even messages, fail those of every fifth.
	for _, c := range mustClaim(t, s, "app", "w", 100, time.Minute) {
		var n int
		fmt.Sscanf(c.MessageID, "m%d", &n)
		switch {
		case n%5 == 0:
			mustRecord(t, s, c.DID, "w", hookvault.AttemptResult{Status: hookvault.Failed, Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 400}})
		case n%2 == 0:
			mustRecord(t, s, c.DID, "w", hookvault.AttemptResult{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 200}})
		}
	}
	all := allDeliveries(t, s, hookvault.DeliveryFilter{})
	if len(all) != 45 {
		t.Fatalf("%d deliveries, want 45", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].DID >= all[i-1].DID {
			t.Fatalf("not newest first: %d after %d", all[i].DID, all[i-1].DID)
		}
	}
	want := func(keep func(d hookvault.Delivery) bool) string {
		var out []hookvault.Delivery
		for _, d := range all {
			if keep(d) {
				out = append(out, d)
			}
		}
		return dids(out)
	}
	tests := []struct {
		name string
		f    hookvault.DeliveryFilter
		keep func(d hookvault.Delivery) bool
	}{
		{"all", hookvault.DeliveryFilter{}, func(hookvault.Delivery) bool { return true }},
		{"destination", hookvault.DeliveryFilter{Destination: "app"}, func(d hookvault.Delivery) bool { return d.Destination == "app" }},
		{"status", hookvault.DeliveryFilter{Status: hookvault.Failed}, func(d hookvault.Delivery) bool { return d.Status == hookvault.Failed }},
		{"source", hookvault.DeliveryFilter{Source: "stripe"}, func(d hookvault.Delivery) bool { return d.Source == "stripe" }},
		{"destination and status", hookvault.DeliveryFilter{Destination: "app", Status: hookvault.Pending},
			func(d hookvault.Delivery) bool { return d.Destination == "app" && d.Status == hookvault.Pending }},
		{"destination and source", hookvault.DeliveryFilter{Destination: "stream", Source: "github"},
			func(d hookvault.Delivery) bool { return d.Destination == "stream" && d.Source == "github" }},
		{"all three", hookvault.DeliveryFilter{Destination: "app", Status: hookvault.Delivered, Source: "default"},
			func(d hookvault.Delivery) bool {
				return d.Destination == "app" && d.Status == hookvault.Delivered && d.Source == "default"
			}},
		{"unknown destination", hookvault.DeliveryFilter{Destination: "nowhere"}, func(hookvault.Delivery) bool { return false }},
		{"before", hookvault.DeliveryFilter{Before: all[10].DID}, func(d hookvault.Delivery) bool { return d.DID < all[10].DID }},
		{"destination before", hookvault.DeliveryFilter{Destination: "app", Before: all[10].DID},
			func(d hookvault.Delivery) bool { return d.Destination == "app" && d.DID < all[10].DID }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := want(tt.keep)
			for _, limit := range []int{1, 2, 7, 1000} {
				f := tt.f
				f.Limit = limit
				if got := dids(allDeliveries(t, s, f)); got != w {
					t.Fatalf("limit %d: %s\nwant %s", limit, got, w)
				}
			}
		})
	}
	// A page of exactly the rest has no next.
	if p := mustList(t, s, hookvault.DeliveryFilter{Limit: 45}); p.Next != 0 || len(p.Deliveries) != 45 {
		t.Errorf("page of all 45: %d deliveries, next %d", len(p.Deliveries), p.Next)
	}
	if p := mustList(t, s, hookvault.DeliveryFilter{Limit: 5000}); len(p.Deliveries) != 45 {
		t.Errorf("limit 5000: %d deliveries", len(p.Deliveries))
	}
	for _, bad := range []hookvault.DeliveryFilter{{Limit: 0}, {Limit: -1}, {Limit: 10, Status: "lost"}} {
		if _, err := s.ListDeliveries(context.Background(), bad); hookvault.ErrorCode(err) != hookvault.EBADREQUEST {
			t.Errorf("ListDeliveries(%+v) = %v, want EBADREQUEST", bad, err)
		}
	}
	if got := pending(t, s); got != "app:12,stream:15" {
		t.Errorf("PendingCounts %s, want app:12,stream:15", got)
	}
}

// OutboxReplicaOpener opens n stores on one fresh, empty database, as n replicas would.
type OutboxReplicaOpener func(t *testing.T, n int) []Outbox

// RunDeliveryReplicas runs the outbox cases that need several stores on one database.
func RunDeliveryReplicas(t *testing.T, open OutboxReplicaOpener) {
	t.Run("ClaimIsExclusiveAcrossReplicas", func(t *testing.T) { claimConcurrently(t, open(t, 2)) })
}

// RecordFaultOpener opens a fresh store on the clock now, and returns with it fault, which
// makes the database fail under the store for real (its file deleted, its connections
// ended), and reopen, which returns a store on what the database kept after the fault
// (after closing the first when it must).
type RecordFaultOpener func(t *testing.T, now func() time.Time) (s Outbox, fault func(), reopen func() Outbox)

// RunDeliveryFaults runs the outbox cases about a database that fails.
func RunDeliveryFaults(t *testing.T, open RecordFaultOpener) {
	t.Run("FailureDuringRecordLosesNothing", func(t *testing.T) { testFailureDuringRecord(t, open) })
}

// The database fails between a Claim and its Record. Whatever Record answers, nothing is
// lost: the message and its delivery are there afterwards, delivered if Record said so,
// and otherwise either recorded after all or claimable again once the lease ends.
func testFailureDuringRecord(t *testing.T, open RecordFaultOpener) {
	clock := NewClock(epoch)
	s, fault, reopen := open(t, clock.Now)
	mustInsert(t, s, to("github", "before", "app"))
	got := mustClaim(t, s, "app", "w", 1, time.Minute)
	if len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	did := got[0].DID
	fault()
	clock.Set(epoch.Add(time.Second))
	err := s.Record(context.Background(), did, "w", hookvault.AttemptResult{Status: hookvault.Delivered,
		Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 200}})
	if err != nil && hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Fatalf("Record during the fault = %v, want nil or EUNAVAILABLE", err)
	}
	t.Logf("Record during the fault: %v", err)

	s = reopen()
	mustGet(t, s, "github", "before")
	var d hookvault.Delivery
	var gerr error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d, gerr = s.GetDelivery(context.Background(), did); gerr == nil || time.Now().After(deadline) {
			break
		}
	}
	if gerr != nil {
		t.Fatalf("GetDelivery after the fault: %v", gerr)
	}
	switch {
	case d.Status == hookvault.Delivered:
		if d.Tries != 1 || len(d.Attempts) != 1 {
			t.Fatalf("delivered after the fault with %d tries, %d attempts", d.Tries, len(d.Attempts))
		}
	case err == nil:
		t.Fatalf("Record succeeded, but the delivery is %+v after the fault", d)
	case d.Status == hookvault.Pending:
		clock.Set(epoch.Add(2 * time.Minute)) // the lease ends
		again, cerr := s.Claim(context.Background(), "app", "w2", 1, time.Minute)
		if cerr != nil || len(again) != 1 || again[0].DID != did {
			t.Fatalf("Claim after the lease ended = %+v, %v; want delivery %d again", again, cerr, did)
		}
		mustRecord(t, s, did, "w2", hookvault.AttemptResult{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: clock.Now(), StatusCode: 200}})
	default:
		t.Fatalf("after the fault: %+v", d)
	}
	if got := pending(t, s); got != "" {
		t.Errorf("PendingCounts %s after delivery, want none", got)
	}
}
