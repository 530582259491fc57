package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// commits counts the commits of the write path and the messages in them.
type commits struct{ batches, messages atomic.Int64 }

func (c *commits) ObserveCommit(messages int, _ time.Duration) {
	c.batches.Add(1)
	c.messages.Add(int64(messages))
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
// index entries and the /stats counters of a batch, as the disk sees them.
func BenchmarkWALPages(b *testing.B) {
	var seen commits
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "hv.db"), Options{Observer: &seen})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	before := writerPagesWritten(b, s)
	var n atomic.Int64
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := "bench-" + strconv.FormatInt(i, 10)
			if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id,
				Sender: "sender-" + strconv.FormatInt(i%100, 10), Content: "hello", Payload: []byte(`{"id":"` + id + `"}`)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	pages := float64(writerPagesWritten(b, s) - before)
	b.ReportMetric(pages/float64(seen.batches.Load()), "pages/batch")
	b.ReportMetric(pages/float64(seen.messages.Load()), "pages/msg")
	b.ReportMetric(float64(seen.messages.Load())/float64(seen.batches.Load()), "msgs/batch")
}
