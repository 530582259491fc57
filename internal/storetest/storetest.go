// Package storetest is the conformance suite that every hookvault.Store backend passes: one
// set of behaviours, run against each backend's real database.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
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

func message(id, body string) hookvault.Message {
	return hookvault.Message{ID: id, Sender: "alice", Content: "hello", Payload: []byte(body)}
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
		{"ClosedStoreIsUnavailable", testClosedIsUnavailable},
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

func mustGet(t *testing.T, s hookvault.Store, id string) hookvault.Message {
	t.Helper()
	m, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
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
	got := mustGet(t, s, "m1")
	if got.ID != "m1" || got.Sender != "alice" || got.Content != "hello" || string(got.Payload) != body || !got.ReceivedAt.Equal(epoch) {
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
	mustInsert(t, s, hookvault.Message{ID: "m1", Sender: "alice", Content: "first", Payload: []byte(`{"v":1}`)})
	r := mustInsert(t, s, hookvault.Message{ID: "m1", Sender: "mallory", Content: "second", Payload: []byte(`{"v":2}`)})
	if r.Outcome != hookvault.Conflict {
		t.Fatalf("outcome = %v, want conflict", r.Outcome)
	}
	got := mustGet(t, s, "m1")
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
			if got := mustGet(t, s, id); string(got.Payload) != `{"id":"`+id+`"}` {
				t.Fatalf("%s payload = %q", id, got.Payload)
			}
		}
	}
}

func testGetUnknown(t *testing.T, open Opener) {
	s := open(t, time.Now)
	_, err := s.Get(context.Background(), "nope")
	if code := hookvault.ErrorCode(err); code != hookvault.ENOTFOUND {
		t.Fatalf("Get(unknown) code = %q (err %v), want %q", code, err, hookvault.ENOTFOUND)
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
		mustInsert(t, s, hookvault.Message{ID: id, Sender: "s", Content: strings.Repeat("c", 3), Payload: p})
	}
	for id, p := range payloads {
		if got := mustGet(t, s, id); !bytes.Equal(got.Payload, p) {
			t.Errorf("%s: stored payload differs from the bytes received (%d vs %d bytes)", id, len(got.Payload), len(p))
		}
	}
}

// A failing database must surface as EUNAVAILABLE, which the edge answers with 503 and
// Retry-After: never as a success, never as a 500.
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
}
