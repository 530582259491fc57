package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

func queryPlan(t testing.TB, s *Store, f hookvault.ListFilter) []string {
	t.Helper()
	q, args := listQuery(f)
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+q, args...)
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
	return plan
}

// Every page of every filter without q reads the index in the order of the answer, starting
// at the cursor: no sort step, no scan from the beginning. That keeps a page O(limit) however
// deep the walk is and however many rows there are. (q is a substring match, which no index
// serves: its pages read rows in order until limit of them match.)
func TestListUsesIndexesAndNeverSorts(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	after := &hookvault.Cursor{ReceivedAt: now, ID: "x"}
	tests := []struct {
		name string
		f    hookvault.ListFilter
		want string
	}{
		{"first page", hookvault.ListFilter{}, "SCAN messages USING INDEX messages_by_arrival"},
		{"next page", hookvault.ListFilter{After: after}, "SEARCH messages USING INDEX messages_by_arrival ((received_at,id)>(?,?))"},
		{"sender", hookvault.ListFilter{Sender: "a"}, "SEARCH messages USING INDEX messages_by_sender (sender=?)"},
		{"sender next page", hookvault.ListFilter{Sender: "a", After: after}, "SEARCH messages USING INDEX messages_by_sender (sender=? AND (received_at,id)>(?,?))"},
		{"window", hookvault.ListFilter{Since: now, Until: now}, "SEARCH messages USING INDEX messages_by_arrival (received_at>? AND received_at<?)"},
		{"window next page", hookvault.ListFilter{Since: now.Add(-time.Hour), Until: now.Add(time.Hour), After: after}, "SEARCH messages USING INDEX messages_by_arrival ((received_at,id)>(?,?) AND received_at<?)"},
		{"sender window next page", hookvault.ListFilter{Sender: "a", Since: now.Add(-time.Hour), After: after}, "SEARCH messages USING INDEX messages_by_sender (sender=? AND (received_at,id)>(?,?))"},
		{"q next page", hookvault.ListFilter{Q: "x", After: after}, "SEARCH messages USING INDEX messages_by_arrival ((received_at,id)>(?,?))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 50
			plan := queryPlan(t, s, tt.f)
			if len(plan) != 1 || plan[0] != tt.want {
				t.Fatalf("plan = %q\nwant  %q", plan, tt.want)
			}
		})
	}
}

// benchStore opens a store with a million messages: 1,000 senders, arrivals one millisecond
// apart, written by SQL past the writer, so it fills the /stats counters itself. Building it
// takes a while, so it is kept in the temporary folder between runs.
func benchStore(b *testing.B) *Store {
	b.Helper()
	const rows = 1_000_000
	// v3: a v2 file built after migration 00003 dropped the counting trigger has no counters.
	path := filepath.Join(os.TempDir(), "hookvault-bench-1m-v3.db")
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
	stmt, err := tx.Prepare(`INSERT INTO messages (id, sender, content, received_at, payload) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range rows {
		id := fmt.Sprintf("msg-%07d", i)
		sender := fmt.Sprintf("sender-%03d", i%1000)
		content := fmt.Sprintf("event %d for %s: invoice.paid", i, sender)
		payload := fmt.Sprintf(`{"id":%q,"sender":%q,"content":%q}`, id, sender, content)
		if _, err := stmt.Exec(id, sender, content, start+int64(i)*int64(time.Millisecond), []byte(payload)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM messages GROUP BY sender`); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE totals SET messages = (SELECT count(*) FROM messages), senders = (SELECT count(*) FROM sender_counts)`); err != nil {
		b.Fatal(err)
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
	deep := &hookvault.Cursor{ReceivedAt: base.Add(900_000 * time.Millisecond), ID: "msg-0900000"}
	for _, bc := range []struct {
		name string
		f    hookvault.ListFilter
	}{
		{"first", hookvault.ListFilter{}},
		{"deep", hookvault.ListFilter{After: deep}},
		{"sender", hookvault.ListFilter{Sender: "sender-042"}},
		{"sender-deep", hookvault.ListFilter{Sender: "sender-042", After: deep}},
		{"window-deep", hookvault.ListFilter{Since: base.Add(time.Minute), Until: base.Add(16 * time.Minute), After: deep}},
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
		if err != nil || st.TotalMessages != 1_000_000 || st.SendersCount != 1000 || len(st.TopSenders) != 10 {
			b.Fatalf("%+v %v", st, err)
		}
	}
}
