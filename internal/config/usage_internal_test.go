package config

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

// -h is the reference a new user has at hand: every setting appears with its flag, its
// variable, its default and its whole description, for the server and for migrate.
func TestHelpShowsEverySetting(t *testing.T) {
	var out strings.Builder
	if _, err := Load([]string{"--help"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	flat := strings.Join(strings.Fields(help), " ") // descriptions are wrapped
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "none"
		}
		if head := "--" + s.flag + ", " + s.env + " (default: " + def + ")"; !strings.Contains(help, head) {
			t.Errorf("help lacks the line %q", head)
		}
		if !strings.Contains(flat, strings.Join(strings.Fields(s.usage), " ")) {
			t.Errorf("help lacks the description of %s: %q", s.env, s.usage)
		}
	}
	if !strings.Contains(help, "hookvault migrate [flags]") {
		t.Errorf("help does not list the migrate subcommand:\n%s", help)
	}

	out.Reset()
	if _, err := LoadDatabase([]string{"-h"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("migrate -h: err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "--database-url, DATABASE_URL (default: sqlite:data/hookvault.db)") ||
		strings.Contains(out.String(), "WEBHOOK_SECRET") {
		t.Errorf("migrate -h shows the DATABASE_* settings only:\n%s", out.String())
	}
}
