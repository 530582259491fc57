package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/storetest"
)

// roleStore opens a store on a fresh schema as a role of its own, so that the test can turn
// that role's sessions read-only (ALTER ROLE … SET default_transaction_read_only) without
// touching any other test's. It returns the store, on the clock now (nil: the wall clock),
// and the role.
func roleStore(t *testing.T, now func() time.Time) (*postgres.Store, string) {
	t.Helper()
	schemaURL := pgtest.Schema(t)
	if err := postgres.Migrate(context.Background(), schemaURL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role := "hvtest_role_" + hex.EncodeToString(b)
	pgtest.Exec(t, schemaURL, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() {
		terminate(t, "usename = '"+role+"'")
		pgtest.Exec(t, schemaURL, "DROP OWNED BY "+role)
		pgtest.Exec(t, schemaURL, "DROP ROLE "+role)
	})
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	for _, grant := range []string{
		"GRANT USAGE ON SCHEMA %s TO %s",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s",
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s",
	} {
		pgtest.Exec(t, schemaURL, fmt.Sprintf(grant, schema, role))
	}
	u.User = url.User(role)
	return open(t, u.String(), postgres.Options{CompactEvery: -1, Now: now}), role
}

// terminate ends the server processes that match where (on pg_stat_activity) and returns how
// many it ended.
func terminate(t *testing.T, where string) int {
	t.Helper()
	return count(t, pgtest.URL(t), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE `+where)
}

func setReadOnly(t *testing.T, role string, on bool) {
	t.Helper()
	if on {
		pgtest.Exec(t, pgtest.URL(t), "ALTER ROLE "+role+" SET default_transaction_read_only = on")
	} else {
		pgtest.Exec(t, pgtest.URL(t), "ALTER ROLE "+role+" RESET default_transaction_read_only")
	}
}

// The fault: the store's role gets read-only sessions, and its connections are ended, so that
// every new one is read-only. Ended connections fail the next statement on them, which is a
// failed commit too.
func TestConformanceFaults(t *testing.T) {
	pgtest.URL(t)
	storetest.RunFaults(t, func(t *testing.T) (hookvault.Store, func() func()) {
		s, role := roleStore(t, nil)
		return s, func() func() {
			setReadOnly(t, role, true)
			terminate(t, "usename = '"+role+"'")
			return func() {
				setReadOnly(t, role, false)
				terminate(t, "usename = '"+role+"'")
			}
		}
	})
}

// Readiness follows the writers' connections, not only the readers': with only the writer's
// connection read-only (the readers' sessions started before the change and still write),
// a failed commit makes the store unready, the write probe on the writer fails as the
// inserts do, and once the writer's connection takes writes again the probe succeeds and
// the store is ready.
func TestReadinessProbesTheWriter(t *testing.T) {
	s, role := roleStore(t, nil)
	ctx := context.Background()
	if _, err := s.Insert(ctx, msg("before", "a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Only the writer: its replacement starts read-only, the readers keep their sessions.
	endWriter := func() {
		t.Helper()
		pids := postgres.WriterPIDs(ctx, s)
		if len(pids) != 1 {
			t.Fatalf("%d idle writer connections, want 1", len(pids))
		}
		if n := terminate(t, fmt.Sprintf("pid = %d", pids[0])); n != 1 {
			t.Fatalf("ended %d writer connections, want 1", n)
		}
	}
	setReadOnly(t, role, true)
	endWriter()
	for i := 0; ; i++ {
		_, err := s.Insert(ctx, msg(fmt.Sprintf("refused-%d", i), "a"))
		if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE {
			t.Fatalf("Insert on a read-only writer = %v, want EUNAVAILABLE", err)
		}
		if strings.Contains(err.Error(), "read-only transaction") {
			break // the first one may fail on the ended connection instead
		}
		if i == 5 {
			t.Fatalf("insert %d failed, but not for the read-only session: %v", i, err)
		}
	}
	err := s.Ping(ctx)
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || !strings.Contains(err.Error(), "write probe") ||
		!strings.Contains(err.Error(), "read-only transaction") {
		t.Fatalf("Ping with a read-only writer = %v, want EUNAVAILABLE from the write probe", err)
	}

	setReadOnly(t, role, false)
	endWriter()
	var perr error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The first probe may run into the ended connection; the pool replaces it.
		if perr = s.Ping(ctx); perr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the writer takes writes again: %v", perr)
		}
	}
	if _, err := s.Insert(ctx, msg("after", "a")); err != nil {
		t.Fatalf("Insert after the probe succeeded: %v", err)
	}
}

// The fault: every connection of the store's role is ended between a Claim and its Record,
// as a database restart or a network cut ends them. The same store goes on: its pools
// replace the connections.
func TestConformanceDeliveryFaults(t *testing.T) {
	pgtest.URL(t)
	storetest.RunDeliveryFaults(t, func(t *testing.T, now func() time.Time) (storetest.Outbox, func(), func() storetest.Outbox) {
		s, role := roleStore(t, now)
		return s, func() {
				if n := terminate(t, "usename = '"+role+"'"); n == 0 {
					t.Fatal("no connection of the store ended")
				}
			}, func() storetest.Outbox {
				return s
			}
	})
}
