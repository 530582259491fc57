package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/signature"
)

// The forged-delivery flood: its size, its connections, how many requests each keeps in
// flight (pipelined, so that the race-instrumented client is not what limits it), and the
// journal bound it overruns.
const (
	floodForged   = 100_000
	floodConns    = 64
	floodPipeline = 8
	floodMaxRows  = 1000
	// floodPeakMiB bounds the server's peak RSS: about 40 MiB of its own under load, the
	// recorder's queue of at most 16 MiB, and as much again for garbage the collector has
	// not taken back yet (GOGC 100).
	floodPeakMiB = 128
)

// 100,000 forged deliveries from one client address (bad signatures, as fast as 64
// pipelined connections send them) beside real ones from another: every real delivery is
// acknowledged and stored; every forged one is answered 401 and is either in the rejection
// journal or counted in webhook_rejections_dropped_total, none lost between the two; the
// server's memory stays bounded; and the journal, which the flood takes far past
// REJECTION_MAX_ROWS, is back at the bound after the recorder's next prune. The recorder
// prunes at start, every minute and after every tenth of the bound appended; the test also
// restarts the server to see the prune at start.
func TestForgedFloodIsJournaledWithinBounds(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hv.db")
	env := []string{"WEBHOOK_SECRET=" + attackSecret, "API_TOKEN=" + attackToken, "DATABASE_URL=sqlite:" + db,
		"REJECTION_MAX_ROWS=" + strconv.Itoa(floodMaxRows), "SHUTDOWN_DELAY=0s",
		// Every forged delivery is verified and journaled here: the shedding of a client
		// that keeps failing signatures is TestForgedFloodIsShed's.
		"MAX_CLIENT_SIGNATURE_FAILURES=0"}
	addr, cmd, rest := start(t, env...)
	_, before := memory(t, cmd.Process.Pid)

	var (
		started   = make(chan struct{})
		floodDone = make(chan struct{})
		statuses  map[string]int
		took      time.Duration
	)
	go func() {
		defer close(floodDone)
		begin := time.Now()
		statuses = forgedFlood(addr, "127.0.0.3", started)
		took = time.Since(begin)
	}()
	<-started

	// Real deliveries from 127.0.0.1 for as long as the flood lasts.
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed = map[string]int{}
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	client := clientFrom("127.0.0.1")
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-floodDone:
					return
				default:
				}
				id := fmt.Sprintf("real-%d", next.Add(1))
				a := postWebhook(client, addr, attackSecret, fmt.Appendf(nil, `{"id":%q,"sender":"real","content":"beside the flood"}`, id))
				mu.Lock()
				switch {
				case a.acked() && !a.dup:
					acked[id] = true
				case a.err != nil:
					failed[a.err.Error()]++
				default:
					failed[strconv.Itoa(a.status)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_, peak := memory(t, cmd.Process.Pid)
	t.Logf("%d forged deliveries from one client in %v (%.0f/s): answers %v; %d real deliveries acknowledged beside them (failed %v); peak RSS %.0f MiB (%.0f MiB before)",
		floodForged, took.Round(time.Millisecond), floodForged/took.Seconds(), statuses, len(acked), failed, peak, before)
	if statuses["401"] != floodForged {
		t.Errorf("forged deliveries: answers %v, want all %d answered 401", statuses, floodForged)
	}
	if len(failed) > 0 || len(acked) == 0 {
		t.Errorf("real deliveries: %d acknowledged, failed %v; want every one acknowledged", len(acked), failed)
	}
	if peak > floodPeakMiB {
		t.Errorf("peak RSS %.0f MiB, want under %d", peak, floodPeakMiB)
	}

	// The recorder stores after the answers: wait until it accounts for every forged one.
	var forged, dropped, recorded, rows int
	waitFor(t, 30*time.Second, "the journal to account for every forged delivery", func() bool {
		m := scrapeMetrics(t, addr)
		forged = int(metricValue(m, `webhook_requests_total{result="invalid_signature",source="default"}`))
		dropped = int(metricValue(m, "webhook_rejections_dropped_total"))
		rows, recorded = journalCounts(t, db)
		return forged == floodForged && recorded+dropped == floodForged
	}, func() string {
		return fmt.Sprintf("401s counted %d, recorded %d + dropped %d, want %d", forged, recorded, dropped, floodForged)
	})
	t.Logf("journal: %d recorded + %d dropped = %d forged; %d rows before the next prune (REJECTION_MAX_ROWS %d)",
		recorded, dropped, recorded+dropped, rows, floodMaxRows)
	if recorded <= floodMaxRows {
		t.Errorf("%d recorded: the flood should take the journal past its bound of %d", recorded, floodMaxRows)
	}
	// The recorder prunes to nine tenths of the bound before an append would pass it, so the
	// journal never holds more than the bound, even during the flood.
	if rows > floodMaxRows {
		t.Errorf("%d rows in the journal after the flood, want at most REJECTION_MAX_ROWS %d", rows, floodMaxRows)
	}
	if others := journalOthers(t, db, hookvault.RejectInvalidSignature, "127.0.0.3"); others != 0 {
		t.Errorf("%d journal entries are not the flood's (invalid_signature from 127.0.0.3)", others)
	}
	sigterm(t, cmd.Process)

	var missing []string
	stored := storedIDs(t, db, "real")
	for id := range acked {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged real deliveries not stored, e.g. %q", len(missing), len(acked), missing[:min(5, len(missing))])
	}

	_, _, rest2 := start(t, env...)
	keep := floodMaxRows - floodMaxRows/10 // the room for the next tenth of the bound
	waitFor(t, 30*time.Second, "the prune at start to leave a tenth of REJECTION_MAX_ROWS free", func() bool {
		rows, _ = journalCounts(t, db)
		return rows <= keep
	}, func() string { return fmt.Sprintf("%d rows", rows) })
	if rows != keep {
		t.Errorf("%d journal rows after the prune, want %d (REJECTION_MAX_ROWS %d less a tenth)", rows, keep, floodMaxRows)
	}
	if t.Failed() {
		t.Logf("server log:\n%.3000s\nafter the restart:\n%.3000s", rest(), rest2())
	}
}

// forgedFlood sends floodForged deliveries signed with a key the server does not have, from
// the loopback address from over floodConns connections, each with floodPipeline requests in
// flight; it closes started once the first answer is in, and returns how many requests got
// each status ("no answer" for those a connection lost).
func forgedFlood(addr, from string, started chan<- struct{}) map[string]int {
	sig := signature.Sign([]byte("not-the-secret"), []byte("forged"))
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		next     atomic.Int64
		once     sync.Once
		wg       sync.WaitGroup
	)
	defer once.Do(func() { close(started) })
	for range floodConns {
		wg.Go(func() {
			got := map[string]int{}
			defer func() {
				mu.Lock()
				for k, v := range got {
					statuses[k] += v
				}
				mu.Unlock()
			}()
			c, err := dialFrom(from, addr)
			if err != nil {
				for next.Add(1) <= floodForged {
					got["no answer"]++
				}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			w, r := bufio.NewWriter(c), bufio.NewReader(c)
			for {
				n := 0
				for ; n < floodPipeline; n++ {
					i := next.Add(1)
					if i > floodForged {
						break
					}
					body := fmt.Sprintf(`{"id":"forged-%d","sender":"attacker","content":"x"}`, i)
					fmt.Fprintf(w, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Signature: %s\r\nContent-Length: %d\r\n\r\n%s",
						addr, sig, len(body), body)
				}
				if n == 0 {
					return
				}
				if err := w.Flush(); err != nil {
					got["no answer"] += n
					return
				}
				for k := 0; k < n; k++ {
					status, err := readAnswer(r)
					if err != nil {
						got["no answer"] += n - k
						return
					}
					got[strconv.Itoa(status)]++
					once.Do(func() { close(started) })
				}
			}
		})
	}
	wg.Wait()
	return statuses
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length and returns its status.
func readAnswer(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("not an HTTP/1.1 answer: %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("status line %q", line)
	}
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		if name, value, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(name), "Content-Length") {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, fmt.Errorf("Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("answer %d without a Content-Length", status)
	}
	_, err = r.Discard(length)
	return status, err
}

// metricValue returns the value of the series named exactly so in a /metrics text (labels
// in the order the exposition sorts them), or -1.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// openReadOnly opens the server's SQLite file beside it, read-only; the caller closes it.
func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// journalCounts returns the journal's rows and how many entries were ever appended: on a
// fresh file, the newest rid, which AUTOINCREMENT never reuses nor skips (a refused batch
// rolls its rids back, and counts as dropped).
func journalCounts(t *testing.T, path string) (rows, appended int) {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	var seq sql.NullInt64
	err := db.QueryRowContext(context.Background(), `SELECT (SELECT count(*) FROM rejections),
		(SELECT seq FROM sqlite_sequence WHERE name = 'rejections')`).Scan(&rows, &seq)
	if err != nil {
		t.Fatal(err)
	}
	return rows, int(seq.Int64)
}

// journalOthers counts the journal's entries that are not of result from the address from.
func journalOthers(t *testing.T, path, result, from string) int {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	var n int
	err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM rejections
		WHERE result <> ? OR (remote_addr <> ? AND remote_addr NOT LIKE ? || ':%')`, result, from, from).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// storedIDs returns the ids of the stored messages of sender.
func storedIDs(t *testing.T, path, sender string) map[string]bool {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT id FROM messages WHERE sender = ?`, sender)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A flood from one address with the default MAX_CLIENT_SIGNATURE_FAILURES: past its first
// refusals the forging address is answered 503 after a short delay, before its bodies are
// read, so its 64 connections get little through; the journal holds only the refusals that
// were verified; every real delivery beside the flood is acknowledged, and more of them than
// beside the same flood without the bound (TestForgedFloodIsJournaledWithinBounds' setting).
func TestForgedFloodIsShed(t *testing.T) {
	run := func(bound string) (forged map[int]int, real int64, rows int) {
		db := filepath.Join(t.TempDir(), "hv.db")
		addr, cmd, rest := start(t, "WEBHOOK_SECRET="+attackSecret, "API_TOKEN="+attackToken, "DATABASE_URL=sqlite:"+db,
			"SHUTDOWN_DELAY=0s", "MAX_CLIENT_SIGNATURE_FAILURES="+bound)
		deadline := time.Now().Add(4 * time.Second)
		var mu sync.Mutex
		forged = map[int]int{}
		var wg sync.WaitGroup
		flood := clientFrom("127.0.0.3")
		for i := range 64 {
			wg.Go(func() {
				for n := 0; time.Now().Before(deadline); n++ {
					body := fmt.Appendf(nil, `{"id":"forged-%d-%d","sender":"x","content":"x"}`, i, n)
					a := postWebhook(flood, addr, "not-the-secret", body)
					mu.Lock()
					forged[a.status]++
					mu.Unlock()
				}
			})
		}
		var acked, failed atomic.Int64
		client := clientFrom("127.0.0.1")
		for i := range 8 {
			wg.Go(func() {
				for n := 0; time.Now().Before(deadline); n++ {
					body := fmt.Appendf(nil, `{"id":"real-%d-%d","sender":"real","content":"x"}`, i, n)
					if postWebhook(client, addr, attackSecret, body).acked() {
						acked.Add(1)
					} else {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		sigterm(t, cmd.Process)
		_ = rest()
		if failed.Load() > 0 {
			t.Errorf("MAX_CLIENT_SIGNATURE_FAILURES=%s: %d real deliveries not acknowledged", bound, failed.Load())
		}
		rows, _ = journalCounts(t, db)
		return forged, acked.Load(), rows
	}
	openForged, openReal, _ := run("0")
	shedForged, shedReal, rows := run("20")
	t.Logf("in 4 s beside 64 forging connections: without the bound %d real acknowledged, forged answers %v; with it %d real, forged answers %v, %d journal rows",
		openReal, openForged, shedReal, shedForged, rows)
	if shedForged[503] == 0 || shedForged[401] > shedForged[503] || shedForged[401] >= openForged[401] {
		t.Errorf("forged answers with the bound %v, without %v: want mostly 503s, and fewer 401s than without", shedForged, openForged)
	}
	if shedReal <= openReal {
		t.Errorf("real deliveries acknowledged: %d with the bound, %d without; the bound should leave them more of the server", shedReal, openReal)
	}
	if rows > shedForged[401] {
		t.Errorf("%d journal rows for %d refusals", rows, shedForged[401])
	}
}
