package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// DeleteMessagesBefore deletes at most batch of the oldest messages received before
// `before`, in one short transaction on the writer behind every waiting message batch (see
// gate): a range of messages_by_arrival, the rows, and the /stats counters they leave, in
// the same transaction, so /stats stays exact. A redelivery of a deleted id is then new.
func (s *Store) DeleteMessagesBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	deleted := 0
	err := s.lowWrite(ctx, "delete old messages", func(tx *sql.Tx) error {
		deleted = 0
		rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE rowid IN (
			SELECT rowid FROM messages WHERE received_at < ? ORDER BY received_at LIMIT ?)
			RETURNING source, sender`, before.UnixNano(), batch)
		if err != nil {
			return err
		}
		perSource, perSender := map[string]int64{}, map[string]int64{}
		for rows.Next() {
			var source string
			var sender sql.NullString
			if err := rows.Scan(&source, &sender); err != nil {
				rows.Close()
				return err
			}
			deleted++
			perSource[source]++
			if sender.Valid {
				perSender[sender.String]++
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if deleted == 0 {
			return nil
		}
		return uncount(ctx, tx, int64(deleted), perSource, perSender)
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// uncount takes deleted messages out of the /stats counters: a sender whose count reaches
// zero is gone, and counts no longer among the senders.
func uncount(ctx context.Context, tx *sql.Tx, deleted int64, perSource, perSender map[string]int64) error {
	for source, n := range perSource {
		if _, err := tx.ExecContext(ctx, `UPDATE source_counts SET n = n - ? WHERE source = ?`, n, source); err != nil {
			return fmt.Errorf("uncount source: %w", err)
		}
	}
	var senders int64
	for sender, n := range perSender {
		res, err := tx.ExecContext(ctx, `DELETE FROM sender_counts WHERE sender = ? AND n <= ?`, sender, n)
		if err != nil {
			return fmt.Errorf("uncount sender: %w", err)
		}
		if gone, _ := res.RowsAffected(); gone > 0 {
			senders++
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sender_counts SET n = n - ? WHERE sender = ?`, n, sender); err != nil {
			return fmt.Errorf("uncount sender: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE totals SET messages = messages - ?, senders = senders - ?`, deleted, senders); err != nil {
		return fmt.Errorf("uncount totals: %w", err)
	}
	return nil
}

// Sizes returns the message count that the writer keeps in the totals row (exact, one row
// read) and the database file's size, page_count × page_size (the WAL aside).
func (s *Store) Sizes(ctx context.Context) (messages, bytes int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT messages FROM totals),
		(SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())`).Scan(&messages, &bytes)
	if err != nil {
		return 0, 0, hookvault.Unavailable(fmt.Errorf("sizes: %w", err))
	}
	return messages, bytes, nil
}
