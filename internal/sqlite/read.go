package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// listQuery builds the keyset query for f, in arrival order, asking for one row more than
// the page to learn whether another follows. The API's order is (received_at, source, id);
// received_at is unique (the writer never hands a stamp out twice; migration 00007 made
// older ones unique in that order), so it is received_at alone, the rowid.
//
// A listing without an equality filter reads a range of the table itself. Each equality
// filter has an index that leads with its column, and whose entries then end with the rowid
// (see migration 00007), so a page seeks to its start and reads on in arrival order without
// sorting. When f filters on several columns, the most selective index is the one to seek:
// a type or a sender belongs to few messages, a source to many. The other filters are then
// written +column, which tells SQLite not to consider their indexes: without statistics it
// guesses between equally good-looking indexes and may pick the source's, reading every
// message of the source to find the few of the type.
func listQuery(f hookvault.ListFilter) (string, []any) {
	var where []string
	var args []any
	seek := ""
	switch {
	case f.Type != "":
		seek = "type"
	case f.Sender != "":
		seek = "sender"
	case f.Source != "":
		seek = "source"
	}
	for _, eq := range []struct{ column, value string }{{"type", f.Type}, {"sender", f.Sender}, {"source", f.Source}} {
		switch {
		case eq.value == "":
		case eq.column == seek:
			where = append(where, eq.column+" = ?")
			args = append(args, eq.value)
		default:
			where = append(where, "+"+eq.column+" = ?")
			args = append(args, eq.value)
		}
	}
	// A cursor from a page of the same filter already lies at or after since; leaving since
	// out lets the seek start straight at the cursor instead of at since.
	if !f.Since.IsZero() && (f.After == nil || f.After.ReceivedAt.Before(f.Since)) {
		where = append(where, "received_at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, f.Until.UnixNano())
	}
	if f.After != nil {
		// After the cursor is after its arrival stamp, which no other message shares. (A
		// cursor issued before 00007 made equal stamps unique may name a message whose stamp
		// moved forward by a few nanoseconds: its page may then show again the few messages
		// that shared the stamp, never leave one out.)
		where = append(where, "received_at > ?")
		args = append(args, f.After.ReceivedAt.UnixNano())
	}
	if f.Q != "" {
		// instr matches literally: no LIKE wildcards or escapes to get wrong. A message
		// without content has NULL there, which never matches.
		where = append(where, "instr(content, ?) > 0")
		args = append(args, f.Q)
	}
	q := "SELECT source, id, received_at, type, sender, content FROM messages"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at LIMIT ?"
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
	// Scanned into once per listing: variables whose addresses go to Scan live on the heap,
	// and six of them per row were most of a page's allocations.
	var source, id string
	var at int64
	var typ, sender, content sql.NullString
	for rows.Next() {
		if err := rows.Scan(&source, &id, &at, &typ, &sender, &content); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("list: scan: %w", err))
		}
		more, err := page.Add(hookvault.Message{Source: source, ID: id, Type: typ.String, Sender: sender.String,
			Content: content.String, ReceivedAt: time.Unix(0, at).UTC()})
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

// Stats reads the counters that the writer keeps (see count) and the ends of the table (in
// arrival order: received_at is the rowid), in one read transaction so that the numbers agree with each other.
func (s *Store) Stats(ctx context.Context) (hookvault.Stats, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	var st hookvault.Stats
	var first, last sql.NullInt64
	// Two subqueries, because SQLite answers a lone min() or max() of the rowid from the
	// B-tree's first or last entry but scans the table for both in one select.
	err = tx.QueryRowContext(ctx, `SELECT
			(SELECT n FROM counts WHERE kind = 'total' AND name = 'messages'),
			(SELECT n FROM counts WHERE kind = 'total' AND name = 'senders'),
			(SELECT min(received_at) FROM messages), (SELECT max(received_at) FROM messages)`).
		Scan(&st.TotalMessages, &st.SendersCount, &first, &last)
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: totals: %w", err))
	}
	if first.Valid {
		st.FirstReceivedAt = time.Unix(0, first.Int64).UTC()
		st.LastReceivedAt = time.Unix(0, last.Int64).UTC()
	}
	st.TopSenders = []hookvault.SenderCount{}
	err = scanCounts(ctx, tx, `SELECT name, n FROM counts WHERE kind = 'sender' ORDER BY n DESC, name LIMIT 10`, func(name string, n int64) {
		st.TopSenders = append(st.TopSenders, hookvault.SenderCount{Sender: name, Count: n})
	})
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: top senders: %w", err))
	}
	st.Sources = []hookvault.SourceCount{}
	err = scanCounts(ctx, tx, `SELECT name, n FROM counts WHERE kind = 'source' AND n > 0 ORDER BY name`, func(name string, n int64) {
		st.Sources = append(st.Sources, hookvault.SourceCount{Source: name, Count: n})
	})
	if err != nil {
		return hookvault.Stats{}, hookvault.Unavailable(fmt.Errorf("stats: sources: %w", err))
	}
	return st, nil
}

// scanCounts hands each (name, count) row of q to add.
func scanCounts(ctx context.Context, tx *sql.Tx, q string, add func(string, int64)) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		add(name, n)
	}
	return rows.Err()
}
