package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// The outbox (hookvault.Deliveries) on PostgreSQL.
//
// Insert writes the deliveries of a batch's Created messages in the batch's one statement
// (insertBatchDeliveries). Claim, Record and Redeliver use a pool of their own (o), so that a
// relay never holds the connections inserts wait for; each is one statement. Claim locks the
// due rows it picks with FOR UPDATE SKIP LOCKED and moves them past the lease in the same
// statement: a concurrent Claim, on this replica or another, skips the rows while they are
// locked and no longer finds them due once the lease is committed (READ COMMITTED re-checks a
// row that changed under it), so no two claims hold one delivery at once.

var _ hookvault.Deliveries = (*Store)(nil)

// maxDeliveryPage bounds a page of ListDeliveries: the API's largest limit.
const maxDeliveryPage = 1000

// deliveriesCTE inserts a pending delivery, due at its arrival, for each destination of each
// message the batch created: $10 holds each destination's message (its ordinal in the batch),
// $11 the destination. Of several messages of one (source, id) in a batch, the first is the
// one inserted (see insertBatch), so only its destinations count.
const deliveriesCTE = `, delivered AS (
	INSERT INTO deliveries (destination, source, message_id, status, created_at, next_attempt_at)
	SELECT d.destination, i.source, i.id, 'pending', i.received_at, i.received_at
	FROM unnest($10::int8[], $11::bytea[]) WITH ORDINALITY AS d(ord, destination, pos)
	JOIN input i ON i.ord = d.ord
	JOIN inserted n ON n.source = i.source AND n.id = i.id
	WHERE NOT EXISTS (SELECT 1 FROM input e WHERE e.source = i.source AND e.id = i.id AND e.ord < i.ord)
	ORDER BY d.pos
)
SELECT source, id FROM inserted`

// insertBatchDeliveries is insertBatch with the deliveries: a batch without destinations runs
// insertBatch, which costs nothing more than before the outbox.
var insertBatchDeliveries = strings.Replace(insertBatch, "\nSELECT source, id FROM inserted", deliveriesCTE, 1)

// deliveryArgs are $10 and $11 of insertBatchDeliveries, or nil when no message of the batch
// has a destination.
func deliveryArgs(batch []hookvault.Message) (ords []int64, dests [][]byte) {
	for i, m := range batch {
		for _, d := range m.Destinations {
			ords, dests = append(ords, int64(i+1)), append(dests, []byte(d))
		}
	}
	return ords, dests
}

// deliveryColumns are read by scanDelivery, in its order.
const deliveryColumns = `did, destination, source, message_id, status, created_at, next_attempt_at, delivered_at, tries, attempts::text`

func scanDelivery(row pgx.Row) (hookvault.Delivery, error) {
	var d hookvault.Delivery
	var dest, source, id []byte
	var status, attempts string
	var next, delivered *time.Time
	if err := row.Scan(&d.DID, &dest, &source, &id, &status, &d.CreatedAt, &next, &delivered, &d.Tries, &attempts); err != nil {
		return d, err
	}
	d.Destination, d.Source, d.MessageID, d.Status = string(dest), string(source), string(id), hookvault.DeliveryStatus(status)
	d.CreatedAt = d.CreatedAt.UTC()
	if next != nil {
		d.NextAttemptAt = next.UTC()
	}
	if delivered != nil {
		d.DeliveredAt = delivered.UTC()
	}
	var err error
	d.Attempts, err = hookvault.DecodeAttempts([]byte(attempts))
	return d, err
}

// claimQuery picks the due deliveries of $1 (a range of deliveries_due), locks them skipping
// any another claim holds, leases them to $5 until $4, and returns each with its message.
const claimQuery = `
WITH picked AS MATERIALIZED (
	SELECT did, next_attempt_at AS due FROM deliveries
	WHERE destination = $1 AND status = 'pending' AND next_attempt_at <= $2
	ORDER BY next_attempt_at LIMIT $3
	FOR UPDATE SKIP LOCKED
), leased AS (
	UPDATE deliveries d SET next_attempt_at = $4, owner = $5
	WHERE d.did IN (SELECT did FROM picked)
	RETURNING d.did, d.source, d.message_id, d.created_at, d.tries
)
SELECT l.did, l.source, l.message_id, l.created_at, l.tries, p.due,
	m.received_at, m.type, m.sender, m.content, m.content_type, m.headers, m.payload
FROM leased l JOIN picked p USING (did) JOIN messages m ON m.source = l.source AND m.id = l.message_id`

// Claim leases the due deliveries of destination, longest due first. The rows come back in
// no particular order (ordering them would sort in the database): they are put in due order
// here.
func (s *Store) Claim(ctx context.Context, destination, owner string, n int, lease time.Duration) ([]hookvault.Claimed, error) {
	if owner == "" || lease <= 0 {
		return nil, hookvault.Errorf(hookvault.EINVALID, "a claim needs an owner and a positive lease")
	}
	n = min(n, hookvault.MaxClaim)
	if n <= 0 {
		return nil, nil
	}
	now := s.opts.Now()
	until := now.Add(lease).Truncate(time.Microsecond).UTC()
	type row struct {
		c   hookvault.Claimed
		due time.Time
	}
	var claimed []row
	err := retry(ctx, func() error {
		claimed = claimed[:0]
		rows, err := s.o.Query(ctx, claimQuery, []byte(destination), now, n, until, []byte(owner))
		if err != nil {
			return err
		}
		var r row
		var source, id, typ, sender, content, contentType, headers, payload []byte
		_, err = pgx.ForEachRow(rows, []any{&r.c.DID, &source, &id, &r.c.CreatedAt, &r.c.Tries, &r.due,
			&r.c.Message.ReceivedAt, &typ, &sender, &content, &contentType, &headers, &payload}, func() error {
			c := r.c
			c.Destination, c.Source, c.MessageID, c.Status, c.NextAttemptAt = destination, string(source), string(id), hookvault.Pending, until
			c.CreatedAt = c.CreatedAt.UTC()
			c.Message = hookvault.Message{Source: c.Source, ID: c.MessageID, Type: string(typ), Sender: string(sender),
				Content: string(content), ContentType: string(contentType), Headers: slices.Clone(headers),
				ReceivedAt: r.c.Message.ReceivedAt.UTC(), Payload: slices.Clone(payload)}
			if c.Message.Payload == nil {
				c.Message.Payload = []byte{}
			}
			claimed = append(claimed, row{c: c, due: r.due})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("claim %q: %w", destination, err))
	}
	slices.SortFunc(claimed, func(a, b row) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return int(a.c.DID - b.c.DID)
	})
	out := make([]hookvault.Claimed, len(claimed))
	for i, r := range claimed {
		out[i] = r.c
	}
	return out, nil
}

// recordQuery stores one attempt ($6, a one-element array) and the outcome, keeping the newest
// $7 attempts, if the delivery is still leased to $2.
const recordQuery = `
UPDATE deliveries SET status = $3, tries = tries + 1, next_attempt_at = $4, delivered_at = $5, owner = NULL,
	attempts = (SELECT jsonb_agg(a ORDER BY i) FROM jsonb_array_elements(attempts || $6::text::jsonb) WITH ORDINALITY AS e(a, i)
		WHERE i > jsonb_array_length(attempts) + 1 - $7)
WHERE did = $1 AND owner = $2 AND status = 'pending'`

// Record stores the attempt and the delivery's new state if owner still holds the lease.
func (s *Store) Record(ctx context.Context, did int64, owner string, r hookvault.AttemptResult) error {
	errs, err := s.RecordAll(ctx, []hookvault.Recorded{{DID: did, Owner: owner, AttemptResult: r}})
	if err != nil {
		return err
	}
	return errs[0]
}

// RecordAll records the attempts in one transaction, sent as one batch (one round trip),
// committed without waiting for the WAL flush (synchronous_commit off, for this transaction
// only): see hookvault.Deliveries.RecordAll for why the outbox's bookkeeping may be lazy.
func (s *Store) RecordAll(ctx context.Context, rs []hookvault.Recorded) ([]error, error) {
	errs := make([]error, len(rs))
	type update struct {
		i    int
		args []any
	}
	var updates []update
	now := s.opts.Now()
	for i, r := range rs {
		if !r.Status.Valid() {
			errs[i] = hookvault.Errorf(hookvault.EINVALID, "status %q is not pending, delivered or failed", r.Status)
			continue
		}
		a := r.Attempt
		attempt, err := hookvault.EncodeAttempts([]hookvault.Attempt{a})
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", r.DID, err)
		}
		var next, delivered *time.Time
		switch r.Status {
		case hookvault.Pending:
			next = &now
			if !r.NextAttemptAt.IsZero() {
				next = &r.NextAttemptAt
			}
		case hookvault.Delivered:
			delivered = &now
		}
		updates = append(updates, update{i, []any{r.DID, []byte(r.Owner), string(r.Status), next, delivered, string(attempt), hookvault.MaxAttemptsKept}})
	}
	if len(updates) == 0 {
		return errs, nil
	}
	changed := make([]int64, len(updates))
	err := retry(ctx, func() error {
		tx, err := s.o.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		b := &pgx.Batch{}
		b.Queue("SET LOCAL synchronous_commit = off")
		for _, u := range updates {
			b.Queue(recordQuery, u.args...)
		}
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		for j := range updates {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			changed[j] = tag.RowsAffected()
		}
		if err := br.Close(); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("record %d attempts: %w", len(updates), err))
	}
	for j, u := range updates {
		if changed[j] == 1 {
			continue
		}
		var exists bool
		did := u.args[0].(int64)
		if err := s.o.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE did = $1)`, did).Scan(&exists); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("record %d: %w", did, err))
		}
		errs[u.i] = hookvault.ErrNotLeased
		if !exists {
			errs[u.i] = hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", did)
		}
	}
	return errs, nil
}

// Redeliver makes a delivered or failed delivery pending again, due now.
func (s *Store) Redeliver(ctx context.Context, did int64) (hookvault.Delivery, error) {
	var d hookvault.Delivery
	var exists bool
	err := retry(ctx, func() error {
		var err error
		d, err = scanDelivery(s.o.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = $2,
			delivered_at = NULL, tries = 0, owner = NULL WHERE did = $1 AND status <> 'pending' RETURNING `+deliveryColumns,
			did, s.opts.Now()))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return s.o.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE did = $1)`, did).Scan(&exists)
	})
	switch {
	case err != nil:
		return hookvault.Delivery{}, hookvault.Unavailable(fmt.Errorf("redeliver %d: %w", did, err))
	case d.DID != 0:
		return d, nil
	case exists:
		return hookvault.Delivery{}, hookvault.ErrAlreadyPending
	}
	return hookvault.Delivery{}, hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", did)
}

// GetDelivery reads one delivery.
func (s *Store) GetDelivery(ctx context.Context, did int64) (hookvault.Delivery, error) {
	d, err := scanDelivery(s.r.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE did = $1`, did))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return hookvault.Delivery{}, hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", did)
	case err != nil:
		return hookvault.Delivery{}, hookvault.Unavailable(fmt.Errorf("get delivery %d: %w", did, err))
	}
	return d, nil
}

// deliveryListQuery builds the query of one page of f, newest first, asking for one row more
// than limit to learn whether another page follows. Every filter reads an index in the page's
// order, from Before on: the primary key for none, deliveries_by_destination for a
// destination and a status, deliveries_by_status for a status alone. A destination in every
// status is the three ranges of deliveries_by_destination, each cut at limit+1 rows and
// merged (a Merge Append, no sort). A source is checked in the rows (the deliveries of a
// destination come from its few sources: an index of their own would cost every insert).
func deliveryListQuery(f hookvault.DeliveryFilter, limit int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	arm := func(status hookvault.DeliveryStatus) string {
		var where []string
		if f.Destination != "" {
			where = append(where, "destination = "+arg([]byte(f.Destination)))
		}
		if status != "" {
			where = append(where, "status = "+arg(string(status)))
		}
		if f.Source != "" {
			where = append(where, "source = "+arg([]byte(f.Source)))
		}
		if f.Before > 0 {
			where = append(where, "did < "+arg(f.Before))
		}
		q := "SELECT " + deliveryColumns + " FROM deliveries"
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		return q + " ORDER BY did DESC LIMIT " + arg(limit+1)
	}
	if f.Destination == "" || f.Status != "" {
		return arm(f.Status), args
	}
	var arms []string
	for _, st := range []hookvault.DeliveryStatus{hookvault.Pending, hookvault.Delivered, hookvault.Failed} {
		arms = append(arms, "("+arm(st)+")")
	}
	return strings.Join(arms, " UNION ALL ") + " ORDER BY did DESC LIMIT " + arg(limit+1), args
}

// ListDeliveries reads one page.
func (s *Store) ListDeliveries(ctx context.Context, f hookvault.DeliveryFilter) (hookvault.DeliveryPage, error) {
	switch {
	case f.Limit <= 0:
		return hookvault.DeliveryPage{}, hookvault.Errorf(hookvault.EBADREQUEST, "limit must be positive")
	case f.Status != "" && !f.Status.Valid():
		return hookvault.DeliveryPage{}, hookvault.Errorf(hookvault.EBADREQUEST, "status must be pending, delivered or failed")
	case f.Before < 0:
		return hookvault.DeliveryPage{}, hookvault.Errorf(hookvault.EBADREQUEST, "the cursor is not a delivery id")
	}
	limit := min(f.Limit, maxDeliveryPage)
	q, args := deliveryListQuery(f, limit)
	rows, err := s.r.Query(ctx, q, args...)
	if err != nil {
		return hookvault.DeliveryPage{}, hookvault.Unavailable(fmt.Errorf("list deliveries: %w", err))
	}
	defer rows.Close()
	page := hookvault.DeliveryPage{Deliveries: []hookvault.Delivery{}}
	for rows.Next() {
		if len(page.Deliveries) == limit {
			page.Next = page.Deliveries[limit-1].DID
			break
		}
		d, err := scanDelivery(rows)
		if err != nil {
			return hookvault.DeliveryPage{}, hookvault.Unavailable(fmt.Errorf("list deliveries: %w", err))
		}
		page.Deliveries = append(page.Deliveries, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return hookvault.DeliveryPage{}, hookvault.Unavailable(fmt.Errorf("list deliveries: %w", err))
	}
	return page, nil
}

// PendingCounts counts the pending deliveries per destination from deliveries_due.
func (s *Store) PendingCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.Query(ctx, `SELECT destination, count(*) FROM deliveries WHERE status = 'pending' GROUP BY destination`)
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("pending counts: %w", err))
	}
	counts := map[string]int{}
	var dest []byte
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&dest, &n}, func() error {
		counts[string(dest)] = n
		return nil
	}); err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("pending counts: %w", err))
	}
	return counts, nil
}
