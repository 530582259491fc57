package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// plan returns the node types and index names of the plan PostgreSQL picks for q.
func plan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
	var raw []byte
	if err := s.r.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	type node struct {
		Type  string `json:"Node Type"`
		Index string `json:"Index Name"`
		Plans []node `json:"Plans"`
	}
	var p []struct{ Plan node }
	if err := json.Unmarshal(raw, &p); err != nil {
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
	visit(p[0].Plan)
	return out
}

// Claim locks a range of deliveries_due in due order and finds each message by its primary
// key; the listings read the primary key or an index in did order from the cursor on. None
// sorts. The table holds 40,000 deliveries (two per message), most of them delivered, a few
// thousand pending, as a long-running outbox does.
func TestOutboxUsesIndexesAndNeverSorts(t *testing.T) {
	s := seeded(t, 20_000)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO deliveries (destination, source, message_id, status, created_at, next_attempt_at, delivered_at, tries)
		 SELECT convert_to(d, 'UTF8'), source, id,
		        CASE WHEN (extract(epoch FROM received_at) * 1000)::bigint % 10 = 0 THEN 'pending'
		             WHEN (extract(epoch FROM received_at) * 1000)::bigint % 10 = 1 THEN 'failed' ELSE 'delivered' END,
		        received_at, NULL, NULL, 1
		 FROM messages, unnest(ARRAY['app', 'stream']) AS d ORDER BY received_at, d`,
		`UPDATE deliveries SET next_attempt_at = created_at WHERE status = 'pending'`,
		`UPDATE deliveries SET delivered_at = created_at WHERE status = 'delivered'`,
		`ANALYZE deliveries`,
	} {
		if _, err := s.w.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now := seedBase.Add(time.Hour)
	check := func(name string, got []string, want ...string) {
		t.Helper()
		for _, n := range got {
			if strings.HasPrefix(n, "Sort") || strings.HasPrefix(n, "Seq Scan") {
				t.Errorf("%s: plan %v has a %s", name, got, n)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: plan %v, want %s", name, got, w)
			}
		}
	}
	check("claim", plan(t, s, claimQuery, []byte("app"), now, 100, now.Add(time.Minute), []byte("w")),
		"LockRows", "Index Scan deliveries_due", "Index Scan messages_pkey")
	tests := []struct {
		name string
		f    hookvault.DeliveryFilter
		want string
	}{
		{"all", hookvault.DeliveryFilter{}, "Index Scan deliveries_pkey"},
		{"all before", hookvault.DeliveryFilter{Before: 30_000}, "Index Scan deliveries_pkey"},
		{"status", hookvault.DeliveryFilter{Status: hookvault.Failed, Before: 30_000}, "Index Scan deliveries_by_status"},
		{"destination and status", hookvault.DeliveryFilter{Destination: "app", Status: hookvault.Pending, Before: 30_000}, "Index Scan deliveries_by_destination"},
		// Each status's range in did order (the delivered one, most of app's rows, may be read
		// from the primary key instead), merged.
		{"destination", hookvault.DeliveryFilter{Destination: "app", Before: 30_000}, "Merge Append"},
	}
	for _, tt := range tests {
		q, args := deliveryListQuery(tt.f, 50)
		check(tt.name, plan(t, s, q, args...), tt.want)
	}
}
