package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// listQuery builds the keyset query for f, in (received_at, id) order, the order of both
// indexes, asking for one row more than the page to learn whether another follows.
//
// It also cuts the page by bytes, as hookvault.Pager does: PostgreSQL sends every row of a
// result, and pgx reads them all before a query can end, so a page of limit+1 rows of a
// megabyte each would cross the network to be thrown away. A running total of the bytes
// the Pager counts (octet_length reads a TOASTed value's size without fetching it) keeps
// the rows that fit, plus the first that does not, which shows that another page follows.
// The first two rows always pass: a message larger than the bound is sent alone, and the
// one after it still tells that more follow. The Pager stays the judge; this only stops
// the database from sending what it would drop.
func listQuery(f hookvault.ListFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
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
	if f.After != nil {
		where = append(where, fmt.Sprintf("(received_at, id) > (%s, %s)", arg(f.After.ReceivedAt), arg([]byte(f.After.ID))))
	}
	if f.Q != "" {
		// position matches literally: no LIKE wildcards or escapes to get wrong.
		where = append(where, "position("+arg([]byte(f.Q))+" in content) > 0")
	}
	q := `SELECT id, sender, content, received_at FROM (
		SELECT id, sender, content, received_at,
			row_number() OVER w AS n,
			sum(octet_length(id) + octet_length(sender) + octet_length(content)) OVER w
				- (octet_length(id) + octet_length(sender) + octet_length(content)) AS before
		FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " WINDOW w AS (ORDER BY received_at, id ROWS UNBOUNDED PRECEDING)"
	q += " ORDER BY received_at, id LIMIT " + arg(f.Limit+1)
	q += ") page WHERE n <= 2 OR before <= " + arg(hookvault.MaxPageBytes) + " ORDER BY received_at, id"
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
	// A dead connection shows with the first row, before anything is emitted: that far, the
	// listing may start over.
	var rows pgx.Rows
	var any bool
	err := reading(func() (err error) {
		if rows, err = s.r.Query(ctx, q, args...); err != nil {
			return err
		}
		if any = rows.Next(); !any {
			rows.Close()
			return rows.Err()
		}
		return nil
	})
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("list: %w", err))
	}
	defer rows.Close()
	page := hookvault.NewPager(f.Limit, emit)
	var id, sender, content []byte
	var at time.Time
	for ; any; any = rows.Next() {
		if err := rows.Scan(&id, &sender, &content, &at); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("list: scan: %w", err))
		}
		more, err := page.Add(hookvault.Message{
			ID: string(id), Sender: string(sender), Content: string(content), ReceivedAt: at.UTC(),
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
func (s *Store) Get(ctx context.Context, id string) (hookvault.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var sender, content []byte
	m := hookvault.Message{ID: id}
	err := reading(func() error {
		return s.r.QueryRow(ctx, `SELECT sender, content, received_at, payload FROM messages WHERE id = $1`, []byte(id)).
			Scan(&sender, &content, &m.ReceivedAt, &m.Payload)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return hookvault.Message{}, hookvault.Errorf(hookvault.ENOTFOUND, "no message with id %q", id)
	case err != nil:
		return hookvault.Message{}, hookvault.Unavailable(fmt.Errorf("get %q: %w", id, err))
	}
	m.Sender, m.Content, m.ReceivedAt = string(sender), string(content), m.ReceivedAt.UTC()
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	return m, nil
}

// statsQuery answers /stats in one statement, so from one snapshot: the counters summed
// per sender, and the first and last arrival from the ends of the arrival index.
const statsQuery = `
WITH per AS (
	SELECT sender, sum(n)::bigint AS n FROM sender_counts GROUP BY sender
), top AS (
	SELECT sender, n FROM per ORDER BY n DESC, sender LIMIT 10
)
SELECT
	(SELECT coalesce(sum(n), 0)::bigint FROM per),
	(SELECT count(*) FROM per),
	(SELECT min(received_at) FROM messages),
	(SELECT max(received_at) FROM messages),
	coalesce((SELECT array_agg(sender ORDER BY n DESC, sender) FROM top), '{}'),
	coalesce((SELECT array_agg(n ORDER BY n DESC, sender) FROM top), '{}')`

// Stats returns the totals from the read pool.
func (s *Store) Stats(ctx context.Context) (hookvault.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var st hookvault.Stats
	var first, last *time.Time
	var senders [][]byte
	var counts []int64
	err := reading(func() error {
		return s.r.QueryRow(ctx, statsQuery).Scan(&st.TotalMessages, &st.SendersCount, &first, &last, &senders, &counts)
	})
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: %w", err))
	}
	if first != nil {
		st.FirstReceivedAt, st.LastReceivedAt = first.UTC(), last.UTC()
	}
	st.TopSenders = make([]hookvault.SenderCount, len(senders))
	for i := range senders {
		st.TopSenders[i] = hookvault.SenderCount{Sender: string(senders[i]), Count: counts[i]}
	}
	return st, nil
}

// compactLock keeps compactions of several replicas from running at once (an advisory
// lock id; any constant unlikely to clash with another application's).
const compactLock = 0x686f6f6b7661 // "hookva"

// Compact folds each sender's counter rows into one, so that /stats reads one row per
// sender. Rows that writers append meanwhile are not in the DELETE's snapshot and stay.
// When another replica is compacting, it returns at once.
func (s *Store) Compact(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return pgx.BeginFunc(ctx, s.r, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(compactLock)).Scan(&mine); err != nil || !mine {
			return err
		}
		_, err := tx.Exec(ctx, `
			WITH many AS (
				SELECT sender FROM sender_counts GROUP BY sender HAVING count(*) > 1
			), gone AS (
				DELETE FROM sender_counts WHERE sender IN (SELECT sender FROM many) RETURNING sender, n
			)
			INSERT INTO sender_counts (sender, n) SELECT sender, sum(n) FROM gone GROUP BY sender`)
		return err
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
