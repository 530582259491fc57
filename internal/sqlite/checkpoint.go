package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Checkpoints, off the commit path.
//
// In WAL mode a commit appends the pages it changed to the WAL, and a checkpoint copies them
// back into the database file so that the WAL can start over. SQLite's automatic checkpoint
// runs inside the commit that takes the WAL past 1000 pages: that commit copies the pages and
// syncs the database file before it returns, and the inserts of its batch, and the batches
// queued behind it, wait for all of it. So the writer connection has no automatic checkpoint
// (wal_autocheckpoint=0), and a checkpointer of its own, on its own connection, does the work
// beside the writer:
//
//   - Every checkpointEvery it runs a PASSIVE checkpoint: it copies what the WAL holds into
//     the database file while the writer goes on committing, and waits for no one (when
//     nothing was committed since the last one it finds nothing to copy and costs a few
//     microseconds). A passive checkpoint cannot start the WAL over: the writer does that at
//     the start of a transaction only when every page was copied and no reader still reads
//     the WAL, which a writer that commits back to back never lets happen.
//   - So when the WAL holds walRestartPages or more, it runs a RESTART checkpoint in the
//     writer's turn (see gate; polling for a gap between back-to-back batches would mostly
//     miss it): the passive one just before copied nearly everything, so the batches wait for
//     the rest and one sync of the database file, and the next commit starts the WAL over.
//     A reader that still reads the WAL makes it wait, at most restartWait, and fail: then the
//     next restart is tried restartBackoff later, and the WAL grows until the readers let go.
//
// The writer's journal_size_limit (walLimit) truncates the WAL back when it starts over
// after growing far past its bound (a reader held it); otherwise the file keeps its size, and
// the writer overwrites pages of a file that is already there, which syncs faster than a file
// that grows.

const (
	// checkpointEvery is how often the checkpointer looks. Past walRestartPages the WAL grows
	// by what is committed in this long before the restart: at the highest rate measured here
	// (about 16,000 messages a second, a WAL page or so each, see BenchmarkWALPages) some
	// 1,600 pages. More often would copy the pages that every batch changes (the right end
	// of the table, the counters) more often, each time with two syncs.
	checkpointEvery = 100 * time.Millisecond
	// walRestartPages bounds the WAL (16 MiB of 4 KiB pages, plus what one checkpointEvery
	// adds): four times SQLite's automatic checkpoint, so that at the highest rates batches
	// wait for a restart about three times a second, where SQLite's own, every 1000 pages,
	// stalled a commit some sixteen times; and the next start recovers from at most about
	// this much WAL.
	walRestartPages = 4000
	// restartWait bounds how long a restart waits for readers that still read the WAL, the
	// batches waiting with it; restartBackoff is how long after a restart that could not
	// finish the next one is tried.
	restartWait    = 20 * time.Millisecond
	restartBackoff = time.Second
)

// pageSize is SQLite's default page size, which this store keeps.
const pageSize = 4096

// walBytes is the size of a WAL of pages frames: its header, then each page with its
// 24-byte frame header.
func walBytes(pages int) int64 { return 32 + int64(pages)*(pageSize+24) }

// walLimit is the writer's journal_size_limit for a WAL restarted at restartPages: twice
// that, so that a WAL that passes its bound by what one checkpointEvery adds keeps its file
// (truncating it at every restart would make the writer grow it again each time).
func walLimit(restartPages int) int64 { return walBytes(2 * restartPages) }

// checkpointer keeps the WAL bounded; see above.
type checkpointer struct {
	db           *sql.DB
	gate         *gate
	log          *slog.Logger
	every        time.Duration
	restartPages int

	stop, done  chan struct{}
	closeOnce   sync.Once
	closeErr    error
	nextRestart time.Time // no restart before this after one that could not finish
	failing     bool      // the last checkpoint failed, which was logged
	overgrown   bool      // the WAL passed twice its bound, which was logged
}

// startCheckpointer opens the checkpointer's connection to path and starts it. The
// connection opens the database and its WAL at once, by a read, so that it holds the files
// the store opened: one opened later could open whatever files the path names by then.
func startCheckpointer(ctx context.Context, path string, opts Options, g *gate) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, fmt.Sprintf("mode=rw&_busy_timeout=%d&_synchronous=%s",
		restartWait.Milliseconds(), opts.Synchronous)))
	if err != nil {
		return nil, fmt.Errorf("open %s for checkpoints: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, gate: g, log: opts.Logger, every: opts.checkpointEvery, restartPages: opts.walRestartPages,
		stop: make(chan struct{}), done: make(chan struct{})}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s for checkpoints: %w", path, err)
	}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.checkpoint()
		}
	}
}

// checkpoint runs a passive checkpoint, and a restart when the WAL has reached its bound.
func (c *checkpointer) checkpoint() {
	ctx := context.Background()
	busy, frames, _, err := c.walCheckpoint(ctx, "PASSIVE")
	switch {
	case err != nil:
	case frames >= 2*c.restartPages && !c.overgrown:
		// Past the file's limit (walLimit): readers (listings streamed to slow clients) have
		// held the WAL for seconds.
		c.overgrown = true
		c.log.Warn("the WAL has grown past twice its bound: readers still read it, so it cannot start over",
			slog.Int("pages", frames), slog.Int("bound", c.restartPages))
	case frames < c.restartPages && c.overgrown:
		c.overgrown = false
		c.log.Info("the WAL is within its bound again", slog.Int("pages", frames))
	}
	if err == nil && frames >= c.restartPages && !time.Now().Before(c.nextRestart) {
		c.gate.lockHigh()
		busy, _, _, err = c.walCheckpoint(ctx, "RESTART")
		c.gate.unlock()
		if err == nil && busy != 0 {
			c.nextRestart = time.Now().Add(restartBackoff) // readers still read the WAL
		}
	}
	switch {
	case err != nil && !c.failing:
		c.failing = true
		c.log.Warn("checkpoint failed; the WAL grows until one succeeds", slog.String("error", err.Error()))
	case err == nil && c.failing:
		c.failing = false
		c.log.Info("checkpoints succeed again")
	}
}

// walCheckpoint runs one checkpoint of mode: busy is 1 when it could not finish, frames the
// WAL's size in pages, done how many of them are now in the database file.
func (c *checkpointer) walCheckpoint(ctx context.Context, mode string) (busy, frames, done int, err error) {
	err = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &frames, &done)
	if err != nil {
		err = fmt.Errorf("checkpoint (%s): %w", mode, err)
	}
	return busy, frames, done, err
}

// close stops the checkpointer, waiting for a checkpoint in progress, and closes its
// connection. Closing twice is a no-op.
func (c *checkpointer) close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
