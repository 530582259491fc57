package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/sqlite"
	"github.com/hookvault/hookvault/internal/storetest"
)

// MustOpen opens a store on a new file in the test's temporary folder.
func MustOpen(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return MustOpen(t, filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{Now: now})
	})
}

func TestConformanceJournal(t *testing.T) {
	storetest.RunJournal(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return MustOpen(t, filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{Now: now})
	})
}

// The fault is a trigger, created from another connection, that makes the database refuse
// every update of the /stats counters, which each commit, retention's deletes and the write
// probe make, and a trigger that refuses journal entries once the journal holds 100, so that an
// append of 256 fails in the middle, after its first INSERT of 64 entries.
func TestConformanceFaults(t *testing.T) {
	storetest.RunFaults(t, func(t *testing.T) (hookvault.Store, func() func()) {
		path := filepath.Join(t.TempDir(), "hv.db")
		s := MustOpen(t, path, sqlite.Options{})
		exec := func(q string) {
			db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return s, func() func() {
			exec(`CREATE TRIGGER refuse_writes BEFORE UPDATE ON counts BEGIN SELECT RAISE(ABORT, 'writes refused by the test'); END`)
			exec(`CREATE TRIGGER refuse_rejections BEFORE INSERT ON rejections WHEN (SELECT count(*) FROM rejections) >= 100
				BEGIN SELECT RAISE(ABORT, 'writes refused by the test'); END`)
			return func() {
				exec(`DROP TRIGGER refuse_writes`)
				exec(`DROP TRIGGER refuse_rejections`)
			}
		}
	})
}

// Several stores on one file stand in for several processes: SQLite's write lock, not the
// store, serialises their transactions.
func TestConformanceReplicas(t *testing.T) {
	storetest.RunReplicas(t, func(t *testing.T, n int) []hookvault.Store {
		path := filepath.Join(t.TempDir(), "hv.db")
		stores := make([]hookvault.Store, n)
		for i := range stores {
			stores[i] = MustOpen(t, path, sqlite.Options{})
		}
		return stores
	})
}

// schemaBeforeSources is the last schema version without sources.
const schemaBeforeSources = 3

// writeLegacy creates the database at path at the schema before sources and writes msgs
// into it as that version's writer did: each message with its /stats counters.
func writeLegacy(tb testing.TB, path string, msgs []hookvault.Message) {
	tb.Helper()
	ctx := context.Background()
	if err := sqlite.MigrateTo(ctx, path, schemaBeforeSources); err != nil {
		tb.Fatalf("migrate to %d: %v", schemaBeforeSources, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_busy_timeout=10000")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, m := range msgs {
		tx, err := db.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		var n int64
		if _, err := tx.Exec(`INSERT INTO messages (id, sender, content, received_at, payload) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.Sender, m.Content, m.ReceivedAt.UnixNano(), m.Payload); err != nil {
			tb.Fatalf("insert %q: %v", m.ID, err)
		}
		if err := tx.QueryRow(`INSERT INTO sender_counts (sender, n) VALUES (?, 1)
			ON CONFLICT (sender) DO UPDATE SET n = n + 1 RETURNING n`, m.Sender).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(`UPDATE totals SET messages = messages + 1, senders = senders + ?`, n == 1); err != nil {
			tb.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// A database of the schema before sources, with messages in it, is migrated when the store
// opens it.
func TestConformanceMigrated(t *testing.T) {
	storetest.RunMigrated(t, func(t *testing.T, old []hookvault.Message, now func() time.Time) hookvault.Store {
		path := filepath.Join(t.TempDir(), "hv.db")
		writeLegacy(t, path, old)
		return MustOpen(t, path, sqlite.Options{Now: now})
	})
}

// The migration to sources can be undone while the database holds only what the schema
// before could: messages of the default source with a sender. With any other message the
// undo refuses and changes nothing.
func TestMigrationDown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hv.db")
	s := MustOpen(t, path, sqlite.Options{})
	for _, id := range []string{"a", "b"} {
		if _, err := s.Insert(ctx, hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "s", Content: "c", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Insert(ctx, hookvault.Message{Source: "github", ID: "a", Type: "push", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := sqlite.MigrateTo(ctx, path, schemaBeforeSources)
	if err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Fatalf("undo with a github message: %v, want a refusal", err)
	}
	s = MustOpen(t, path, sqlite.Options{})
	if _, err := s.Get(ctx, "github", "a"); err != nil {
		t.Fatalf("after the refused undo: %v", err)
	}
	s.Close()

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM messages WHERE source = 'github'`); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.MigrateTo(ctx, path, schemaBeforeSources); err != nil {
		t.Fatalf("undo with default messages only: %v", err)
	}
	var got string
	if err := db.QueryRow(`SELECT group_concat(id || ':' || sender || ':' || content, ',') FROM messages`).Scan(&got); err != nil || got != "a:s:c,b:s:c" {
		t.Fatalf("after the undo: %q (%v), want a:s:c,b:s:c", got, err)
	}
	if err := sqlite.MigrateTo(ctx, path, 4); err != nil {
		t.Fatalf("redo: %v", err)
	}
}

// A message without a type, a sender or headers has NULL in those columns (and in content),
// which keeps it out of the partial indexes; an empty content with a sender is kept empty.
func TestMissingFieldsAreNull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	s := MustOpen(t, path, sqlite.Options{})
	for _, m := range []hookvault.Message{
		{Source: "github", ID: "none", Content: "dropped", Headers: []byte{}, Payload: []byte(`{}`)},
		{Source: hookvault.DefaultSource, ID: "empty", Sender: "s", Content: "", Payload: []byte(`{}`)},
	} {
		if _, err := s.Insert(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, want := range map[string]int{
		`SELECT count(*) FROM messages WHERE id = 'none' AND type IS NULL AND sender IS NULL AND content IS NULL AND headers IS NULL AND content_type = ''`: 1,
		`SELECT count(*) FROM messages WHERE id = 'empty' AND type IS NULL AND sender = 's' AND content = '' AND headers IS NULL`:                           1,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d (%v), want %d", q, n, err, want)
		}
	}
}

// What was committed is there after the store is closed and opened again, and opening an
// existing file does not migrate it twice.
func TestReopenKeepsMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "hv.db")
	s := MustOpen(t, path, sqlite.Options{})
	if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "1", Sender: "a", Content: "c", Payload: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, path, sqlite.Options{})
	got, err := s.Get(context.Background(), hookvault.DefaultSource, "1")
	if err != nil || string(got.Payload) != `{"x":1}` {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	r, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "1", Sender: "a", Content: "c", Payload: []byte(`{"x":1}`)})
	if err != nil || r.Outcome != hookvault.Duplicate {
		t.Fatalf("insert after reopen: %v, %v; want duplicate", r.Outcome, err)
	}
}

func TestSchemaIsMigratedAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	MustOpen(t, path, sqlite.Options{})
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
	var version int
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != 8 {
		t.Fatalf("migration version = %d (%v), want 8", version, err)
	}
}

func TestOpenFailsOnUnusablePath(t *testing.T) {
	dir := t.TempDir()
	// A folder where the file should be: SQLite cannot open it as a database.
	if _, err := sqlite.Open(context.Background(), dir, sqlite.Options{}); err == nil {
		t.Fatal("Open on a directory succeeded, want an error")
	}
}

func BenchmarkInsert(b *testing.B) {
	s := MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
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

// BenchmarkInsertDestinations is BenchmarkInsertConcurrent's providers' deliveries with 0, 1
// and 2 destinations each: what the outbox adds to an insert, and that a message without
// destinations pays nothing for it.
func BenchmarkInsertDestinations(b *testing.B) {
	for _, dests := range [][]string{nil, {"app"}, {"app", "stream"}} {
		b.Run(strconv.Itoa(len(dests)), func(b *testing.B) {
			s := MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
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

// delivery is a provider's delivery as the HTTP layer will hand it over: a type, the
// request's headers, no sender.
func delivery(id string) hookvault.Message {
	return hookvault.Message{Source: "github", ID: id, Type: "push", ContentType: "application/json",
		Headers: []byte(`{"Accept":["*/*"],"Content-Type":["application/json"],"User-Agent":["GitHub-Hookshot/a1b2c3d"],` +
			`"X-Github-Delivery":["` + id + `"],"X-Github-Event":["push"],"X-Github-Hook-Id":["123456789"],` +
			`"X-Hub-Signature-256":["sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]}`),
		Payload: []byte(`{"ref":"refs/heads/main","before":"0000000","after":"1111111","repository":{"id":1,"name":"x"}}`)}
}

// BenchmarkInsertDeliveryConcurrent is BenchmarkInsertConcurrent with providers'
// deliveries: a type and headers to store, and the type's index instead of the sender's.
func BenchmarkInsertDeliveryConcurrent(b *testing.B) {
	s := MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
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
// webhook senders would insert: group commit shares each fsync among the waiting inserts.
func BenchmarkInsertConcurrent(b *testing.B) {
	s := MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
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

func TestConformanceDeliveries(t *testing.T) {
	storetest.RunDeliveries(t, func(t *testing.T, now func() time.Time) storetest.Outbox {
		return MustOpen(t, filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{Now: now})
	})
}

// Two stores on one file stand in for two processes.
func TestConformanceDeliveryReplicas(t *testing.T) {
	storetest.RunDeliveryReplicas(t, func(t *testing.T, n int) []storetest.Outbox {
		path := filepath.Join(t.TempDir(), "hv.db")
		stores := make([]storetest.Outbox, n)
		for i := range stores {
			stores[i] = MustOpen(t, path, sqlite.Options{})
		}
		return stores
	})
}

// The fault: the database file is deleted under the open store. The store saves what its open
// files hold back to the path (see health.go), where the reopened store finds it.
func TestConformanceDeliveryFaults(t *testing.T) {
	storetest.RunDeliveryFaults(t, func(t *testing.T, now func() time.Time) (storetest.Outbox, func(), func() storetest.Outbox) {
		path := filepath.Join(t.TempDir(), "hv.db")
		s := MustOpen(t, path, sqlite.Options{Now: now, Logger: slog.New(slog.DiscardHandler)})
		fault := func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}
		reopen := func() storetest.Outbox {
			s.Close() // waits for the copy
			return MustOpen(t, path, sqlite.Options{Now: now})
		}
		return s, fault, reopen
	})
}

// BenchmarkInsertBesideJournal: see storetest.BenchInsertBesideJournal.
func BenchmarkInsertBesideJournal(b *testing.B) {
	storetest.BenchInsertBesideJournal(b, func(b *testing.B) storetest.JournalStore {
		return MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
	})
}

// BenchmarkDeleteMessagesBefore500 is one retention call of 500 messages with their
// counters: how long it holds the writer.
func BenchmarkDeleteMessagesBefore500(b *testing.B) {
	const batch = 500
	path := filepath.Join(b.TempDir(), "hv.db")
	s := MustOpen(b, path, sqlite.Options{})
	// Enough old messages for 800 calls: run it with -benchtime 200x or so.
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const rows = 400_000
	if _, err := db.Exec(`WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < ?)
		INSERT INTO messages (source, id, received_at, sender, content, content_type, payload)
		SELECT 'default', 'm' || value, value, 'sender-' || (value % 1000), 'hello', 'application/json', CAST('{"id":"m' || value || '"}' AS BLOB)
		FROM g`, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO counts (kind, name, n) SELECT 'sender', sender, count(*) FROM messages GROUP BY sender;
		INSERT INTO counts (kind, name, n) VALUES ('source', 'default', ?);
		UPDATE counts SET n = iif(name = 'messages', ?, 1000) WHERE kind = 'total'`, rows, rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	storetest.BenchDeleteMessagesBefore(b, s, batch)
}

// atSchema makes a database at schema version, as a release before this one left it, and
// opens it as another process would; the test closes the connection.
func atSchema(t *testing.T, version int64) (path string, db *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "hv.db")
	if err := sqlite.MigrateTo(context.Background(), path, version); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, db
}

// Migration 00007 makes arrival order the rowid: stamps that were equal become unique, in
// listing order (received_at, source, id), each moved to one nanosecond after the one before
// it when it has to be (which may move the next stamp too), and every listing keeps its
// order. A cursor issued before the upgrade still walks on without leaving a message out;
// one that names a moved message may show the few that shared its stamp again. The
// migration can be undone and redone.
func TestMigrationMakesArrivalsUnique(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 6)
	// Stamps in seconds after t0; at 0, three messages tie (two sources); the last of them
	// moves to 2 ns, onto the stamp of the message at 2 ns, which moves to 3 ns.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []struct {
		source, id string
		at         int64
	}{{"github", "a", 0}, {"default", "z", 0}, {"default", "b", 0}, {"default", "c", 2}, {"default", "d", 10}, {"default", "e", 10}}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO messages (source, id, received_at, sender, content, content_type, payload)
			VALUES (?, ?, ?, 's', 'x', 'application/json', X'7B7D')`, r.source, r.id, t0.UnixNano()+r.at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO source_counts (source, n) VALUES ('default', 5), ('github', 1);
		INSERT INTO sender_counts (sender, n) VALUES ('s', 6); UPDATE totals SET messages = 6, senders = 1`); err != nil {
		t.Fatal(err)
	}
	// The cursor a page of one ending at (0, default, z) handed out before the upgrade.
	old := &hookvault.Cursor{ReceivedAt: t0, Source: hookvault.DefaultSource, ID: "z"}

	s := MustOpen(t, path, sqlite.Options{Now: func() time.Time { return t0 }})
	want := map[string]int64{"default/b": 0, "default/z": 1, "github/a": 2, "default/c": 3, "default/d": 10, "default/e": 11}
	var got []string
	walked := func(f hookvault.ListFilter) []string {
		var ids []string
		if _, err := s.List(ctx, f, func(m hookvault.Message) error {
			ids = append(ids, m.Source+"/"+m.ID)
			if at := m.ReceivedAt.Sub(t0).Nanoseconds(); at != want[m.Source+"/"+m.ID] {
				t.Errorf("%s/%s stamped %d ns after t0, want %d", m.Source, m.ID, at, want[m.Source+"/"+m.ID])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	got = walked(hookvault.ListFilter{Limit: 10})
	if strings.Join(got, ",") != "default/b,default/z,github/a,default/c,default/d,default/e" {
		t.Errorf("listing after the migration: %v", got)
	}
	if got = walked(hookvault.ListFilter{Limit: 10, After: old}); strings.Join(got, ",") != "default/z,github/a,default/c,default/d,default/e" {
		t.Errorf("after an old cursor: %v, want z shown again and nothing left out", got)
	}
	if got = walked(hookvault.ListFilter{Limit: 10, Source: hookvault.DefaultSource, After: old}); strings.Join(got, ",") != "default/z,default/c,default/d,default/e" {
		t.Errorf("default source after an old cursor: %v", got)
	}
	// New arrivals come after the newest, one nanosecond after it with a clock behind it.
	r, err := s.Insert(ctx, hookvault.Message{Source: hookvault.DefaultSource, ID: "new", Sender: "s", Payload: []byte(`{}`)})
	if err != nil || r.Outcome != hookvault.Created || !r.ReceivedAt.Equal(t0.Add(12)) {
		t.Errorf("a new message: %+v, %v; want created at t0 + 12 ns", r, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.MigrateTo(ctx, path, 6); err != nil {
		t.Fatalf("undo: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(DISTINCT received_at) FROM messages INDEXED BY messages_by_arrival`).Scan(&n); err != nil || n != 7 {
		t.Fatalf("after the undo: %d distinct stamps (%v), want 7", n, err)
	}
	if err := sqlite.MigrateTo(ctx, path, 7); err != nil {
		t.Fatalf("redo: %v", err)
	}
}

// Migration 00008 moves the /stats counters of three tables into one, and back: /stats
// reads the same numbers before and after it, the writer goes on counting, and the undo
// leaves the three tables as the schema before keeps them.
func TestMigrationMovesCountersIntoOneTable(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 7)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO messages (received_at, source, id, type, sender, content, content_type, payload) VALUES
			(?, 'default', 'a', NULL, 'alice', 'x', 'application/json', X'7B7D'),
			(? + 1, 'default', 'b', NULL, 'bob', 'x', 'application/json', X'7B7D'),
			(? + 2, 'default', 'c', NULL, 'bob', 'x', 'application/json', X'7B7D'),
			(? + 3, 'github', 'd', 'push', NULL, NULL, 'application/json', X'7B7D');
		INSERT INTO source_counts (source, n) VALUES ('default', 3), ('github', 1);
		INSERT INTO sender_counts (sender, n) VALUES ('alice', 1), ('bob', 2);
		UPDATE totals SET messages = 4, senders = 2`, t0.UnixNano(), t0.UnixNano(), t0.UnixNano(), t0.UnixNano()); err != nil {
		t.Fatal(err)
	}

	s := MustOpen(t, path, sqlite.Options{})
	want := func(what string, total, senders int64, top, sources string) {
		t.Helper()
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var gotTop, gotSources []string
		for _, c := range st.TopSenders {
			gotTop = append(gotTop, fmt.Sprintf("%s=%d", c.Sender, c.Count))
		}
		for _, c := range st.Sources {
			gotSources = append(gotSources, fmt.Sprintf("%s=%d", c.Source, c.Count))
		}
		if st.TotalMessages != total || st.SendersCount != senders || strings.Join(gotTop, ",") != top || strings.Join(gotSources, ",") != sources {
			t.Errorf("%s: /stats %d messages, %d senders, top %v, sources %v; want %d, %d, %s, %s",
				what, st.TotalMessages, st.SendersCount, gotTop, gotSources, total, senders, top, sources)
		}
	}
	want("after the migration", 4, 2, "bob=2,alice=1", "default=3,github=1")
	for _, m := range []hookvault.Message{
		{Source: hookvault.DefaultSource, ID: "e", Sender: "carol", Content: "x", Payload: []byte(`{"id":"e"}`)},
		{Source: hookvault.DefaultSource, ID: "f", Sender: "alice", Content: "x", Payload: []byte(`{"id":"f"}`)},
		{Source: hookvault.DefaultSource, ID: "g", Sender: "alice", Content: "x", Payload: []byte(`{"id":"g"}`)},
	} {
		if _, err := s.Insert(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	want("after three inserts", 7, 3, "alice=3,bob=2,carol=1", "default=6,github=1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if err := sqlite.MigrateTo(ctx, path, 7); err != nil {
		t.Fatalf("undo: %v", err)
	}
	var messages, senders int64
	var sources, top string
	if err := db.QueryRow(`SELECT messages, senders,
			(SELECT group_concat(source || '=' || n, ',') FROM (SELECT * FROM source_counts ORDER BY source)),
			(SELECT group_concat(sender || '=' || n, ',') FROM (SELECT * FROM sender_counts ORDER BY n DESC, sender))
		FROM totals`).Scan(&messages, &senders, &sources, &top); err != nil {
		t.Fatal(err)
	}
	if messages != 7 || senders != 3 || sources != "default=6,github=1" || top != "alice=3,bob=2,carol=1" {
		t.Errorf("after the undo: totals %d, %d, sources %s, senders %s", messages, senders, sources, top)
	}
}

// BenchmarkRelayCycle is the relay's share of the writer per delivery, as its worker for a
// destination of the default concurrency (4) and its record loop use it: a Claim of 4 slots'
// worth (32), then their results in RecordAlls of 4, the attempts in flight at once. ns/op is
// per delivery.
func BenchmarkRelayCycle(b *testing.B) {
	s := MustOpen(b, filepath.Join(b.TempDir(), "hv.db"), sqlite.Options{})
	ctx := context.Background()
	const backlog, claim, record = 50_000, 32, 4
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 64 { // the backlog, inserted as the HTTP side would
		wg.Go(func() {
			for i := n.Add(1); i <= backlog; i = n.Add(1) {
				m := delivery("bench-" + strconv.FormatInt(i, 10))
				m.Destinations = []string{"app"}
				if _, err := s.Insert(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		claimed, err := s.Claim(ctx, "app", "bench", min(claim, b.N-done), time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(claimed) == 0 {
			b.Fatalf("backlog of %d exhausted after %d", backlog, done)
		}
		for batch := range slices.Chunk(claimed, record) {
			rs := make([]hookvault.Recorded, 0, record)
			for _, c := range batch {
				rs = append(rs, hookvault.Recorded{DID: c.DID, Owner: "bench", AttemptResult: hookvault.AttemptResult{
					Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: time.Now(), StatusCode: 204, Duration: time.Millisecond}}})
			}
			errs, err := s.RecordAll(ctx, rs)
			if err == nil {
				err = errors.Join(errs...)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		done += len(claimed)
	}
}
