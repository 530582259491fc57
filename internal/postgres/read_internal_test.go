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

// seeded opens a store on a fresh schema holding rows messages, arrivals one millisecond
// apart, as the SQLite benchmarks' fixture: nine in ten are POST /webhook messages of 1,000
// senders, one in ten a provider's delivery (GitHub and Stripe in turn, five types each,
// with headers); and one in a hundred is, instead of a POST /webhook message, one of an app
// that sends that format with a type rule (ten senders, two types). They are written by SQL in one statement (the write path would take
// minutes for a million), with the /stats counters and statistics for the planner.
func seeded(tb testing.TB, rows int) *Store {
	tb.Helper()
	url := pgtest.Schema(tb)
	s, err := Open(context.Background(), url, Options{Migrate: true, CompactEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	pgtest.Exec(tb, url, `
		INSERT INTO messages (source, id, type, sender, content, content_type, headers, received_at, payload)
		SELECT convert_to(source, 'UTF8'), convert_to(id, 'UTF8'), convert_to(type, 'UTF8'), convert_to(sender, 'UTF8'),
		       convert_to(CASE WHEN sender IS NOT NULL THEN format('event %s for %s: invoice.paid', g, sender) END, 'UTF8'),
		       'application/json'::bytea,
		       convert_to(CASE WHEN type IS NOT NULL THEN
		           format('{"Content-Type":["application/json"],"X-Delivery":["%s"],"X-Event":["%s"]}', id, type) END, 'UTF8'),
		       $2::timestamptz + g * interval '1 millisecond',
		       convert_to(CASE WHEN type IS NULL THEN format('{"id":"%s","sender":"%s"}', id, sender)
		           ELSE format('{"id":"%s","type":"%s"}', id, type) END, 'UTF8')
		FROM (
			SELECT g, format('msg-%s', lpad(g::text, 7, '0')) AS id,
			       CASE WHEN g % 100 = 45 THEN 'app' WHEN g % 10 <> 9 THEN 'default' WHEN (g / 10) % 2 = 0 THEN 'github' ELSE 'stripe' END AS source,
			       CASE WHEN g % 100 = 45 THEN (ARRAY['order.created', 'order.paid'])[(g / 100) % 2 + 1]
			            WHEN g % 10 <> 9 THEN NULL
			            WHEN (g / 10) % 2 = 0 THEN (ARRAY['push', 'pull_request', 'issues', 'issue_comment', 'workflow_run'])[(g / 20) % 5 + 1]
			            ELSE (ARRAY['invoice.paid', 'charge.succeeded', 'customer.created', 'payment_intent.created', 'charge.failed'])[(g / 20) % 5 + 1]
			       END AS type,
			       CASE WHEN g % 100 = 45 THEN format('shop-%s', (g / 100) % 10)
			            WHEN g % 10 <> 9 THEN format('sender-%s', lpad(((g - g / 10) % 1000)::text, 3, '0')) END AS sender
			FROM generate_series(0, $1::int - 1) AS g
		) AS r`, rows, seedBase)
	pgtest.Exec(tb, url, `INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM messages WHERE sender IS NOT NULL GROUP BY sender`)
	pgtest.Exec(tb, url, `INSERT INTO source_counts (source, n) SELECT source, count(*) FROM messages GROUP BY source`)
	// A statistics target this large samples every row of the plan tests' 100,000, so
	// that their plans do not change with the sample from one run to the next.
	pgtest.Exec(tb, url, `SET default_statistics_target = 1000; ANALYZE`)
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
// PostgreSQL picks the index from its statistics, the extended ones that say a type or a
// sender tells the source included: a filter on a type or a sender seeks that index, a
// rare source its own, and the source of most messages is read from the arrival order.
func TestListUsesIndexesAndNeverSorts(t *testing.T) {
	s := seeded(t, 100_000)
	at := func(ms int) time.Time { return seedBase.Add(time.Duration(ms) * time.Millisecond) }
	after := &hookvault.Cursor{ReceivedAt: at(90_000), Source: "default", ID: "msg-0090000"}
	// Early in the walk, where most of the rows of a filter are still ahead: deep into it the
	// planner rightly sorts the few rows left instead.
	early := &hookvault.Cursor{ReceivedAt: at(1000), Source: "default", ID: "msg-0001000"}
	earlyGitHub := &hookvault.Cursor{ReceivedAt: at(1009), Source: "github", ID: "msg-0001009"}
	earlyApp := &hookvault.Cursor{ReceivedAt: at(1045), Source: "app", ID: "msg-0001045"}
	const (
		arrival = "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_arrival"
		source  = "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_source"
		typ     = "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_type"
		sender  = "Subquery Scan,Limit,WindowAgg,Index Scan messages_by_sender"
	)
	tests := []struct {
		name string
		f    hookvault.ListFilter
		want string
	}{
		{"first page", hookvault.ListFilter{}, arrival},
		{"next page", hookvault.ListFilter{After: after}, arrival},
		{"window next page", hookvault.ListFilter{Since: at(1000), Until: at(95_000), After: after}, arrival},
		{"q next page", hookvault.ListFilter{Q: "invoice", After: after}, arrival},

		{"source", hookvault.ListFilter{Source: "github"}, source},
		{"source next page", hookvault.ListFilter{Source: "github", After: earlyGitHub}, source},
		{"source window", hookvault.ListFilter{Source: "github", Since: at(1000), Until: at(95_000)}, source},
		{"rare source next page", hookvault.ListFilter{Source: "app", After: earlyApp}, source},
		{"rare source after another's cursor", hookvault.ListFilter{Source: "app", After: early}, source},
		{"source of most messages", hookvault.ListFilter{Source: "default", After: after}, arrival},

		{"type", hookvault.ListFilter{Type: "push"}, typ},
		{"type next page", hookvault.ListFilter{Type: "push", After: early}, typ},
		{"type window next page", hookvault.ListFilter{Type: "push", Since: at(500), Until: at(95_000), After: early}, typ},
		{"source and type", hookvault.ListFilter{Source: "github", Type: "push"}, typ},
		{"source and type next page", hookvault.ListFilter{Source: "github", Type: "push", After: earlyGitHub}, typ},
		{"rare source and type", hookvault.ListFilter{Source: "app", Type: "order.paid"}, typ},

		{"sender", hookvault.ListFilter{Sender: "sender-042"}, sender},
		{"sender next page", hookvault.ListFilter{Sender: "sender-042", After: early}, sender},
		{"source and sender next page", hookvault.ListFilter{Source: "default", Sender: "sender-042", After: early}, sender},
		{"source, type and sender", hookvault.ListFilter{Source: "app", Type: "order.paid", Sender: "shop-3"}, sender},
		{"type and sender window", hookvault.ListFilter{Type: "order.paid", Sender: "shop-3", Since: at(500)}, sender},
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
	const src, typ = "a-source-of-many-bytes", "and.a.type.of.many.bytes" // 46 bytes a message
	tests := []struct {
		sender string // each case lists its own sender's messages
		limit  int
		sizes  []int // ListedBytes of each message: source, id (8 bytes), type, sender (2), content
		rows   int
	}{
		{"s1", 1000, []int{mib, mib, mib, mib, mib, mib, mib, mib}, 5},
		{"s2", 1000, []int{5 * mib, 80, 80, 80}, 2},
		{"s3", 1000, []int{3 * mib, mib + 1, 80}, 2},
		{"s4", 2, []int{80, 80, 80, 80}, 3},
		{"s5", 1000, []int{80, 80, 80}, 3},
		// If the query left out the bytes of source and type (5 × 46), the sixth would start
		// before the bound and be sent too.
		{"s6", 1000, []int{mib, mib, mib, mib, 80, 80}, 5},
	}
	for _, tt := range tests {
		for i, size := range tt.sizes {
			m := hookvault.Message{Source: src, ID: fmt.Sprintf("%s-m%03d", tt.sender, i), Type: typ, Sender: tt.sender, Payload: []byte(`{}`)}
			m.Content = strings.Repeat("x", size-len(m.Source)-len(m.ID)-len(m.Type)-len(m.Sender))
			if m.ListedBytes() != size {
				t.Fatalf("%s: %d listed bytes, want %d", m.ID, m.ListedBytes(), size)
			}
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
		m := hookvault.Message{Source: hookvault.DefaultSource, ID: fmt.Sprintf("large-%02d", i), Sender: "alice", Content: content, Payload: []byte(`{}`)}
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
				`SELECT source, id, received_at, type, sender, content FROM messages ORDER BY received_at, source, id LIMIT $1`, f.Limit+1)
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
	deep := &hookvault.Cursor{ReceivedAt: seedBase.Add(900_000 * time.Millisecond), Source: hookvault.DefaultSource, ID: "msg-0900000"}
	for _, bc := range []struct {
		name string
		f    hookvault.ListFilter
	}{
		{"list-first", hookvault.ListFilter{}},
		{"list-deep", hookvault.ListFilter{After: deep}},
		{"list-sender-deep", hookvault.ListFilter{Sender: "sender-042", After: deep}},
		{"list-q-dense", hookvault.ListFilter{Q: "invoice"}},
		{"list-source-deep", hookvault.ListFilter{Source: "github", After: deep}},
		{"list-type-deep", hookvault.ListFilter{Type: "push", After: deep}},
		{"list-source-type-deep", hookvault.ListFilter{Source: "github", Type: "push", After: deep}},
		{"list-default-sender-deep", hookvault.ListFilter{Source: hookvault.DefaultSource, Sender: "sender-042", After: deep}},
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
			if err != nil || st.TotalMessages != 1_000_000 || st.SendersCount != 1010 || len(st.Sources) != 4 {
				b.Fatal(fmt.Sprint(st, err))
			}
		}
	})
}
