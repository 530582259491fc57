package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Every page of the journal, with each filter the API offers and the usual pairs, reads one
// index in the order of the answer (received_at, rid descending), from the cursor on: no
// sort step, so a page costs O(limit) however long the journal is.
func TestRejectionsUseIndexesAndNeverSort(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rs []hookvault.Rejection
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		rs = append(rs, hookvault.Rejection{ReceivedAt: base.Add(time.Duration(i) * time.Second), Source: fmt.Sprintf("s%d", i%20),
			Result: hookvault.RejectionResults[i%len(hookvault.RejectionResults)], Status: 401})
	}
	for i := 0; i < len(rs); i += 250 {
		if err := s.AppendRejections(context.Background(), rs[i:i+250]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	since, until := base.Add(time.Hour), base.Add(90*time.Minute)
	const (
		arrival = "rejections_by_arrival"
		source  = "rejections_by_source"
		result  = "rejections_by_result"
	)
	tests := []struct {
		name string
		f    hookvault.RejectionFilter
		want string
	}{
		{"all", hookvault.RejectionFilter{}, arrival},
		{"all, next page", hookvault.RejectionFilter{Before: 1000}, arrival},
		{"source", hookvault.RejectionFilter{Source: "s3"}, source},
		{"source, next page", hookvault.RejectionFilter{Source: "s3", Before: 1000}, source},
		{"result", hookvault.RejectionFilter{Result: hookvault.RejectConflict}, result},
		{"result, next page", hookvault.RejectionFilter{Result: hookvault.RejectConflict, Before: 1000}, result},
		{"since", hookvault.RejectionFilter{Since: since}, arrival},
		{"until", hookvault.RejectionFilter{Until: until}, arrival},
		{"since and until, next page", hookvault.RejectionFilter{Since: since, Until: until, Before: 1000}, arrival},
		{"source and result", hookvault.RejectionFilter{Source: "s3", Result: hookvault.RejectConflict}, source},
		{"source and since", hookvault.RejectionFilter{Source: "s3", Since: since}, source},
		{"result and until", hookvault.RejectionFilter{Result: hookvault.RejectConflict, Until: until}, result},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 50
			q, args := rejectionQuery(tt.f, base.Add(time.Hour).UnixNano())
			plan := planOf(t, s.r, q, args...)
			got := strings.Join(plan, "; ")
			t.Log(got)
			if len(plan) != 1 || !strings.Contains(got, "USING INDEX "+tt.want+" ") && !strings.HasSuffix(got, "USING INDEX "+tt.want) ||
				strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q, want one step on %s and no sort", got, tt.want)
			}
			if tt.f.Source != "" || tt.f.Result != "" || !tt.f.Since.IsZero() || !tt.f.Until.IsZero() || tt.f.Before != 0 {
				if !strings.HasPrefix(got, "SEARCH ") {
					t.Errorf("plan %q, want a SEARCH (a range of the index), not a SCAN", got)
				}
			}
		})
	}
}

// Retention deletes old deliveries from the start of the outbox, a bounded range of the
// rowid, never by a scan of it.
func TestRetentionDeletesDeliveriesByRowid(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := explain(t, s.w, deleteDeliveriesQuery, 400, 1)
	if !strings.Contains(got, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)") || strings.Contains(got, "TEMP B-TREE") ||
		strings.Count(got, "SCAN deliveries") != 1 {
		t.Errorf("plan %q, want the first rows in rowid order (one scan under the LIMIT), then deletes by rowid", got)
	}
}

// One retention transaction deletes at most maxDeliveryChunks chunks of deliveries however
// many destinations its messages have; what is left goes with the next batch, and once no
// old message is left, with the calls that find none.
func TestRetentionBoundsTheDeliveriesOfOneTransaction(t *testing.T) {
	epoch := time.Unix(1_700_000_000, 0)
	now := epoch
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A batch's deliveries (10 messages of 64 destinations, the most a message may have)
	// pass the bound of 8 chunks of 64.
	const batch, perMessage, messages = 10, hookvault.MaxDestinations, 30
	bound := maxDeliveryChunks * deliveryChunk(batch)
	dests := make([]string, perMessage)
	for i := range dests {
		dests[i] = fmt.Sprintf("d%03d", i)
	}
	for i := range messages {
		now = epoch.Add(time.Duration(i) * time.Second)
		m := hookvault.Message{Source: "github", ID: fmt.Sprint("g", i), ContentType: "application/json",
			Payload: []byte(`{}`), Destinations: dests}
		if _, err := s.Insert(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	left := func() int {
		var n int
		if err := s.w.QueryRow(`SELECT count(*) FROM deliveries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cut := epoch.Add(time.Hour)
	var deleted []int
	for before := left(); before > 0 && len(deleted) < 10; {
		if _, err := s.DeleteMessagesBefore(context.Background(), cut, batch); err != nil {
			t.Fatal(err)
		}
		after := left()
		deleted = append(deleted, before-after)
		before = after
	}
	if want := []int{bound, bound, bound, messages*perMessage - 3*bound}; fmt.Sprint(deleted) != fmt.Sprint(want) {
		t.Errorf("deliveries deleted by each call: %v, want %v (at most %d a transaction, none left behind)", deleted, want, bound)
	}
}
