package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// FaultyOpener opens a fresh, empty store, and returns with it a function that makes every
// write to its database fail for real (no mock: the database itself refuses) until the
// function that it returns is called.
type FaultyOpener func(t *testing.T) (s hookvault.Store, breakWrites func() (heal func()))

// RunFaults runs the cases about a database that stops taking writes and comes back.
func RunFaults(t *testing.T, open FaultyOpener) {
	t.Run("ReadinessFollowsTheLastCommit", func(t *testing.T) { testReadinessFollowsTheLastCommit(t, open) })
	t.Run("FailedInsertWritesNoDelivery", func(t *testing.T) { testFailedInsertWritesNoDelivery(t, open) })
	t.Run("JournalAndRetentionAllOrNothing", func(t *testing.T) { testJournalAllOrNothing(t, open) })
}

// The deliveries of a message are written with it or not at all: an insert that fails
// leaves neither, and the same message sent again once the database is back gets them.
func testFailedInsertWritesNoDelivery(t *testing.T, open FaultyOpener) {
	s, breakWrites := open(t)
	out, ok := s.(hookvault.Deliveries)
	if !ok {
		t.Fatalf("%T has no outbox", s)
	}
	ctx := context.Background()
	m := message("with-destinations", `{"n":1}`)
	m.Destinations = []string{"app", "stream"}
	heal := breakWrites()
	if _, err := s.Insert(ctx, m); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Fatalf("Insert with writes refused = %v, want EUNAVAILABLE", err)
	}
	heal()
	waitReady(t, s)
	if _, err := s.Get(ctx, m.Source, m.ID); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
		t.Fatalf("Get of the refused message = %v, want ENOTFOUND", err)
	}
	page, err := out.ListDeliveries(ctx, hookvault.DeliveryFilter{Limit: 10})
	if err != nil || len(page.Deliveries) != 0 {
		t.Fatalf("deliveries after the refused insert: %+v, %v; want none", page.Deliveries, err)
	}
	if r := mustInsert(t, s, m); r.Outcome != hookvault.Created {
		t.Fatalf("Insert after the fault: %v", r.Outcome)
	}
	counts, err := out.PendingCounts(ctx)
	if err != nil || counts["app"] != 1 || counts["stream"] != 1 || len(counts) != 2 {
		t.Fatalf("PendingCounts after the insert: %v, %v; want app and stream 1 each", counts, err)
	}
}

// An append that the database refuses part of the way through (a backend may refuse only
// the later rows of a batch) fails and leaves nothing of its batch; so does a retention
// delete, which leaves every message. Once the database takes writes again, both work.
func testJournalAllOrNothing(t *testing.T, open FaultyOpener) {
	st, breakWrites := open(t)
	s := journal(t, st)
	ctx := context.Background()
	mustInsert(t, s, message("old", `{"n":1}`))
	mustAppend(t, s, rejection("github", hookvault.RejectInvalidSignature, epoch, 0))
	var batch []hookvault.Rejection
	for i := range 256 {
		batch = append(batch, rejection("github", hookvault.RejectInvalidSignature, epoch.Add(time.Duration(i+1)*time.Second), i+1))
	}

	heal := breakWrites()
	if err := s.AppendRejections(ctx, batch); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Fatalf("AppendRejections with writes refused = %v, want EUNAVAILABLE", err)
	}
	if n, err := s.DeleteMessagesBefore(ctx, time.Now().Add(time.Hour), 10); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || n != 0 {
		t.Fatalf("DeleteMessagesBefore with writes refused = %d, %v; want 0, EUNAVAILABLE", n, err)
	}
	if ids := walkRejections(t, s, hookvault.RejectionFilter{Limit: 1000}); len(ids) != 1 {
		t.Fatalf("after a refused append the journal holds %d entries, want the one before", len(ids))
	}
	mustGet(t, s, hookvault.DefaultSource, "old")

	heal()
	waitReady(t, s)
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = s.AppendRejections(ctx, batch); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("AppendRejections after the fault was healed: %v", err)
	}
	if ids := walkRejections(t, s, hookvault.RejectionFilter{Limit: 1000}); len(ids) != 257 {
		t.Errorf("the journal holds %d entries, want 257", len(ids))
	}
	if n, err := s.DeleteMessagesBefore(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("DeleteMessagesBefore after the fault was healed = %d, %v; want 1", n, err)
	}
}

// A failed commit makes the store unready, even while it still answers reads; Ping then
// probes with a write, which fails as long as the database takes none, and succeeds, making
// the store ready again, once it does. Nothing of a failed insert is stored.
func testReadinessFollowsTheLastCommit(t *testing.T, open FaultyOpener) {
	s, breakWrites := open(t)
	ctx := context.Background()
	mustInsert(t, s, message("before", `{"n":1}`))
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping before the fault: %v", err)
	}

	heal := breakWrites()
	refused := []string{"refused-1", "refused-2", "refused-3"}
	for _, id := range refused {
		if _, err := s.Insert(ctx, message(id, `{"n":2}`)); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
			t.Fatalf("Insert(%q) with writes refused = %v, want EUNAVAILABLE", id, err)
		}
	}
	for range 2 {
		if err := s.Ping(ctx); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
			t.Fatalf("Ping after a failed commit while writes are refused = %v, want EUNAVAILABLE", err)
		}
	}
	if _, err := s.Get(ctx, hookvault.DefaultSource, "before"); err != nil {
		t.Errorf("Get while writes are refused: %v; reads still work", err)
	}

	heal()
	waitReady(t, s)
	mustInsert(t, s, message("after", `{"n":3}`))
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after a successful commit: %v", err)
	}
	for _, id := range refused {
		if _, err := s.Get(ctx, hookvault.DefaultSource, id); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
			t.Errorf("Get(%q), refused while writes failed: %v, want ENOTFOUND", id, err)
		}
	}
	mustGet(t, s, hookvault.DefaultSource, "after")
}

// waitReady polls Ping until it succeeds: a fault may leave broken connections behind that
// fail a call or two before the pool replaces them.
func waitReady(t *testing.T, s hookvault.Store) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = s.Ping(context.Background()); err == nil {
			return
		}
	}
	t.Fatalf("Ping after the fault was healed: still %v", err)
}
