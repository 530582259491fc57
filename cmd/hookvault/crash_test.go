package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const crashSecret = "crash-secret"

// TestCrashLosesNothingAcknowledged kills the real server with SIGKILL while several senders
// load it, restarts it on the same file, and checks that every delivery that got a 200 is
// stored, byte for byte, exactly once. Several rounds, each killed at a different point.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hv.db")
	acked := map[string][]byte{} // id → body, over all rounds
	const rounds, senders = 5, 8

	for round := range rounds {
		addr, cmd, _ := start(t, "WEBHOOK_SECRET="+crashSecret, "DATABASE_URL=sqlite:"+db)

		// Deliveries acknowledged before a restart must still be duplicates after it.
		for id, body := range acked {
			if a := postWebhook(http.DefaultClient, addr, crashSecret, body); !a.acked() || !a.dup {
				t.Fatalf("round %d: %s was acknowledged before and is not a duplicate now (ok %v)", round, id, a.acked())
			}
			break
		}

		var mu sync.Mutex
		var count atomic.Int64
		killAt := int64(150 + 100*round) // a different point in each round
		killed := make(chan struct{})
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				client := &http.Client{Timeout: 5 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-killed:
						return
					default:
					}
					body := fmt.Appendf(nil, `{"id":"r%d-s%d-%d","sender":"s%d","content":"round %d"}`, round, s, i, s, round)
					if !postWebhook(client, addr, crashSecret, body).acked() {
						continue // refused or cut off by the kill: not acknowledged
					}
					mu.Lock()
					acked[fmt.Sprintf("r%d-s%d-%d", round, s, i)] = body
					mu.Unlock()
					count.Add(1)
				}
			})
		}
		for count.Load() < killAt {
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no clean close
			t.Fatal(err)
		}
		_ = cmd.Wait()
		close(killed)
		wg.Wait()
		t.Logf("round %d: killed after %d acknowledged deliveries (%d in all)", round, count.Load(), len(acked))
	}

	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost, changed := 0, 0
	for id, body := range acked {
		m, err := st.Get(context.Background(), hookvault.DefaultSource, id)
		switch {
		case hookvault.ErrorCode(err) == hookvault.ENOTFOUND:
			lost++
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(m.Payload, body):
			changed++
		}
	}
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Rows are unique by id; the counters, kept by the same transactions, must agree with them.
	var rows int64
	count := func(hookvault.Message) error { rows++; return nil }
	for f := (hookvault.ListFilter{Limit: 1000}); ; {
		if f.After, err = st.List(context.Background(), f, count); err != nil {
			t.Fatal(err)
		}
		if f.After == nil {
			break
		}
	}
	t.Logf("%d rounds: %d acknowledged, %d lost, %d changed, %d rows stored (the rest were in flight at a kill)",
		rounds, len(acked), lost, changed, rows)
	if lost != 0 || changed != 0 {
		t.Fatalf("%d acknowledged messages lost and %d changed by a crash", lost, changed)
	}
	if rows != stats.TotalMessages || rows < int64(len(acked)) {
		t.Fatalf("%d rows, stats say %d, %d acknowledged", rows, stats.TotalMessages, len(acked))
	}
}
