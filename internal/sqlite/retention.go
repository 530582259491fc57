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
// gate): a range of the table's first rows (received_at is the rowid), the rows and their
// share of the /stats counters in the same transaction, so /stats stays exact, and their
// deliveries, whatever their status (a pending one would find no message to carry), up to a
// bound per transaction (see deleteDeliveriesUpTo). Each step is one statement however many
// senders the batch has (a statement per sender made a batch of 500 senders take three
// times as long). A redelivery of a deleted id is then new.
func (s *Store) DeleteMessagesBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	deleted := 0
	err := s.lowWrite(ctx, "delete old messages", func(tx *sql.Tx) error {
		deleted = 0
		// The doomed rows, in a table of the connection's own (temp, never in the file).
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS doomed
			(rid INTEGER PRIMARY KEY, source TEXT NOT NULL, id TEXT NOT NULL, sender TEXT)`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM temp.doomed`); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO temp.doomed (rid, source, id, sender)
			SELECT rowid, source, id, sender FROM messages WHERE received_at < ? ORDER BY received_at LIMIT ?`, before.UnixNano(), batch)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		// The deliveries go even when no message does: those of messages deleted by an
		// earlier batch that could not take them all.
		newest := before.UnixNano() - 1
		if n > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT max(rid) FROM temp.doomed`).Scan(&newest); err != nil {
				return fmt.Errorf("newest doomed message: %w", err)
			}
		}
		if err := deleteDeliveriesUpTo(ctx, tx, newest, batch); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		deleted = int(n)
		var senders int64
		err = tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT sender, count(*) AS n FROM temp.doomed
			WHERE sender IS NOT NULL GROUP BY sender) AS d JOIN counts c ON c.kind = 'sender' AND c.name = d.sender WHERE c.n <= d.n`).Scan(&senders)
		if err != nil {
			return fmt.Errorf("count senders gone: %w", err)
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE rowid IN (SELECT rid FROM temp.doomed)`,
			`UPDATE counts SET n = n - d.k FROM (SELECT source, count(*) AS k FROM temp.doomed GROUP BY source) AS d
				WHERE counts.kind = 'source' AND counts.name = d.source`,
			`UPDATE counts SET n = n - d.k FROM (SELECT sender, count(*) AS k FROM temp.doomed WHERE sender IS NOT NULL GROUP BY sender) AS d
				WHERE counts.kind = 'sender' AND counts.name = d.sender`,
			`DELETE FROM counts WHERE kind = 'sender' AND n <= 0`, // only the senders just counted down: no other count is 0
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("delete and uncount: %w", err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE counts SET n = n - iif(name = 'messages', ?, ?) WHERE kind = 'total'`, n, senders)
		return err
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// Sizes returns the message count that the writer keeps in its total (exact, one row
// read) and the database file's size, page_count × page_size (the WAL aside).
func (s *Store) Sizes(ctx context.Context) (messages, bytes int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT n FROM counts WHERE kind = 'total' AND name = 'messages'),
		(SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())`).Scan(&messages, &bytes)
	if err != nil {
		return 0, 0, hookvault.Unavailable(fmt.Errorf("sizes: %w", err))
	}
	return messages, bytes, nil
}

// deleteDeliveriesQuery deletes, of the first ?1 deliveries in did order, those created at or
// before ?2.
const deleteDeliveriesQuery = `DELETE FROM deliveries WHERE did IN (
	SELECT did FROM (SELECT did, created_at FROM deliveries ORDER BY did LIMIT ?) WHERE created_at <= ?)`

// maxDeliveryChunks of deliveryChunk(batch) rows bound the deliveries one retention
// transaction deletes.
const maxDeliveryChunks = 8

func deliveryChunk(batch int) int { return max(4*batch, 64) }

// deleteDeliveriesUpTo deletes the deliveries of the messages received at or before newest.
// Deliveries have no foreign key to messages, and no index by message (each would cost every
// delivery insert); but a delivery is created with its message, at its received_at, so those
// of the oldest messages are the oldest dids, and the deliveries of messages up to newest are
// the table's first rows in did order with created_at <= newest. They are deleted a chunk of
// such rows at a time until a chunk is not full, at most maxChunks of them in one
// transaction, so that however many destinations a message has, the writer is held for a
// bounded time: what is left goes with the next batch, or the next pass.
func deleteDeliveriesUpTo(ctx context.Context, tx *sql.Tx, newest int64, batch int) error {
	chunk := int64(deliveryChunk(batch))
	for range maxDeliveryChunks {
		res, err := tx.ExecContext(ctx, deleteDeliveriesQuery, chunk, newest)
		if err != nil {
			return fmt.Errorf("delete old deliveries: %w", err)
		}
		if k, err := res.RowsAffected(); err != nil || k < chunk {
			return err
		}
	}
	return nil
}
