package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Claim reads a range of deliveries_due in due order and finds each message by its unique
// index; listings read the table or an index in did order from the cursor on. None sorts.
func TestOutboxUsesIndexesAndNeverSorts(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := explain(t, s.r, claimQuery, "app", 1, 10),
		"SEARCH d USING INDEX deliveries_due (destination=? AND next_attempt_at<?); SEARCH m USING INDEX messages_by_id (source=? AND id=?)"; got != want {
		t.Errorf("claim plan:\n %s\nwant\n %s", got, want)
	}
	// The writer's statements find each row by its rowid: the messages of a batch's deliveries,
	// the deliveries a claim leases and the one an attempt is recorded on.
	for _, tt := range []struct {
		q    string
		args []any
		want string
	}{
		{insertDeliveriesQuery, []any{1, `[[1,"app"]]`}, "SCAN j VIRTUAL TABLE INDEX 1:; SEARCH m USING INTEGER PRIMARY KEY (rowid=?)"},
		{leaseQuery, []any{1, "w", "[1,2]"}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?); LIST SUBQUERY 1; SCAN json_each VIRTUAL TABLE INDEX 1:"},
		{recordQuery, []any{1, "w", "delivered", nil, 5, "[{}]", 50}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)"},
	} {
		if got := explain(t, s.w, tt.q, tt.args...); got != tt.want {
			t.Errorf("plan of\n %s\nis\n %s\nwant\n %s", tt.q, got, tt.want)
		}
	}
	tests := []struct {
		name string
		f    hookvault.DeliveryFilter
		want string
	}{
		{"all", hookvault.DeliveryFilter{}, "SCAN deliveries"},
		{"all before", hookvault.DeliveryFilter{Before: 100}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid<?)"},
		{"source", hookvault.DeliveryFilter{Source: "github", Before: 100}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid<?)"},
		{"failed", hookvault.DeliveryFilter{Status: hookvault.Failed, Before: 100}, "SEARCH deliveries USING INDEX deliveries_failed (did<?)"},
		{"destination failed", hookvault.DeliveryFilter{Destination: "app", Status: hookvault.Failed}, "SCAN deliveries USING INDEX deliveries_failed"},
		{"pending", hookvault.DeliveryFilter{Status: hookvault.Pending, Before: 100}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid<?)"},
		{"destination and status", hookvault.DeliveryFilter{Destination: "app", Status: hookvault.Delivered, Before: 100},
			"SEARCH deliveries USING INTEGER PRIMARY KEY (rowid<?)"},
		{"destination", hookvault.DeliveryFilter{Destination: "app", Before: 100}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid<?)"},
	}
	for _, tt := range tests {
		q, args := deliveryListQuery(tt.f, 10)
		if got := explain(t, s.r, q, args...); got != tt.want {
			t.Errorf("%s: plan %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := explain(t, s.r, pendingCountsQuery); got != "SCAN deliveries USING COVERING INDEX deliveries_due" {
		t.Errorf("pending counts plan: %s", got)
	}
}
