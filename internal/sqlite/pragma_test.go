package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// synchronous is a per-connection setting, so it is read on the writer connection itself;
// so are the checkpoint settings.
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
			// Checkpoints are the checkpointer's, off the commit path (checkpoint.go).
			var autockpt, limit int64
			if err := s.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&autockpt); err != nil || autockpt != 0 {
				t.Fatalf("wal_autocheckpoint = %d (%v), want 0", autockpt, err)
			}
			if err := s.w.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != walLimit(walRestartPages) {
				t.Fatalf("journal_size_limit = %d (%v), want %d", limit, err, walLimit(walRestartPages))
			}
			var readOnly int
			if err := s.r.QueryRow(`PRAGMA query_only`).Scan(&readOnly); err != nil || readOnly != 1 {
				t.Fatalf("read pool query_only = %d (%v), want 1", readOnly, err)
			}
		})
	}
}
