// Package sqlite implements hookvault.Store on an embedded SQLite file (modernc.org/sqlite,
// pure Go). Writes go through one connection in WAL mode with synchronous=FULL, so a nil
// error from Insert means the message survives a crash or power loss; reads use a separate
// read-only pool so that they never queue behind the writer.
//
// Inserts are group-committed through internal/groupcommit with a single writer: whatever is
// waiting goes into one transaction and one fsync, and each caller gets its own outcome.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlitedriver "modernc.org/sqlite" // also registers the "sqlite" driver

	"github.com/hookvault/hookvault/internal/groupcommit"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// lowEvery is how often the journal and retention may take the writer while message batches
// keep coming, and lowIdle how long after the last batch they may take it freely (see gate).
const (
	lowEvery = 100 * time.Millisecond
	lowIdle  = 10 * time.Millisecond
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
	// Observer is told about every commit that wrote something (not one of duplicates only).
	Observer hookvault.CommitObserver
	// WriteTimeout bounds how long an insert waits for the writer, and each transaction
	// (default 30s, see groupcommit.Options.Timeout).
	WriteTimeout time.Duration
	// Logger gets the one error line that says the database file was deleted, replaced or
	// found corrupt while open, and what to do (default slog.Default()).
	Logger *slog.Logger

	// Tests shrink the queue (groupcommit's default is 2048), hold the writer before each
	// batch to let inserts queue up, and change the budget of the check at Open (negative:
	// no check).
	queueSize        int
	beforeBatch      func()
	quickCheckBudget time.Duration
	// They also make the checkpointer look more often and restart a smaller WAL, or leave
	// it out, to see the WAL grow without it.
	checkpointEvery time.Duration
	walRestartPages int
	noCheckpointer  bool
}

func (o *Options) setDefaults() {
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.quickCheckBudget == 0 {
		o.quickCheckBudget = quickCheckBudget
	}
	if o.checkpointEvery <= 0 {
		o.checkpointEvery = checkpointEvery
	}
	if o.walRestartPages <= 0 {
		o.walRestartPages = walRestartPages
	}
}

// Store is a hookvault.Store on SQLite.
type Store struct {
	w, r *sql.DB
	opts Options
	path string

	// keep holds one connection open for the store's life, so that SQLite never deletes
	// and recreates the WAL on its own (it does when its last connection closes, which a
	// discarded writer could be), which the file check would take for a deletion.
	// Readiness reads through it too: a listing streams to its client on a connection of
	// the read pool, and slow clients holding them all must not stall the probe.
	keep *sql.DB
	pin  *sql.Conn

	files   files       // what path and its WAL named at Open
	alarmed atomic.Bool // the damage has been logged

	salvageMu sync.Mutex // guards closing against a salvage that starts as Close waits
	closing   bool
	salvaging sync.WaitGroup

	insert, existing *sql.Stmt // prepared on the writer connection
	insertDelivery   *sql.Stmt
	claim, lease     *sql.Stmt // the relay's (see outbox.go), also on the writer connection
	record           *sql.Stmt
	count, countNew  *sql.Stmt // add to one of the /stats counters (see addCounts)

	writes *groupcommit.Queue
	ckpt   *checkpointer // nil until started, and in tests that leave it out
	// gate puts message batches ahead of the journal and retention on the writer;
	// appendStmts are the journal's INSERTs by entry count, used behind the gate.
	gate        *gate
	appendMu    sync.Mutex
	appendStmts map[int]*sql.Stmt

	closeOnce sync.Once
	closeErr  error

	last int64 // the newest received_at handed out (each one once); only the writer touches it

	perSender map[string]int64 // new messages per sender in the batch being written
	perSource map[string]int64 // and per source
}

var _ hookvault.Store = (*Store)(nil)

// Open opens (creating it and its folder if needed) and migrates the database at path, and
// starts the writer. It fails, saying what to do, when the database cannot be written (SQLite
// would open it read-only without a word) or is found corrupt.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	s, err := open(ctx, path, opts)
	if err != nil {
		return nil, openError(path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.setDefaults()
	useFdatasync()
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	// BEGIN IMMEDIATE takes the write lock at the start, so a transaction never fails half
	// way with SQLITE_BUSY when it upgrades from reading to writing. The writer never
	// checkpoints in a commit: the checkpointer does (see checkpoint.go).
	w, err := sql.Open("sqlite", dsn(path, "mode=rwc&_txlock=immediate&_busy_timeout=10000"+
		"&_journal_mode=WAL&_synchronous="+opts.Synchronous+
		fmt.Sprintf("&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(%d)", walLimit(opts.walRestartPages))))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, opts: opts, path: path, perSender: map[string]int64{}, perSource: map[string]int64{},
		appendStmts: map[int]*sql.Stmt{}}
	s.gate = newGate(lowEvery, lowIdle)
	if err := s.start(ctx); err != nil {
		s.closeAll()
		return nil, err
	}
	if !opts.noCheckpointer {
		if s.ckpt, err = startCheckpointer(ctx, path, opts, s.gate); err != nil {
			s.closeAll()
			return nil, err
		}
	}
	s.writes = groupcommit.Start(s.commit, groupcommit.Options{
		Writers: 1, QueueSize: opts.queueSize, Timeout: opts.WriteTimeout, Observer: opts.Observer,
		BeforeBatch: opts.beforeBatch,
	})
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start migrates, proves that the database takes writes and is sound, prepares the writer's
// statements, opens the read pool, and notes which files the path names.
func (s *Store) start(ctx context.Context) (err error) {
	if err := s.migrate(ctx); err != nil {
		return s.classify(err)
	}
	if err := s.probe(ctx); err != nil {
		return err
	}
	if err := s.w.QueryRowContext(ctx, `SELECT coalesce(max(received_at), 0) FROM messages`).Scan(&s.last); err != nil {
		return s.classify(fmt.Errorf("read newest arrival in %s: %w", s.path, err))
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	// The read connections open after migration: a read-only connection cannot create the WAL.
	if s.r, err = sql.Open("sqlite", dsn(s.path, "mode=ro&_busy_timeout=10000&_query_only=1")); err != nil {
		return fmt.Errorf("open %s read-only: %w", s.path, err)
	}
	s.r.SetMaxOpenConns(s.opts.ReadConns)
	s.r.SetMaxIdleConns(s.opts.ReadConns)
	if err := s.quickCheck(ctx, s.opts.quickCheckBudget); err != nil {
		return err
	}
	if s.keep, err = sql.Open("sqlite", dsn(s.path, "mode=ro&_busy_timeout=10000&_query_only=1")); err != nil {
		return fmt.Errorf("open %s read-only: %w", s.path, err)
	}
	if s.pin, err = s.keep.Conn(ctx); err != nil {
		return fmt.Errorf("open %s read-only: %w", s.path, err)
	}
	// A read opens the WAL, which the connection then holds until it closes.
	if _, err = s.pin.ExecContext(ctx, `SELECT count(*) FROM counts`); err != nil {
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	s.files, err = identify(s.path)
	return err
}

// countQuery adds to one of the /stats counters (see addCounts).
const countQuery = `INSERT INTO counts (kind, name, n) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET n = n + excluded.n`

// statements are the writer's prepared statements with their SQL: prepare makes them,
// closeAll closes them. The relay's are among them: preparing them in each of its
// transactions cost about a third of a record (their JSON functions are slow to compile).
func (s *Store) statements() []struct {
	stmt **sql.Stmt
	q    string
} {
	return []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&s.insert, `INSERT INTO messages (source, id, received_at, type, sender, content, content_type, headers, payload)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`},
		{&s.insertDelivery, insertDeliveriesQuery},
		{&s.existing, `SELECT payload, received_at FROM messages WHERE source = ? AND id = ?`},
		{&s.count, countQuery},
		// The returned count equals the added one exactly when the counted name is new.
		{&s.countNew, countQuery + ` RETURNING n`},
		{&s.claim, claimQuery}, {&s.lease, leaseQuery}, {&s.record, recordQuery},
	}
}

// prepare prepares the writer's statements.
func (s *Store) prepare(ctx context.Context) (err error) {
	for _, st := range s.statements() {
		if *st.stmt, err = s.w.PrepareContext(ctx, st.q); err != nil {
			return fmt.Errorf("prepare %.40q: %w", st.q, err)
		}
	}
	return nil
}

// useFdatasync makes SQLite commit with fdatasync(2) instead of fsync(2), as SQLite's own
// builds do on Linux: the library here is transpiled without the configure check that picks
// it. fdatasync writes the data and the metadata needed to read it back (the size too), not
// the timestamps, whose update fsync sends through ext4's journal on every commit: as durable,
// and a commit waits for about half as long. Where the library has no fdatasync (macOS,
// Windows) it keeps fsync. The setting is process-wide; every store wants it.
func useFdatasync() {
	_, _ = sqlitedriver.Fdatasync(true)
}

// dsn builds a file: URI, escaping the characters that SQLite's URI parser treats specially.
func dsn(path, query string) string {
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + path + "?" + query
}

func (s *Store) migrate(ctx context.Context) error {
	p, err := migrator(s.w)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrator applies the embedded migrations to db.
func migrator(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return p, nil
}

// Close stops taking inserts, lets the writer commit everything already queued, stops the
// checkpointer, then closes the read pool and the writer, whose last close checkpoints the
// WAL and removes it. Closing twice is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.writes.Close()
		s.gate.close()
		s.salvageMu.Lock()
		s.closing = true
		s.salvageMu.Unlock()
		s.salvaging.Wait() // the copy must be whole before the connections close
		s.closeErr = s.closeAll()
	})
	return s.closeErr
}

// closeAll closes what is open, the writer last: its close is the last one, which
// checkpoints the WAL into the database and deletes the WAL, unless the WAL's name no
// longer belongs to this store's file.
func (s *Store) closeAll() error {
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	for _, st := range s.statements() {
		if *st.stmt != nil {
			errs = append(errs, (*st.stmt).Close())
		}
	}
	s.appendMu.Lock()
	for _, st := range s.appendStmts {
		errs = append(errs, st.Close())
	}
	s.appendMu.Unlock()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.pin != nil {
		errs = append(errs, s.pin.Close())
	}
	if s.keep != nil {
		errs = append(errs, s.keep.Close())
	}
	if s.files.db != nil && s.files.check() != nil {
		errs = append(errs, keepWAL(context.Background(), s.w))
	}
	return errors.Join(append(errs, s.w.Close())...)
}

// Insert hands m to the writer and returns once its transaction has committed; see
// groupcommit.Queue.Insert for how long it waits. A Created message's deliveries are
// written in that transaction.
func (s *Store) Insert(_ context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	if err := m.Check(); err != nil {
		return hookvault.Receipt{}, err
	}
	if err := m.CheckDestinations(); err != nil {
		return hookvault.Receipt{}, err
	}
	return s.writes.Insert(m)
}

// orNull is v, or NULL for "": a message without a type or a sender has none in the
// database, which keeps it out of the partial index of that column.
func orNull(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// insertArgs are the insert's values for m arriving at at. Content exists only with a
// sender; no headers is NULL, where a nil []byte would be stored as an empty blob.
func insertArgs(m hookvault.Message, at int64) []any {
	content, headers := any(nil), any(nil)
	if m.Sender != "" {
		content = m.Content
	}
	if len(m.Headers) > 0 {
		headers = m.Headers
	}
	return []any{m.Source, m.ID, at, orNull(m.Type), orNull(m.Sender), content, m.ContentType, headers, m.Payload}
}

// commit writes one batch, then checks that the database's path still names the file the
// batch went into: if not, the batch is as good as lost and must not be acknowledged. A
// batch of duplicates only committed nothing, so nothing of it can be lost: it skips the
// check (two stats, an eighth of a duplicate's cost here), which the next batch that writes,
// or the next readiness probe, makes.
func (s *Store) commit(ctx context.Context, batch []hookvault.Message, results []hookvault.Receipt) (bool, error) {
	s.gate.lockHigh()
	wrote, err := s.writeBatch(ctx, batch, results)
	s.gate.unlockHigh()
	if err == nil && wrote {
		err = s.files.check()
	}
	if err != nil {
		return false, s.fail(s.classify(err))
	}
	return wrote, nil
}

// writeBatch runs one transaction. The database decides uniqueness: an insert that does
// nothing met an existing (source, id), whose stored body tells a duplicate from a
// conflict. That row was committed before, or is written earlier in this same transaction,
// which commits before anyone is answered. A batch of duplicates only writes nothing and is
// not committed. The /stats counters are updated in the same transaction, once per sender
// and once per source of the batch, and so are the deliveries of each Created message with
// destinations (a message without any costs nothing more).
func (s *Store) writeBatch(ctx context.Context, batch []hookvault.Message, results []hookvault.Receipt) (wrote bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// The transaction keeps ctx's deadline (database/sql ends it when ctx is done, and no
	// statement runs after that); its statements run without one. The driver starts a
	// goroutine per statement to watch a context that can end, and one statement writes to
	// memory: what stalls a batch is the disk, at the commit, which an interrupt cannot
	// stop anyway.
	ctx = context.WithoutCancel(ctx)
	insert, existing := tx.StmtContext(ctx, s.insert), tx.StmtContext(ctx, s.existing)
	var outbox []byte // the Created messages' deliveries, written by one statement (see appendDeliveries)
	clear(s.perSender)
	clear(s.perSource)
	for i, m := range batch {
		// Arrival stamps follow commit order and are unique: received_at is the rowid. A
		// duplicate takes none.
		now := s.opts.Now().UnixNano()
		at := max(now, s.last+1)
		res, err := insert.ExecContext(ctx, insertArgs(m, at)...)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("rows affected: %w", err)
		}
		if n == 1 {
			wrote, s.last = true, at
			s.perSource[m.Source]++
			if m.Sender != "" {
				s.perSender[m.Sender]++
			}
			results[i] = hookvault.Receipt{Outcome: hookvault.Created, ReceivedAt: time.Unix(0, at).UTC()}
			if outbox, err = appendDeliveries(outbox, at, m.Destinations); err != nil {
				return false, fmt.Errorf("deliveries of %q: %w", m.ID, err)
			}
			continue
		}
		var payload []byte
		var first int64
		if err := existing.QueryRowContext(ctx, m.Source, m.ID).Scan(&payload, &first); err != nil {
			return false, fmt.Errorf("read existing %q in %q: %w", m.ID, m.Source, err)
		}
		outcome := hookvault.Duplicate
		if !bytes.Equal(payload, m.Payload) {
			outcome = hookvault.Conflict
		}
		results[i] = hookvault.Receipt{Outcome: outcome, ReceivedAt: time.Unix(0, first).UTC()}
	}
	if !wrote {
		return false, nil
	}
	if len(outbox) > 0 { // created with their messages, due now: the outbox
		outbox[0] = '['
		outbox = append(outbox, ']')
		if _, err := tx.StmtContext(ctx, s.insertDelivery).ExecContext(ctx, s.opts.Now().UnixNano(), string(outbox)); err != nil {
			return false, fmt.Errorf("insert deliveries: %w", err)
		}
	}
	if err := s.addCounts(ctx, tx); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}

// insertDeliveriesQuery writes the deliveries of a batch's Created messages, due at ?1, from
// the JSON array of appendDeliveries (?2), in its order: each message is found by its rowid.
const insertDeliveriesQuery = `INSERT INTO deliveries (destination, source, message_id, status, created_at, next_attempt_at)
	SELECT j.value ->> 1, m.source, m.id, 'pending', m.received_at, ?
	FROM json_each(?) AS j CROSS JOIN messages AS m ON m.received_at = j.value ->> 0`

// appendDeliveries adds a delivery to each of dests of the message stored at received_at to
// the batch's outbox, a JSON array of [received_at, destination] that s.insertDelivery reads
// with json_each: one statement for all of a batch's deliveries, where a statement per
// delivery (each bound, run and reset on its own, each updating sqlite_sequence) cost the
// writer about a quarter more and twice the allocations. The elements start with a comma;
// the caller makes the first one '['.
func appendDeliveries(outbox []byte, receivedAt int64, dests []string) ([]byte, error) {
	for _, d := range dests {
		name, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		outbox = append(strconv.AppendInt(append(outbox, ",["...), receivedAt, 10), ',')
		outbox = append(append(outbox, name...), ']')
	}
	return outbox, nil
}

// addCounts adds the batch's new messages to the /stats counters: per source (every message
// has one), per sender (only the messages that have one), and the totals. They are rows of
// one table (see migration 00008), most often all in one page.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx) error {
	count, countNew := tx.StmtContext(ctx, s.count), tx.StmtContext(ctx, s.countNew)
	var messages, senders int64
	for source, added := range s.perSource {
		if _, err := count.ExecContext(ctx, "source", source, added); err != nil {
			return fmt.Errorf("count source %q: %w", source, err)
		}
		messages += added
	}
	for sender, added := range s.perSender {
		var n int64
		if err := countNew.QueryRowContext(ctx, "sender", sender, added).Scan(&n); err != nil {
			return fmt.Errorf("count sender %q: %w", sender, err)
		}
		if n == added {
			senders++
		}
	}
	if _, err := count.ExecContext(ctx, "total", "messages", messages); err != nil {
		return fmt.Errorf("count total messages: %w", err)
	}
	if senders > 0 {
		if _, err := count.ExecContext(ctx, "total", "senders", senders); err != nil {
			return fmt.Errorf("count total senders: %w", err)
		}
	}
	return nil
}

// Get returns one message from the read pool.
func (s *Store) Get(ctx context.Context, source, id string) (hookvault.Message, error) {
	m := hookvault.Message{Source: source, ID: id}
	var at int64
	var typ, sender, content sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT received_at, type, sender, content, content_type, headers, payload
		FROM messages WHERE source = ? AND id = ?`, source, id).
		Scan(&at, &typ, &sender, &content, &m.ContentType, &m.Headers, &m.Payload)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return hookvault.Message{}, hookvault.Errorf(hookvault.ENOTFOUND, "no message with id %q in source %q", id, source)
	case err != nil:
		return hookvault.Message{}, hookvault.Unavailable(fmt.Errorf("get %q in %q: %w", id, source, err))
	}
	m.ReceivedAt = time.Unix(0, at).UTC()
	m.Type, m.Sender, m.Content = typ.String, sender.String, content.String
	return m, nil
}
