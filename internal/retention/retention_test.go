package retention_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/retention"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// clock is a settable time for the store, so that messages can be made old.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// A pass deletes the messages older than the retention, with their deliveries, in batches,
// keeps the newer ones, and reports the sizes; a deleted message sent again is stored
// again (idempotency holds within the retention).
func TestPassDeletesOnlyWhatIsOld(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	insert := func(id string) {
		if _, err := st.Insert(ctx, hookvault.Message{Source: "default", ID: id, Sender: "a", Content: "x",
			ContentType: "application/json", Payload: []byte(`{}`), Destinations: []string{"app"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1234 {
		insert(fmt.Sprint("old-", i))
	}
	c.set(c.Now().Add(48 * time.Hour))
	for i := range 10 {
		insert(fmt.Sprint("new-", i))
	}
	sizes := make(chan [2]int64, 1)
	r := retention.Start(retention.Options{Store: st, Retention: 24 * time.Hour, Batch: 100, Pause: time.Millisecond,
		Every: time.Hour, Now: c.Now, Sizes: func(m, b int64) { sizes <- [2]int64{m, b} }})
	got := <-sizes // the first pass is over
	r.Close()
	msgs, bytes := got[0], got[1]
	if _, err := st.Get(ctx, "default", "old-7"); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
		t.Errorf("old message still there: %v", err)
	}
	if _, err := st.Get(ctx, "default", "new-7"); err != nil {
		t.Errorf("new message deleted: %v", err)
	}
	page, err := st.ListDeliveries(ctx, hookvault.DeliveryFilter{Limit: 1000})
	if err != nil || len(page.Deliveries) != 10 {
		t.Errorf("%d deliveries left (%v), want the 10 of the new messages", len(page.Deliveries), err)
	}
	if msgs != 10 || bytes <= 0 {
		t.Errorf("sizes reported %d messages, %d bytes; want 10 and the file's size", msgs, bytes)
	}
	if rec, err := st.Insert(ctx, hookvault.Message{Source: "default", ID: "old-7", Sender: "a", Content: "x",
		ContentType: "application/json", Payload: []byte(`{}`)}); err != nil || rec.Outcome != hookvault.Created {
		t.Errorf("a redelivery of a deleted message = %v, %v; want Created", rec.Outcome, err)
	}
}

// Without a retention nothing is deleted, and the sizes are still reported.
func TestNoRetentionKeepsEverything(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Insert(context.Background(), hookvault.Message{Source: "default", ID: "1", Sender: "a", Content: "x",
		ContentType: "application/json", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	sizes := make(chan int64, 1)
	r := retention.Start(retention.Options{Store: st, Sizes: func(m, _ int64) { sizes <- m }})
	msgs := <-sizes
	r.Close()
	if msgs != 1 {
		t.Errorf("sizes reported %d messages, want 1", msgs)
	}
}
