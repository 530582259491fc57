package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/pgtest"
)

// TestMain lets the test binary stand in for hookbench when it re-executes itself as the
// ceiling server or the receiver.
func TestMain(m *testing.M) {
	if code, ok := child(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestBench runs the whole comparison small: it builds and starts hookvault and the
// ceiling, loads both and prints the report.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-c", "4", "-n", "300", "-warmup", "50", "-half-for", "300ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -c 4 -n 300 -warmup 50 -max-run 1m0s -half-for 300ms\n",
		"  target     requests/s",
		"peak RSS  errors",
		"  ceiling  ",
		"  hookvault  ",
		"ratio hookvault/ceiling: ",
		"p99 at half of peak rate: ",
		"peak RSS under load ≤ 100 MiB: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "n/a") && peakRSS(os.Getpid()) > 0 {
		t.Errorf("peak RSS unknown although /proc has it:\n%s", out)
	}
}

// TestBenchReplicas runs the replica comparison small, with duplicates sent across the
// replicas, and checks that it drops the databases it made.
func TestBenchReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	url := pgtest.URL(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-postgres", url, "-replicas", "1,2", "-c", "4", "-n", "300", "-warmup", "50", "-duplicates", "0.2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -postgres '",
		" -replicas 1,2 -rounds 1 -c 4 -n 300 -warmup 50 -max-run 1m0s -duplicates 0.2\n",
		"  round  replicas  write conns  requests/s",
		"peak RSS (sum)  batch  cores: hookvault  postgres  generator  other   all  errors  vs 1\n",
		"1 replicas, write conns default: ",
		"2 replicas, write conns default: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	rows := regexp.MustCompile(`(?m)^ +1 +([12]) +default +\d+ .* 0 +(\S+)$`).FindAllStringSubmatch(out, -1)
	if len(rows) != 2 || rows[0][1] != "1" || rows[0][2] != "1.00" || rows[1][1] != "2" {
		t.Errorf("want a row for 1 replica (ratio 1.00) and one for 2, both without errors; got %q in:\n%s", rows, out)
	}

	dbs := regexp.MustCompile(`database (hookbench_[0-9a-f]+) migrated`).FindAllStringSubmatch(stderr.String(), -1)
	if len(dbs) != 2 {
		t.Fatalf("want 2 databases made, one per run; log:\n%s", stderr.String())
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, db := range dbs {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db[1]).Scan(&n); err != nil || n != 0 {
			t.Errorf("database %s: %d left (%v), want it dropped", db[1], n, err)
		}
	}
}

func TestUsage(t *testing.T) {
	pg := "postgres://postgres@127.0.0.1:1/test"
	for _, args := range [][]string{
		{"-n", "0"}, {"-max-run", "0s"}, {"extra"}, {"-bogus"},
		{"-replicas", "1,2"}, {"-rounds", "3"},
		{"-postgres", "127.0.0.1:5432"}, {"-postgres", pg, "-replicas", "0,2"}, {"-postgres", pg, "-replicas", "1,x"},
		{"-postgres", pg, "-half-for", "1s"}, {"-postgres", pg, "-c", "1"}, {"-postgres", pg, "-duplicates", "2"},
		{"-postgres", pg, "-rounds", "0"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("hookbench %q: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("hookbench %q printed a report:\n%s", args, stdout.String())
		}
	}
}

func TestServerEnv(t *testing.T) {
	got := serverEnv([]string{"PATH=/bin", "LOG_LEVEL=debug", "WEBHOOK_SECRET=x", "HOME=/root", "DATABASE_URL_EXTRA=1",
		"DATABASE_WRITE_CONNS=1", "RATE_LIMIT=5"})
	want := []string{"PATH=/bin", "HOME=/root", "DATABASE_URL_EXTRA=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("serverEnv = %q, want %q", got, want)
	}
}
