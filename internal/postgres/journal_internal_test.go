package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/pgtest"
)

// Every page of the journal, with each filter the API offers and the usual pairs, is an
// index scan in the order of the answer (received_at, rid descending) under the Limit, from
// the cursor on: no sort, so a page costs O(limit) however long the journal is. The cursor's
// (received_at, rid) is an InitPlan on the primary key. Where a filter on a source or a
// result meets a cursor or a time bound, the planner may rightly read the arrival index
// backwards and check the filter in its rows (one in 20 or 6 matches here, so a page reads
// a few hundred entries): that is no sort either.
func TestRejectionsUseIndexesAndNeverSort(t *testing.T) {
	url := pgtest.Schema(t)
	s, err := Open(context.Background(), url, Options{Migrate: true, CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 100,000 entries of 20 sources and six results, one a second, written by SQL.
	pgtest.Exec(t, url, `
		INSERT INTO rejections (received_at, source, result, status, reason, request_id, remote_addr, message_id,
			body_size, hints, headers, body)
		SELECT $1::timestamptz + g * interval '1 second', convert_to(format('s%s', g % 20), 'UTF8'),
			($2::text[])[g % 6 + 1], 401, ''::bytea, ''::bytea, ''::bytea, ''::bytea, 0, '[]', '{}'::bytea, ''::bytea
		FROM generate_series(0, 99999) AS g`, seedBase, hookvault.RejectionResults)
	pgtest.Exec(t, url, `SET default_statistics_target = 1000; ANALYZE`)
	since, until := seedBase.Add(10*time.Hour), seedBase.Add(20*time.Hour)
	const (
		arrival = "Index Scan Backward rejections_by_arrival"
		source  = "Index Scan Backward rejections_by_source"
		result  = "Index Scan Backward rejections_by_result"
	)
	tests := []struct {
		name string
		f    hookvault.RejectionFilter
		want string
		alt  bool // the arrival index is as good
	}{
		{"all", hookvault.RejectionFilter{}, arrival, false},
		{"all, next page", hookvault.RejectionFilter{Before: 90_000}, arrival, false},
		{"source", hookvault.RejectionFilter{Source: "s3"}, source, false},
		{"source, next page", hookvault.RejectionFilter{Source: "s3", Before: 90_000}, source, true},
		{"result", hookvault.RejectionFilter{Result: hookvault.RejectConflict}, result, false},
		{"result, next page", hookvault.RejectionFilter{Result: hookvault.RejectConflict, Before: 90_000}, result, true},
		{"since", hookvault.RejectionFilter{Since: since}, arrival, false},
		{"until", hookvault.RejectionFilter{Until: until}, arrival, false},
		{"since and until, next page", hookvault.RejectionFilter{Since: since, Until: until, Before: 30_000}, arrival, false},
		{"source and since", hookvault.RejectionFilter{Source: "s3", Since: since}, source, true},
		{"result and until", hookvault.RejectionFilter{Result: hookvault.RejectConflict, Until: until}, result, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 50
			q, args := rejectionQuery(tt.f)
			var raw []byte
			if err := s.r.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			type node struct {
				Type  string `json:"Node Type"`
				Dir   string `json:"Scan Direction"`
				Index string `json:"Index Name"`
				Plans []node `json:"Plans"`
			}
			var plan []struct{ Plan node }
			if err := json.Unmarshal(raw, &plan); err != nil {
				t.Fatal(err)
			}
			var nodes []string
			var visit func(n node)
			visit = func(n node) {
				name := n.Type
				if n.Dir == "Backward" {
					name += " Backward"
				}
				nodes = append(nodes, strings.TrimSpace(name+" "+n.Index))
				for _, c := range n.Plans {
					visit(c)
				}
			}
			visit(plan[0].Plan)
			t.Log(nodes)
			nodes = slices.DeleteFunc(nodes, func(n string) bool { return n == "Index Scan rejections_pkey" })
			if nodes[0] != "Limit" || (nodes[1] != tt.want && (!tt.alt || nodes[1] != arrival)) || len(nodes) != 2 || slices.ContainsFunc(nodes, func(n string) bool { return strings.Contains(n, "Sort") }) {
				t.Errorf("plan %v, want Limit over %s and no sort", nodes, tt.want)
			}
		})
	}
}
