package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// listQuery builds the keyset query for f. It always orders by (received_at, id), the order
// of both indexes, and asks for one row more than the page to learn whether another follows.
func listQuery(f hookvault.ListFilter) (string, []any) {
	var where []string
	var args []any
	if f.Sender != "" {
		where = append(where, "sender = ?")
		args = append(args, f.Sender)
	}
	// A cursor from a page of the same filter already lies at or after since; leaving since
	// out lets the index seek straight to the cursor instead of scanning from since.
	if !f.Since.IsZero() && (f.After == nil || f.After.ReceivedAt.Before(f.Since)) {
		where = append(where, "received_at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, f.Until.UnixNano())
	}
	if f.After != nil {
		where = append(where, "(received_at, id) > (?, ?)")
		args = append(args, f.After.ReceivedAt.UnixNano(), f.After.ID)
	}
	if f.Q != "" {
		// instr matches literally: no LIKE wildcards or escapes to get wrong.
		where = append(where, "instr(content, ?) > 0")
		args = append(args, f.Q)
	}
	q := "SELECT id, sender, content, received_at FROM messages"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at, id LIMIT ?"
	return q, append(args, f.Limit+1)
}

// List streams one page of messages from the read pool. SQLite steps the statement only as
// rows are asked for, so stopping at the Pager's cut reads no row beyond the one that shows
// another page follows.
func (s *Store) List(ctx context.Context, f hookvault.ListFilter, emit func(hookvault.Message) error) (*hookvault.Cursor, error) {
	if f.Limit <= 0 {
		return nil, hookvault.Errorf(hookvault.EBADREQUEST, "limit must be positive")
	}
	q, args := listQuery(f)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("list: %w", err))
	}
	defer rows.Close()
	page := hookvault.NewPager(f.Limit, emit)
	for rows.Next() {
		var m hookvault.Message
		var at int64
		if err := rows.Scan(&m.ID, &m.Sender, &m.Content, &at); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("list: scan: %w", err))
		}
		m.ReceivedAt = time.Unix(0, at).UTC()
		more, err := page.Add(m)
		if err != nil {
			return nil, err // emit's own error, for the caller to recognise
		}
		if !more {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("list: %w", err))
	}
	return page.Next(), nil
}

// Stats reads the counters that the writer keeps (see count) and the ends of the arrival
// index, in one read transaction so that the numbers agree with each other.
func (s *Store) Stats(ctx context.Context) (hookvault.Stats, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	var st hookvault.Stats
	var first, last sql.NullInt64
	// Two subqueries, because SQLite answers a lone min() or max() from the index but scans
	// the table for both in one select.
	err = tx.QueryRowContext(ctx, `SELECT t.messages, t.senders,
			(SELECT min(received_at) FROM messages), (SELECT max(received_at) FROM messages)
		FROM totals t`).Scan(&st.TotalMessages, &st.SendersCount, &first, &last)
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: totals: %w", err))
	}
	if first.Valid {
		st.FirstReceivedAt = time.Unix(0, first.Int64).UTC()
		st.LastReceivedAt = time.Unix(0, last.Int64).UTC()
	}
	rows, err := tx.QueryContext(ctx, `SELECT sender, n FROM sender_counts ORDER BY n DESC, sender LIMIT 10`)
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: top senders: %w", err))
	}
	defer rows.Close()
	st.TopSenders = []hookvault.SenderCount{}
	for rows.Next() {
		var sc hookvault.SenderCount
		if err := rows.Scan(&sc.Sender, &sc.Count); err != nil {
			return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: scan: %w", err))
		}
		st.TopSenders = append(st.TopSenders, sc)
	}
	if err := rows.Err(); err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: %w", err))
	}
	return st, nil
}
