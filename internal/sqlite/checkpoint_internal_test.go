package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// walPages is the WAL file's size in pages: its high-water mark, since a restarted WAL is
// overwritten from its start, not shrunk (up to journal_size_limit).
func walPages(t testing.TB, path string) int {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return int(max(fi.Size()-32, 0) / (pageSize + 24))
}

// insertConcurrently inserts n messages from 16 goroutines, as senders do, while it samples
// the WAL's size; it returns the largest size seen.
func insertConcurrently(t *testing.T, s *Store, n int) (most int) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				id := fmt.Sprintf("m-%d", i)
				if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id,
					Sender: fmt.Sprintf("sender-%d", i%100), Content: "hello", Payload: []byte(`{"id":"` + id + `"}`)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		most = max(most, walPages(t, s.path))
		select {
		case <-done:
			return max(most, walPages(t, s.path))
		case <-tick.C:
		}
	}
}

// The WAL stays bounded while inserts keep the writer busy: the checkpointer restarts it
// whenever it reaches its bound, a busy writer notwithstanding. The bound here is 400 pages,
// and the inserts write some twenty times that; the check runs every 2 ms, and the WAL may
// pass the bound by what is committed until the next check and the restart that follows: on
// a quiet machine the writer commits some 20,000 pages a second (40 a check) in batches of a
// few dozen, so the slack allowed, the bound again, leaves the checkpointer a check ten
// times late. Without the checkpointer (SQLite's own automatic checkpoint being off) the
// same inserts take the WAL far past it: the test sees the difference.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	const bound, slack, messages = 400, 400, 8000
	for _, tt := range []struct {
		name string
		off  bool
	}{{"checkpointer", false}, {"without", true}} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hv.db")
			s, err := Open(context.Background(), path, Options{checkpointEvery: 2 * time.Millisecond,
				walRestartPages: bound, noCheckpointer: tt.off})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			most := insertConcurrently(t, s, messages)
			var frames int64
			c, err := s.w.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			err = c.Raw(func(dc any) error {
				n, _, err := dc.(sqlitedriver.DBStatus).Status(sqlitedriver.DBStatusCacheWrite, false)
				frames = int64(n)
				return err
			})
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d messages wrote %d pages to the WAL; its largest size was %d pages", messages, frames, most)
			if frames < 5*(bound+slack) {
				t.Fatalf("the inserts wrote %d pages, too few to pass the bound several times", frames)
			}
			switch {
			case !tt.off && most > bound+slack:
				t.Errorf("WAL reached %d pages, want at most %d (+%d)", most, bound, slack)
			case tt.off && most <= bound+slack:
				t.Errorf("without the checkpointer the WAL reached %d pages only: the test cannot tell", most)
			}
		})
	}
}

// The checkpointer's goroutine ends at Close, before the connections close, and so does its
// connection; the last close still folds the WAL into the database and removes it.
func TestCheckpointerStopsAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	s, err := Open(context.Background(), path, Options{checkpointEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, s, "m", 20)
	c := s.ckpt
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("the checkpointer still runs after Close")
	}
	if err := c.db.Ping(); err == nil {
		t.Error("the checkpointer's connection is open after Close")
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("the WAL is still there after Close: %v", err)
	}
	mustBeStored(t, path, []string{"m-0", "m-19"})
}

// A reader that still reads the WAL holds its restart up: the WAL grows past its bound while
// the reader lasts, with a warning once it passes the file's limit, inserts go on (each
// restart waits at most restartWait for it), and once the reader is done the next restart
// brings the WAL back within its bound.
func TestCheckpointerWaitsForReaders(t *testing.T) {
	const bound = 100
	path := filepath.Join(t.TempDir(), "hv.db")
	var log logBuffer
	s, err := Open(context.Background(), path, Options{checkpointEvery: 2 * time.Millisecond, walRestartPages: bound,
		Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insertN(t, s, "before", 10)
	// A read transaction that has read: its snapshot includes frames of the WAL.
	tx, err := s.r.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	held := insertConcurrently(t, s, 1500)
	if held <= 2*bound {
		t.Errorf("WAL reached %d pages with a reader holding it, want past %d", held, 2*bound)
	}
	if len(log.lines("grown past twice its bound")) == 0 {
		t.Errorf("no warning that readers hold the WAL; log:\n%s", log.String())
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(restartBackoff + 50*time.Millisecond) // the restart's back-off after the failed ones
	insertN(t, s, "after", 5)
	// The file keeps its size (up to its limit); the frame count tells that the WAL started
	// over and holds at most its bound again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var busy, frames, done int
		if err := s.ckpt.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
			t.Fatal(err)
		}
		if frames <= bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL holds %d pages 5 s after the reader ended, want at most %d", frames, bound)
		}
		insertN(t, s, fmt.Sprintf("poke-%d", time.Now().UnixNano()), 1)
		time.Sleep(10 * time.Millisecond)
	}
}
