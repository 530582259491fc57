// Package pgtest gives tests their own PostgreSQL schema on the server named by
// HOOKVAULT_TEST_POSTGRES_URL. Without the variable the tests skip, saying how to run them;
// under CI (CI set) they fail instead, so that a CI run cannot pass without PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "HOOKVAULT_TEST_POSTGRES_URL"

// URL returns the test server's URL, or skips (fails under CI) when there is none.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set; CI must run the PostgreSQL tests", EnvURL)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s=postgres://user@127.0.0.1:5432/test to run them", EnvURL)
	}
	return u
}

// Schema creates an empty schema, dropped when the test ends, and returns a URL whose
// connections use it: every test gets a database of its own without the cost of CREATE
// DATABASE.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := URL(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "hvtest_" + hex.EncodeToString(b)
	Exec(tb, base, "CREATE SCHEMA "+name)
	tb.Cleanup(func() { Exec(tb, base, "DROP SCHEMA "+name+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs one statement on the server at dbURL.
func Exec(tb testing.TB, dbURL, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
