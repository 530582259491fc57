// Package postgres implements hookvault.Store on PostgreSQL (pgx and its pool), so that
// several stateless replicas can share one database.
//
// Inserts are group-committed through internal/groupcommit, with one writer per replica
// unless Options.WriteConns asks for more. A batch is one INSERT … ON CONFLICT (source, id)
// DO NOTHING statement, which is its own transaction: PostgreSQL decides uniqueness, so two
// replicas inserting one (source, id) at once store one row, and the second waits for the
// first to commit before it learns it lost. Rows are inserted in (source, id) order, so
// batches that share ids never deadlock on each other.
//
// Every text a sender controls (source, id, type, sender, content, content type, headers) is
// bytea, compared byte for byte like SQLite's text: a JSON string may hold U+0000, which
// PostgreSQL's text cannot store, and an id in a URL path or a header need not be UTF-8.
// Either would otherwise turn a valid request into a 503.
package postgres

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hookvault/hookvault/internal/groupcommit"
	"github.com/hookvault/hookvault/internal/hookvault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a Store. The zero value is a store with sane defaults and a wall clock.
type Options struct {
	// WriteConns is the number of batches in flight at once per replica (default 1). One
	// writer makes the fewest, largest commits and stamps arrivals in commit order; more
	// overlap the round trips to a distant database.
	WriteConns int
	// ReadConns bounds the pool for list, get, stats, readiness and compaction (default 4).
	ReadConns int
	// OutboxConns bounds the pool of the relay's writes: Claim, Record, Redeliver (default
	// 2). It is apart from the writers', so that a busy relay never delays an insert.
	OutboxConns int
	// BackgroundConns bounds the pool of the rejection journal's appends and pruning and of
	// retention's deletes (default 1), so that they never take a connection the writers need.
	BackgroundConns int
	// Timeout bounds connecting and every database operation; an insert that no writer
	// took within it is answered EUNAVAILABLE and never written (default 10s).
	Timeout time.Duration
	// Migrate applies pending migrations on Open, under PostgreSQL's advisory lock so that
	// replicas starting together do not race. Without it Open refuses a schema that is
	// behind, and `hookvault migrate` must run first.
	Migrate bool
	// Now is the clock that stamps arrivals; tests inject one.
	Now func() time.Time
	// Observer is told about every commit that wrote something (not one of duplicates only).
	Observer hookvault.CommitObserver
	// CompactEvery is how often the /stats counters are folded together (default 1m;
	// negative: never, for tests that compact by hand).
	CompactEvery time.Duration
}

func (o *Options) setDefaults() {
	if o.WriteConns <= 0 {
		o.WriteConns = 1
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.OutboxConns <= 0 {
		o.OutboxConns = 2
	}
	if o.BackgroundConns <= 0 {
		o.BackgroundConns = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CompactEvery == 0 {
		o.CompactEvery = time.Minute
	}
}

// Store is a hookvault.Store on PostgreSQL.
type Store struct {
	w, r *pgxpool.Pool // writers and readers never wait for each other's connections
	bg   *pgxpool.Pool // the journal and retention, which wait for neither
	// health is readiness's own connection: a listing streams to its client on a reader
	// connection, and slow clients holding them all must not stall the probe.
	health *pgxpool.Pool
	o      *pgxpool.Pool // the outbox's writes (see outbox.go)
	opts   Options

	writes *groupcommit.Queue
	last   atomic.Int64 // the newest received_at (µs) this replica handed out

	stopCompact chan struct{}
	compacted   sync.WaitGroup
	closeOnce   sync.Once
}

var _ hookvault.Store = (*Store)(nil)

// Open connects to the database at url, migrates it (or checks that it is migrated), and
// starts the writers. It fails when the database cannot be reached within opts.Timeout.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts.setDefaults()
	cfg, err := poolConfig(url, opts.Timeout)
	if err != nil {
		return nil, err
	}
	// A migration may take a while and waits for another replica's; connecting does not.
	if opts.Migrate {
		if err := migrate(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
	} else if err := checkMigrated(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	wcfg, rcfg, hcfg, ocfg, bcfg := cfg.Copy(), cfg.Copy(), cfg.Copy(), cfg.Copy(), cfg.Copy()
	wcfg.MaxConns, rcfg.MaxConns, hcfg.MaxConns, ocfg.MaxConns = int32(opts.WriteConns), int32(opts.ReadConns), 1, int32(opts.OutboxConns)
	bcfg.MaxConns = int32(opts.BackgroundConns)
	s := &Store{opts: opts, stopCompact: make(chan struct{})}
	if s.w, err = pgxpool.NewWithConfig(ctx, wcfg); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if s.r, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if s.health, err = pgxpool.NewWithConfig(ctx, hcfg); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if s.o, err = pgxpool.NewWithConfig(ctx, ocfg); err != nil {
		s.w.Close()
		s.r.Close()
		s.health.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if s.bg, err = pgxpool.NewWithConfig(ctx, bcfg); err != nil {
		s.w.Close()
		s.r.Close()
		s.health.Close()
		s.o.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	var newest *time.Time
	if err := s.r.QueryRow(ctx, `SELECT max(received_at) FROM messages`).Scan(&newest); err != nil {
		s.w.Close()
		s.r.Close()
		s.health.Close()
		s.o.Close()
		s.bg.Close()
		return nil, fmt.Errorf("read newest arrival: %w", err)
	}
	if newest != nil {
		s.last.Store(newest.UnixMicro())
	}
	s.writes = groupcommit.Start(s.writeBatch, groupcommit.Options{
		Writers: opts.WriteConns, Timeout: opts.Timeout, Observer: opts.Observer,
	})
	if opts.CompactEvery > 0 {
		s.compacted.Go(s.compactLoop)
	}
	return s, nil
}

// poolConfig parses url and fills in what makes a lost database fail fast instead of hang.
// Parameters in the URL win: connect_timeout, statement_timeout, pool_max_conn_lifetime…
func poolConfig(url string, timeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("cannot parse the PostgreSQL URL (postgres://user:password@host:port/database?param=value)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(timeout.Milliseconds())
	}
	// A 2xx means the message is on disk: do not inherit synchronous_commit=off from the
	// server or role. The URL may still ask for remote_apply and the like.
	if _, ok := rp["synchronous_commit"]; !ok {
		rp["synchronous_commit"] = "on"
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "hookvault"
	}
	// A connection killed by a database restart is found before use: pgxpool pings one that
	// has been idle for over a second, and drops one whose query failed on the network.
	return cfg, nil
}

// Migrate applies pending migrations to the database at url: `hookvault migrate`. Replicas
// that start at once are serialised by an advisory lock.
func Migrate(ctx context.Context, url string, timeout time.Duration) error {
	cfg, err := poolConfig(url, timeout)
	if err != nil {
		return err
	}
	return migrate(ctx, cfg.ConnConfig)
}

func migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	return withProvider(cc, func(p *goose.Provider) error {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

// checkMigrated compares the schema's version with this build's without writing anything:
// a replica told not to migrate may lack the right to, and must not create goose's table.
func checkMigrated(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var table *string
	err = conn.QueryRow(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&table)
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if table == nil {
		return errors.New("the schema has no hookvault tables: run `hookvault migrate` (or set DATABASE_AUTO_MIGRATE=true)")
	}
	return withProvider(cc, func(p *goose.Provider) error {
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current < target {
			return fmt.Errorf("the schema is at version %d, this build needs %d: run `hookvault migrate` (or set DATABASE_AUTO_MIGRATE=true)", current, target)
		}
		return nil
	})
}

func withProvider(cc *pgx.ConnConfig, fn func(*goose.Provider) error) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// A migration may rightly run longer than one request's statement_timeout.
	mc := cc.Copy()
	delete(mc.RuntimeParams, "statement_timeout")
	db := stdlib.OpenDB(*mc)
	defer db.Close()
	// Replicas that lose the race retry every second (goose's default is five) for up to
	// ten minutes, the time a long migration of another replica may take.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	return fn(p)
}

// Close stops taking inserts, lets the writers commit everything already queued, and
// closes the pools. Closing twice is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopCompact)
		s.compacted.Wait()
		s.writes.Close()
		s.w.Close()
		s.r.Close()
		s.health.Close()
		s.o.Close()
		s.bg.Close()
	})
	return nil
}

// errReadOnly is why Ping fails on a server that cannot take writes: a standby that a
// failover left behind the URL, or a read-only default for hookvault's role.
var errReadOnly = errors.New("the database takes no writes (a standby, or transaction_read_only is on)")

// Ping checks that the database answers on the read pool, that the schema is there, and
// that it accepts writes: readiness means "can store a webhook", and a read-only server
// cannot. After a failed commit it also needs a write probe to succeed on a writer
// connection (groupcommit.Queue.Check): the readers' server may take writes while the
// writers' connections cannot.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var writable bool
	err := s.health.QueryRow(ctx, `SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'
		FROM (SELECT count(*) FROM (SELECT 1 FROM messages LIMIT 1) AS one) AS schema_is_there`).Scan(&writable)
	if err == nil && !writable {
		err = errReadOnly
	}
	if err == nil {
		err = s.writes.Check(ctx, s.probe)
	}
	if err != nil {
		return hookvault.Unavailable(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// probe commits a transaction on a writer connection that changes no data but has to write:
// an INSERT of no rows, which a read-only transaction or a standby refuses just as it refuses
// the inserts, and a transaction id, whose commit record PostgreSQL writes and flushes to its
// WAL like any commit's. (The transaction id alone is not enough: a read-only transaction on
// a primary is given one without complaint.)
func (s *Store) probe(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO messages SELECT * FROM messages WHERE false`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`)
		return err
	})
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}

// Insert hands m to a writer and returns once its batch has committed; see
// groupcommit.Queue.Insert for how long it waits. A Created message's deliveries are
// inserted by the batch's statement.
func (s *Store) Insert(_ context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	if err := m.Check(); err != nil {
		return hookvault.Receipt{}, err
	}
	if err := m.CheckDestinations(); err != nil {
		return hookvault.Receipt{}, err
	}
	return s.writes.Insert(m)
}

// stamp hands out arrival times in microseconds, PostgreSQL's resolution, that never go
// backwards within this replica even when the wall clock does.
func (s *Store) stamp() int64 {
	now := s.opts.Now().UnixMicro()
	for {
		last := s.last.Load()
		next := max(now, last)
		if s.last.CompareAndSwap(last, next) {
			return next
		}
	}
}

// insertBatch inserts the new rows in (source, id) order (so that batches sharing ids take
// their locks in one order) and counts them per source and per sender in the same statement,
// which is one transaction. Only the first of several rows with one (source, id) can be
// inserted. A nil element of a bytea array is NULL.
const insertBatch = `
WITH input AS (
	SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
			$7::bytea[], $8::timestamptz[], $9::bytea[])
		WITH ORDINALITY AS t(source, id, type, sender, content, content_type, headers, received_at, payload, ord)
), inserted AS (
	INSERT INTO messages (source, id, type, sender, content, content_type, headers, received_at, payload)
	SELECT source, id, type, sender, content, content_type, headers, received_at, payload FROM input
	ORDER BY source, id, ord
	ON CONFLICT (source, id) DO NOTHING
	RETURNING source, id, sender
), per_sender AS (
	INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM inserted WHERE sender IS NOT NULL GROUP BY sender
), per_source AS (
	INSERT INTO source_counts (source, n) SELECT source, count(*) FROM inserted GROUP BY source
)
SELECT source, id FROM inserted`

// key is a message's identity: ids are unique per source.
type key struct{ source, id string }

// orNull is v's bytes, or nil (NULL) for "".
func orNull(v string) []byte {
	if v == "" {
		return nil
	}
	return []byte(v)
}

// writeBatch commits one batch and tells each message's outcome. A message that was not
// inserted met an existing row, committed by now (ON CONFLICT waits for a concurrent insert
// of the same (source, id) to finish), whose body tells a duplicate from a conflict.
func (s *Store) writeBatch(ctx context.Context, batch []hookvault.Message, results []hookvault.Receipt) (bool, error) {
	n := len(batch)
	sources, ids, types, senders, contents := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
	contentTypes, headers, payloads := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	stamps := make([]time.Time, n)
	for i, m := range batch {
		sources[i], ids[i], types[i], senders[i] = []byte(m.Source), []byte(m.ID), orNull(m.Type), orNull(m.Sender)
		if m.Sender != "" { // content exists only with a sender, and may be empty
			contents[i] = []byte(m.Content)
		}
		contentTypes[i], payloads[i] = []byte(m.ContentType), m.Payload
		if payloads[i] == nil {
			payloads[i] = []byte{} // NOT NULL
		}
		if len(m.Headers) > 0 {
			headers[i] = m.Headers
		}
		stamps[i] = time.UnixMicro(s.stamp()).UTC()
	}
	query, args := insertBatch, []any{sources, ids, types, senders, contents, contentTypes, headers, stamps, payloads}
	if ords, dests := deliveryArgs(batch); ords != nil {
		query, args = insertBatchDeliveries, append(args, ords, dests)
	}
	created := map[key]bool{}
	err := retry(ctx, func() error {
		clear(created)
		rows, err := s.w.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		var source, id []byte
		_, err = pgx.ForEachRow(rows, []any{&source, &id}, func() error {
			created[key{string(source), string(id)}] = true
			return nil
		})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("insert batch: %w", err)
	}

	var existingSources, existingIDs [][]byte
	for i, m := range batch {
		if k := (key{m.Source, m.ID}); created[k] {
			delete(created, k) // a later message with this (source, id) is a duplicate of this one
			results[i] = hookvault.Receipt{Outcome: hookvault.Created, ReceivedAt: stamps[i]}
			continue
		}
		existingSources, existingIDs = append(existingSources, sources[i]), append(existingIDs, ids[i])
	}
	if len(existingIDs) == 0 {
		return true, nil
	}
	type row struct {
		payload []byte
		at      time.Time
	}
	stored := make(map[key]row, len(existingIDs))
	err = retry(ctx, func() error {
		rows, err := s.w.Query(ctx, `SELECT m.source, m.id, m.payload, m.received_at
			FROM unnest($1::bytea[], $2::bytea[]) AS k(source, id) JOIN messages m USING (source, id)`, existingSources, existingIDs)
		if err != nil {
			return err
		}
		var source, id, payload []byte
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&source, &id, &payload, &at}, func() error {
			stored[key{string(source), string(id)}] = row{payload: slices.Clone(payload), at: at.UTC()}
			return nil
		})
		return err
	})
	if err != nil {
		// The new rows are committed, but an error here answers the whole batch 503: a
		// retry then sees a duplicate, which is the truth.
		return false, fmt.Errorf("read existing: %w", err)
	}
	for i, m := range batch {
		if results[i].Outcome == hookvault.Created {
			continue
		}
		r, ok := stored[key{m.Source, m.ID}]
		if !ok {
			return false, fmt.Errorf("message %q of %q was neither inserted nor found", m.ID, m.Source)
		}
		outcome := hookvault.Duplicate
		if !bytes.Equal(r.payload, m.Payload) {
			outcome = hookvault.Conflict
		}
		results[i] = hookvault.Receipt{Outcome: outcome, ReceivedAt: r.at}
	}
	return len(existingIDs) < n, nil
}

// retry runs fn again when PostgreSQL says the transaction may simply be repeated, or when
// the statement never reached the server. Anything else is for the caller.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = fn(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" // serialization failure, deadlock
	}
	return pgconn.SafeToRetry(err)
}
