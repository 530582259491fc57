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

func TestConformanceJournal(t *testing.T) {
	pgtest.URL(t)
	storetest.RunJournal(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return open(t, pgtest.Schema(t), postgres.Options{Now: now, Migrate: true, CompactEvery: -1})
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

// schemaBeforeSources is the last schema version without sources.
const schemaBeforeSources = 1

// writeLegacy migrates the schema at url to the version before sources and writes msgs into
// it as that version's writer did: each message with a counter row of its own, as batches
// of one appended them before any compaction.
func writeLegacy(tb testing.TB, url string, msgs []hookvault.Message) {
	tb.Helper()
	ctx := context.Background()
	if err := postgres.MigrateTo(ctx, url, schemaBeforeSources); err != nil {
		tb.Fatalf("migrate to %d: %v", schemaBeforeSources, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, m := range msgs {
		if _, err := conn.Exec(ctx, `WITH inserted AS (
				INSERT INTO messages (id, sender, content, received_at, payload) VALUES ($1, $2, $3, $4, $5) RETURNING sender
			) INSERT INTO sender_counts (sender, n) SELECT sender, 1 FROM inserted`,
			[]byte(m.ID), []byte(m.Sender), []byte(m.Content), m.ReceivedAt, m.Payload); err != nil {
			tb.Fatalf("insert %q: %v", m.ID, err)
		}
	}
}

// A schema from before sources, with messages in it, is migrated when the store opens it
// with Migrate; without, Open refuses it and says what to run.
func TestConformanceMigrated(t *testing.T) {
	pgtest.URL(t)
	storetest.RunMigrated(t, func(t *testing.T, old []hookvault.Message, now func() time.Time) hookvault.Store {
		url := pgtest.Schema(t)
		writeLegacy(t, url, old)
		_, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err == nil || !strings.Contains(err.Error(), "the schema is at version 1, this build needs 4: run `hookvault migrate`") {
			t.Fatalf("Open without migration on the schema before sources: %v, want a hint to run hookvault migrate", err)
		}
		return open(t, url, postgres.Options{Now: now, Migrate: true})
	})
}

// The migration to sources can be undone while the database holds only what the schema
// before could: messages of the default source with a sender. With any other message the
// undo refuses and changes nothing.
func TestMigrationDown(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Schema(t)
	s := open(t, url, postgres.Options{Migrate: true, CompactEvery: -1})
	for _, id := range []string{"a", "b"} {
		if _, err := s.Insert(ctx, hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "s", Content: "c", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Insert(ctx, hookvault.Message{Source: "github", ID: "a", Type: "push", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	err := postgres.MigrateTo(ctx, url, schemaBeforeSources)
	if err == nil || !strings.Contains(err.Error(), "the schema before sources cannot hold them") {
		t.Fatalf("undo with a github message: %v, want a refusal", err)
	}
	if n := count(t, url, `SELECT count(*) FROM messages WHERE source = 'github'::bytea`); n != 1 {
		t.Fatalf("%d github messages after the refused undo, want 1", n)
	}
	pgtest.Exec(t, url, `DELETE FROM messages WHERE source = 'github'::bytea`)
	if err := postgres.MigrateTo(ctx, url, schemaBeforeSources); err != nil {
		t.Fatalf("undo with default messages only: %v", err)
	}
	if n := count(t, url, `SELECT count(*) FROM messages WHERE sender = 's'::bytea AND content = 'c'::bytea`); n != 2 {
		t.Fatalf("%d messages after the undo, want 2", n)
	}
	if err := postgres.MigrateTo(ctx, url, 2); err != nil {
		t.Fatalf("redo: %v", err)
	}
}

// A message without a type, a sender or headers has NULL in those columns (and in content),
// which keeps it out of the partial indexes; an empty content with a sender is kept empty.
func TestMissingFieldsAreNull(t *testing.T) {
	url := pgtest.Schema(t)
	s := open(t, url, postgres.Options{Migrate: true, CompactEvery: -1})
	for _, m := range []hookvault.Message{
		{Source: "github", ID: "none", Content: "dropped", Headers: []byte{}, Payload: []byte(`{}`)},
		{Source: hookvault.DefaultSource, ID: "empty", Sender: "s", Content: "", Payload: []byte(`{}`)},
	} {
		if _, err := s.Insert(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM messages WHERE id = 'none'::bytea AND type IS NULL AND sender IS NULL AND content IS NULL AND headers IS NULL AND content_type = ''::bytea`: 1,
		`SELECT count(*) FROM messages WHERE id = 'empty'::bytea AND type IS NULL AND sender = 's'::bytea AND content = ''::bytea AND headers IS NULL`:                    1,
	} {
		if n := count(t, url, q); n != want {
			t.Errorf("%s: %d, want %d", q, n, want)
		}
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
	if n := count(t, url, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`); n != 4 {
		t.Errorf("%d migrations recorded, want each applied once (4)", n)
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

	// A read on a pooled connection that the server has ended is run again on another, so
	// a restart or a terminated backend costs readers nothing.
	kill := func() {
		t.Helper()
		if n := count(t, pgtest.URL(t), fmt.Sprintf(
			`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'`, app)); n == 0 {
			t.Fatal("no connection of the store was found to kill")
		}
	}
	kill()
	if _, err := s.Stats(ctx); err != nil {
		t.Errorf("stats after the readers were killed: %v", err)
	}
	kill()
	listed := 0
	if _, err := s.List(ctx, hookvault.ListFilter{Limit: 1000}, func(hookvault.Message) error { listed++; return nil }); err != nil || listed != len(acked)+1 {
		t.Errorf("list after the readers were killed: %d messages, %v; want %d", listed, err, len(acked)+1)
	}
	kill()
	if _, err := s.Get(ctx, hookvault.DefaultSource, "before"); err != nil {
		t.Errorf("get after the readers were killed: %v", err)
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

// delivery is a provider's delivery as the HTTP layer will hand it over: a type, the
// request's headers, no sender.
func delivery(id string) hookvault.Message {
	return hookvault.Message{Source: "github", ID: id, Type: "push", ContentType: "application/json",
		Headers: []byte(`{"Accept":["*/*"],"Content-Type":["application/json"],"User-Agent":["GitHub-Hookshot/a1b2c3d"],` +
			`"X-Github-Delivery":["` + id + `"],"X-Github-Event":["push"],"X-Github-Hook-Id":["123456789"],` +
			`"X-Hub-Signature-256":["sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]}`),
		Payload: []byte(`{"ref":"refs/heads/main","before":"0000000","after":"1111111","repository":{"id":1,"name":"x"}}`)}
}

// BenchmarkInsertDestinations is BenchmarkInsertDeliveryConcurrent with 0, 1 and 2
// destinations per message: what the outbox adds to an insert, and that a batch without
// destinations pays nothing for it (it runs the statement it ran before the outbox).
func BenchmarkInsertDestinations(b *testing.B) {
	for _, dests := range [][]string{nil, {"app"}, {"app", "stream"}} {
		b.Run(strconv.Itoa(len(dests)), func(b *testing.B) {
			s := open(b, pgtest.Schema(b), postgres.Options{Migrate: true, CompactEvery: -1})
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := delivery("bench-" + strconv.FormatInt(n.Add(1), 10))
					m.Destinations = dests
					if _, err := s.Insert(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkInsertDeliveryConcurrent is BenchmarkInsertConcurrent with providers'
// deliveries: a type and headers to store, and the type's index instead of the sender's.
func BenchmarkInsertDeliveryConcurrent(b *testing.B) {
	s := open(b, pgtest.Schema(b), postgres.Options{Migrate: true, CompactEvery: -1})
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Insert(context.Background(), delivery("bench-"+strconv.FormatInt(n.Add(1), 10))); err != nil {
				b.Error(err)
				return
			}
		}
	})
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

// BenchmarkMigrate1M is the migration to sources (00002) on a schema holding a million
// messages of 1,000 senders, as the benchmarks before sources seeded it. It reports the
// size of the messages table with its indexes before and after.
func BenchmarkMigrate1M(b *testing.B) {
	ctx := context.Background()
	size := func(url string) float64 {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int64
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('messages')`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return float64(n) / (1 << 20)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		url := pgtest.Schema(b)
		if err := postgres.MigrateTo(ctx, url, schemaBeforeSources); err != nil {
			b.Fatal(err)
		}
		pgtest.Exec(b, url, `
			INSERT INTO messages (id, sender, content, received_at, payload)
			SELECT convert_to(format('msg-%s', lpad(g::text, 7, '0')), 'UTF8'),
			       convert_to(format('sender-%s', lpad((g % 1000)::text, 3, '0')), 'UTF8'),
			       convert_to(format('event %s for sender-%s: invoice.paid', g, lpad((g % 1000)::text, 3, '0')), 'UTF8'),
			       '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 millisecond',
			       convert_to(format('{"id":"msg-%s"}', g), 'UTF8')
			FROM generate_series(0, 999999) AS g`)
		pgtest.Exec(b, url, `INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM messages GROUP BY sender`)
		pgtest.Exec(b, url, `VACUUM ANALYZE`)
		before := size(url)
		b.StartTimer()
		if err := postgres.Migrate(ctx, url, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(before, "MiB-before")
		b.ReportMetric(size(url), "MiB-after")
		if n := count(b, url, `SELECT count(*) FROM messages WHERE source = 'default'::bytea AND type IS NULL`); n != 1_000_000 {
			b.Fatalf("%d default messages after the migration", n)
		}
		b.StartTimer()
	}
}

func TestConformanceDeliveries(t *testing.T) {
	pgtest.URL(t)
	storetest.RunDeliveries(t, func(t *testing.T, now func() time.Time) storetest.Outbox {
		return open(t, pgtest.Schema(t), postgres.Options{Now: now, Migrate: true})
	})
}

// Two stores on one database are two replicas.
func TestConformanceDeliveryReplicas(t *testing.T) {
	pgtest.URL(t)
	storetest.RunDeliveryReplicas(t, func(t *testing.T, n int) []storetest.Outbox {
		url := pgtest.Schema(t)
		stores := make([]storetest.Outbox, n)
		for i := range stores {
			stores[i] = open(t, url, postgres.Options{Migrate: true})
		}
		return stores
	})
}

// BenchmarkInsertBesideJournal: see storetest.BenchInsertBesideJournal.
func BenchmarkInsertBesideJournal(b *testing.B) {
	pgtest.URL(b)
	storetest.BenchInsertBesideJournal(b, func(b *testing.B) storetest.JournalStore {
		return open(b, pgtest.Schema(b), postgres.Options{Migrate: true})
	})
}
