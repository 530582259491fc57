package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookvault/hookvault/internal/sqlite"
)

// defaultDataDir is the folder of DATABASE_URL's default, sqlite:data/hookvault.db. It is
// the only folder hookvault creates: `make run` then works in a fresh checkout, while a typo
// in DATABASE_URL stops the start instead of creating folders and an empty database that
// the deliveries would silently go to.
const defaultDataDir = "data"

// checkSQLitePath makes sure that the database file can be created or written before SQLite
// tries, which would only say "unable to open database file". SQLite also creates the -wal
// and -shm files beside the database, so the folder itself must take new files. What it
// cannot foresee, SQLite's "cannot open" says later (see sqliteOpenError).
func checkSQLitePath(path string) error {
	dir := filepath.Dir(path)
	fail := func(format string, args ...any) error {
		return &ConfigError{fmt.Errorf("DATABASE_URL: "+format, args...)}
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && dir == defaultDataDir:
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return fail("cannot create the folder %s for the database file %s: %v", dir, path, err)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fail("the folder %s of the database file %s does not exist: create it, or correct the path "+
			"(hookvault creates no folder but the default %s/)", dir, path, defaultDataDir)
	case err != nil: // a parent that is a file (not a directory), or one we may not search
		return fail("the folder %s of the database file %s cannot be used: %v", dir, path, err)
	case !fi.IsDir():
		return fail("%s, the folder of the database file %s, is a file, not a folder", dir, path)
	}
	if err := writable(dir); err != nil {
		return fail("hookvault cannot create files in the folder %s of the database file %s (%v): "+
			"make it writable for the user hookvault runs as, or choose another path", dir, path, err)
	}
	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // a new database
	case err != nil:
		return fail("the database file %s cannot be used: %v", path, err)
	case fi.IsDir():
		return fail("%s is a folder; DATABASE_URL names the database file, e.g. sqlite:%s", path, filepath.Join(path, "hookvault.db"))
	}
	if err := writable(path); err != nil {
		return fail("hookvault cannot write the database file %s (%v)", path, err)
	}
	return nil
}

// sqliteOpenError names DATABASE_URL in an error of sqlite.Open. A file SQLite cannot open
// or write is a configuration mistake (exit 2), like those checkSQLitePath finds: access(2)
// can say yes where SQLite then cannot create a file (/proc, for root). A corrupt database,
// or anything else, stays an error of the server (exit 1).
func sqliteOpenError(err error) error {
	err = fmt.Errorf("DATABASE_URL: %w", err)
	if errors.Is(err, sqlite.ErrCannotWrite) {
		return &ConfigError{err}
	}
	return err
}
