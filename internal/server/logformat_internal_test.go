package server

import (
	"os"
	"path/filepath"
	"testing"
)

// LOG_FORMAT=auto is text for a person at a terminal, JSON for everything else; an
// explicit format is kept either way.
func TestLogFormat(t *testing.T) {
	for _, tt := range []struct {
		format   string
		terminal bool
		want     string
	}{
		{"auto", true, "text"}, {"auto", false, "json"},
		{"json", true, "json"}, {"text", false, "text"},
	} {
		if got := logFormat(tt.format, tt.terminal); got != tt.want {
			t.Errorf("logFormat(%q, terminal %v) = %q, want %q", tt.format, tt.terminal, got, tt.want)
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := ResolveLogFormat("auto", f); got != "json" {
		t.Errorf("auto on a regular file = %q, want json", got)
	}
}
