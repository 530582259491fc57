package sqlite

import (
	"context"
	"sync"

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
type gate struct {
	mu          sync.Mutex
	busy        bool          // a gated transaction holds the writer
	highWaiting int           // batches waiting for it
	free        chan struct{} // closed and replaced whenever busy turns false
	closed      bool          // the store is closing: no more low transactions
}

func newGate() *gate { return &gate{free: make(chan struct{})} }

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
	for g.busy || g.highWaiting > 0 || g.closed {
		if g.closed {
			g.mu.Unlock()
			return groupcommit.ErrClosed
		}
		free := g.free
		g.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
	g.busy = true
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

func (g *gate) unlock() {
	g.mu.Lock()
	g.busy = false
	close(g.free)
	g.free = make(chan struct{})
	g.mu.Unlock()
}
