package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// synchronous is a per-connection setting, so it is read on the writer connection itself.
func TestWriterDurabilityPragmas(t *testing.T) {
	for _, tt := range []struct {
		sync string
		want int
	}{{"", 2}, {"FULL", 2}, {"EXTRA", 3}, {"NORMAL", 1}} {
		t.Run("sync="+tt.sync, func(t *testing.T) {
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{Synchronous: tt.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got int
			if err := s.w.QueryRow(`PRAGMA synchronous`).Scan(&got); err != nil || got != tt.want {
				t.Fatalf("synchronous = %d (%v), want %d", got, err, tt.want)
			}
			var mode string
			if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
			}
			var readOnly int
			if err := s.r.QueryRow(`PRAGMA query_only`).Scan(&readOnly); err != nil || readOnly != 1 {
				t.Fatalf("read pool query_only = %d (%v), want 1", readOnly, err)
			}
		})
	}
}
