// Package retention deletes messages older than RETENTION in the background, a small batch
// at a time with a pause between batches, so that a pass over a large backlog never holds
// the store's writer for more than a few milliseconds at once; and it keeps the gauges of
// stored messages and the database's size.
package retention

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Options configure a Runner. Zero values take the defaults in parentheses.
type Options struct {
	Store hookvault.Retention
	// Retention is RETENTION: messages received longer ago are deleted; 0 keeps them.
	Retention time.Duration
	// Every is how often a pass runs and the gauges are read (1 min).
	Every time.Duration
	// Batch is the most messages one transaction deletes (100: on SQLite a batch of 500 with
	// many senders held the writer for up to 36 ms here); Pause is the wait between
	// two batches of a pass (10 ms), in which receiving has the writer to itself.
	Batch int
	Pause time.Duration
	// Sizes is told the number of stored messages and the database's size after each pass.
	Sizes  func(messages, bytes int64)
	Logger *slog.Logger
	Now    func() time.Time
}

// Runner runs the passes until Close.
type Runner struct {
	opts Options
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start runs a first pass at once, then one every opts.Every.
func Start(opts Options) *Runner {
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Pause <= 0 {
		opts.Pause = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// Close stops the runner after the batch in progress.
func (r *Runner) Close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

func (r *Runner) run() {
	defer close(r.done)
	t := time.NewTicker(r.opts.Every)
	defer t.Stop()
	for {
		r.Pass()
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// Pass deletes what is older than the retention, then reads the sizes. It returns how many
// messages it deleted.
func (r *Runner) Pass() int {
	deleted := 0
	if r.opts.Retention > 0 {
		before := r.opts.Now().Add(-r.opts.Retention)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			n, err := r.opts.Store.DeleteMessagesBefore(ctx, before, r.opts.Batch)
			cancel()
			deleted += n
			if err != nil {
				r.opts.Logger.Warn("retention: deleting old messages failed; the next pass tries again", slog.Any("error", err))
				break
			}
			if n < r.opts.Batch {
				break
			}
			select {
			case <-r.stop:
				return deleted
			case <-time.After(r.opts.Pause):
			}
		}
		if deleted > 0 {
			r.opts.Logger.Info("retention: deleted old messages", slog.Int("deleted", deleted), slog.Time("before", before))
		}
	}
	if r.opts.Sizes != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if msgs, bytes, err := r.opts.Store.Sizes(ctx); err == nil {
			r.opts.Sizes(msgs, bytes)
		}
	}
	return deleted
}
