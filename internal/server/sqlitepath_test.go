package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/mounttest"
	"github.com/hookvault/hookvault/internal/server"
)

// wantDatabaseConfigError checks that err stops the start as a configuration mistake (exit
// 2 in main) whose message names DATABASE_URL and the path, and that nothing was created.
func wantDatabaseConfigError(t *testing.T, err error, path string, want string) {
	t.Helper()
	if _, ok := errors.AsType[*server.ConfigError](err); !ok {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	for _, w := range []string{"DATABASE_URL: ", path, want} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error %q does not say %q", err, w)
		}
	}
}

// A mistyped or unusable DATABASE_URL stops the start, for the server and for migrate,
// instead of creating folders and an empty database (as root: any path at all) or failing
// with SQLite's "unable to open database file (14)".
func TestUnusableDatabasePathStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"missing folders", filepath.Join(dir, "typo", "deeper", "hv.db"), "does not exist"},
		{"folder is a file", filepath.Join(file, "hv.db"), "is a file, not a folder"},
		{"under a file", filepath.Join(file, "sub", "hv.db"), "not a directory"},
		{"database is a folder", dir, "is a folder"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t)
			cfg.Database.Path = tt.path
			_, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
			wantDatabaseConfigError(t, err, tt.path, tt.want)
			wantDatabaseConfigError(t, server.Migrate(context.Background(), cfg.Database), tt.path, tt.want)
			if _, err := os.Stat(filepath.Join(dir, "typo")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a folder was created: %v", err)
			}
		})
	}
}

// A read-only folder stops the start, for root too (tests run as root in CI, where file
// permissions would let every write through).
func TestReadOnlyDatabaseFolderStopsTheStart(t *testing.T) {
	dir := mounttest.Tmpfs(t, "1m")
	mounttest.ReadOnly(t, dir)
	cfg := mustConfig(t)
	cfg.Database.Path = filepath.Join(dir, "hv.db")
	_, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	wantDatabaseConfigError(t, err, dir, "read-only file system")
}

// The default folder data/ is the one folder hookvault creates, so that the first start in
// a fresh checkout works.
func TestDefaultDataFolderIsCreated(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := config.Load([]string{"--listen-addr=127.0.0.1:0", "--webhook-secret=" + secret},
		func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	openServer(t, cfg)
	if _, err := os.Stat(filepath.Join("data", "hookvault.db")); err != nil {
		t.Fatalf("the default database: %v", err)
	}
}
