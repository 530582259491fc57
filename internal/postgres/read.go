package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// listQuery builds the keyset query for f, in (received_at, source, id) order, the order
// every index continues in after its leading column (see migration 00002), asking for one
// row more than the page to learn whether another follows. PostgreSQL picks the index from
// its statistics; whichever it picks with an equality filter on its leading column reads the
// rows in the answer's order, so no plan needs a sort.
//
// It also cuts the page by bytes, as hookvault.Pager does: PostgreSQL sends every row of a
// result, and pgx reads them all before a query can end, so a page of limit+1 rows of a
// megabyte each would cross the network to be thrown away. A running total of the bytes
// the Pager counts (octet_length reads a TOASTed value's size without fetching it) keeps
// the rows that fit, plus the first that does not, which shows that another page follows.
// The first two rows always pass: a message larger than the bound is sent alone, and the
// one after it still tells that more follow. The Pager stays the judge; this only stops
// the database from sending what it would drop, so it must never count more than the
// Pager does.
func listQuery(f hookvault.ListFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Source != "" {
		where = append(where, "source = "+arg([]byte(f.Source)))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg([]byte(f.Type)))
	}
	if f.Sender != "" {
		where = append(where, "sender = "+arg([]byte(f.Sender)))
	}
	// A cursor from a page of the same filter already lies at or after since.
	if !f.Since.IsZero() && (f.After == nil || f.After.ReceivedAt.Before(f.Since)) {
		where = append(where, "received_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "received_at < "+arg(f.Until))
	}
	if c := f.After; c != nil {
		// A row comparison on the index's columns, in its order, is where an index scan
		// starts. In messages_by_source, source comes first and the rest is (received_at,
		// id): within the one source listed, "after c" reduces to a comparison of those two,
		// or of received_at alone when c lies in another source (as a cursor of another
		// listing may). bytea compares byte by byte, as strings do in Go.
		switch {
		case f.Source == "" || f.Type != "" || f.Sender != "":
			where = append(where, fmt.Sprintf("(received_at, source, id) > (%s, %s, %s)",
				arg(c.ReceivedAt), arg([]byte(c.Source)), arg([]byte(c.ID))))
		case f.Source == c.Source:
			where = append(where, fmt.Sprintf("(received_at, id) > (%s, %s)", arg(c.ReceivedAt), arg([]byte(c.ID))))
		case f.Source > c.Source:
			where = append(where, "received_at >= "+arg(c.ReceivedAt))
		default:
			where = append(where, "received_at > "+arg(c.ReceivedAt))
		}
	}
	if f.Q != "" {
		// position matches literally: no LIKE wildcards or escapes to get wrong. A message
		// without content has NULL there, which never matches.
		where = append(where, "position("+arg([]byte(f.Q))+" in content) > 0")
	}
	const listed = "octet_length(source) + octet_length(id) + coalesce(octet_length(type), 0)" +
		" + coalesce(octet_length(sender), 0) + coalesce(octet_length(content), 0)"
	q := `SELECT source, id, received_at, type, sender, content FROM (
		SELECT source, id, received_at, type, sender, content,
			row_number() OVER w AS n,
			sum(` + listed + `) OVER w - (` + listed + `) AS before
		FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// Within one source the order is (received_at, id). Saying so matters: the planner knows
	// that source is constant inside the subquery, but not in the outer query, which would
	// sort the page again by a column that cannot change.
	order := "received_at, source, id"
	if f.Source != "" {
		order = "received_at, id"
	}
	q += " WINDOW w AS (ORDER BY " + order + " ROWS UNBOUNDED PRECEDING)"
	q += " ORDER BY " + order + " LIMIT " + arg(f.Limit+1)
	q += ") page WHERE n <= 2 OR before <= " + arg(hookvault.MaxPageBytes) + " ORDER BY " + order
	return q, args
}

// List streams one page of messages from the read pool. Timeout bounds the whole listing,
// emit's time included, so a caller that passes messages on slowly (a slow client) holds a
// read connection for no longer than that.
func (s *Store) List(ctx context.Context, f hookvault.ListFilter, emit func(hookvault.Message) error) (*hookvault.Cursor, error) {
	if f.Limit <= 0 {
		return nil, hookvault.Errorf(hookvault.EBADREQUEST, "limit must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	q, args := listQuery(f)
	var next *hookvault.Cursor
	sent := false // once a message went to emit, the listing cannot start over
	err := s.readAgain(ctx, func() (bool, error) {
		var err error
		next, err = s.list(ctx, q, args, hookvault.NewPager(f.Limit, func(m hookvault.Message) error {
			sent = true
			return emit(m)
		}))
		return !sent, err
	})
	return next, err
}

// list reads one page with the listing query q into page.
func (s *Store) list(ctx context.Context, q string, args []any, page *hookvault.Pager) (*hookvault.Cursor, error) {
	rows, err := s.r.Query(ctx, q, args...)
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("list: %w", err))
	}
	defer rows.Close()
	var source, id, typ, sender, content []byte
	var at time.Time
	for rows.Next() {
		if err := rows.Scan(&source, &id, &at, &typ, &sender, &content); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("list: scan: %w", err))
		}
		more, err := page.Add(hookvault.Message{
			Source: string(source), ID: string(id), Type: string(typ), Sender: string(sender), Content: string(content),
			ReceivedAt: at.UTC(),
		})
		if err != nil {
			return nil, err // emit's own error, for the caller to recognise
		}
		if !more {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("list: %w", err))
	}
	return page.Next(), nil
}

// Get returns one message from the read pool.
func (s *Store) Get(ctx context.Context, source, id string) (hookvault.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var typ, sender, content, contentType []byte
	m := hookvault.Message{Source: source, ID: id}
	err := s.readAgain(ctx, func() (bool, error) {
		return true, s.r.QueryRow(ctx, `SELECT received_at, type, sender, content, content_type, headers, payload
			FROM messages WHERE source = $1 AND id = $2`, []byte(source), []byte(id)).
			Scan(&m.ReceivedAt, &typ, &sender, &content, &contentType, &m.Headers, &m.Payload)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return hookvault.Message{}, hookvault.Errorf(hookvault.ENOTFOUND, "no message with id %q in source %q", id, source)
	case err != nil:
		return hookvault.Message{}, hookvault.Unavailable(fmt.Errorf("get %q in %q: %w", id, source, err))
	}
	m.Type, m.Sender, m.Content, m.ContentType = string(typ), string(sender), string(content), string(contentType)
	m.ReceivedAt = m.ReceivedAt.UTC()
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	return m, nil
}

// statsQuery answers /stats in one statement, so from one snapshot: the counters summed
// per source (every message has one) and per sender (only messages with a sender), and the
// first and last arrival from the ends of the arrival index.
const statsQuery = `
WITH per_source AS (
	SELECT source, sum(n)::bigint AS n FROM source_counts GROUP BY source HAVING sum(n) > 0
), per_sender AS (
	SELECT sender, sum(n)::bigint AS n FROM sender_counts GROUP BY sender HAVING sum(n) > 0
), top AS (
	SELECT sender, n FROM per_sender ORDER BY n DESC, sender LIMIT 10
)
SELECT
	(SELECT coalesce(sum(n), 0)::bigint FROM per_source),
	(SELECT count(*) FROM per_sender),
	(SELECT min(received_at) FROM messages),
	(SELECT max(received_at) FROM messages),
	coalesce((SELECT array_agg(sender ORDER BY n DESC, sender) FROM top), '{}'),
	coalesce((SELECT array_agg(n ORDER BY n DESC, sender) FROM top), '{}'),
	coalesce((SELECT array_agg(source ORDER BY source) FROM per_source), '{}'),
	coalesce((SELECT array_agg(n ORDER BY source) FROM per_source), '{}')`

// Stats returns the totals from the read pool.
func (s *Store) Stats(ctx context.Context) (hookvault.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var st hookvault.Stats
	var first, last *time.Time
	var senders, sources [][]byte
	var senderCounts, sourceCounts []int64
	err := s.readAgain(ctx, func() (bool, error) {
		return true, s.r.QueryRow(ctx, statsQuery).Scan(&st.TotalMessages, &st.SendersCount, &first, &last,
			&senders, &senderCounts, &sources, &sourceCounts)
	})
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: %w", err))
	}
	if first != nil {
		st.FirstReceivedAt, st.LastReceivedAt = first.UTC(), last.UTC()
	}
	st.TopSenders = make([]hookvault.SenderCount, len(senders))
	for i := range senders {
		st.TopSenders[i] = hookvault.SenderCount{Sender: string(senders[i]), Count: senderCounts[i]}
	}
	st.Sources = make([]hookvault.SourceCount, len(sources))
	for i := range sources {
		st.Sources[i] = hookvault.SourceCount{Source: string(sources[i]), Count: sourceCounts[i]}
	}
	return st, nil
}

// compactLock keeps compactions of several replicas from running at once (an advisory
// lock id; any constant unlikely to clash with another application's).
const compactLock = 0x686f6f6b7661 // "hookva"

// readAgain runs read, which changes nothing, and runs it again on another connection when
// the server ended the session it ran on (a restart, a failover, pg_terminate_backend) and
// read says it may start over. The pool hands out an idle connection without a round trip
// to check it (it pings only one idle for over a second), and after a restart every idle
// connection is dead; it drops each one that failed, so ReadConns+1 attempts reach a live
// one. Without this, every read connection would answer one request with a 503 first.
func (s *Store) readAgain(ctx context.Context, read func() (again bool, err error)) error {
	for attempt := 0; ; attempt++ {
		again, err := read()
		if err == nil || !again || !sessionEnded(err) || attempt == s.opts.ReadConns || ctx.Err() != nil {
			return err
		}
	}
}

// sessionEnded reports whether err says that the server ended the session of an established
// connection: a FATAL error (admin or crash shutdown, an idle session timeout) or the
// connection closed under the query. Failing to connect is not: it would fail again.
func sessionEnded(err error) bool {
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL"
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// compactCounts folds the rows of counter table %[1]s with key column %[2]s.
const compactCounts = `
WITH many AS (
	SELECT %[2]s FROM %[1]s GROUP BY %[2]s HAVING count(*) > 1
), gone AS (
	DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM many) RETURNING %[2]s, n
)
INSERT INTO %[1]s (%[2]s, n) SELECT %[2]s, sum(n) FROM gone GROUP BY %[2]s HAVING sum(n) <> 0`

// Compact folds each sender's and each source's counter rows into one, so that /stats reads
// one row per sender and per source. Rows that writers append meanwhile are not in the
// DELETE's snapshot and stay. When another replica is compacting, it returns at once.
func (s *Store) Compact(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return pgx.BeginFunc(ctx, s.r, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(compactLock)).Scan(&mine); err != nil || !mine {
			return err
		}
		for _, counter := range []struct{ table, key string }{{"sender_counts", "sender"}, {"source_counts", "source"}} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(compactCounts, counter.table, counter.key)); err != nil {
				return fmt.Errorf("compact %s: %w", counter.table, err)
			}
		}
		return nil
	})
}

func (s *Store) compactLoop() {
	t := time.NewTicker(s.opts.CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopCompact:
			return
		case <-t.C:
			// A failure is retried at the next tick; until then /stats sums a few more rows.
			_ = s.Compact(context.Background())
		}
	}
}
