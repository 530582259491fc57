package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// commits counts the commits of the write path and the messages in them, and keeps how
// long each took.
type commits struct {
	batches, messages atomic.Int64
	mu                sync.Mutex
	took              []time.Duration
}

func (c *commits) ObserveCommit(messages int, took time.Duration) {
	c.batches.Add(1)
	c.messages.Add(int64(messages))
	c.mu.Lock()
	c.took = append(c.took, took)
	c.mu.Unlock()
}

// quantile is the q quantile of the commit durations, in milliseconds.
func (c *commits) quantile(q float64) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.took) == 0 {
		return 0
	}
	slices.Sort(c.took)
	return float64(c.took[min(int(q*float64(len(c.took))), len(c.took)-1)]) / float64(time.Millisecond)
}

// writerPagesWritten is how many pages the writer connection has written to the WAL.
func writerPagesWritten(b *testing.B, s *Store) int64 {
	b.Helper()
	c, err := s.w.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var n int
	err = c.Raw(func(dc any) error {
		var err error
		n, _, err = dc.(sqlitedriver.DBStatus).Status(sqlitedriver.DBStatusCacheWrite, false)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return int64(n)
}

// BenchmarkWALPages is BenchmarkInsertConcurrent's POST /webhook messages (100 senders), and
// reports the WAL pages (frames) each committed batch and each message wrote: the rows, the
// index entries and the /stats counters of a batch, as the disk sees them. It also reports
// the commits' p50, p99 and longest duration: a checkpoint inside a commit shows there.
// "lone" sends one message at a time (parallelism 0), each its own commit, as at a low steady rate, where
// what a commit writes, and syncs, is what the sender waits for.
func BenchmarkWALPages(b *testing.B) {
	b.Run("concurrent", func(b *testing.B) { benchWALPages(b, 32) })
	b.Run("lone", func(b *testing.B) { benchWALPages(b, 0) })
}

func benchWALPages(b *testing.B, parallelism int) {
	var seen commits
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "hv.db"), Options{Observer: &seen})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	before := writerPagesWritten(b, s)
	insert := func(i int64) error {
		id := "bench-" + strconv.FormatInt(i, 10)
		_, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id,
			Sender: "sender-" + strconv.FormatInt(i%100, 10), Content: "hello", Payload: []byte(`{"id":"` + id + `"}`)})
		return err
	}
	if parallelism == 0 {
		for i := range b.N {
			if err := insert(int64(i)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var n atomic.Int64
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := insert(n.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	pages := float64(writerPagesWritten(b, s) - before)
	b.ReportMetric(pages/float64(seen.batches.Load()), "pages/batch")
	b.ReportMetric(pages/float64(seen.messages.Load()), "pages/msg")
	b.ReportMetric(float64(seen.messages.Load())/float64(seen.batches.Load()), "msgs/batch")
	b.ReportMetric(seen.quantile(0.5), "commit-p50-ms")
	b.ReportMetric(seen.quantile(0.99), "commit-p99-ms")
	b.ReportMetric(seen.quantile(1), "commit-max-ms")
}
