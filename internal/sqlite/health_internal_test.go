package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookvault/hookvault/internal/groupcommit"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/mounttest"
)

// logBuffer collects a store's log lines; the writer and Ping write them from their own
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log lines that contain s.
func (l *logBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, s) {
			found = append(found, line)
		}
	}
	return found
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

func insertN(t *testing.T, s *Store, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: ids[i], Sender: "s", Payload: []byte(`{"i":1}`)}); err != nil {
			t.Fatalf("insert %s: %v", ids[i], err)
		}
	}
	return ids
}

func mustBeStored(t *testing.T, path string, ids []string) {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	defer s.Close()
	for _, id := range ids {
		if _, err := s.Get(context.Background(), hookvault.DefaultSource, id); err != nil {
			t.Errorf("acknowledged %s after the restart: %v", id, err)
		}
	}
}

// wantDown checks that inserts and Ping fail with EUNAVAILABLE for a permanent reason.
func wantDown(t *testing.T, s *Store, what string) {
	t.Helper()
	_, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "refused", Sender: "s", Payload: []byte(`{}`)})
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !groupcommit.IsPermanent(err) || !strings.Contains(err.Error(), what) {
		t.Errorf("Insert = %v, want EUNAVAILABLE, permanent, saying %q", err, what)
	}
	for range 2 {
		if err := s.Ping(context.Background()); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !strings.Contains(err.Error(), what) {
			t.Errorf("Ping = %v, want EUNAVAILABLE saying %q", err, what)
		}
	}
}

// The database file deleted while the store runs (rm x.db x.db-wal x.db-shm): the next
// commit goes into files that nothing will find again, so it is answered EUNAVAILABLE, and
// so is every insert after it, at once; Ping fails for good; one error line says what
// happened and what to do; and the store saves what its open files hold where the next start
// finds it, so that what was acknowledged before the delete survives the restart too.
func TestFileDeletedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	var log logBuffer
	s, err := Open(context.Background(), path, Options{Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked := insertN(t, s, "before", 20)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "after", Sender: "s", Payload: []byte(`{}`)})
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !strings.Contains(err.Error(), "was deleted") {
		t.Fatalf("Insert after the delete = %v, want EUNAVAILABLE: it went into a deleted file", err)
	}
	wantDown(t, s, "deleted or replaced while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	alarms := log.lines("was deleted or replaced while open")
	if len(alarms) != 1 || !strings.Contains(alarms[0], `"level":"ERROR"`) || !strings.Contains(alarms[0], "stopped acknowledging") ||
		!strings.Contains(alarms[0], "restart") || !strings.Contains(alarms[0], path) {
		t.Errorf("want one error line saying what happened and what to do, got %q\n%s", alarms, log.String())
	}
	if saved := log.lines("saved a copy of the open database as the database file"); len(saved) != 1 {
		t.Errorf("want one line saying the copy is saved, got %q\n%s", saved, log.String())
	}
	mustBeStored(t, path, append(acked, "after"))
}

// Only the WAL deleted: the database file is still the one open, so the WAL's content is
// folded into it.
func TestWALDeletedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	var log logBuffer
	s, err := Open(context.Background(), path, Options{Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked := insertN(t, s, "before", 20)
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !strings.Contains(err.Error(), "-wal was deleted") {
		t.Fatalf("Ping after the WAL was deleted = %v, want EUNAVAILABLE naming the WAL", err)
	}
	wantDown(t, s, "deleted or replaced while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if saved := log.lines("saved the open WAL into the database file"); len(saved) != 1 {
		t.Errorf("want one line saying the WAL is saved, got %q\n%s", saved, log.String())
	}
	mustBeStored(t, path, acked)
}

// The database file replaced by another while open: the store never overwrites the file now
// at the path, and saves its copy beside it.
func TestFileReplacedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hv.db")
	var log logBuffer
	s, err := Open(context.Background(), path, Options{Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked := insertN(t, s, "before", 20)
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	other := []byte("someone else's file")
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "after", Sender: "s", Payload: []byte(`{}`)}); !strings.Contains(err.Error(), "is another file") {
		t.Fatalf("Insert after the replacement = %v, want it refused because the path names another file", err)
	}
	wantDown(t, s, "deleted or replaced while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, other) {
		t.Fatalf("the file now at the path was changed: %q, %v", got, err)
	}
	copies, err := filepath.Glob(path + ".saved-*")
	if err != nil || len(copies) != 1 {
		t.Fatalf("copies beside the file: %v (%v), want one\n%s", copies, err, log.String())
	}
	if saved := log.lines("saved a copy of the open database beside the file"); len(saved) != 1 || !strings.Contains(saved[0], copies[0]) {
		t.Errorf("want one line naming the copy, got %q", saved)
	}
	mustBeStored(t, copies[0], append(acked, "after"))
}

// corruptPages overwrites count pages from page first (1-based) of the database file at
// path with random bytes, as a failing disk or a stray write would.
func corruptPages(t *testing.T, path string, first, count int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := make([]byte, 4096*count)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(garbage, int64(first-1)*4096); err != nil {
		t.Fatal(err)
	}
}

// damagedDatabase builds a database of 3000 messages with random ids, closes it (which
// checkpoints the WAL into the file), and overwrites a few leaf pages in the middle of the
// id index, which inserts of random ids run into.
func damagedDatabase(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hv.db")
	s, err := Open(context.Background(), path, Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	// One transaction past the writer: 3000 commits would take seconds under -race.
	tx, err := s.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		if _, err := tx.Exec(`INSERT INTO messages (source, id, sender, content, content_type, received_at, payload)
			VALUES ('default', ?, 's', '', '', ?, ?)`, fmt.Sprintf("%016x", r.Uint64()), i, bytes.Repeat([]byte("x"), 200)); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var leaves []int
	rows, err := s.r.Query(`SELECT pageno FROM dbstat WHERE name = 'messages_by_id' AND pagetype = 'leaf' ORDER BY pageno`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, p)
	}
	rows.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(leaves) < 10 {
		t.Fatalf("the id index has %d leaf pages; the test needs more", len(leaves))
	}
	for _, p := range leaves[len(leaves)/2 : len(leaves)/2+3] {
		corruptPages(t, path, p, 1)
	}
	return path
}

// A corrupt database stops the start with a message that says how to recover.
func TestOpenRefusesCorruptDatabase(t *testing.T) {
	path := damagedDatabase(t)
	_, err := Open(context.Background(), path, Options{})
	if err == nil {
		t.Fatal("Open on a corrupt database succeeded")
	}
	for _, want := range []string{"database file " + path + " is corrupt", "restore the file from a backup", "sqlite3 " + path + " .recover"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not say %q", err, want)
		}
	}
}

// The check at Open has a time budget: past it, the store opens anyway and says the check was
// cut short.
func TestOpenCheckIsBounded(t *testing.T) {
	path := damagedDatabase(t)
	var log logBuffer
	s, err := Open(context.Background(), path, Options{Logger: log.logger(), quickCheckBudget: 1})
	if err != nil {
		t.Fatalf("Open with the check cut short: %v", err)
	}
	defer s.Close()
	if cut := log.lines("database check cut short"); len(cut) != 1 || !strings.Contains(cut[0], "quick_check") {
		t.Errorf("want one line saying the check was cut short, got %q\n%s", cut, log.String())
	}
}

// Corruption that a commit runs into, past the check at Open, stops the store for good: a
// probe cannot repair it, so readiness stays down, and one error line says how to recover.
func TestCorruptionFoundByACommitIsPermanent(t *testing.T) {
	path := damagedDatabase(t)
	var log logBuffer
	s, err := Open(context.Background(), path, Options{Logger: log.logger(), quickCheckBudget: -1})
	if err != nil {
		t.Fatalf("Open without the check: %v", err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; ; i++ {
		_, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: fmt.Sprintf("%016x", r.Uint64()), Sender: "s", Payload: []byte(`{}`)})
		if err != nil {
			if !groupcommit.IsPermanent(err) || !strings.Contains(err.Error(), "is corrupt") {
				t.Fatalf("insert %d = %v, want a permanent failure for corruption", i, err)
			}
			break
		}
		if i == 5000 {
			t.Fatal("5000 inserts with random ids never met a corrupt page")
		}
	}
	wantDown(t, s, "is corrupt")
	alarms := log.lines("is corrupt")
	if len(alarms) != 1 || !strings.Contains(alarms[0], `"level":"ERROR"`) || !strings.Contains(alarms[0], ".recover") {
		t.Errorf("want one error line saying how to recover, got %q\n%s", alarms, log.String())
	}
}

// A database that cannot be written stops the start with a message that says so, whether
// SQLite cannot open it at all (a clean file on a read-only file system: it cannot create the
// WAL) or opens it read-only without a word (the WAL left by a crash is there to read).
func TestOpenRefusesReadOnlyDatabase(t *testing.T) {
	dir := mounttest.Tmpfs(t, "4m")
	clean, crashed := filepath.Join(dir, "clean", "hv.db"), filepath.Join(dir, "crashed", "hv.db")
	s := MustOpenInternal(t, clean)
	insertN(t, s, "m", 10)
	// A crash leaves the database, its WAL and its shared memory as they are while open.
	if err := os.MkdirAll(filepath.Dir(crashed), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(clean + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mounttest.ReadOnly(t, dir)
	for _, path := range []string{clean, crashed} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			s, err := Open(context.Background(), path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open on a read-only file system succeeded")
			}
			if want := "cannot write the database file " + path + " (a read-only file or file system"; !strings.Contains(err.Error(), want) {
				t.Fatalf("Open error %q does not say %q", err, want)
			}
		})
	}
}

// MustOpenInternal opens a store on path that is closed when the test ends.
func MustOpenInternal(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkFileCheck is what every commit pays to know that its path still names the file
// it went into: two stats.
func BenchmarkFileCheck(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "hv.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.files.check(); err != nil {
			b.Fatal(err)
		}
	}
}

// A database path that is a symbolic link works as before: SQLite keeps the WAL beside the
// file the link names, and the file check looks for it there. Deleting the file behind the
// link is noticed and salvaged to where the link points.
func TestDatabaseBehindASymlink(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real", "hv.db"), filepath.Join(dir, "hv.db")
	if err := os.MkdirAll(filepath.Dir(real), 0o750); err != nil {
		t.Fatal(err)
	}
	MustOpenInternal(t, real).Close()
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	s, err := Open(context.Background(), link, Options{Logger: log.logger()})
	if err != nil {
		t.Fatalf("Open through a symbolic link: %v", err)
	}
	defer s.Close()
	acked := insertN(t, s, "m", 5)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping through a symbolic link: %v", err)
	}
	if _, err := os.Stat(real + "-wal"); err != nil {
		t.Fatalf("the WAL is not beside the real file: %v", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(real + suffix); err != nil {
			t.Fatal(err)
		}
	}
	wantDown(t, s, "deleted or replaced while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustBeStored(t, link, acked)
}

// The database file alone deleted after a checkpoint: the WAL left at the path holds only
// the pages written since, at the old file's page numbers. The salvaged copy takes the path
// without it, and the restart finds everything acknowledged, intact.
func TestFileDeletedAfterACheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	s, err := Open(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ids := insertN(t, s, "a", 20)
	if _, _, _, err := s.ckpt.walCheckpoint(context.Background(), "PASSIVE"); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, insertN(t, s, "b", 5)...) // the first of them starts the WAL over
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "lost", Sender: "s", Payload: []byte(`{}`)}); err == nil {
		t.Fatal("an insert into the deleted file succeeded")
	}
	if err := s.Close(); err != nil { // waits for the copy
		t.Logf("close: %v", err)
	}
	mustBeStored(t, path, ids)
}
