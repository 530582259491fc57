package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
)

// WriterPIDs returns the server process ids of the store's idle writer connections, so that
// a test can end exactly those.
func WriterPIDs(ctx context.Context, s *Store) []uint32 {
	var pids []uint32
	for _, c := range s.w.AcquireAllIdle(ctx) {
		pids = append(pids, c.Conn().PgConn().PID())
		c.Release()
	}
	return pids
}

// MigrateTo migrates the database at url up or down to version: tests build databases of
// earlier schemas.
func MigrateTo(ctx context.Context, url string, version int64) error {
	cfg, err := poolConfig(url, 10*time.Second)
	if err != nil {
		return err
	}
	return withProvider(cfg.ConnConfig, func(p *goose.Provider) error {
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
	})
}
