package journal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/journal"
	"github.com/hookvault/hookvault/internal/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func all(t *testing.T, st hookvault.Journal) []hookvault.Rejection {
	t.Helper()
	var out []hookvault.Rejection
	f := hookvault.RejectionFilter{Limit: 200}
	for {
		p, err := st.ListRejections(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Rejections...)
		if p.Next == 0 {
			return out
		}
		f.Before = p.Next
	}
}

func entry(i int, body []byte) journal.Entry {
	return journal.Entry{Rejection: hookvault.Rejection{
		ReceivedAt: time.Now(), Source: "github", Status: 401, Result: hookvault.RejectInvalidSignature,
		Reason: "github: mismatch", RequestID: fmt.Sprint("req-", i), RemoteAddr: "192.0.2.1:1",
		Headers: []byte(`{"X-Github-Event":["push"]}`), BodySize: int64(len(body)), Body: body,
	}}
}

// Entries are stored in batches, with their body cut to BodyBytes and copied: the request's
// buffer may be reused as soon as Record returns. With HashBody the hash is of the whole body.
func TestRecordedEntriesAreStored(t *testing.T) {
	st := openStore(t)
	r := journal.New(journal.Options{Store: st, BodyBytes: 8})
	buf := []byte("0123456789abcdef")
	for i := range 1000 {
		e := entry(i, buf)
		e.HashBody = i%2 == 0
		r.Record(e)
	}
	copy(buf, "XXXXXXXXXXXXXXXX") // the server reuses its buffers
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := all(t, st)
	if len(got) != 1000 {
		t.Fatalf("%d entries stored, want 1000", len(got))
	}
	whole := sha256.Sum256([]byte("0123456789abcdef"))
	hashed := 0
	for _, e := range got {
		if string(e.Body) != "01234567" || e.BodySize != 16 {
			t.Fatalf("entry %d: body %q (size %d), want the first 8 bytes as recorded, size 16", e.RID, e.Body, e.BodySize)
		}
		if e.BodySHA256 != nil {
			hashed++
			if !bytes.Equal(e.BodySHA256, whole[:]) {
				t.Fatalf("entry %d: the hash is not the whole body's", e.RID)
			}
		}
	}
	if hashed != 500 {
		t.Errorf("%d entries hashed, want 500", hashed)
	}
}

// gated holds every append until it is opened, as a slow disk would.
type gated struct {
	hookvault.Journal
	open    chan struct{}
	entered atomic.Int64
}

func (g *gated) AppendRejections(ctx context.Context, rs []hookvault.Rejection) error {
	g.entered.Add(1)
	<-g.open
	return g.Journal.AppendRejections(ctx, rs)
}

// A full queue drops at once and counts it; Record never waits for the writer.
func TestFullQueueDropsAndCounts(t *testing.T) {
	st := openStore(t)
	g := &gated{Journal: st, open: make(chan struct{})}
	var dropped atomic.Int64
	r := journal.New(journal.Options{Store: g, BodyBytes: 64, QueueEntries: 10, Batch: 1, Dropped: func() { dropped.Add(1) }})
	r.Record(entry(0, nil)) // taken by the writer, which then waits at the gate
	for g.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 100; i++ {
			r.Record(entry(i, nil))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if d := dropped.Load(); d != 90 {
		t.Errorf("dropped %d, want 90 (10 fit in the queue)", d)
	}
	close(g.open)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(all(t, st)); n != 11 {
		t.Errorf("%d stored, want 11", n)
	}
}

// The queue is bounded by bytes too: a flood of large bodies holds at most QueueBytes.
func TestQueueBytesBound(t *testing.T) {
	st := openStore(t)
	g := &gated{Journal: st, open: make(chan struct{})}
	var dropped atomic.Int64
	r := journal.New(journal.Options{Store: g, BodyBytes: 64 << 10, QueueBytes: 1 << 20, Batch: 1, Dropped: func() { dropped.Add(1) }})
	body := make([]byte, 64<<10)
	r.Record(entry(0, body))
	for g.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 100; i++ {
		r.Record(entry(i, body))
	}
	// Each entry counts its body and about 1 KiB more: 1 MiB holds 15 of them.
	if d := dropped.Load(); d < 80 || d > 90 {
		t.Errorf("dropped %d of 100 64-KiB entries with a 1 MiB queue, want about 85", d)
	}
	close(g.open)
	_ = r.Close(context.Background())
}

// Hints are computed at most HintsPerSecond per source (bursts of twice that), so a flood
// of forged deliveries costs little; other sources keep their own rate.
func TestHintRatePerSource(t *testing.T) {
	st := openStore(t)
	r := journal.New(journal.Options{Store: st, HintsPerSecond: 5})
	defer r.Close(context.Background())
	n := 0
	for range 100 {
		if r.WantsHints("github") {
			n++
		}
	}
	if n < 10 || n > 11 {
		t.Errorf("github got hints %d times at once, want the burst of 10", n)
	}
	if !r.WantsHints("stripe") {
		t.Error("another source shares github's rate")
	}
}

// The writer runs the hints, after Record returned, and keeps at most the bounds.
func TestHintsAreComputedByTheWriter(t *testing.T) {
	st := openStore(t)
	r := journal.New(journal.Options{Store: st})
	var mu sync.Mutex
	ran := false
	e := entry(1, []byte("{}"))
	e.HashBody = true
	e.Hints = func(body []byte) []string {
		mu.Lock()
		ran = true
		mu.Unlock()
		long := make([]byte, 2*hookvault.MaxRejectionHintBytes)
		for i := range long {
			long[i] = 'x'
		}
		return []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", string(long)}
	}
	r.Record(e)
	_ = r.Close(context.Background())
	got := all(t, st)
	if !ran || len(got) != 1 || len(got[0].Hints) != hookvault.MaxRejectionHints || got[0].Hints[0] != "a" ||
		len(got[0].BodySHA256) != 32 {
		t.Fatalf("ran %v, stored %+v", ran, got)
	}
}

// countingStore counts the journal's rows after every append: the most it ever held.
type countingStore struct {
	*sqlite.Store
	t    *testing.T
	most int
}

func (c *countingStore) AppendRejections(ctx context.Context, rs []hookvault.Rejection) error {
	if err := c.Store.AppendRejections(ctx, rs); err != nil {
		return err
	}
	c.most = max(c.most, len(all(c.t, c.Store)))
	return nil
}

// Pruning keeps the newest MaxRows, also between two ticks when a flood fills the journal,
// and the journal never holds more, not even between two prunes, whatever the bound and the
// batches.
func TestPrunedToMaxRows(t *testing.T) {
	for _, c := range []struct{ maxRows, batch, entries int }{
		{1000, 100, 5000},
		{1000, 256, 3000},
		{50, 100, 700},
		{1, 100, 300},
	} {
		t.Run(fmt.Sprintf("max_%d_batch_%d", c.maxRows, c.batch), func(t *testing.T) {
			st := &countingStore{Store: openStore(t), t: t}
			var dropped atomic.Int64
			r := journal.New(journal.Options{Store: st, MaxRows: c.maxRows, PruneEvery: time.Hour, Batch: c.batch,
				QueueEntries: c.entries, Dropped: func() { dropped.Add(1) }})
			for i := range c.entries {
				r.Record(entry(i, nil))
			}
			_ = r.Close(context.Background())
			// Only a batch larger than the whole bound drops its oldest entries.
			if d := dropped.Load(); c.maxRows >= c.batch && d != 0 {
				t.Fatalf("dropped %d with room for all", d)
			}
			got := all(t, st.Store)
			if st.most > c.maxRows || len(got) < c.maxRows-c.maxRows/10 {
				t.Errorf("held at most %d entries, %d at the end, after %d with MaxRows %d; want at most %d, and at least %d at the end",
					st.most, len(got), c.entries, c.maxRows, c.maxRows, c.maxRows-c.maxRows/10)
			}
			if want := fmt.Sprint("req-", c.entries-1); got[0].RequestID != want {
				t.Errorf("newest kept is %s, want %s", got[0].RequestID, want)
			}
		})
	}
}

// Pruning by age deletes what is older than Retention, at start and on each tick.
func TestPrunedByAge(t *testing.T) {
	st := openStore(t)
	old := entry(1, nil)
	old.ReceivedAt = time.Now().Add(-48 * time.Hour)
	fresh := entry(2, nil)
	if err := st.AppendRejections(context.Background(), []hookvault.Rejection{old.Rejection, fresh.Rejection}); err != nil {
		t.Fatal(err)
	}
	r := journal.New(journal.Options{Store: st, Retention: 24 * time.Hour, PruneEvery: time.Hour})
	_ = r.Close(context.Background())
	got := all(t, st)
	if len(got) != 1 || got[0].RequestID != "req-2" {
		t.Errorf("after pruning by age: %+v, want req-2 alone", got)
	}
}

// While the server is busy receiving, the writer stores at most one batch per BusyEvery.
func TestBusyServerPacesTheWriter(t *testing.T) {
	st := openStore(t)
	var dropped atomic.Int64
	r := journal.New(journal.Options{Store: st, Batch: 10, QueueEntries: 20, BusyEvery: time.Hour,
		Busy: func() bool { return true }, Dropped: func() { dropped.Add(1) }})
	for i := range 100 {
		r.Record(entry(i, nil))
		time.Sleep(time.Millisecond)
	}
	// One batch of at most 10 went in at once; the queue held 20 more; the rest was dropped.
	if n := len(all(t, st)); n == 0 || n > 10 {
		t.Errorf("%d stored while busy, want one batch", n)
	}
	if d := dropped.Load(); d < 70 {
		t.Errorf("dropped %d, want at least 70", d)
	}
	_ = r.Close(context.Background())
}
