package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/pgtest"
)

var seedBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seeded opens a store on a fresh schema holding rows messages from 1,000 senders,
// arrivals one millisecond apart, written by SQL in one statement (the write path would
// take minutes for a million), with statistics for the planner.
func seeded(tb testing.TB, rows int) *Store {
	tb.Helper()
	url := pgtest.Schema(tb)
	s, err := Open(context.Background(), url, Options{Migrate: true, CompactEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	pgtest.Exec(tb, url, `
		INSERT INTO messages (id, sender, content, received_at, payload)
		SELECT convert_to(format('msg-%s', lpad(g::text, 7, '0')), 'UTF8'),
		       convert_to(format('sender-%s', lpad((g % 1000)::text, 3, '0')), 'UTF8'),
		       convert_to(format('event %s for sender-%s: invoice.paid', g, lpad((g % 1000)::text, 3, '0')), 'UTF8'),
		       $2::timestamptz + g * interval '1 millisecond',
		       convert_to(format('{"id":"msg-%s"}', g), 'UTF8')
		FROM generate_series(0, $1::int - 1) AS g`, rows, seedBase)
	pgtest.Exec(tb, url, `
		INSERT INTO sender_counts (sender, n)
		SELECT convert_to(format('sender-%s', lpad((g % 1000)::text, 3, '0')), 'UTF8'), count(*)
		FROM generate_series(0, $1::int - 1) AS g GROUP BY 1`, rows)
	pgtest.Exec(tb, url, `ANALYZE`)
	return s
}

// planNodes returns the node types and index names of the plan PostgreSQL picks for f.
func planNodes(t *testing.T, s *Store, f hookvault.ListFilter) []string {
	t.Helper()
	q, args := listQuery(f)
	var raw []byte
	if err := s.r.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	type node struct {
		Type  string `json:"Node Type"`
		Index string `json:"Index Name"`
		Plans []node `json:"Plans"`
	}
	var plan []struct{ Plan node }
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatal(err)
	}
	var out []string
	var visit func(n node)
	visit = func(n node) {
		out = append(out, strings.TrimSpace(n.Type+" "+n.Index))
		for _, c := range n.Plans {
			visit(c)
		}
	}
	visit(plan[0].Plan)
	return out
}

// Every page without q reads an index in the order of the answer, starting at the cursor:
// no sort, no scan from the start, so a page costs O(limit) however deep the walk is. The
// running byte total (see listQuery) is a WindowAgg over the index order, under the Limit.
func TestListUsesIndexesAndNeverSorts(t *testing.T) {
	s := seeded(t, 100_000)
	after := &hookvault.Cursor{ReceivedAt: seedBase.Add(90 * time.Second), ID: "msg-0090000"}
	// Early in the walk, where most of a sender's rows are still ahead: deep into it the
	// planner rightly sorts the few rows left instead.
	early := &hookvault.Cursor{ReceivedAt: seedBase.Add(time.Second), ID: "msg-0001000"}
	tests := []struct {
		name string
		f    hookvault.ListFilter
		want string
	}{
		{"first page", hookvault.ListFilter{}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_arrival"},
		{"next page", hookvault.ListFilter{After: after}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_arrival"},
		{"sender", hookvault.ListFilter{Sender: "sender-042"}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_sender"},
		{"sender next page", hookvault.ListFilter{Sender: "sender-042", After: early}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_sender"},
		{"window next page", hookvault.ListFilter{Since: seedBase.Add(time.Second), Until: seedBase.Add(95 * time.Second), After: after}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_arrival"},
		{"q next page", hookvault.ListFilter{Q: "invoice", After: after}, "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_arrival"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 50
			if got := strings.Join(planNodes(t, s, tt.f), ","); got != tt.want {
				t.Fatalf("plan = %s\nwant   %s", got, tt.want)
			}
		})
	}
}

// PostgreSQL sends every row of a result before a query can end, so the query itself must
// leave out the rows a page cannot hold: it returns the page and the one row that shows
// another follows, not limit+1 rows of a megabyte each.
func TestListQueryReturnsOnlyWhatAPageHolds(t *testing.T) {
	const mib = 1 << 20
	url := pgtest.Schema(t)
	s, err := Open(context.Background(), url, Options{Migrate: true, CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		sender string // each case lists its own sender's messages
		limit  int
		sizes  []int // ListedBytes of each message: id (8 bytes) + sender (2) + content
		rows   int
	}{
		{"s1", 1000, []int{mib, mib, mib, mib, mib, mib, mib, mib}, 5},
		{"s2", 1000, []int{5 * mib, 20, 20, 20}, 2},
		{"s3", 1000, []int{3 * mib, mib + 1, 20}, 2},
		{"s4", 2, []int{20, 20, 20, 20}, 3},
		{"s5", 1000, []int{20, 20, 20}, 3},
	}
	for _, tt := range tests {
		for i, size := range tt.sizes {
			m := hookvault.Message{ID: fmt.Sprintf("%s-m%03d", tt.sender, i), Sender: tt.sender, Payload: []byte(`{}`)}
			m.Content = strings.Repeat("x", size-len(m.ID)-len(m.Sender))
			if _, err := s.Insert(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.sender, func(t *testing.T) {
			q, args := listQuery(hookvault.ListFilter{Sender: tt.sender, Limit: tt.limit})
			rows, err := s.r.Query(context.Background(), q, args...)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != tt.rows {
				t.Fatalf("the query returned %d rows, want %d", n, tt.rows)
			}
		})
	}
}

// BenchmarkListLargeRows is a limit=1000 page over 64 messages of 1 MB: through List, and
// through the plain keyset query (LIMIT limit+1, no byte cut in SQL) stopped after the same
// five rows, which pgx then drains: the cost that listQuery's running total avoids.
func BenchmarkListLargeRows(b *testing.B) {
	url := pgtest.Schema(b)
	s, err := Open(context.Background(), url, Options{Migrate: true, CompactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	content := strings.Repeat("x", 1_000_000)
	for i := range 64 {
		m := hookvault.Message{ID: fmt.Sprintf("large-%02d", i), Sender: "alice", Content: content, Payload: []byte(`{}`)}
		if _, err := s.Insert(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	pgtest.Exec(b, url, `ANALYZE`)
	f := hookvault.ListFilter{Limit: 1000}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if _, err := s.List(context.Background(), f, func(hookvault.Message) error { n++; return nil }); err != nil || n != 4 {
				b.Fatalf("%d messages, %v", n, err)
			}
		}
	})
	b.Run("plain-query", func(b *testing.B) {
		for b.Loop() {
			rows, err := s.r.Query(context.Background(),
				`SELECT id, sender, content, received_at FROM messages ORDER BY received_at, id LIMIT $1`, f.Limit+1)
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < 5 && rows.Next(); n++ {
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRead1M measures a page of 50 and /stats on a million rows.
func BenchmarkRead1M(b *testing.B) {
	s := seeded(b, 1_000_000)
	ctx := context.Background()
	deep := &hookvault.Cursor{ReceivedAt: seedBase.Add(900_000 * time.Millisecond), ID: "msg-0900000"}
	for _, bc := range []struct {
		name string
		f    hookvault.ListFilter
	}{
		{"list-first", hookvault.ListFilter{}},
		{"list-deep", hookvault.ListFilter{After: deep}},
		{"list-sender-deep", hookvault.ListFilter{Sender: "sender-042", After: deep}},
		{"list-q-dense", hookvault.ListFilter{Q: "invoice"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.f.Limit = 50
			for b.Loop() {
				n := 0
				if _, err := s.List(ctx, bc.f, func(hookvault.Message) error { n++; return nil }); err != nil || n != 50 {
					b.Fatalf("%d messages, %v", n, err)
				}
			}
		})
	}
	b.Run("stats", func(b *testing.B) {
		for b.Loop() {
			st, err := s.Stats(ctx)
			if err != nil || st.TotalMessages != 1_000_000 || st.SendersCount != 1000 {
				b.Fatal(fmt.Sprint(st, err))
			}
		}
	})
}
