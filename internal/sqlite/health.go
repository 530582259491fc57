package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookvault/hookvault/internal/groupcommit"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// How the store finds out that it cannot keep its promise, and says so: readiness fails,
// inserts are answered 503, and one log line tells the operator what happened and what to do.
//
//   - The database file or its WAL deleted or replaced while open: SQLite keeps writing into
//     the files it has open, which nothing can read after a restart. SQLite can notice a
//     moved file itself (SQLITE_FCNTL_HAS_MOVED) but only consults that in rollback-journal
//     mode, so the store does the same check, a stat of each path and an inode compare, after
//     every commit and in Ping. Permanent: the store saves what its open files hold to where
//     the next start finds it (salvage), and a restart continues from there.
//   - A corrupt database (SQLITE_CORRUPT, SQLITE_NOTADB): permanent as well.
//   - Anything else a commit fails with (a full disk, an I/O error, a file made read-only) is
//     transient: readiness fails until a commit or a write probe succeeds.

// damage is a state of the database file that no retry or probe repairs.
type damage struct {
	what, todo string // for the log line and for Open's error
	err        error
	moved      bool // the files, not their content: salvage what the open files hold
}

func (d *damage) Error() string { return fmt.Sprintf("%s (%v): %s", d.what, d.err, d.todo) }
func (d *damage) Unwrap() error { return d.err }

// alarm is the log line of damage found while the store runs.
func (d *damage) alarm() string { return d.what + "; hookvault stopped acknowledging; " + d.todo }

func moved(path string, err error) *damage {
	return &damage{err: err, moved: true,
		what: fmt.Sprintf("database file %s was deleted or replaced while open; writes since then would be lost", path),
		todo: "it is saving a copy of the database it has open (see the next line): restart it then, or restore the file"}
}

func corrupt(path string, err error) *damage {
	return &damage{err: err,
		what: fmt.Sprintf("database file %s is corrupt", path),
		todo: fmt.Sprintf("stop hookvault, then restore the file from a backup, or salvage what is readable with "+
			"`sqlite3 %s .recover | sqlite3 recovered.db` and start on the recovered file", path)}
}

// code is the primary SQLite result code of err, or 0 when err does not come from SQLite.
func code(err error) int {
	var e *sqlitedriver.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// classify turns an error of the database into damage when no retry can help.
func (s *Store) classify(err error) error {
	var e *sqlitedriver.Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &e):
		return err
	case e.Code() == sqlite3.SQLITE_READONLY_DBMOVED:
		return moved(s.path, err)
	case code(err) == sqlite3.SQLITE_CORRUPT || code(err) == sqlite3.SQLITE_NOTADB:
		return corrupt(s.path, err)
	}
	return err
}

// fail reports err. Damage found while the store runs is logged once and stops the write
// queue for good; it comes back marked permanent. (At Open, the error says it all.) Any
// other error comes back as it is.
func (s *Store) fail(err error) error {
	var d *damage
	if !errors.As(err, &d) {
		return err
	}
	err = groupcommit.Permanent(err)
	if s.writes == nil {
		return err
	}
	s.writes.Break(err)
	if s.alarmed.CompareAndSwap(false, true) {
		s.opts.Logger.Error(d.alarm(), slog.String("path", s.path), slog.String("error", d.err.Error()))
		if d.moved {
			s.salvageMu.Lock()
			if !s.closing {
				s.salvaging.Go(s.salvage)
			}
			s.salvageMu.Unlock()
		}
	}
	return err
}

// salvage saves what the store's open files hold, which nothing else can reach any more, to
// where the next start finds it: everything acknowledged before the files went away survives
// a restart. It never overwrites a file: a path that names another file by now keeps it, and
// the copy goes beside it.
func (s *Store) salvage() {
	ctx := context.Background()
	if s.ckpt != nil {
		// The salvage's own checkpoint would find the checkpointer's running and give up.
		if err := s.ckpt.close(); err != nil {
			s.opts.Logger.Warn("could not stop the checkpointer", slog.String("error", err.Error()))
		}
	}
	log := s.opts.Logger.With(slog.String("path", s.path))
	if now, err := os.Stat(s.files.real); err == nil && os.SameFile(now, s.files.db) {
		// Only the WAL went: fold it into the database file, which the path still names.
		var busy, frames, done int
		err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
		if err == nil && busy != 0 {
			err = errors.New("the checkpoint could not finish: another connection holds the database")
		}
		if err != nil {
			log.Error("could not save the open WAL into the database file: restore it from a backup, then restart hookvault",
				slog.String("error", err.Error()))
			return
		}
		log.Warn("saved the open WAL into the database file: restart hookvault to continue on it")
		return
	}
	// Beside the file itself, which a symbolic link at the path may name: a link needs one
	// file system.
	side := fmt.Sprintf("%s.saved-%d", s.files.real, time.Now().Unix())
	err := func() error {
		// VACUUM INTO writes a consistent copy but does not sync it.
		if _, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, side); err != nil {
			return err
		}
		return syncFile(side)
	}()
	if err != nil {
		os.Remove(side)
		log.Error("could not save a copy of the open database: restore the file from a backup, then restart "+
			"hookvault (it creates a new, empty database otherwise)", slog.String("error", err.Error()))
		return
	}
	// When the WAL's path still names this store's WAL, the WAL and shared-memory files there
	// are this store's: they hold nothing the copy lacks, and the next start would read them
	// into whatever file the path names then (the copy, a file restored in its place), whose
	// pages they do not match. Their names go before the copy takes the path. (Tests used not
	// to see it: a WAL that SQLite never checkpointed holds every page, which happens to
	// rebuild the database whatever file it is read into.)
	if now, err := os.Stat(s.files.real + "-wal"); err == nil && os.SameFile(now, s.files.wal) {
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Remove(s.files.real + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("could not remove the open database's "+suffix+" file", slog.String("error", err.Error()))
			}
		}
	}
	// A link does not replace what may be at the path by now; a rename would.
	if err := os.Link(side, s.files.real); err != nil {
		log.Error("saved a copy of the open database beside the file, whose path names another file now: "+
			"stop hookvault, put the file you want in place, and start it again",
			slog.String("copy", side), slog.String("error", err.Error()))
		return
	}
	os.Remove(side)
	if err := syncFile(filepath.Dir(s.files.real)); err != nil {
		log.Warn("could not sync the folder of the saved copy", slog.String("error", err.Error()))
	}
	log.Warn("saved a copy of the open database as the database file: restart hookvault to continue on it")
}

// syncFile flushes a file or folder to disk. Never call it on a file SQLite has open: closing
// any descriptor of a file drops the process's POSIX locks on it.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// files is what the database's path and its WAL's named when the store opened them.
type files struct {
	path    string
	real    string // path with symbolic links resolved: SQLite puts the WAL beside the file itself
	db, wal os.FileInfo
}

func identify(path string) (files, error) {
	f := files{path: path}
	var err error
	if f.real, err = filepath.EvalSymlinks(path); err != nil {
		return f, fmt.Errorf("resolve database path: %w", err)
	}
	if f.db, err = os.Stat(path); err != nil {
		return f, fmt.Errorf("stat database file: %w", err)
	}
	if f.wal, err = os.Stat(f.real + "-wal"); err != nil {
		return f, fmt.Errorf("stat database WAL: %w", err)
	}
	return f, nil
}

// check reports damage when the path or the WAL's path no longer names the file SQLite has
// open: what was committed since went to a file that nothing will find again. Any other stat
// failure is an error, transient like an I/O error.
func (f *files) check() error {
	for _, want := range []struct {
		name string
		fi   os.FileInfo
	}{{f.path, f.db}, {f.real + "-wal", f.wal}} {
		got, err := os.Stat(want.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return moved(f.path, fmt.Errorf("%s was deleted", want.name))
		case err != nil:
			return fmt.Errorf("check database file: %w", err)
		case !os.SameFile(got, want.fi):
			return moved(f.path, fmt.Errorf("%s is another file than the one opened", want.name))
		}
	}
	return nil
}

// Ping reports whether the store accepts writes: its files are still where they were
// opened, the database answers a read, the write queue is not stopped, and, when the last
// commit failed, a write probe succeeds. A healthy store never touches the writer here.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.files.check(); err != nil {
		return hookvault.Unavailable(fmt.Errorf("ping: %w", s.fail(err)))
	}
	var n int
	if err := s.pin.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 1)`).Scan(&n); err != nil {
		return hookvault.Unavailable(fmt.Errorf("ping: %w", s.fail(s.classify(err))))
	}
	if err := s.writes.Check(ctx, s.readyProbe); err != nil {
		return hookvault.Unavailable(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// probeRoom is the free space readiness asks for after a failed commit: a batch of the
// largest size (1 MiB of bodies) with its index pages and counters, as WAL frames.
const probeRoom = 2 << 20

// readyProbe is probe, once the file system has room for a batch. The WAL keeps its file when
// it starts over (see checkpoint.go), so on a full disk a small write may still fit where a
// batch does not: the probe alone would call the store ready while deliveries keep failing.
func (s *Store) readyProbe(ctx context.Context) error {
	if free, err := freeBytes(filepath.Dir(s.files.real)); err == nil && free < probeRoom {
		return fmt.Errorf("write probe: the file system of %s has %d bytes free, less than a batch may need (%d)",
			s.path, free, probeRoom)
	}
	return s.probe(ctx)
}

// probe commits a write that changes no data, through the writer connection as inserts do:
// adding 1 to the messages total and taking it away dirties its page, so the commit appends a
// WAL frame and syncs it. (An UPDATE that sets a column to its own value would not do: SQLite
// leaves a cell that did not change alone, and the commit of a clean transaction writes
// nothing, so it succeeds even on a full disk.)
func (s *Store) probe(ctx context.Context) error {
	err := func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("write probe: begin: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		for _, q := range []string{`UPDATE counts SET n = n + 1 WHERE kind = 'total' AND name = 'messages'`,
			`UPDATE counts SET n = n - 1 WHERE kind = 'total' AND name = 'messages'`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("write probe: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("write probe: commit: %w", err)
		}
		return nil
	}()
	return s.fail(s.classify(err))
}

// quickCheckBudget bounds PRAGMA quick_check at Open. It reads the whole file: on this
// project's test machine about 0.5 s per million messages from the page cache and 4-5 s
// from disk, so the budget covers small and mid-sized databases at every start, and a
// larger one never delays the start by more than this.
const quickCheckBudget = 5 * time.Second

// quickCheck runs PRAGMA quick_check within budget on a read connection, and reports
// corruption as damage. When the budget runs out it logs that the check was cut short and
// lets the store open: the first write to a corrupt page still stops the store.
func (s *Store) quickCheck(ctx context.Context, budget time.Duration) error {
	if budget < 0 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	start := time.Now()
	rows, err := s.r.QueryContext(qctx, `PRAGMA quick_check(5)`)
	var found []string
	if err == nil {
		for rows.Next() {
			var line string
			if err = rows.Scan(&line); err != nil {
				break
			}
			found = append(found, line)
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	switch {
	case err != nil && ctx.Err() == nil && qctx.Err() != nil:
		s.opts.Logger.Warn(fmt.Sprintf("database check cut short: %s is too large to check within %v at every start; "+
			"check it now and then with `sqlite3 %s 'PRAGMA quick_check'`", s.path, budget, s.path),
			slog.String("path", s.path))
		return nil
	case err != nil:
		return s.classify(fmt.Errorf("quick_check: %w", err))
	case len(found) != 1 || found[0] != "ok":
		return corrupt(s.path, fmt.Errorf("quick_check: %s", strings.ReplaceAll(strings.Join(found, "\n"), "\n", "; ")))
	}
	s.opts.Logger.Debug("database checked", slog.String("path", s.path), slog.String("took", time.Since(start).String()))
	return nil
}

// ErrCannotWrite is in Open's error when SQLite cannot open or write the database file
// (SQLITE_CANTOPEN, SQLITE_READONLY): the path does not suit this process, whatever the
// data, so the server reports it as a mistake in DATABASE_URL. It catches what no check
// beforehand can foresee, such as /proc, where access(2) lets root create files.
var ErrCannotWrite = errors.New("cannot write the database file")

// openError says what a user can do about an error opening the database.
func openError(path string, err error) error {
	var d *damage
	switch {
	case errors.As(err, &d):
		return err
	case code(err) == sqlite3.SQLITE_READONLY || code(err) == sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w %s (a read-only file or file system, or a folder "+
			"hookvault may not create files in): %w", ErrCannotWrite, path, err)
	}
	return err
}

// keepWAL stops the last close of the database from deleting the WAL and shared-memory
// files by name when those names no longer belong to the files this store opened: they may
// be someone's restored copy by now.
func keepWAL(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		fc, ok := dc.(sqlitedriver.FileControl)
		if !ok {
			return errors.New("the driver connection has no file control")
		}
		_, err := fc.FileControlPersistWAL("main", 1)
		return err
	})
}
