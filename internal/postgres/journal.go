package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// The rejection journal (hookvault.Journal) and retention (hookvault.Retention) on
// PostgreSQL.
//
// Appends, pruning and retention's deletes run on a pool of their own (Options.
// BackgroundConns, default 1), so that however busy the journal is in a flood of forged
// deliveries, it never holds a connection that the message writers need; a batch of entries
// is one INSERT … SELECT FROM unnest(…), one statement and one transaction. Reads use the
// read pool.

var (
	_ hookvault.Journal   = (*Store)(nil)
	_ hookvault.Retention = (*Store)(nil)
)

// maxRejectionPage bounds ListRejections' Limit: the API's largest limit.
const maxRejectionPage = 1000

const rejectionColumns = `rid, received_at, source, result, status, reason, request_id, remote_addr, message_id,
	first_received_at, body_size, body_sha256, hints::text, headers, body`

const appendRejections = `
INSERT INTO rejections (received_at, source, result, status, reason, request_id, remote_addr, message_id,
	first_received_at, body_size, body_sha256, hints, headers, body)
SELECT received_at, source, result, status, reason, request_id, remote_addr, message_id,
	first_received_at, body_size, body_sha256, hints::json, headers, body
FROM unnest($1::timestamptz[], $2::bytea[], $3::text[], $4::int[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
	$9::timestamptz[], $10::bigint[], $11::bytea[], $12::text[], $13::bytea[], $14::bytea[])
	WITH ORDINALITY AS t(received_at, source, result, status, reason, request_id, remote_addr, message_id,
		first_received_at, body_size, body_sha256, hints, headers, body, ord)
ORDER BY ord`

// bounded is r within the journal's bounds (hookvault.MaxRejectionReasonBytes and the
// others): the HTTP layer keeps them, and the store cuts what exceeds them rather than lose
// a whole batch for one entry.
func bounded(r hookvault.Rejection) hookvault.Rejection {
	if len(r.Reason) > hookvault.MaxRejectionReasonBytes {
		r.Reason = r.Reason[:hookvault.MaxRejectionReasonBytes]
	}
	if len(r.Body) > hookvault.MaxRejectionBodyBytes {
		r.Body = r.Body[:hookvault.MaxRejectionBodyBytes]
	}
	if len(r.Hints) > hookvault.MaxRejectionHints {
		r.Hints = r.Hints[:hookvault.MaxRejectionHints]
	}
	for i, h := range r.Hints {
		if len(h) > hookvault.MaxRejectionHintBytes {
			r.Hints[i] = h[:hookvault.MaxRejectionHintBytes]
		}
	}
	return r
}

// nonNil is b, or an empty slice for nil: a nil element of a bytea array is NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AppendRejections stores rs in one statement: all of them or, on error, none.
func (s *Store) AppendRejections(ctx context.Context, rs []hookvault.Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	n := len(rs)
	at, first := make([]time.Time, n), make([]*time.Time, n)
	source, reason, requestID, remoteAddr, messageID := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
	result, hints := make([]string, n), make([]string, n)
	status, size := make([]int32, n), make([]int64, n)
	sum, headers, body := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, r := range rs {
		r = bounded(r)
		h := r.Hints
		if h == nil {
			h = []string{}
		}
		js, err := json.Marshal(h) // text: bytes that are not UTF-8 become U+FFFD
		if err != nil {
			return fmt.Errorf("append rejections: %w", err)
		}
		at[i], source[i], result[i], status[i] = r.ReceivedAt, []byte(r.Source), r.Result, int32(r.Status) //nolint:gosec // an HTTP status
		reason[i], requestID[i], remoteAddr[i], messageID[i] = []byte(r.Reason), []byte(r.RequestID), []byte(r.RemoteAddr), []byte(r.MessageID)
		if !r.FirstReceivedAt.IsZero() {
			first[i] = &r.FirstReceivedAt
		}
		size[i], sum[i], hints[i], headers[i], body[i] = r.BodySize, r.BodySHA256, string(js), nonNil(r.Headers), nonNil(r.Body)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	_, err := s.bg.Exec(ctx, appendRejections, at, source, result, status, reason, requestID, remoteAddr, messageID,
		first, size, sum, hints, headers, body)
	if err != nil {
		return hookvault.Unavailable(fmt.Errorf("append %d rejections: %w", n, err))
	}
	return nil
}

// rejectionQuery builds the page query for f in (received_at, rid) order, newest first,
// asking for one row more than the page. The walk continues below the (received_at, rid) of
// f.Before; when that entry has been pruned meanwhile, the row comparison with no row is
// NULL and the page is empty: every older entry went before it.
func rejectionQuery(f hookvault.RejectionFilter) (string, []any) {
	q := "SELECT " + rejectionColumns + " FROM rejections WHERE true"
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Source != "" {
		q += " AND source = " + arg([]byte(f.Source))
	}
	if f.Result != "" {
		q += " AND result = " + arg(f.Result)
	}
	if !f.Since.IsZero() {
		q += " AND received_at >= " + arg(f.Since)
	}
	if !f.Until.IsZero() {
		q += " AND received_at < " + arg(f.Until)
	}
	if f.Before != 0 {
		q += " AND (received_at, rid) < (SELECT received_at, rid FROM rejections WHERE rid = " + arg(f.Before) + ")"
	}
	q += " ORDER BY received_at DESC, rid DESC LIMIT " + arg(f.Limit+1)
	return q, args
}

// ListRejections returns a page of the journal from the read pool, newest first: in
// (received_at, rid) order, which is the order of rid as long as entries are appended in
// the order they were received, and which every filter reads from an index without sorting.
// A page ends after f.Limit entries or after hookvault.MaxPageBytes of bodies and headers.
func (s *Store) ListRejections(ctx context.Context, f hookvault.RejectionFilter) (hookvault.RejectionPage, error) {
	if f.Limit <= 0 || f.Limit > maxRejectionPage {
		return hookvault.RejectionPage{}, hookvault.Errorf(hookvault.EBADREQUEST, "limit must be between 1 and %d", maxRejectionPage)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	q, args := rejectionQuery(f)
	var page hookvault.RejectionPage
	err := s.readAgain(ctx, func() (bool, error) {
		page = hookvault.RejectionPage{Rejections: []hookvault.Rejection{}}
		rows, err := s.r.Query(ctx, q, args...)
		if err != nil {
			return true, err
		}
		defer rows.Close()
		size := 0
		for rows.Next() {
			r, err := scanRejection(rows)
			if err != nil {
				return false, err
			}
			n := len(r.Body) + len(r.Headers)
			if len(page.Rejections) == f.Limit || (len(page.Rejections) > 0 && size+n > hookvault.MaxPageBytes) {
				page.Next = page.Rejections[len(page.Rejections)-1].RID
				break
			}
			page.Rejections, size = append(page.Rejections, r), size+n
		}
		rows.Close()
		return len(page.Rejections) == 0, rows.Err()
	})
	if err != nil {
		return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
	}
	return page, nil
}

func scanRejection(row pgx.Row) (hookvault.Rejection, error) {
	var r hookvault.Rejection
	var first *time.Time
	var source, reason, requestID, remoteAddr, messageID []byte
	var hints string
	var status int32
	if err := row.Scan(&r.RID, &r.ReceivedAt, &source, &r.Result, &status, &reason, &requestID, &remoteAddr, &messageID,
		&first, &r.BodySize, &r.BodySHA256, &hints, &r.Headers, &r.Body); err != nil {
		return r, err
	}
	r.ReceivedAt, r.Status = r.ReceivedAt.UTC(), int(status)
	r.Source, r.Reason, r.RequestID, r.RemoteAddr, r.MessageID = string(source), string(reason), string(requestID), string(remoteAddr), string(messageID)
	if first != nil {
		r.FirstReceivedAt = first.UTC()
	}
	if err := json.Unmarshal([]byte(hints), &r.Hints); err != nil {
		return r, fmt.Errorf("read hints of %d: %w", r.RID, err)
	}
	return r, nil
}

// GetRejection returns one entry from the read pool, or ENOTFOUND.
func (s *Store) GetRejection(ctx context.Context, rid int64) (hookvault.Rejection, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var r hookvault.Rejection
	err := s.readAgain(ctx, func() (bool, error) {
		var err error
		r, err = scanRejection(s.r.QueryRow(ctx, `SELECT `+rejectionColumns+` FROM rejections WHERE rid = $1`, rid))
		return true, err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return hookvault.Rejection{}, hookvault.Errorf(hookvault.ENOTFOUND, "no rejection %d", rid)
	case err != nil:
		return hookvault.Rejection{}, hookvault.Unavailable(fmt.Errorf("get rejection %d: %w", rid, err))
	}
	return r, nil
}

// pruneRejections deletes at most $3 of the oldest entries that are beyond the newest $1
// (a range of the primary key below max(rid)-$1; identities lost to failed appends leave
// gaps, so a few fewer than $1 may stay, never more) or received before $2 (a range of
// rejections_by_arrival). Each range reads at most $3 entries; one statement, one short
// transaction.
const pruneRejections = `
WITH candidates AS (
	(SELECT rid FROM rejections WHERE $1::bigint >= 0 AND rid <= (SELECT max(rid) FROM rejections) - $1::bigint
		ORDER BY rid LIMIT $3)
	UNION
	(SELECT rid FROM rejections WHERE received_at < $2 ORDER BY received_at, rid LIMIT $3)
)
DELETE FROM rejections WHERE rid IN (SELECT rid FROM candidates ORDER BY rid LIMIT $3)`

// PruneRejections deletes at most batch of the oldest entries beyond the newest maxRows or
// received before `before`, on the background pool.
func (s *Store) PruneRejections(ctx context.Context, before time.Time, maxRows, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var cut *time.Time
	if !before.IsZero() {
		cut = &before
	}
	tag, err := s.bg.Exec(ctx, pruneRejections, maxRows, cut, batch)
	if err != nil {
		return 0, hookvault.Unavailable(fmt.Errorf("prune rejections: %w", err))
	}
	return int(tag.RowsAffected()), nil
}
