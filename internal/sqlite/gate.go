package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/hookvault/hookvault/internal/groupcommit"
)

// gate orders the transactions on the one writer connection by priority. Message batches
// (high) are what senders wait for; the journal's appends, its pruning and retention's
// deletes (low) are background work that may wait. A low transaction starts only while no
// batch waits for the writer, so a batch that arrives waits for at most the one low
// transaction already running, never for a queue of them: under a flood of forged deliveries
// the journal gets the gaps between message batches (at most one low transaction between two
// batches) and the batches keep their pace. The low side is the one that yields: its own
// bounded queue drops what it cannot keep.
//
// database/sql would serialise the transactions anyway (s.w holds one connection), but it
// hands the connection to a random waiter, which lets several low transactions in a row
// delay a batch.
//
// Nor does a low transaction start in the moment between two batches while batches keep
// coming, unless lowEvery has passed since the last one began: a journal batch of 256
// entries with 4 KiB bodies holds the writer for several milliseconds, and taking every gap
// between batches made concurrent inserts eight times slower in BenchmarkInsertBesideJournal
// (the queue is empty in those gaps: its inserts are all in the batch just committed). So
// under a steady flow of messages the journal gets the writer at most once per lowEvery, and
// freely once no batch has ended for lowIdle.
type gate struct {
	lowEvery, lowIdle time.Duration
	lastLow, lastHigh time.Time

	mu          sync.Mutex
	busy        bool          // a gated transaction holds the writer
	highWaiting int           // batches waiting for it
	free        chan struct{} // closed and replaced whenever busy turns false
	closed      bool          // the store is closing: no more low transactions
}

func newGate(lowEvery, lowIdle time.Duration) *gate {
	return &gate{lowEvery: lowEvery, lowIdle: lowIdle, free: make(chan struct{})}
}

// lockHigh waits for the writer ahead of every low transaction that is not yet running.
func (g *gate) lockHigh() {
	g.mu.Lock()
	g.highWaiting++
	for g.busy {
		free := g.free
		g.mu.Unlock()
		<-free
		g.mu.Lock()
	}
	g.highWaiting--
	g.busy = true
	g.mu.Unlock()
}

// lockLow waits until the writer is free and no batch waits for it, or until ctx ends.
func (g *gate) lockLow(ctx context.Context) error {
	g.mu.Lock()
	for {
		if g.closed {
			g.mu.Unlock()
			return groupcommit.ErrClosed
		}
		wait := time.Duration(0)
		if !g.busy && g.highWaiting == 0 {
			wait = min(g.lowEvery-time.Since(g.lastLow), g.lowIdle-time.Since(g.lastHigh))
			if wait <= 0 {
				break
			}
		}
		free := g.free
		g.mu.Unlock()
		var timer *time.Timer
		var timeout <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-free:
		case <-timeout:
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		g.mu.Lock()
	}
	g.busy = true
	g.lastLow = time.Now()
	g.mu.Unlock()
	return nil
}

// close waits for the low transaction in progress and refuses every later one, so that the
// store can close the writer's statements under none.
func (g *gate) close() {
	g.lockHigh()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.unlock()
}

// unlockHigh ends a batch's turn.
func (g *gate) unlockHigh() {
	g.mu.Lock()
	g.lastHigh = time.Now()
	g.mu.Unlock()
	g.unlock()
}

func (g *gate) unlock() {
	g.mu.Lock()
	g.busy = false
	close(g.free)
	g.free = make(chan struct{})
	g.mu.Unlock()
}
