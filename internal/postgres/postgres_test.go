package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/storetest"
)

func open(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) hookvault.Store {
		return open(t, pgtest.Schema(t), postgres.Options{Now: now, Migrate: true})
	})
}
