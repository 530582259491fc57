package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for hookbench when it re-executes itself as the
// ceiling server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		os.Exit(serveCeiling(os.Args[2:], os.Stderr))
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

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-max-run", "0s"}, {"extra"}, {"-bogus"}} {
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
	got := serverEnv([]string{"PATH=/bin", "LOG_LEVEL=debug", "WEBHOOK_SECRET=x", "HOME=/root", "DATABASE_URL_EXTRA=1"})
	want := []string{"PATH=/bin", "HOME=/root", "DATABASE_URL_EXTRA=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("serverEnv = %q, want %q", got, want)
	}
}
