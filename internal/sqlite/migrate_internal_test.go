package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// legacyFixture returns the path of a database at schema 3, before sources, holding a
// million messages as the benchmarks before sources built them: 1,000 senders, arrivals one
// millisecond apart, and the /stats counters. It is kept in the temporary folder between runs
// (an older checkout's BenchmarkList1M leaves the same file behind).
func legacyFixture(b *testing.B) string {
	b.Helper()
	const rows = 1_000_000
	path := filepath.Join(os.TempDir(), "hookvault-bench-1m-v3.db")
	db, err := sql.Open("sqlite", dsn(path, "mode=rwc&_txlock=immediate&_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	p, err := migrator(db)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 3); err != nil {
		b.Fatal(err)
	}
	if v, err := p.GetDBVersion(context.Background()); err != nil || v != 3 {
		b.Fatalf("%s is at schema %d (%v), want 3; remove it", path, v, err)
	}
	var n int
	if err := db.QueryRow(`SELECT messages FROM totals`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n == rows {
		return path
	}
	if n != 0 {
		b.Fatalf("%s holds %d rows; remove it", path, n)
	}
	b.Logf("building %s with %d rows", path, rows)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO messages (id, sender, content, received_at, payload) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range rows {
		id := fmt.Sprintf("msg-%07d", i)
		sender := fmt.Sprintf("sender-%03d", i%1000)
		content := fmt.Sprintf("event %d for %s: invoice.paid", i, sender)
		payload := fmt.Sprintf(`{"id":%q,"sender":%q,"content":%q}`, id, sender, content)
		if _, err := stmt.Exec(id, sender, content, start+int64(i)*int64(time.Millisecond), []byte(payload)); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM messages GROUP BY sender`,
		`UPDATE totals SET messages = (SELECT count(*) FROM messages), senders = (SELECT count(*) FROM sender_counts)`,
	} {
		if _, err := tx.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return path
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// BenchmarkMigrate1M is the migration of a million messages from before sources to the
// latest schema, through a writer connection as Open runs it (synchronous=FULL): two rebuilds
// of the messages table, 00004 (sources) and 00007 (arrival order as the rowid). It
// reports the database file before and after, and the WAL the migration leaves behind (the
// whole new table passes through it; the next checkpoint moves it into the file).
func BenchmarkMigrate1M(b *testing.B) {
	fixture := legacyFixture(b)
	ctx := context.Background()
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprintf("hv-%d.db", i))
		copyFile(b, fixture, path)
		w, err := sql.Open("sqlite", dsn(path, "mode=rw&_txlock=immediate&_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL"))
		if err != nil {
			b.Fatal(err)
		}
		w.SetMaxOpenConns(1)
		s := &Store{w: w}
		if err := w.Ping(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(fileSize(fixture))/(1<<20), "MiB-before")
		b.ReportMetric(float64(fileSize(path+"-wal"))/(1<<20), "MiB-WAL")
		var n int
		if err := w.QueryRow(`SELECT count(*) FROM messages WHERE source = 'default'`).Scan(&n); err != nil || n != 1_000_000 {
			b.Fatalf("%d default messages after the migration (%v)", n, err)
		}
		if _, err := w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fileSize(path))/(1<<20), "MiB-after")
		w.Close()
		os.Remove(path)
		b.StartTimer()
	}
}
