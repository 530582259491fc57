package storetest

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// BenchInsertBesideJournal measures concurrent message inserts (64 goroutines, ns/op per
// insert) alone and while one background writer appends journal batches of 256 entries
// with 4 KiB bodies (REJECTION_BODY_BYTES' default) back to back, as fast as the store takes
// them: a flood of forged deliveries at its worst. journal_entries/s says how much of the
// journal got through meanwhile. open returns a fresh store for each sub-benchmark.
func BenchInsertBesideJournal(b *testing.B, open func(b *testing.B) JournalStore) {
	for _, withJournal := range []bool{false, true} {
		name := "alone"
		if withJournal {
			name = "with-journal"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			stop := make(chan struct{})
			var appended atomic.Int64
			var wg sync.WaitGroup
			if withJournal {
				batch := make([]hookvault.Rejection, 256)
				body := bytes.Repeat([]byte("x"), 4096)
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						for i := range batch {
							batch[i] = rejection("github", hookvault.RejectInvalidSignature, time.Now(), i)
							batch[i].Body, batch[i].BodySize = body, int64(len(body))
						}
						if err := s.AppendRejections(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
						appended.Add(int64(len(batch)))
					}
				})
			}
			payload := []byte(`{"id":"x","sender":"bench","content":"hello"}`)
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "bench-" + strconv.FormatInt(n.Add(1), 10)
					if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id,
						Sender: "bench", Content: "hello", Payload: payload}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			if withJournal {
				b.ReportMetric(float64(appended.Load())/elapsed.Seconds(), "journal_entries/s")
			}
		})
	}
}

// BenchDeleteMessagesBefore measures one retention call that deletes batch messages (ns/op
// is the time the call holds the store's writer, its transaction and commit), from a store
// that open filled with at least b.N*batch old messages by fill.
func BenchDeleteMessagesBefore(b *testing.B, s JournalStore, batch int) {
	ctx := context.Background()
	for b.Loop() {
		n, err := s.DeleteMessagesBefore(ctx, time.Now().Add(time.Hour), batch)
		if err != nil {
			b.Fatal(err)
		}
		if n != batch {
			b.Fatalf("deleted %d, want %d: fill more", n, batch)
		}
	}
}
