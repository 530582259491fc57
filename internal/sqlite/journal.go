package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// The rejection journal (hookvault.Journal) on SQLite.
//
// Appends, pruning and retention share the one writer connection with the message batches,
// behind them (see gate): a journal batch is one transaction of one multi-row INSERT per
// appendChunk entries, prepared once per chunk size, so it holds the writer for one commit
// and a few hundred microseconds of inserts. Reads use the read pool.

var (
	_ hookvault.Journal   = (*Store)(nil)
	_ hookvault.Retention = (*Store)(nil)
)

// maxRejectionPage bounds ListRejections' Limit: the API's largest limit.
const maxRejectionPage = 1000

// appendChunk is the most entries one INSERT statement takes: 15 values each, far below
// SQLite's 32766 variables, and large enough that a batch of 256 is four statements.
const appendChunk = 64

const rejectionColumns = `rid, received_at, source, result, status, reason, request_id, remote_addr, message_id,
	first_received_at, body_size, body_sha256, hints, headers, body`

const rejectionInsertColumns = `(received_at, source, result, status, reason, request_id, remote_addr, message_id,
	first_received_at, body_size, body_sha256, hints, headers, body)`

// appendStmt returns the prepared INSERT of n entries (at most appendChunk, so at most that
// many statements), preparing it the first time. It is called before the transaction: the
// writer's one connection is not free for a Prepare during one.
func (s *Store) appendStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if st := s.appendStmts[n]; st != nil {
		return st, nil
	}
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	q := "INSERT INTO rejections " + rejectionInsertColumns + " VALUES " + strings.Repeat(row+", ", n-1) + row
	st, err := s.w.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare journal insert of %d: %w", n, err)
	}
	s.appendStmts[n] = st
	return st, nil
}

// bounded is r within the journal's bounds (see hookvault.MaxRejectionReasonBytes and the
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

// hintsJSON is the hints as stored: a JSON array of strings, [] for none. JSON holds text,
// so bytes that are not UTF-8 come back as U+FFFD; hints are sentences hookvault writes.
func hintsJSON(hints []string) ([]byte, error) {
	if hints == nil {
		hints = []string{}
	}
	return json.Marshal(hints)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// rejectionArgs appends the INSERT's values for r.
func rejectionArgs(args []any, r hookvault.Rejection) ([]any, error) {
	r = bounded(r)
	hints, err := hintsJSON(r.Hints)
	if err != nil {
		return nil, err
	}
	var sum any
	if r.BodySHA256 != nil {
		sum = r.BodySHA256
	}
	headers, body := r.Headers, r.Body
	if headers == nil {
		headers = []byte{}
	}
	if body == nil {
		body = []byte{}
	}
	return append(args, r.ReceivedAt.UnixNano(), r.Source, r.Result, r.Status, r.Reason, r.RequestID, r.RemoteAddr,
		r.MessageID, nullTime(r.FirstReceivedAt), r.BodySize, sum, string(hints), headers, body), nil
}

// lowWrite runs fn in one transaction on the writer connection, behind every message batch
// that waits (see gate), then checks, as a batch does, that the database's path still names
// the file it went into.
func (s *Store) lowWrite(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	if err := s.gate.lockLow(ctx); err != nil {
		return hookvault.Unavailable(fmt.Errorf("%s: wait for the writer: %w", what, err))
	}
	err := func() error {
		defer s.gate.unlock()
		tx, err := s.w.BeginTx(ctx, nil)
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
	if err != nil {
		return hookvault.Unavailable(fmt.Errorf("%s: %w", what, s.fail(s.classify(err))))
	}
	return nil
}

// AppendRejections stores rs in one transaction: all of them or, on error, none.
func (s *Store) AppendRejections(ctx context.Context, rs []hookvault.Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	// The values are built before the writer is taken: it is held only for the inserts.
	chunks := make([][]any, 0, (len(rs)+appendChunk-1)/appendChunk)
	stmts := make([]*sql.Stmt, 0, cap(chunks))
	for start := 0; start < len(rs); start += appendChunk {
		part := rs[start:min(start+appendChunk, len(rs))]
		args := make([]any, 0, 14*len(part))
		for _, r := range part {
			var err error
			if args, err = rejectionArgs(args, r); err != nil {
				return fmt.Errorf("append rejections: %w", err)
			}
		}
		st, err := s.appendStmt(ctx, len(part))
		if err != nil {
			return hookvault.Unavailable(fmt.Errorf("append rejections: %w", s.fail(s.classify(err))))
		}
		chunks, stmts = append(chunks, args), append(stmts, st)
	}
	return s.lowWrite(ctx, fmt.Sprintf("append %d rejections", len(rs)), func(tx *sql.Tx) error {
		for i, args := range chunks {
			if _, err := tx.StmtContext(ctx, stmts[i]).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// rejectionQuery builds the page query for f in (received_at, rid) order, newest first,
// asking for one row more than the page. A source seeks rejections_by_source, else a result
// rejections_by_result, else rejections_by_arrival; the other equality is written +column so
// that SQLite does not pick its index instead. before is the (received_at, rid) of f.Before.
func rejectionQuery(f hookvault.RejectionFilter, beforeAt int64) (string, []any) {
	var where []string
	var args []any
	switch {
	case f.Source != "":
		where, args = append(where, "source = ?"), append(args, f.Source)
		if f.Result != "" {
			where, args = append(where, "+result = ?"), append(args, f.Result)
		}
	case f.Result != "":
		where, args = append(where, "result = ?"), append(args, f.Result)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received_at >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "received_at < ?"), append(args, f.Until.UnixNano())
	}
	if f.Before != 0 {
		where, args = append(where, "(received_at, rid) < (?, ?)"), append(args, beforeAt, f.Before)
	}
	q := "SELECT " + rejectionColumns + " FROM rejections"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY received_at DESC, rid DESC LIMIT ?", append(args, f.Limit+1)
}

// checkRejectionFilter refuses a page size the API would not send.
func checkRejectionFilter(f hookvault.RejectionFilter) error {
	if f.Limit <= 0 || f.Limit > maxRejectionPage {
		return hookvault.Errorf(hookvault.EBADREQUEST, "limit must be between 1 and %d", maxRejectionPage)
	}
	return nil
}

// ListRejections returns a page of the journal from the read pool, newest first: in
// (received_at, rid) order, which is the order of rid as long as entries are appended in
// the order they were received, and which every filter reads from an index without sorting.
// A page ends after f.Limit entries or after hookvault.MaxPageBytes of bodies and headers.
// A walk whose Before entry has been pruned meanwhile is at its end: every older entry went
// before it.
func (s *Store) ListRejections(ctx context.Context, f hookvault.RejectionFilter) (hookvault.RejectionPage, error) {
	if err := checkRejectionFilter(f); err != nil {
		return hookvault.RejectionPage{}, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var beforeAt int64
	if f.Before != 0 {
		err := tx.QueryRowContext(ctx, `SELECT received_at FROM rejections WHERE rid = ?`, f.Before).Scan(&beforeAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return hookvault.RejectionPage{Rejections: []hookvault.Rejection{}}, nil
		case err != nil:
			return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
		}
	}
	q, args := rejectionQuery(f, beforeAt)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
	}
	defer rows.Close()
	page := hookvault.RejectionPage{Rejections: []hookvault.Rejection{}}
	size := 0
	for rows.Next() {
		r, err := scanRejection(rows)
		if err != nil {
			return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
		}
		n := len(r.Body) + len(r.Headers)
		if len(page.Rejections) == f.Limit || (len(page.Rejections) > 0 && size+n > hookvault.MaxPageBytes) {
			page.Next = page.Rejections[len(page.Rejections)-1].RID
			break
		}
		page.Rejections, size = append(page.Rejections, r), size+n
	}
	if err := rows.Err(); err != nil {
		return hookvault.RejectionPage{}, hookvault.Unavailable(fmt.Errorf("list rejections: %w", err))
	}
	return page, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRejection(row scanner) (hookvault.Rejection, error) {
	var r hookvault.Rejection
	var at int64
	var first sql.NullInt64
	var hints string
	if err := row.Scan(&r.RID, &at, &r.Source, &r.Result, &r.Status, &r.Reason, &r.RequestID, &r.RemoteAddr, &r.MessageID,
		&first, &r.BodySize, &r.BodySHA256, &hints, &r.Headers, &r.Body); err != nil {
		return r, err
	}
	r.ReceivedAt = time.Unix(0, at).UTC()
	if first.Valid {
		r.FirstReceivedAt = time.Unix(0, first.Int64).UTC()
	}
	if err := json.Unmarshal([]byte(hints), &r.Hints); err != nil {
		return r, fmt.Errorf("read hints of %d: %w", r.RID, err)
	}
	return r, nil
}

// GetRejection returns one entry from the read pool, or ENOTFOUND.
func (s *Store) GetRejection(ctx context.Context, rid int64) (hookvault.Rejection, error) {
	r, err := scanRejection(s.r.QueryRowContext(ctx, `SELECT `+rejectionColumns+` FROM rejections WHERE rid = ?`, rid))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return hookvault.Rejection{}, hookvault.Errorf(hookvault.ENOTFOUND, "no rejection %d", rid)
	case err != nil:
		return hookvault.Rejection{}, hookvault.Unavailable(fmt.Errorf("get rejection %d: %w", rid, err))
	}
	return r, nil
}

// PruneRejections deletes, in one short transaction on the writer (behind message batches),
// at most batch entries: first those beyond the newest maxRows, a range of the rowid below
// max(rid)-maxRows (rids are handed out without gaps, and only the oldest are ever deleted,
// so exactly maxRows stay), then those received before `before`, a range of
// rejections_by_arrival.
func (s *Store) PruneRejections(ctx context.Context, before time.Time, maxRows, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	deleted := 0
	err := s.lowWrite(ctx, "prune rejections", func(tx *sql.Tx) error {
		deleted = 0
		if maxRows >= 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM rejections WHERE rid IN (
				SELECT rid FROM rejections WHERE rid <= (SELECT max(rid) FROM rejections) - ? ORDER BY rid LIMIT ?)`, maxRows, batch)
			if err != nil {
				return fmt.Errorf("beyond %d rows: %w", maxRows, err)
			}
			n, _ := res.RowsAffected()
			deleted += int(n)
		}
		if !before.IsZero() && deleted < batch {
			res, err := tx.ExecContext(ctx, `DELETE FROM rejections WHERE rid IN (
				SELECT rid FROM rejections WHERE received_at < ? ORDER BY received_at, rid LIMIT ?)`, before.UnixNano(), batch-deleted)
			if err != nil {
				return fmt.Errorf("before %v: %w", before, err)
			}
			n, _ := res.RowsAffected()
			deleted += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}
