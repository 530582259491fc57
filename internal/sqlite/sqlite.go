// Package sqlite implements hookvault.Store on an embedded SQLite file (modernc.org/sqlite,
// pure Go). Writes go through one connection in WAL mode with synchronous=FULL, so a nil
// error from Insert means the message survives a crash or power loss; reads use a separate
// read-only pool so that they never queue behind the writer.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/hookvault/hookvault/internal/hookvault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a Store. The zero value is a durable store with a wall clock.
type Options struct {
	// Synchronous is the synchronous pragma: FULL (default), EXTRA or NORMAL.
	Synchronous string
	// ReadConns bounds the read pool; busy readers slow the writer, so keep it small.
	ReadConns int
	// Now is the clock that stamps arrivals; tests inject one.
	Now func() time.Time
	// Observer is told about every commit.
	Observer hookvault.CommitObserver
	// WriteTimeout bounds one insert, including the wait for the writer.
	WriteTimeout time.Duration
}

// Store is a hookvault.Store on SQLite.
type Store struct {
	w, r *sql.DB
	opts Options

	mu   sync.Mutex
	last int64 // the newest received_at handed out, so stamps never go backwards
}

var _ hookvault.Store = (*Store)(nil)

// Open opens (creating it and its folder if needed) and migrates the database at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	// BEGIN IMMEDIATE takes the write lock at the start, so a transaction never fails half
	// way with SQLITE_BUSY when it upgrades from reading to writing.
	w, err := sql.Open("sqlite", dsn(path, "mode=rwc&_txlock=immediate&_busy_timeout=10000"+
		"&_journal_mode=WAL&_synchronous="+opts.Synchronous))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer; queueing here is cheaper than SQLITE_BUSY
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, opts: opts}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.QueryRowContext(ctx, `SELECT coalesce(max(received_at), 0) FROM messages`).Scan(&s.last); err != nil {
		w.Close()
		return nil, fmt.Errorf("read newest arrival in %s: %w", path, err)
	}
	// The read pool opens after migration: a read-only connection cannot create the WAL.
	r, err := sql.Open("sqlite", dsn(path, "mode=ro&_busy_timeout=10000&_query_only=1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	s.r = r
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds a file: URI, escaping the characters that SQLite's URI parser treats specially.
func dsn(path, query string) string {
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + path + "?" + query
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, fsys)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the read pool, then the writer, whose last close checkpoints the WAL.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// Ping checks that the database answers a query on the read pool.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 1)`).Scan(&n); err != nil {
		return hookvault.Unavailable(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// stamp returns the arrival time of the message being written: the clock, but never before
// an arrival already handed out. It is called inside the write transaction, which the single
// writer connection serializes, so stamps follow commit order.
func (s *Store) stamp() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = max(s.opts.Now().UnixNano(), s.last)
	return s.last
}

// Insert stores m unless its id exists, and returns only after the commit is durable.
//
// Once a delivery has been verified it is written whether or not its sender is still
// waiting: a cancelled request must not leave half a decision, so the write runs on a
// context detached from the caller's and bounded by WriteTimeout.
func (s *Store) Insert(ctx context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: begin: %w", m.ID, err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	at := s.stamp()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO messages (id, sender, content, received_at, payload) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		m.ID, m.Sender, m.Content, at, m.Payload)
	if err != nil {
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: %w", m.ID, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: rows affected: %w", m.ID, err))
	}
	if n == 0 {
		// The id exists; it was committed before this transaction began, so it is durable.
		var payload []byte
		var first int64
		if err := tx.QueryRowContext(ctx, `SELECT payload, received_at FROM messages WHERE id = ?`, m.ID).Scan(&payload, &first); err != nil {
			return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: read existing: %w", m.ID, err))
		}
		outcome := hookvault.Duplicate
		if !bytes.Equal(payload, m.Payload) {
			outcome = hookvault.Conflict
		}
		return hookvault.Receipt{Outcome: outcome, ReceivedAt: time.Unix(0, first).UTC()}, nil
	}
	if err := tx.Commit(); err != nil {
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: commit: %w", m.ID, err))
	}
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveCommit(1, time.Since(start))
	}
	return hookvault.Receipt{Outcome: hookvault.Created, ReceivedAt: time.Unix(0, at).UTC()}, nil
}

// Get returns one message from the read pool.
func (s *Store) Get(ctx context.Context, id string) (hookvault.Message, error) {
	m := hookvault.Message{ID: id}
	var at int64
	err := s.r.QueryRowContext(ctx,
		`SELECT sender, content, received_at, payload FROM messages WHERE id = ?`, id).
		Scan(&m.Sender, &m.Content, &at, &m.Payload)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return hookvault.Message{}, hookvault.Errorf(hookvault.ENOTFOUND, "no message with id %q", id)
	case err != nil:
		return hookvault.Message{}, hookvault.Unavailable(fmt.Errorf("get %q: %w", id, err))
	}
	m.ReceivedAt = time.Unix(0, at).UTC()
	return m, nil
}
