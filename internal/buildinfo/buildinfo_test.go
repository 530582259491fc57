package buildinfo_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/buildinfo"
)

func TestRead(t *testing.T) {
	got := buildinfo.Read()
	if got.Version == "" || got.Revision == "" || got.GoVersion != runtime.Version() {
		t.Fatalf("Read() = %+v, want every field set", got)
	}
	if s := got.String(); !strings.HasPrefix(s, "hookvault "+got.Version+", revision ") {
		t.Errorf("String() = %q", s)
	}
}

// A version set at link time wins over what the module records.
func TestLinkTimeVersionWins(t *testing.T) {
	old := buildinfo.Version
	t.Cleanup(func() { buildinfo.Version = old })
	buildinfo.Version = "v9.9.9"
	if got := buildinfo.Read().Version; got != "v9.9.9" {
		t.Errorf("Version = %q, want v9.9.9", got)
	}
}
