package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// The outbox (hookvault.Deliveries) on SQLite.
//
// Insert writes the deliveries of a Created message in the writer's batch transaction (see
// writeBatch). Claim, Record and Redeliver are writes too, and they go through the same one
// writer connection (s.w holds one connection): database/sql hands that connection to one
// transaction at a time, so an outbox write waits in Go for the batch in progress, or a batch
// for the outbox write, and the two never contend for SQLite's write lock. Inserts therefore
// never see SQLITE_BUSY because of the relay; each outbox transaction is a handful of indexed
// statements, so a batch waits for at most one of them. Another process on the same file (see
// TestConformanceReplicas) is kept out by BEGIN IMMEDIATE and waits in busy_timeout, as it
// does for inserts. Reads (GetDelivery, ListDeliveries, PendingCounts) use the read pool.

var _ hookvault.Deliveries = (*Store)(nil)

// maxDeliveryPage bounds a page of ListDeliveries: the API's largest limit.
const maxDeliveryPage = 1000

// deliveryColumns are read by GetDelivery and ListDeliveries, in scanDelivery's order.
const deliveryColumns = `did, destination, source, message_id, status, created_at, next_attempt_at, delivered_at, tries, attempts`

// unixOrZero is a nullable Unix-nanosecond column as a time, zero for NULL.
func unixOrZero(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

type rowScanner interface{ Scan(dest ...any) error }

// scanDelivery reads the deliveryColumns of one row.
func scanDelivery(row rowScanner) (hookvault.Delivery, error) {
	var d hookvault.Delivery
	var status string
	var created int64
	var next, delivered sql.NullInt64
	var attempts []byte
	if err := row.Scan(&d.DID, &d.Destination, &d.Source, &d.MessageID, &status, &created, &next, &delivered, &d.Tries, &attempts); err != nil {
		return d, err
	}
	d.Status, d.CreatedAt, d.NextAttemptAt, d.DeliveredAt = hookvault.DeliveryStatus(status), time.Unix(0, created).UTC(), unixOrZero(next), unixOrZero(delivered)
	var err error
	d.Attempts, err = hookvault.DecodeAttempts(attempts)
	return d, err
}

// writeOutbox runs fn in a transaction on the writer connection, then checks, as a batch
// does, that the database's path still names the file it went into: a change in a file
// nothing will read again must not be reported as made. A failure is checked the same way,
// so that a deleted file is found (and what the store holds saved) by the first write that
// fails on it, whichever it is.
func (s *Store) writeOutbox(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return s.writeOutboxSync(ctx, what, false, fn)
}

// writeOutboxSync is writeOutbox; lazy commits without waiting for the disk (synchronous =
// NORMAL for this transaction only): the outbox's bookkeeping may be lost to a power cut,
// which only sends a delivery again (see hookvault.Deliveries.RecordAll), and an fsync per
// claim would cost the writer, which the messages' commits share, more than the message
// itself. The next durable commit's fsync of the WAL carries it to the disk anyway.
func (s *Store) writeOutboxSync(ctx context.Context, what string, lazy bool, fn func(tx *sql.Tx) error) error {
	err := func() error {
		// The one writer connection, held for the pragma and the transaction: nothing else
		// may commit on it while it is lazy.
		conn, err := s.w.Conn(ctx)
		if err != nil {
			return fmt.Errorf("writer: %w", err)
		}
		defer conn.Close()
		if lazy && s.opts.Synchronous != "NORMAL" && s.opts.Synchronous != "OFF" {
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
				return fmt.Errorf("synchronous: %w", err)
			}
			defer func() {
				if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+s.opts.Synchronous); err != nil {
					// Never hand on a connection that would commit messages lazily: the pool
					// drops it and opens a new one with the configured pragma.
					_ = conn.Raw(func(any) error { return driver.ErrBadConn })
				}
			}()
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return s.files.check()
	}()
	var he *hookvault.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &he) && he.Code != hookvault.EUNAVAILABLE:
		return err // the answer, not a failure of the database
	}
	if moved := s.files.check(); moved != nil {
		err = errors.Join(moved, err)
	}
	return hookvault.Unavailable(fmt.Errorf("%s: %w", what, s.fail(s.classify(err))))
}

// Claim leases the due deliveries of destination, longest due first. One transaction reads
// them (the range of deliveries_due, with each one's message) and moves each one's
// next_attempt_at to the end of the lease: on the one writer, nothing else writes between.
func (s *Store) Claim(ctx context.Context, destination, owner string, n int, lease time.Duration) ([]hookvault.Claimed, error) {
	if owner == "" || lease <= 0 {
		return nil, hookvault.Errorf(hookvault.EINVALID, "a claim needs an owner and a positive lease")
	}
	n = min(n, hookvault.MaxClaim)
	if n <= 0 {
		return nil, nil
	}
	var claimed []hookvault.Claimed
	err := s.writeOutboxSync(ctx, "claim", true, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		now := s.opts.Now()
		rows, err := tx.StmtContext(ctx, s.claim).QueryContext(ctx, destination, now.UnixNano(), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := hookvault.Claimed{Delivery: hookvault.Delivery{Destination: destination, Status: hookvault.Pending}}
			var created, due, at int64
			var typ, sender, content sql.NullString
			m := &c.Message
			if err := rows.Scan(&c.DID, &c.Source, &c.MessageID, &created, &due, &c.Tries,
				&at, &typ, &sender, &content, &m.ContentType, &m.Headers, &m.Payload); err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			c.CreatedAt, c.NextAttemptAt = time.Unix(0, created).UTC(), now.Add(lease).UTC()
			m.Source, m.ID, m.ReceivedAt = c.Source, c.MessageID, time.Unix(0, at).UTC()
			m.Type, m.Sender, m.Content = typ.String, sender.String, content.String
			claimed = append(claimed, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(claimed) == 0 {
			return nil
		}
		// One statement leases them all: a statement per delivery cost more than the rest of
		// the claim (each is parsed, planned and run on its own).
		dids := make([]byte, 0, 2+len(claimed)*8)
		for _, c := range claimed {
			dids = strconv.AppendInt(append(dids, ','), c.DID, 10)
		}
		dids[0] = '['
		dids = append(dids, ']')
		if _, err := tx.StmtContext(ctx, s.lease).ExecContext(ctx, now.Add(lease).UnixNano(), owner, string(dids)); err != nil {
			return fmt.Errorf("lease %d deliveries: %w", len(claimed), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// claimQuery reads the due deliveries of a destination in the order of deliveries_due, each
// with its message (found by its unique index).
const claimQuery = `SELECT d.did, d.source, d.message_id, d.created_at, d.next_attempt_at, d.tries,
		m.received_at, m.type, m.sender, m.content, m.content_type, m.headers, m.payload
	FROM deliveries d JOIN messages m ON m.source = d.source AND m.id = d.message_id
	WHERE d.destination = ? AND d.status = 'pending' AND d.next_attempt_at <= ?
	ORDER BY d.next_attempt_at LIMIT ?`

// leaseQuery leases the claimed deliveries (?3, a JSON array of dids) to owner ?2 until ?1.
const leaseQuery = `UPDATE deliveries SET next_attempt_at = ?, owner = ? WHERE did IN (SELECT value FROM json_each(?))`

// checkResult refuses a result that Record cannot store.
func checkResult(r hookvault.AttemptResult) error {
	if !r.Status.Valid() {
		return hookvault.Errorf(hookvault.EINVALID, "status %q is not pending, delivered or failed", r.Status)
	}
	return nil
}

// Record stores the attempt and the delivery's new state if owner still holds the lease.
func (s *Store) Record(ctx context.Context, did int64, owner string, r hookvault.AttemptResult) error {
	errs, err := s.RecordAll(ctx, []hookvault.Recorded{{DID: did, Owner: owner, AttemptResult: r}})
	if err != nil {
		return err
	}
	return errs[0]
}

// recordQuery stores one attempt (?6, a one-element array) and the outcome, keeping the newest
// ?7 attempts, if the delivery is still leased to ?2: one statement, the attempts appended in
// SQL as PostgreSQL's recordQuery does, where reading the row first and writing it back cost
// two statements and a decode of the stored attempts each. Once the array holds ?7, each
// record takes the oldest out and puts one in.
const recordQuery = `UPDATE deliveries SET status = ?3, tries = tries + 1, next_attempt_at = ?4, delivered_at = ?5, owner = NULL,
	attempts = json_insert(CASE WHEN json_array_length(attempts) >= ?7 THEN json_remove(attempts, '$[0]') ELSE coalesce(attempts, '[]') END,
		'$[#]', ?6 -> 0)
WHERE did = ?1 AND owner = ?2 AND status = 'pending'`

// RecordAll records the attempts in one lazy transaction (see writeOutboxSync).
func (s *Store) RecordAll(ctx context.Context, rs []hookvault.Recorded) ([]error, error) {
	errs := make([]error, len(rs))
	if len(rs) == 0 {
		return errs, nil
	}
	what := fmt.Sprintf("record %d", rs[0].DID)
	if len(rs) > 1 {
		what = fmt.Sprintf("record %d attempts", len(rs))
	}
	now := s.opts.Now()
	args := make([][]any, len(rs))
	for i, r := range rs {
		if errs[i] = checkResult(r.AttemptResult); errs[i] != nil {
			continue
		}
		attempt, err := hookvault.EncodeAttempts([]hookvault.Attempt{r.Attempt})
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", r.DID, err)
		}
		var next, delivered any
		switch r.Status {
		case hookvault.Pending:
			next = now.UnixNano()
			if !r.NextAttemptAt.IsZero() {
				next = r.NextAttemptAt.UnixNano()
			}
		case hookvault.Delivered:
			delivered = now.UnixNano()
		}
		args[i] = []any{r.DID, r.Owner, string(r.Status), next, delivered, string(attempt), hookvault.MaxAttemptsKept}
	}
	err := s.writeOutboxSync(ctx, what, true, func(tx *sql.Tx) error {
		write := tx.StmtContext(ctx, s.record)
		for i, a := range args {
			if a == nil {
				continue
			}
			res, err := write.ExecContext(ctx, a...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 1 {
				continue
			}
			// Not recorded: tell a delivery that is gone from one leased to another.
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE did = ?)`, rs[i].DID).Scan(&exists); err != nil {
				return err
			}
			errs[i] = hookvault.ErrNotLeased
			if !exists {
				errs[i] = hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", rs[i].DID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// Redeliver makes a delivered or failed delivery pending again, due now.
func (s *Store) Redeliver(ctx context.Context, did int64) (hookvault.Delivery, error) {
	var d hookvault.Delivery
	err := s.writeOutbox(ctx, fmt.Sprintf("redeliver %d", did), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, delivered_at = NULL,
			tries = 0, owner = NULL WHERE did = ? AND status <> 'pending'`, s.opts.Now().UnixNano(), did)
		if err != nil {
			return err
		}
		changed, err := res.RowsAffected()
		if err != nil {
			return err
		}
		d, err = scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE did = ?`, did))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", did)
		case err != nil:
			return err
		case changed == 0:
			return hookvault.ErrAlreadyPending
		}
		return nil
	})
	if err != nil {
		return hookvault.Delivery{}, err
	}
	return d, nil
}

// GetDelivery reads one delivery from the read pool.
func (s *Store) GetDelivery(ctx context.Context, did int64) (hookvault.Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE did = ?`, did))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return hookvault.Delivery{}, hookvault.Errorf(hookvault.ENOTFOUND, "no delivery %d", did)
	case err != nil:
		return hookvault.Delivery{}, hookvault.Unavailable(fmt.Errorf("get delivery %d: %w", did, err))
	}
	return d, nil
}

// deliveryListQuery builds the query of one page of f, newest first, asking for one row more
// than limit to learn whether another page follows. Failed deliveries are a range of
// deliveries_failed; everything else walks the table from Before down, the filters checked
// in the rows (see the migration for why the outbox has no listing indexes).
func deliveryListQuery(f hookvault.DeliveryFilter, limit int) (string, []any) {
	var where []string
	var args []any
	if f.Destination != "" {
		where = append(where, "destination = ?")
		args = append(args, f.Destination)
	}
	switch {
	case f.Status == hookvault.Failed:
		// Written out: SQLite uses a partial index only for a query whose terms imply its
		// WHERE, which a bound parameter cannot.
		where = append(where, "status = 'failed'")
	case f.Status != "":
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Source != "" {
		where = append(where, "source = ?")
		args = append(args, f.Source)
	}
	if f.Before > 0 {
		where = append(where, "did < ?")
		args = append(args, f.Before)
	}
	// Failed deliveries are read from their own index; every other listing walks the table
	// newest first (NOT INDEXED: deliveries_due would take the pending ones in due order,
	// to be sorted).
	from := "deliveries NOT INDEXED"
	if f.Status == hookvault.Failed {
		from = "deliveries INDEXED BY deliveries_failed"
	}
	q := "SELECT " + deliveryColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY did DESC LIMIT ?", append(args, limit+1)
}

// checkDeliveryFilter refuses a filter no listing can follow, and bounds its limit.
func checkDeliveryFilter(f hookvault.DeliveryFilter) (int, error) {
	switch {
	case f.Limit <= 0:
		return 0, hookvault.Errorf(hookvault.EBADREQUEST, "limit must be positive")
	case f.Status != "" && !f.Status.Valid():
		return 0, hookvault.Errorf(hookvault.EBADREQUEST, "status must be pending, delivered or failed")
	case f.Before < 0:
		return 0, hookvault.Errorf(hookvault.EBADREQUEST, "the cursor is not a delivery id")
	}
	return min(f.Limit, maxDeliveryPage), nil
}

// ListDeliveries reads one page from the read pool.
func (s *Store) ListDeliveries(ctx context.Context, f hookvault.DeliveryFilter) (hookvault.DeliveryPage, error) {
	limit, err := checkDeliveryFilter(f)
	if err != nil {
		return hookvault.DeliveryPage{}, err
	}
	q, args := deliveryListQuery(f, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
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
	if err := rows.Err(); err != nil {
		return hookvault.DeliveryPage{}, hookvault.Unavailable(fmt.Errorf("list deliveries: %w", err))
	}
	return page, nil
}

// pendingCountsQuery reads deliveries_due alone, in destination order: without INDEXED BY,
// SQLite (which has no statistics) picks deliveries_by_status and sorts.
const pendingCountsQuery = `SELECT destination, count(*) FROM deliveries INDEXED BY deliveries_due
	WHERE status = 'pending' GROUP BY destination`

// PendingCounts counts the pending deliveries per destination from deliveries_due alone.
func (s *Store) PendingCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, pendingCountsQuery)
	if err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("pending counts: %w", err))
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var dest string
		var n int
		if err := rows.Scan(&dest, &n); err != nil {
			return nil, hookvault.Unavailable(fmt.Errorf("pending counts: %w", err))
		}
		counts[dest] = n
	}
	if err := rows.Err(); err != nil {
		return nil, hookvault.Unavailable(fmt.Errorf("pending counts: %w", err))
	}
	return counts, nil
}
