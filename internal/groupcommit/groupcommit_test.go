package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/groupcommit"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// The queue's own rules, with a committer that records what it is given. The SQLite and
// PostgreSQL tests drive the same queue through real databases.

type observer struct{ commits atomic.Int64 }

func (o *observer) ObserveCommit(int, time.Duration) { o.commits.Add(1) }

func TestFailedCommitAnswersEveryCallerUnavailable(t *testing.T) {
	boom := errors.New("connection reset")
	obs := &observer{}
	q := groupcommit.Start(func(context.Context, []hookvault.Message, []hookvault.Receipt) (bool, error) {
		return false, boom
	}, groupcommit.Options{Observer: obs})
	defer q.Close()
	_, err := q.Insert(hookvault.Message{ID: "a"})
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !errors.Is(err, boom) {
		t.Fatalf("Insert = %v, want EUNAVAILABLE wrapping the cause", err)
	}
	if obs.commits.Load() != 0 {
		t.Error("a failed commit was observed as a commit")
	}
}

// With several writers, batches are committed at once: the committer sees them overlap,
// every writer holding its batch at the gate until all of them are inside.
func TestWritersCommitConcurrently(t *testing.T) {
	const writers = 3
	var inside atomic.Int64
	gate := make(chan struct{})
	q := groupcommit.Start(func(_ context.Context, batch []hookvault.Message, r []hookvault.Receipt) (bool, error) {
		inside.Add(1)
		<-gate
		inside.Add(-1)
		for i := range batch {
			r[i] = hookvault.Receipt{Outcome: hookvault.Created}
		}
		return true, nil
	}, groupcommit.Options{Writers: writers})
	var wg sync.WaitGroup
	// One insert at a time, each taken by the next idle writer while the others hold theirs.
	for i := range writers {
		wg.Go(func() {
			if r, err := q.Insert(hookvault.Message{ID: fmt.Sprint(i)}); err != nil || r.Outcome != hookvault.Created {
				t.Errorf("insert %d: %v %v", i, r.Outcome, err)
			}
		})
		for j := 0; inside.Load() < int64(i+1); j++ {
			if j > 20000 {
				t.Fatalf("%d batches in flight, want %d", inside.Load(), i+1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	close(gate)
	wg.Wait()
	q.Close()
}

// A commit that does not end within Timeout is cut off by its context: its callers are
// answered EUNAVAILABLE with the cause, not never.
func TestStuckCommitTimesOut(t *testing.T) {
	q := groupcommit.Start(func(ctx context.Context, _ []hookvault.Message, _ []hookvault.Receipt) (bool, error) {
		<-ctx.Done()
		return false, ctx.Err()
	}, groupcommit.Options{Timeout: 50 * time.Millisecond})
	_, err := q.Insert(hookvault.Message{ID: "a"})
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Insert = %v, want EUNAVAILABLE from the deadline", err)
	}
	q.Close()
	if _, err := q.Insert(hookvault.Message{ID: "b"}); !errors.Is(err, groupcommit.ErrClosed) {
		t.Fatalf("Insert after Close = %v, want ErrClosed", err)
	}
}

// recorder is a committer that stores every message it is given, as created.
type recorder struct {
	mu  sync.Mutex
	ids map[string]int // id → times committed
}

func newRecorder() *recorder { return &recorder{ids: map[string]int{}} }

func (r *recorder) commit(_ context.Context, batch []hookvault.Message, res []hookvault.Receipt) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range batch {
		r.ids[m.ID]++
		res[i] = hookvault.Receipt{Outcome: hookvault.Created}
	}
	return true, nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

// An insert that waits in the queue past Timeout, because the writer is held, is answered
// EUNAVAILABLE and is never written: the writer drops it instead of committing it later.
// Both the insert the writer had already taken into its next batch and the one queued
// behind it.
func TestTimedOutInQueueIsNeverWritten(t *testing.T) {
	rec := newRecorder()
	entered, gate := make(chan struct{}, 10), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	defer release()
	q := groupcommit.Start(rec.commit, groupcommit.Options{
		Timeout:     20 * time.Millisecond,
		BeforeBatch: func() { entered <- struct{}{}; <-gate },
	})
	defer q.Close()

	errs := make(chan error, 2)
	go func() { _, err := q.Insert(hookvault.Message{ID: "taken"}); errs <- err }()
	<-entered // the writer holds a batch with "taken" in it
	go func() { _, err := q.Insert(hookvault.Message{ID: "queued"}); errs <- err }()
	for range 2 {
		if err := <-errs; hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
			t.Fatalf("Insert behind a held writer = %v, want EUNAVAILABLE", err)
		}
	}
	release()
	// One writer, first in first out: once "later" is committed, the two before it were
	// taken from the queue and dealt with.
	if r, err := q.Insert(hookvault.Message{ID: "later"}); err != nil || r.Outcome != hookvault.Created {
		t.Fatalf("Insert after the writer is free = %v, %v", r, err)
	}
	for id, want := range map[string]int{"taken": 0, "queued": 0, "later": 1} {
		if got := rec.count(id); got != want {
			t.Errorf("%s committed %d times, want %d", id, got, want)
		}
	}
}

// Once a writer has claimed an insert, its caller waits for the transaction however long it
// takes (the transaction's own context bounds it) and gets its real outcome: a commit that
// ends after the caller's Timeout has passed is answered created, not 503.
func TestClaimedInsertGetsTheOutcomeOfASlowCommit(t *testing.T) {
	const timeout = 30 * time.Millisecond
	entered := make(chan struct{}, 1)
	q := groupcommit.Start(func(ctx context.Context, batch []hookvault.Message, res []hookvault.Receipt) (bool, error) {
		entered <- struct{}{}
		// Slower than the caller's Timeout, measured from the claim, which comes after the
		// caller started waiting; nothing but time passing can show that, so this waits.
		<-ctx.Done()
		<-time.After(timeout)
		for i := range batch {
			res[i] = hookvault.Receipt{Outcome: hookvault.Created}
		}
		return true, nil
	}, groupcommit.Options{Timeout: timeout})
	defer q.Close()
	r, err := q.Insert(hookvault.Message{ID: "slow"})
	if err != nil || r.Outcome != hookvault.Created {
		t.Fatalf("Insert = %v, %v; want created, the commit's real outcome", r.Outcome, err)
	}
	<-entered
}

// Callers that give up and writers that claim race on every insert: under -race, with a
// Timeout short enough that both happen, an insert answered created was committed exactly
// once and one answered EUNAVAILABLE was never committed.
func TestClaimOrAbandonExactlyOnce(t *testing.T) {
	for attempt := 0; ; attempt++ {
		acked, dropped := claimOrAbandon(t)
		if t.Failed() || acked > 0 && dropped > 0 {
			t.Logf("attempt %d: %d committed, %d abandoned", attempt, acked, dropped)
			return
		}
		if attempt == 20 {
			t.Fatalf("after %d attempts, never saw both outcomes (last: %d committed, %d abandoned)", attempt+1, acked, dropped)
		}
	}
}

func claimOrAbandon(t *testing.T) (acked, dropped int) {
	rec := newRecorder()
	q := groupcommit.Start(func(ctx context.Context, batch []hookvault.Message, res []hookvault.Receipt) (bool, error) {
		<-time.After(time.Millisecond) // a commit slower than the Timeout, so that callers give up
		return rec.commit(ctx, batch, res)
	}, groupcommit.Options{Timeout: time.Millisecond, Writers: 2, MaxBatch: 4})
	const senders, each = 8, 40
	outcomes := make([]error, senders*each)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				_, outcomes[s*each+i] = q.Insert(hookvault.Message{ID: fmt.Sprint(s*each + i)})
			}
		})
	}
	wg.Wait()
	q.Close() // every insert the writers still held is dealt with
	wrong := 0
	for i, err := range outcomes {
		n := rec.count(fmt.Sprint(i))
		switch {
		case err == nil && n == 1:
			acked++
		case hookvault.ErrorCode(err) == hookvault.EUNAVAILABLE && n == 0:
			dropped++
		default:
			if wrong++; wrong <= 3 {
				t.Errorf("insert %d: answered %v, committed %d times", i, err, n)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d inserts answered against what was committed", wrong, len(outcomes))
	}
	return acked, dropped
}

// scripted is a committer whose next transactions end as the test says: "ok" writes,
// "dup" writes nothing (duplicates only), "fail" fails, "permanent" fails for good.
type scripted struct {
	mu    sync.Mutex
	next  []string
	calls int
}

func (s *scripted) commit(_ context.Context, batch []hookvault.Message, res []hookvault.Receipt) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	step := s.next[0]
	s.next = s.next[1:]
	for i := range batch {
		res[i] = hookvault.Receipt{Outcome: hookvault.Created}
	}
	switch step {
	case "dup":
		return false, nil
	case "fail":
		return false, errDisk
	case "permanent":
		return false, groupcommit.Permanent(errCorrupt)
	}
	return true, nil
}

var (
	errDisk    = errors.New("disk full")
	errCorrupt = errors.New("database disk image is malformed")
	errProbe   = errors.New("probe: disk full")
)

// The last commit's outcome decides readiness: a failure makes Check run the probe, whose
// success clears it; a commit that writes clears it too; one of duplicates only proves
// nothing and changes nothing; a permanent failure is never cleared.
func TestCheckAfterCommits(t *testing.T) {
	for _, tt := range []struct {
		name    string
		commits []string
		probe   error
		// Check's two answers in a row, and whether each ran the probe.
		want       [2]error
		wantProbed [2]bool
	}{
		{"fresh", nil, nil, [2]error{nil, nil}, [2]bool{false, false}},
		{"committed", []string{"ok"}, nil, [2]error{nil, nil}, [2]bool{false, false}},
		{"failed, probe succeeds", []string{"fail"}, nil, [2]error{nil, nil}, [2]bool{true, false}},
		{"failed, probe fails", []string{"fail"}, errProbe, [2]error{errProbe, errProbe}, [2]bool{true, true}},
		{"failed, then committed", []string{"fail", "ok"}, errProbe, [2]error{nil, nil}, [2]bool{false, false}},
		{"committed, then failed", []string{"ok", "fail"}, errProbe, [2]error{errProbe, errProbe}, [2]bool{true, true}},
		{"failed, then duplicates only", []string{"fail", "dup"}, errProbe, [2]error{errProbe, errProbe}, [2]bool{true, true}},
		{"permanent", []string{"permanent"}, nil, [2]error{errCorrupt, errCorrupt}, [2]bool{false, false}},
		{"permanent, then a write", []string{"permanent", "ok"}, nil, [2]error{errCorrupt, errCorrupt}, [2]bool{false, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &scripted{next: tt.commits}
			q := groupcommit.Start(c.commit, groupcommit.Options{})
			defer q.Close()
			for i := range tt.commits {
				_, _ = q.Insert(hookvault.Message{ID: fmt.Sprint(i)}) // the script decides
			}
			for i := range 2 {
				probed := false
				err := q.Check(context.Background(), func(context.Context) error { probed = true; return tt.probe })
				if !errors.Is(err, tt.want[i]) || (err == nil) != (tt.want[i] == nil) {
					t.Errorf("Check %d = %v, want %v", i+1, err, tt.want[i])
				}
				if probed != tt.wantProbed[i] {
					t.Errorf("Check %d ran the probe: %v, want %v", i+1, probed, tt.wantProbed[i])
				}
			}
		})
	}
}

// A probe that succeeds does not clear a failure that happened while it ran.
func TestProbeDoesNotClearALaterFailure(t *testing.T) {
	c := &scripted{next: []string{"fail", "fail"}}
	q := groupcommit.Start(c.commit, groupcommit.Options{})
	defer q.Close()
	_, _ = q.Insert(hookvault.Message{ID: "first"}) // fails by script
	err := q.Check(context.Background(), func(context.Context) error {
		// A commit fails after the probe started and before it ends.
		if _, err := q.Insert(hookvault.Message{ID: "during"}); !errors.Is(err, errDisk) {
			t.Errorf("Insert during the probe = %v, want it to fail", err)
		}
		return nil
	})
	if !errors.Is(err, errDisk) {
		t.Fatalf("Check = %v, want the failure that happened during the probe", err)
	}
	probed := false
	if err := q.Check(context.Background(), func(context.Context) error { probed = true; return nil }); err != nil || !probed {
		t.Fatalf("next Check = %v (probed %v), want the probe run again and succeed", err, probed)
	}
}

// After a permanent failure, inserts fail at once without reaching the database, those
// already queued are answered without being written, and no probe is tried.
func TestBrokenQueueWritesNothing(t *testing.T) {
	for _, how := range []string{"Break", "Permanent"} {
		t.Run(how, func(t *testing.T) {
			c := &scripted{next: []string{"permanent"}}
			entered, gate := make(chan struct{}, 10), make(chan struct{})
			q := groupcommit.Start(c.commit, groupcommit.Options{BeforeBatch: func() { entered <- struct{}{}; <-gate }})
			defer q.Close()
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range errs {
				wg.Go(func() { _, errs[i] = q.Insert(hookvault.Message{ID: fmt.Sprint(i)}) })
				if i == 0 {
					<-entered // the writer holds the first; the others queue behind it
				}
			}
			waitQueued(t, q, 2)
			if how == "Break" {
				q.Break(errCorrupt)
				c.next = nil // the committer must not be called at all
			}
			close(gate)
			wg.Wait()
			for i, err := range errs {
				if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !errors.Is(err, errCorrupt) {
					t.Errorf("queued insert %d = %v, want EUNAVAILABLE for the permanent failure", i, err)
				}
			}
			if _, err := q.Insert(hookvault.Message{ID: "after"}); !errors.Is(err, errCorrupt) {
				t.Errorf("Insert after = %v, want the permanent failure", err)
			}
			if want := map[string]int{"Break": 0, "Permanent": 1}[how]; c.calls != want {
				t.Errorf("%d transactions, want %d", c.calls, want)
			}
			if err := q.Check(context.Background(), func(context.Context) error {
				t.Error("probed a broken queue")
				return nil
			}); !errors.Is(err, errCorrupt) {
				t.Errorf("Check = %v, want the permanent failure", err)
			}
		})
	}
}

// waitQueued polls until n inserts wait in the queue.
func waitQueued(t *testing.T, q *groupcommit.Queue, n int) {
	t.Helper()
	for i := 0; q.Len() != n; i++ {
		if i > 20000 {
			t.Fatalf("%d inserts queued, want %d", q.Len(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// A batch is cut at MaxBatchBytes of payloads and headers: a delivery's headers may be as
// large as its body.
func TestBatchBytesCountHeaders(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	held := make(chan struct{})
	release := make(chan struct{})
	first := true
	q := groupcommit.Start(func(_ context.Context, batch []hookvault.Message, r []hookvault.Receipt) (bool, error) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		for i := range batch {
			r[i] = hookvault.Receipt{Outcome: hookvault.Created}
		}
		return true, nil
	}, groupcommit.Options{MaxBatchBytes: 1 << 20, BeforeBatch: func() {
		if first {
			first = false
			close(held)
			<-release
		}
	}})
	defer q.Close()
	var wg sync.WaitGroup
	insert := func(m hookvault.Message) {
		wg.Go(func() {
			if _, err := q.Insert(m); err != nil {
				t.Error(err)
			}
		})
	}
	insert(hookvault.Message{ID: "lone"})
	<-held
	for i := range 4 {
		insert(hookvault.Message{ID: fmt.Sprint(i), Headers: make([]byte, 600<<10)})
	}
	waitQueued(t, q, 4)
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 2 2]" {
		t.Fatalf("batch sizes %v, want [1 2 2]: two deliveries of 600 KiB of headers reach 1 MiB", sizes)
	}
}
