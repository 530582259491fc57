package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// deleteMessages deletes at most $2 of the oldest messages received before $1 (a range of
// messages_by_arrival) with their deliveries (found by deliveries_by_message; whatever their
// status: a pending one would find no message to carry), and appends the counter rows that take them out of /stats, one per
// sender and per source with a negative count, as batches append positive ones: one
// statement, one short transaction, on the background pool.
const deleteMessages = `
WITH gone AS (
	DELETE FROM messages WHERE (source, id) IN (
		SELECT source, id FROM messages WHERE received_at < $1 ORDER BY received_at, source, id LIMIT $2)
	RETURNING source, id, sender
), deliveries AS (
	DELETE FROM deliveries d USING gone g WHERE d.source = g.source AND d.message_id = g.id
), per_sender AS (
	INSERT INTO sender_counts (sender, n) SELECT sender, -count(*) FROM gone WHERE sender IS NOT NULL GROUP BY sender
), per_source AS (
	INSERT INTO source_counts (source, n) SELECT source, -count(*) FROM gone GROUP BY source
)
SELECT count(*) FROM gone`

// DeleteMessagesBefore deletes at most batch of the oldest messages received before
// `before`, with their /stats counts. A redelivery of a deleted id is then new.
func (s *Store) DeleteMessagesBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var n int
	if err := s.bg.QueryRow(ctx, deleteMessages, before, batch).Scan(&n); err != nil {
		return 0, hookvault.Unavailable(fmt.Errorf("delete messages before %v: %w", before, err))
	}
	return n, nil
}

// Sizes returns the number of messages from the per-source counters (exact: the writers
// keep them in each batch's statement, compaction folds them to a row per source) and the
// size of the tables of hookvault's schema with their indexes and TOAST, which is what
// hookvault holds in a database it may share.
func (s *Store) Sizes(ctx context.Context) (messages, bytes int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	err = s.readAgain(ctx, func() (bool, error) {
		return true, s.r.QueryRow(ctx, `SELECT (SELECT coalesce(sum(n), 0)::bigint FROM source_counts),
			(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
				WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm'))`).Scan(&messages, &bytes)
	})
	if err != nil {
		return 0, 0, hookvault.Unavailable(fmt.Errorf("sizes: %w", err))
	}
	return messages, bytes, nil
}
