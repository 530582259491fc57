package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// planOf is SQLite's plan for q on db: the detail of each step, in order.
func planOf(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// explain is q's plan on db in one line, its steps joined by "; ".
func explain(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	return strings.Join(planOf(t, db, q, args...), "; ")
}

// Every page of every filter without q reads the table or one index in the order of the
// answer, starting at the cursor: no sort step, no scan from the beginning. That keeps a page
// O(limit) however deep the walk is and however many rows there are. Arrival order is the
// rowid (received_at), which ends every index entry, so the seek after the filtered column
// is on the rowid. (q is a substring match, which no index serves: its pages read rows in
// order until limit of them match.) With several filters the type's or the sender's index
// seeks and the source is checked in the rows: the source's index would read every message
// of the source to find the few of a type.
func TestListUsesIndexesAndNeverSorts(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	after := &hookvault.Cursor{ReceivedAt: now, Source: "github", ID: "x"}
	elsewhere := &hookvault.Cursor{ReceivedAt: now, Source: "default", ID: "x"} // a cursor of another listing
	hour := time.Hour
	const (
		arrival = "SEARCH messages USING INTEGER PRIMARY KEY "
		source  = "SEARCH messages USING INDEX messages_by_source "
		typ     = "SEARCH messages USING INDEX messages_by_type "
		sender  = "SEARCH messages USING INDEX messages_by_sender "
	)
	tests := []struct {
		name string
		f    hookvault.ListFilter
		want string
	}{
		{"first page", hookvault.ListFilter{}, "SCAN messages"},
		{"next page", hookvault.ListFilter{After: after}, arrival + "(rowid>?)"},
		{"window", hookvault.ListFilter{Since: now, Until: now}, arrival + "(rowid>? AND rowid<?)"},
		{"window next page", hookvault.ListFilter{Since: now.Add(-hour), Until: now.Add(hour), After: after}, arrival + "(rowid>? AND rowid<?)"},
		{"q next page", hookvault.ListFilter{Q: "x", After: after}, arrival + "(rowid>?)"},

		{"source", hookvault.ListFilter{Source: "github"}, source + "(source=?)"},
		{"source next page", hookvault.ListFilter{Source: "github", After: after}, source + "(source=? AND rowid>?)"},
		{"source after another's cursor", hookvault.ListFilter{Source: "github", After: elsewhere}, source + "(source=? AND rowid>?)"},
		{"source window next page", hookvault.ListFilter{Source: "github", Since: now.Add(-hour), Until: now.Add(hour), After: after}, source + "(source=? AND rowid>? AND rowid<?)"},
		{"source q next page", hookvault.ListFilter{Source: "github", Q: "x", After: after}, source + "(source=? AND rowid>?)"},

		{"type", hookvault.ListFilter{Type: "push"}, typ + "(type=?)"},
		{"type next page", hookvault.ListFilter{Type: "push", After: after}, typ + "(type=? AND rowid>?)"},
		{"type window", hookvault.ListFilter{Type: "push", Since: now, Until: now}, typ + "(type=? AND rowid>? AND rowid<?)"},
		{"source and type", hookvault.ListFilter{Source: "github", Type: "push"}, typ + "(type=?)"},
		{"source and type next page", hookvault.ListFilter{Source: "github", Type: "push", After: after}, typ + "(type=? AND rowid>?)"},
		{"source and type window next page", hookvault.ListFilter{Source: "github", Type: "push", Since: now.Add(-hour), Until: now.Add(hour), After: after},
			typ + "(type=? AND rowid>? AND rowid<?)"},

		{"sender", hookvault.ListFilter{Sender: "a"}, sender + "(sender=?)"},
		{"sender next page", hookvault.ListFilter{Sender: "a", After: after}, sender + "(sender=? AND rowid>?)"},
		{"sender window next page", hookvault.ListFilter{Sender: "a", Since: now.Add(-hour), After: after}, sender + "(sender=? AND rowid>?)"},
		{"source and sender next page", hookvault.ListFilter{Source: "default", Sender: "a", After: after}, sender + "(sender=? AND rowid>?)"},
		{"type and sender", hookvault.ListFilter{Type: "push", Sender: "a"}, typ + "(type=?)"},
		{"source, type and sender next page", hookvault.ListFilter{Source: "app", Type: "push", Sender: "a", After: after}, typ + "(type=? AND rowid>?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 50
			q, args := listQuery(tt.f)
			plan := planOf(t, s.r, q, args...)
			if len(plan) != 1 || plan[0] != tt.want {
				t.Fatalf("plan = %q\nwant  %q", plan, tt.want)
			}
		})
	}
}

// Retention's oldest messages and /stats' first and last arrival are the ends of the table,
// whose rowid is received_at: a range and two single seeks, no index, no scan.
func TestArrivalEndsAreTheRowid(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		q    string
		args []any
		want string
	}{
		{`SELECT rowid, source, id, sender FROM messages WHERE received_at < ? ORDER BY received_at LIMIT ?`, []any{1, 1},
			"SEARCH messages USING INTEGER PRIMARY KEY (rowid<?)"},
		{`SELECT (SELECT min(received_at) FROM messages), (SELECT max(received_at) FROM messages)`, nil,
			"SCAN CONSTANT ROW; SCALAR SUBQUERY 1; SEARCH messages; SCALAR SUBQUERY 2; SEARCH messages"},
	} {
		if got := explain(t, s.r, tt.q, tt.args...); got != tt.want {
			t.Errorf("%s:\n plan %q\n want %q", tt.q, got, tt.want)
		}
	}
}

// benchStore opens a store with a million messages, arrivals one millisecond apart: nine in
// ten are POST /webhook messages of 1,000 senders, one in ten a provider's delivery (GitHub
// and Stripe in turn, five types each, with headers). They are written by SQL past the
// writer, which fills the /stats counters itself. Building it takes a while, so it is kept in
// the temporary folder between runs.
func benchStore(b *testing.B) *Store {
	b.Helper()
	const rows = 1_000_000
	// v7: arrival order as the rowid (v4 was sources; v3, before them, is the fixture
	// BenchmarkMigrate1M starts from). A checkout before v7 builds and keeps its own file.
	path := filepath.Join(os.TempDir(), "hookvault-bench-1m-v7.db")
	s, err := Open(context.Background(), path, Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	st, err := s.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if st.TotalMessages == rows {
		return s
	}
	if st.TotalMessages != 0 {
		b.Fatalf("%s holds %d rows; remove it", path, st.TotalMessages)
	}
	b.Logf("building %s with %d rows", path, rows)
	tx, err := s.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO messages (source, id, received_at, type, sender, content, content_type, headers, payload)
		VALUES (?, ?, ?, ?, ?, ?, 'application/json', ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	types := map[string][]string{
		"github": {"push", "pull_request", "issues", "issue_comment", "workflow_run"},
		"stripe": {"invoice.paid", "charge.succeeded", "customer.created", "payment_intent.created", "charge.failed"},
	}
	posted := 0
	for i := range rows {
		id := fmt.Sprintf("msg-%07d", i)
		at := start + int64(i)*int64(time.Millisecond)
		if i%10 == 9 {
			source := []string{"github", "stripe"}[(i/10)%2]
			typ := types[source][(i/20)%5]
			headers := fmt.Sprintf(`{"Content-Type":["application/json"],"User-Agent":["%s-Hookshot/1"],"X-Delivery":[%q],"X-Event":[%q]}`, source, id, typ)
			payload := fmt.Sprintf(`{"id":%q,"type":%q,"data":{"object":{"amount":1000}}}`, id, typ)
			_, err = stmt.Exec(source, id, at, typ, nil, nil, []byte(headers), []byte(payload))
		} else {
			sender := fmt.Sprintf("sender-%03d", posted%1000)
			posted++
			content := fmt.Sprintf("event %d for %s: invoice.paid", i, sender)
			payload := fmt.Sprintf(`{"id":%q,"sender":%q,"content":%q}`, id, sender, content)
			_, err = stmt.Exec(hookvault.DefaultSource, id, at, nil, sender, content, nil, []byte(payload))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO counts (kind, name, n) SELECT 'sender', sender, count(*) FROM messages WHERE sender IS NOT NULL GROUP BY sender`,
		`INSERT INTO counts (kind, name, n) SELECT 'source', source, count(*) FROM messages GROUP BY source`,
		`UPDATE counts SET n = iif(name = 'messages', (SELECT count(*) FROM messages),
			(SELECT count(*) FROM counts WHERE kind = 'sender')) WHERE kind = 'total'`,
	} {
		if _, err := tx.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkList1M measures one page of 50 on a million rows, at the start and deep into a
// walk, with and without filters.
func BenchmarkList1M(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deep := &hookvault.Cursor{ReceivedAt: base.Add(900_000 * time.Millisecond), Source: hookvault.DefaultSource, ID: "msg-0900000"}
	for _, bc := range []struct {
		name string
		f    hookvault.ListFilter
	}{
		{"first", hookvault.ListFilter{}},
		{"deep", hookvault.ListFilter{After: deep}},
		{"sender", hookvault.ListFilter{Sender: "sender-042"}},
		{"sender-deep", hookvault.ListFilter{Sender: "sender-042", After: deep}},
		{"window-deep", hookvault.ListFilter{Since: base.Add(time.Minute), Until: base.Add(16 * time.Minute), After: deep}},
		{"source-deep", hookvault.ListFilter{Source: "github", After: deep}}, // 5% of the rows
		{"type-deep", hookvault.ListFilter{Type: "push", After: deep}},       // 1%
		{"source-type-deep", hookvault.ListFilter{Source: "github", Type: "push", After: deep}},
		{"default-sender-deep", hookvault.ListFilter{Source: hookvault.DefaultSource, Sender: "sender-042", After: deep}},
		{"q-dense", hookvault.ListFilter{Q: "invoice"}},
		{"q-sparse", hookvault.ListFilter{Q: "sender-999:"}}, // one row in a thousand matches
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.f.Limit = 50
			for b.Loop() {
				n := 0
				_, err := s.List(ctx, bc.f, func(hookvault.Message) error { n++; return nil })
				if err != nil || n != 50 {
					b.Fatalf("%d messages, %v", n, err)
				}
			}
		})
	}
}

func BenchmarkStats1M(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		st, err := s.Stats(context.Background())
		if err != nil || st.TotalMessages != 1_000_000 || st.SendersCount != 1000 || len(st.TopSenders) != 10 || len(st.Sources) != 3 {
			b.Fatalf("%+v %v", st, err)
		}
	}
}
