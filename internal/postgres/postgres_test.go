package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/storetest"
)

func open(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return open(t, pgtest.Schema(t), postgres.Options{Now: now, Migrate: true})
	})
}

// Several writers per replica commit batches at once: the same behaviour must hold.
func TestConformanceFourWriters(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return open(t, pgtest.Schema(t), postgres.Options{Now: now, Migrate: true, WriteConns: 4})
	})
}

func TestConformanceReplicas(t *testing.T) {
	pgtest.URL(t)
	storetest.RunReplicas(t, func(t *testing.T, n int) []hookvault.Store {
		url := pgtest.Schema(t)
		stores := make([]hookvault.Store, n)
		for i := range stores {
			stores[i] = open(t, url, postgres.Options{Migrate: true})
		}
		return stores
	})
}

func msg(id, sender string) hookvault.Message {
	return hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: sender, Content: "c", Payload: []byte(`{"id":"` + id + `"}`)}
}

func count(t testing.TB, url, query string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Compaction folds the per-batch counter rows of each sender into one, on two replicas at
// once, and /stats reads the same before and after.
func TestCompactKeepsStats(t *testing.T) {
	url := pgtest.Schema(t)
	a := open(t, url, postgres.Options{Migrate: true, CompactEvery: -1})
	b := open(t, url, postgres.Options{Migrate: true, CompactEvery: -1})
	for i := range 30 {
		for _, s := range []*postgres.Store{a, b} {
			if _, err := s.Insert(context.Background(), msg(fmt.Sprintf("m%d-%p", i, s), fmt.Sprintf("sender%d", i%3))); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, err := a.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rows := count(t, url, `SELECT count(*) FROM sender_counts`); rows <= 3 {
		t.Fatalf("%d counter rows before compaction; the test needs more than one per sender", rows)
	}
	if rows := count(t, url, `SELECT count(*) FROM source_counts`); rows <= 1 {
		t.Fatalf("%d source counter rows before compaction; the test needs more than one", rows)
	}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b} {
		wg.Go(func() {
			if err := s.Compact(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if rows := count(t, url, `SELECT count(*) FROM sender_counts`); rows != 3 {
		t.Errorf("%d counter rows after compaction, want one per sender (3)", rows)
	}
	if rows := count(t, url, `SELECT count(*) FROM source_counts`); rows != 1 {
		t.Errorf("%d source counter rows after compaction, want one (default)", rows)
	}
	after, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) || after.TotalMessages != 60 || after.SendersCount != 3 ||
		len(after.Sources) != 1 || after.Sources[0].Count != 60 {
		t.Errorf("stats after compaction %+v, before %+v", after, before)
	}
}

// Replicas starting together all migrate without error: the advisory lock lets one apply
// each migration and the others find it done. Without migration, an empty schema stops the
// start with a message that says what to run.
func TestMigrate(t *testing.T) {
	url := pgtest.Schema(t)
	_, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "run `hookvault migrate`") {
		t.Fatalf("Open without migration on an empty schema: %v, want a hint to run hookvault migrate", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := postgres.Migrate(context.Background(), url, 10*time.Second); err != nil {
				t.Errorf("concurrent Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	if n := count(t, url, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`); n != 2 {
		t.Errorf("%d migrations recorded, want each applied once (2)", n)
	}
	s := open(t, url, postgres.Options{})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Connections killed under the store (a database restart or failover looks like this to
// it) fail the operations in flight with EUNAVAILABLE, never anything else, and the store
// recovers by itself.
func TestKilledConnectionsRecover(t *testing.T) {
	url := pgtest.Schema(t)
	app := fmt.Sprintf("hv_kill_%d", time.Now().UnixNano())
	s := open(t, url+"&application_name="+app, postgres.Options{Migrate: true})
	ctx := context.Background()
	if _, err := s.Insert(ctx, msg("before", "a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	killed := count(t, pgtest.URL(t), fmt.Sprintf(
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'`, app))
	if killed == 0 {
		t.Fatal("no connection of the store was found to kill")
	}
	acked := map[string]bool{}
	for i := 0; len(acked) < 20; i++ {
		if i > 2000 {
			t.Fatalf("only %d inserts succeeded after the connections were killed", len(acked))
		}
		id := fmt.Sprintf("after-%d", i)
		_, err := s.Insert(ctx, msg(id, "a"))
		switch code := hookvault.ErrorCode(err); {
		case err == nil:
			acked[id] = true
		case code != hookvault.EUNAVAILABLE:
			t.Fatalf("insert after the kill: %v (code %s), want EUNAVAILABLE or success", err, code)
		}
		if err := s.Ping(ctx); err != nil && hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
			t.Fatalf("ping after the kill: %v", err)
		}
	}
	for id := range acked {
		if _, err := s.Get(ctx, hookvault.DefaultSource, id); err != nil {
			t.Errorf("acked %s: %v", id, err)
		}
	}
}

// Reads on connections that the server ended (after a restart every idle connection of the
// read pool is dead) run again on a new connection instead of failing: a restart of the
// database costs the read API no 503.
func TestReadsSurviveEndedConnections(t *testing.T) {
	url := pgtest.Schema(t)
	app := fmt.Sprintf("hv_reads_%d", time.Now().UnixNano())
	s := open(t, url+"&application_name="+app, postgres.Options{Migrate: true, CompactEvery: -1})
	ctx := context.Background()
	if _, err := s.Insert(ctx, msg("m1", "a")); err != nil {
		t.Fatal(err)
	}
	// Fill the read pool: four listings held open at once take four connections.
	release := make(chan struct{})
	var held, done sync.WaitGroup
	for range 4 {
		held.Add(1)
		done.Go(func() {
			first := true
			_, _ = s.List(ctx, hookvault.ListFilter{Limit: 10}, func(hookvault.Message) error {
				if first {
					first = false
					held.Done()
					<-release
				}
				return nil
			})
		})
	}
	held.Wait()
	close(release)
	done.Wait()
	if n := count(t, pgtest.URL(t), fmt.Sprintf(
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'`, app)); n < 4 {
		t.Fatalf("ended %d connections, want the four readers at least", n)
	}
	for i := range 3 {
		if m, err := s.Get(ctx, hookvault.DefaultSource, "m1"); err != nil || m.Sender != "a" {
			t.Fatalf("Get %d after the connections ended: %+v, %v", i, m, err)
		}
		if page, err := s.List(ctx, hookvault.ListFilter{Limit: 10}, func(hookvault.Message) error { return nil }); err != nil || page != nil {
			t.Fatalf("List %d after the connections ended: %v, %v", i, page, err)
		}
		if st, err := s.Stats(ctx); err != nil || st.TotalMessages != 1 {
			t.Fatalf("Stats %d after the connections ended: %+v, %v", i, st, err)
		}
	}
}

// A server that takes no writes (here: a session default; in production a standby behind
// the URL after a failover) is not ready, and inserts into it are EUNAVAILABLE.
func TestReadOnlyDatabaseIsNotReady(t *testing.T) {
	url := pgtest.Schema(t)
	open(t, url, postgres.Options{Migrate: true})
	ro := open(t, url+"&default_transaction_read_only=on", postgres.Options{})
	err := ro.Ping(context.Background())
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !strings.Contains(err.Error(), "takes no writes") {
		t.Fatalf("Ping on a read-only database: %v, want EUNAVAILABLE saying it takes no writes", err)
	}
	if _, err := ro.Insert(context.Background(), msg("ro", "a")); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
		t.Fatalf("Insert into a read-only database: %v, want EUNAVAILABLE", err)
	}
}

// BenchmarkInsert is one insert at a time, each its own commit: the latency of a lone
// webhook, a round trip and a WAL flush.
func BenchmarkInsert(b *testing.B) {
	s := open(b, pgtest.Schema(b), postgres.Options{Migrate: true, CompactEvery: -1})
	payload := []byte(`{"id":"x","sender":"bench","content":"hello"}`)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := "bench-" + strconv.Itoa(i)
		if _, err := s.Insert(ctx, hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "bench", Content: "hello", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertConcurrent is BenchmarkInsert from 64 goroutines, as 64 connections of
// webhook senders would insert: group commit shares each commit among the waiting inserts.
func BenchmarkInsertConcurrent(b *testing.B) {
	s := open(b, pgtest.Schema(b), postgres.Options{Migrate: true, CompactEvery: -1})
	payload := []byte(`{"id":"x","sender":"bench","content":"hello"}`)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "bench-" + strconv.FormatInt(n.Add(1), 10)
			if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "bench", Content: "hello", Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
