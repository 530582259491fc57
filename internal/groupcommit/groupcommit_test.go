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

// A commit that never ends answers its callers EUNAVAILABLE after Timeout, not never.
func TestStuckCommitTimesOut(t *testing.T) {
	release := make(chan struct{})
	q := groupcommit.Start(func(context.Context, []hookvault.Message, []hookvault.Receipt) (bool, error) {
		<-release
		return false, errors.New("late")
	}, groupcommit.Options{Timeout: 50 * time.Millisecond})
	_, err := q.Insert(hookvault.Message{ID: "a"})
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Fatalf("Insert = %v, want EUNAVAILABLE", err)
	}
	close(release)
	q.Close()
	if _, err := q.Insert(hookvault.Message{ID: "b"}); !errors.Is(err, groupcommit.ErrClosed) {
		t.Fatalf("Insert after Close = %v, want ErrClosed", err)
	}
}
