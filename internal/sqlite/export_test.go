package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// MigrateTo migrates the database at path, creating it if needed, up or down to version,
// through a writer connection like the store's: tests build databases of earlier schemas.
func MigrateTo(ctx context.Context, path string, version int64) error {
	db, err := sql.Open("sqlite", dsn(path, "mode=rwc&_txlock=immediate&_busy_timeout=10000&_journal_mode=WAL"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	p, err := migrator(db)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if current > version {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	return err
}
