package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookvault/hookvault/internal/natstest"
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

// TestBench runs the whole comparison small, over two rounds and with the last commit as
// the baseline: it builds hookvault twice, starts both beside the two ceilings, loads each
// and prints the report.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	if err := exec.Command("git", "rev-parse", "--verify", "HEAD").Run(); err != nil {
		t.Skipf("-baseline HEAD needs a git repository: %v", err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-rounds", "2", "-c", "4", "-n", "300", "-warmup", "50", "-half-for", "300ms", "-steady-for", "300ms", "-rate", "100",
		"-fsyncs", "20", "-baseline", "HEAD"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -rounds 2 -c 4 -n 300 -warmup 50 -max-run 1m0s -half-for 300ms -rate 100 -steady-for 300ms -fsyncs 20 -baseline HEAD\n",
		"fsync:     20 × append 4 KiB (into preallocated space) + fdatasync in ",
		"round  target             requests/s",
		"CPU/req  peak RSS  errors  of ceiling  of durable",
		"medians over 2 rounds",
		"the disk's fsync p99 is ",
		"targets (hookvault, medians):",
		"  CPU per request ≤ 35µs: ",
		"  requests/s ≥ 0.35 of the ceiling's: ",
		"  requests/s ≥ 0.60 of the durable ceiling's: ",
		"  p99 at 100 requests/s ≤ the fsync p99 + 1ms = ",
		"  p99 at half of peak ≤ 10ms: ",
		"  peak RSS ≤ 100 MiB: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	base := regexp.MustCompile(`baseline:  (hookvault@[0-9a-f]+) is HEAD `).FindStringSubmatch(out)
	if base == nil {
		t.Fatalf("no baseline line:\n%s", out)
	}
	dur := `[0-9.]+(?:ns|µs|ms|s)`
	row := func(round, label string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^ +` + round + ` +` + regexp.QuoteMeta(label) + ` +(\d+) +` + dur + ` +` + dur + ` +` + dur +
			` +([0-9.]+)µs +[0-9.]+ MiB +0 +([0-9.]+) +([0-9.]+)$`)
	}
	for _, round := range []string{"1", "2", ""} {
		for _, label := range []string{"ceiling", "durable ceiling", base[1], "hookvault"} {
			m := row(round, label).FindStringSubmatch(out)
			if m == nil {
				t.Errorf("round %q: no row for %s without errors, with CPU/req and peak RSS:\n%s", round, label, out)
				continue
			}
			if label == "ceiling" && m[3] != "1.00" || label == "durable ceiling" && m[4] != "1.00" {
				t.Errorf("round %q: %s is %s of the ceiling and %s of the durable one", round, label, m[3], m[4])
			}
		}
	}
	// The order alternates: the second round measures this tree first.
	if log := stderr.String(); !regexp.MustCompile(`(?s)ceiling: 300 requests.*durable ceiling: 300 requests.*` + base[1] + `: 300 requests.*\nhookvault: 300 requests.*` +
		`\nhookvault: 300 requests.*` + base[1] + `: 300 requests.*durable ceiling: 300 requests.*\nceiling: 300 requests`).MatchString(log) {
		t.Errorf("want the targets in order, then in reverse; log:\n%s", log)
	}
	for _, label := range []string{base[1], "hookvault"} {
		for _, load := range []string{"100 req/s for 300ms", "half of peak for 300ms"} {
			if !regexp.MustCompile(`(?m)^ +` + regexp.QuoteMeta(label) + ` +` + load + ` +\d+ +` + dur + ` +` + dur + ` +` + dur + ` +0$`).MatchString(out) {
				t.Errorf("no steady row for %s at %s without errors:\n%s", label, load, out)
			}
		}
	}
	if strings.Contains(out, "n/a") && peakRSS(os.Getpid()) > 0 {
		t.Errorf("peak RSS or CPU/req unknown although /proc has it:\n%s", out)
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

// TestBenchDestinations runs the destination comparison small, over two rounds so that both
// orders run, and checks that the report has every row and that the streams are gone.
func TestBenchDestinations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	url := testNATS(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-destinations", "-nats", url, "-rounds", "2", "-c", "4", "-n", "300", "-warmup", "50"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -destinations -nats " + url + " -rounds 2 -c 4 -n 300 -warmup 50 -max-run 1m0s -drain-max 5m0s\n",
		"  round  destinations  requests/s",
		"drain  lag http p50",
		"lag nats p50",
		"cores: hookvault  nats  receiver  generator  other",
		"bucket-bounded",
		"medians over 2 round(s):",
		"ratio http+nats/none of requests/s, by round: ",
		"; target ≥ 0.80: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	dur := `[0-9.]+(?:ns|µs|ms|s|m[0-9.]+s)`
	rows := regexp.MustCompile(`(?m)^ +([12]) +(none|http\+nats) +(\d+) +`+dur+` +`+dur+` +0 +(-|`+dur+`) +(-|`+dur+`) +(-|`+dur+`) +(-|`+dur+`) +(-|`+dur+`) .* (\S+)$`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+" "+r[2])
		if n, _ := strconv.Atoi(r[3]); n <= 0 {
			t.Errorf("round %s %s: %s requests/s", r[1], r[2], r[3])
		}
		if forward := r[2] == "http+nats"; forward == (r[4] == "-") || forward == (r[8] == "-") {
			t.Errorf("round %s %s: drain %q, lag p99 %q: want values with destinations only", r[1], r[2], r[4], r[8])
		}
		if ratio, err := strconv.ParseFloat(r[9], 64); err != nil || ratio <= 0 || (r[2] == "none" && ratio != 1) {
			t.Errorf("round %s %s: ratio %q", r[1], r[2], r[9])
		}
	}
	// The order alternates: the second round measures with destinations first.
	if want := "1 none,1 http+nats,2 http+nats,2 none"; strings.Join(got, ",") != want {
		t.Errorf("rows without errors: %q, want %s in:\n%s", got, want, out)
	}
	checks := regexp.MustCompile(`(?m)^round[12]-http\+nats: 350 messages \(warm-up included\); the receiver got 350 \(\d+ repeated\), the stream holds 350$`).FindAllString(out, -1)
	if len(checks) != 2 {
		t.Errorf("want each run with destinations to account for its 350 messages:\n%s", out)
	}
	for _, m := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ +none +\d+ +` + dur + ` +` + dur + ` +- +- +- +- +-$`),
		regexp.MustCompile(`(?m)^ +http\+nats +\d+ +` + dur + ` +` + dur + ` +` + dur + ` +` + dur + ` +` + dur + ` \(` + dur + `–` + dur + `\) +` + dur + ` +` + dur + ` \(` + dur + `–` + dur + `\)$`),
	} {
		if !m.MatchString(out) {
			t.Errorf("medians lack a row matching %s:\n%s", m, out)
		}
	}

	streams := regexp.MustCompile(`stream (HOOKBENCH_[0-9A-F]+)\n`).FindAllStringSubmatch(stderr.String(), -1)
	if len(streams) != 2 {
		t.Fatalf("want 2 streams, one per run with destinations; log:\n%s", stderr.String())
	}
	n, err := dialNATS(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer n.nc.Close()
	for _, s := range streams {
		if _, err := n.js.Stream(context.Background(), s[1]); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream %s: %v, want it deleted", s[1], err)
		}
	}
}

// TestBenchFlood runs the flood comparison small, over two rounds so that both orders run,
// with a journal bound the flood exceeds, and checks every row and the journal's accounting.
func TestBenchFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-flood", "-rounds", "2", "-c", "4", "-n", "300", "-warmup", "50", "-flood-c", "4", "-max-rows", "20"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -flood -rounds 2 -c 4 -n 300 -warmup 50 -flood-c 4 -max-rows 20 -max-run 1m0s\n",
		"  round   real  requests/s",
		"flood req/s  peak RSS  cores: hookvault  flood  generator  other   all  vs alone\n",
		"the journal (REJECTION_MAX_ROWS 20):",
		"medians over 2 round(s):",
		"ratio flood/alone of real requests/s, by round: ",
		"; target ≥ 0.80: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	dur := `[0-9.]+(?:ns|µs|ms|s|m[0-9.]+s)`
	rows := regexp.MustCompile(`(?m)^ +([12]) +(alone|flood) +(\d+) +`+dur+` +`+dur+` +`+dur+` +0 +(-|\d+) +[0-9.]+ MiB .* (\S+)$`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+" "+r[2])
		if n, _ := strconv.Atoi(r[3]); n <= 0 {
			t.Errorf("round %s %s: %s requests/s", r[1], r[2], r[3])
		}
		if flood := r[2] == "flood"; flood == (r[4] == "-") {
			t.Errorf("round %s %s: flood req/s %q: want a rate with the flood only", r[1], r[2], r[4])
		}
		if ratio, err := strconv.ParseFloat(r[5], 64); err != nil || ratio <= 0 || (r[2] == "alone" && ratio != 1) {
			t.Errorf("round %s %s: ratio %q", r[1], r[2], r[5])
		}
	}
	if want := "1 alone,1 flood,2 flood,2 alone"; strings.Join(got, ",") != want {
		t.Errorf("rows without errors: %q, want %s in:\n%s", got, want, out)
	}
	// Other answers are the 503s of a forging address shed by MAX_CLIENT_SIGNATURE_FAILURES.
	journal := regexp.MustCompile(`(?m)^ +([12]) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$`).FindAllStringSubmatch(out, -1)
	if len(journal) != 2 {
		t.Fatalf("want a journal row per flood run:\n%s", out)
	}
	for _, r := range journal {
		n := make([]int, len(r))
		for i := 2; i < len(r); i++ {
			n[i], _ = strconv.Atoi(r[i])
		}
		sent, rejected, shed, answered, recorded, dropped, sum, rows, pruned := n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10]
		switch {
		case sent != rejected+shed:
			t.Errorf("round %s: %d forged sent, %d answered 401 and %d shed", r[1], sent, rejected, shed)
		case answered < rejected || recorded+dropped != sum || sum != answered:
			t.Errorf("round %s: the server answered %d, recorded %d + dropped %d = %d; want all %d (at least the flood's 401s) accounted for",
				r[1], answered, recorded, dropped, sum, answered)
		case recorded <= 20 || rows > 20:
			t.Errorf("round %s: %d recorded, %d rows after the load: want over the bound of 20 recorded, and at most 20 rows", r[1], recorded, rows)
		case pruned != 18:
			// The prune at start leaves a tenth of the bound free for the next appends.
			t.Errorf("round %s: %d rows after the prune, want 18 (REJECTION_MAX_ROWS 20 less a tenth)", r[1], pruned)
		}
	}
}

// TestBenchRetention runs the retention comparison small and checks that the pass deleted
// every old message during the load, and the run without one none.
func TestBenchRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-retention", "-rounds", "1", "-old", "5000", "-rate", "100", "-c", "4", "-steady-for", "500ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"reproduce: go run ./cmd/hookbench -retention -rounds 1 -old 5000 -rate 100 -c 4 -steady-for 500ms -max-run 1m0s\n",
		"  round  retention  requests/s  sent",
		"load for  pass took  deleted  old left  store_messages  peak RSS  cores: hookvault  generator  other   all\n",
		"medians over 1 round(s):",
		"p99 during a pass of 5000 deletions: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	dur := `[0-9.]+(?:ns|µs|ms|s|m[0-9.]+s)`
	rows := regexp.MustCompile(`(?m)^ +1 +(none|pass) +\d+ +(\d+) +`+dur+` +`+dur+` +`+dur+` +0 +`+dur+` +(-|`+dur+`) +(-|\d+) +(\d+) +(\d+) +[0-9.]+ MiB `).FindAllStringSubmatch(out, -1)
	if len(rows) != 2 || rows[0][1] != "none" || rows[1][1] != "pass" {
		t.Fatalf("want a row without a pass, then one with, both without errors:\n%s", out)
	}
	for _, r := range rows {
		sent, _ := strconv.Atoi(r[2])
		left, _ := strconv.Atoi(r[5])
		gauge, _ := strconv.Atoi(r[6])
		if sent == 0 {
			t.Errorf("%s: no requests sent during the load", r[1])
		}
		if r[1] == "none" && (r[3] != "-" || r[4] != "-" || left != 5000 || gauge != 5000) {
			t.Errorf("without a pass: took %q, deleted %q, %d old left, store_messages %d; want -, -, 5000, 5000", r[3], r[4], left, gauge)
		}
		// The gauge is read at the pass's end, while the load still adds messages.
		if r[1] == "pass" && (r[3] == "-" || r[4] != "5000" || left != 0 || gauge > sent) {
			t.Errorf("with a pass: took %q, deleted %q, %d old left, store_messages %d; want a time, 5000, 0, at most the %d sent", r[3], r[4], left, gauge, sent)
		}
	}
}

// testNATS returns a NATS server with JetStream for the test: one of its own when
// nats-server is on PATH, so that the test leaves the machine's server alone, else the
// machine's at 127.0.0.1:4222. Without either it skips, saying so; under CI it fails.
func testNATS(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("nats-server"); err == nil {
		return natstest.Start(t).URL()
	}
	n, err := dialNATS(context.Background(), defaultNATS)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no NATS for the destination benchmark: nats-server is not on PATH and %v; CI must not skip it", err)
		}
		t.Skipf("destination benchmark skipped: nats-server is not on PATH and %v", err)
	}
	n.nc.Close()
	return defaultNATS
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []bucket{{0.1, 10}, {0.5, 60}, {1, 100}, {inf, 100}}
	for _, c := range []struct {
		q, v, lo, hi float64
	}{
		{0.05, 0.05, 0, 0.1},   // inside the first bucket, from 0
		{0.5, 0.42, 0.1, 0.5},  // rank 50: 40 of the second bucket's 50
		{0.99, 0.9875, 0.5, 1}, // rank 99: 39 of the third bucket's 40
		{1, 1, 0.5, 1},         // the top of the last finite bucket
		{0.1, 0.1, 0, 0.1},     // a rank on a bound stays in the lower bucket
		{0.6, 0.5, 0.1, 0.5},   // likewise
	} {
		v, lo, hi := quantile(c.q, bs)
		if math.Abs(v-c.v) > 1e-9 || lo != c.lo || hi != c.hi {
			t.Errorf("quantile(%g) = %g in (%g, %g], want %g in (%g, %g]", c.q, v, lo, hi, c.v, c.lo, c.hi)
		}
	}
	if v, _, hi := quantile(0.99, []bucket{{1, 0}, {inf, 5}}); v != 1 || hi != inf {
		t.Errorf("rank in +Inf: %g up to %g, want the largest finite bound 1 up to +Inf", v, hi)
	}
	if v, _, _ := quantile(0.5, []bucket{{1, 0}, {inf, 0}}); !math.IsNaN(v) {
		t.Errorf("no observations: %g, want NaN", v)
	}
}

// TestScrape reads a histogram through the text exposition, as from a server, and takes
// one reading from a later one.
func TestScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lag_seconds", Buckets: []float64{0.1, 1}}, []string{"destination"})
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "done_total"}, []string{"destination", "outcome"})
	reg.MustRegister(h, c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	read := func() scrape {
		t.Helper()
		s, err := scrapeMetrics(context.Background(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h.WithLabelValues("a").Observe(0.05)
	h.WithLabelValues("b").Observe(5)
	c.WithLabelValues("a", "delivered").Add(3)
	before := read()
	h.WithLabelValues("a").Observe(0.5)
	h.WithLabelValues("a").Observe(2)
	after := read()

	if got := after.value("done_total", "destination", "a", "outcome", "delivered"); got != 3 {
		t.Errorf("done_total{a,delivered} = %g, want 3", got)
	}
	if got := after.value("done_total", "destination", "a", "outcome", "failed"); !math.IsNaN(got) {
		t.Errorf("a missing series = %g, want NaN", got)
	}
	got := bucketsSince(after.buckets("lag_seconds", "destination", "a"), before.buckets("lag_seconds", "destination", "a"))
	want := []bucket{{0.1, 0}, {1, 1}, {math.Inf(1), 2}}
	if len(got) != len(want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("buckets %v, want %v", got, want)
			break
		}
	}
	if b := after.buckets("lag_seconds", "destination", "c"); b != nil {
		t.Errorf("buckets of a missing series: %v", b)
	}
}

func TestUsage(t *testing.T) {
	pg := "postgres://postgres@127.0.0.1:1/test"
	for _, args := range [][]string{
		{"-n", "0"}, {"-max-run", "0s"}, {"extra"}, {"-bogus"},
		{"-replicas", "1,2"}, {"-rounds", "0"}, {"-rate", "0"}, {"-steady-for", "-1s"}, {"-fsyncs", "-1"},
		{"-flood", "-baseline", "HEAD"}, {"-retention", "-fsyncs", "10"}, {"-postgres", pg, "-rate", "10"}, {"-postgres", pg, "-steady-for", "1s"},
		{"-postgres", "127.0.0.1:5432"}, {"-postgres", pg, "-replicas", "0,2"}, {"-postgres", pg, "-replicas", "1,x"},
		{"-postgres", pg, "-half-for", "1s"}, {"-postgres", pg, "-c", "1"}, {"-postgres", pg, "-duplicates", "2"},
		{"-postgres", pg, "-rounds", "0"},
		{"-nats", defaultNATS}, {"-drain-max", "1s"}, {"-destinations", "-postgres", pg}, {"-destinations", "-half-for", "1s"},
		{"-destinations", "-replicas", "1"}, {"-destinations", "-nats", "127.0.0.1:4222"}, {"-destinations", "-rounds", "0"},
		{"-destinations", "-drain-max", "0s"},
		{"-flood-c", "4"}, {"-max-rows", "10"}, {"-old", "10"},
		{"-flood", "-retention"}, {"-flood", "-destinations"}, {"-flood", "-postgres", pg}, {"-flood", "-old", "10"},
		{"-flood", "-half-for", "1s"}, {"-flood", "-flood-c", "0"}, {"-flood", "-max-rows", "0"}, {"-flood", "-rounds", "0"},
		{"-retention", "-n", "10"}, {"-retention", "-warmup", "10"}, {"-retention", "-max-rows", "10"}, {"-retention", "-old", "0"},
		{"-retention", "-rate", "0"}, {"-retention", "-steady-for", "0s"}, {"-destinations", "-rate", "10"},
		{"-postgres", pg, "-flood-c", "4"},
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
