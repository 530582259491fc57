// Command hookbench measures hookvault against two ceilings of this machine: it builds the
// server and measures the fsync latency of the disk it will write to, then starts it on a
// fresh SQLite file beside a bare net/http server that only reads the body and answers 200
// (itself, re-executed as "hookbench ceiling") and a durable ceiling that appends each body
// to a file with group-committed fdatasync ("hookbench durable", see durable.go). It loads
// each with internal/loadgen under the same settings and prints requests/s, latency, CPU
// time per request and peak RSS side by side, then hookvault's latency at a steady low rate
// (beside the durable ceiling's, its floor) and at half of its peak rate, against issue 15's
// targets. With -baseline it builds
// hookvault at an older commit as well and measures it in the same run (see baseline.go);
// with -rounds it repeats every run, interleaved, and reports medians.
//
// The ratios are what carry from machine to machine: the load generator and the servers
// share the same cores, so absolute figures say more about the machine than the server.
// Everything runs on 127.0.0.1, and the child processes end with hookbench, on an error or
// Ctrl-C included.
//
// With -postgres it compares instead 1 and more hookvault replicas sharing one PostgreSQL
// server (see replicas.go): each run gets a fresh database, and the same load is spread over
// the replicas' connections, as a load balancer with connection affinity would.
//
// With -destinations it compares hookvault without destinations against hookvault that
// forwards every message to an HTTP receiver and to NATS JetStream (see destinations.go):
// what forwarding costs the ingest rate, and how long a message takes to reach each.
//
// With -flood it compares real deliveries alone against beside a flood of forged ones from
// one client (see flood.go): what refusing and journaling them costs the real ones, and
// whether the journal keeps its bounds. With -retention it compares POST /webhook's latency
// at a steady rate during a retention pass over many old messages against without one (see
// retention.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/loadgen"
)

// Targets of issue 15, printed next to what was measured.
const (
	targetCPUPerReq = 35 * time.Microsecond
	targetOfCeiling = 0.35
	targetOfDurable = 0.60
	targetOverFsync = time.Millisecond // p99 at -rate requests/s over the disk's fsync p99
	targetHalfP99   = 10 * time.Millisecond
	targetRSS       = 100 << 20
)

// readyTimeout bounds the wait for a server to answer its readiness check.
const readyTimeout = 30 * time.Second

// stopTimeout is how long a server gets to drain after SIGTERM before it is killed.
const stopTimeout = 10 * time.Second

type options struct {
	concurrency int
	count       int
	warmup      int
	maxRun      time.Duration
	halfFor     time.Duration
	keep        bool
	baseline    string // a git revision to build and measure beside this tree; "" for none
	fsyncs      int    // appends of the fsync probe; 0 skips it

	// The replica comparison on PostgreSQL; postgres is empty in the SQLite comparison.
	postgres   string
	replicas   []int
	writeConns []int // DATABASE_WRITE_CONNS values to try; none: the server's default
	rounds     int
	duplicates float64

	// The destination comparison; destinations is false in the other modes.
	destinations bool
	natsURL      string
	drainMax     time.Duration

	// The flood comparison; flood is false in the other modes.
	flood      bool
	floodConns int
	maxRows    int

	// The retention comparison; retention is false in the other modes. rate and steadyFor
	// also set the default comparison's steady run.
	retention bool
	old       int
	rate      float64
	steadyFor time.Duration
}

func main() {
	if code, ok := child(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// child runs the servers hookbench starts as re-executions of itself, and reports whether
// args asked for one.
func child(args []string) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "ceiling", "durable", "receiver":
		return serveChild(args[0], args[1:], os.Stderr), true
	case "flood":
		return runFloodChild(args[1:], os.Stderr), true
	}
	return 0, false
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hookbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.concurrency, "c", loadgen.DefaultConcurrency, "connections, each with one request in flight")
	fs.IntVar(&o.count, "n", 20000, "requests in each measured run")
	fs.IntVar(&o.warmup, "warmup", 2000, "requests sent to each server before its measured run")
	fs.DurationVar(&o.maxRun, "max-run", time.Minute, "end a warm-up or measured run after this long, even short of its count")
	fs.DurationVar(&o.halfFor, "half-for", 10*time.Second, "length of the run at half of hookvault's peak rate (0 skips it)")
	fs.StringVar(&o.baseline, "baseline", "", "also build hookvault at the git `revision` (e.g. HEAD~1) and measure it beside this tree, interleaved")
	fs.IntVar(&o.fsyncs, "fsyncs", 1000, "appends of 4 KiB, each with fdatasync, that measure the disk's fsync latency before the load (0 skips it)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory: the SQLite file and the servers' logs (and with -postgres the databases)")
	fs.StringVar(&o.postgres, "postgres", "", "compare hookvault replicas on the PostgreSQL server at `URL` instead (postgres://user@host:port/db; each run gets a fresh database, so the user needs CREATEDB)")
	replicas := intList{1, 2}
	fs.Var(&replicas, "replicas", "with -postgres: replica `counts` to compare, comma-separated; ratios are to the first")
	var writeConns intList
	fs.Var(&writeConns, "write-conns", "with -postgres: DATABASE_WRITE_CONNS `values` to try, comma-separated (default: the server's)")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat every run this often, interleaved, and report medians (default 1; 3 with -destinations, -flood or -retention)")
	fs.Float64Var(&o.duplicates, "duplicates", 0, "with -postgres: share (0..1) of requests that re-send an id acked by another replica (by the same one with 1)")
	fs.BoolVar(&o.destinations, "destinations", false, "compare hookvault without destinations against hookvault forwarding to an HTTP receiver and NATS JetStream instead")
	fs.StringVar(&o.natsURL, "nats", defaultNATS, "with -destinations: the NATS server with JetStream at `URL`; each run gets a stream of its own, deleted afterwards")
	fs.DurationVar(&o.drainMax, "drain-max", 5*time.Minute, "with -destinations: give up waiting for the deliveries of a run after this long")
	fs.BoolVar(&o.flood, "flood", false, "compare real deliveries alone against beside a flood of forged ones from one client address instead")
	fs.IntVar(&o.floodConns, "flood-c", loadgen.DefaultConcurrency, "with -flood: the forged deliveries' connections")
	fs.IntVar(&o.maxRows, "max-rows", 10000, "with -flood: REJECTION_MAX_ROWS, low so that the flood exceeds it")
	fs.BoolVar(&o.retention, "retention", false, "compare POST /webhook at a steady rate during a retention pass against without one instead")
	fs.IntVar(&o.old, "old", 100000, "with -retention: old messages stored before each run, all deleted by the pass")
	fs.Float64Var(&o.rate, "rate", 200, "the steady load's requests/s (hookvault's steady run, or with -retention its load)")
	fs.DurationVar(&o.steadyFor, "steady-for", 10*time.Second, "the steady load's length: hookvault's steady run at -rate (0 skips it), or with -retention (default 5s) the load without a pass (with one, it lasts the pass)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./cmd/hookbench [flags]\n\nCompares hookvault with a bare net/http server and with one that appends each\nbody with group-committed fdatasync (with -baseline, an older hookvault too);\nwith -postgres 1 and more hookvault replicas on one PostgreSQL server, with\n-destinations hookvault with and without an HTTP and a NATS destination, with\n-flood real deliveries alone and beside a flood of forged ones, or with\n-retention webhook latency during a retention pass and without one.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.replicas, o.writeConns = replicas, writeConns
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if (o.destinations || o.flood || o.retention) && !set["rounds"] {
		o.rounds = 3
	}
	if o.retention && !set["steady-for"] {
		o.steadyFor = 5 * time.Second
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	mode := modes[0]
	for _, m := range modes[1:] {
		if v := fs.Lookup(m.flag).Value.String(); v != "" && v != "false" {
			if mode.flag != "" {
				fmt.Fprintln(stderr, "hookbench: -postgres, -destinations, -flood and -retention are modes of their own: pick one")
				return 2
			}
			mode = m
		}
	}
	if msg := o.check(set, mode.flags); msg != "" {
		fmt.Fprintf(stderr, "hookbench: %s\n", msg)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, out: stdout, log: stderr, reproduce: "go run ./cmd/hookbench"}
	for _, name := range strings.Fields(mode.flags) {
		f := fs.Lookup(name)
		v := f.Value.String()
		switch {
		case v == f.DefValue && (v == "" || v == "0"):
			continue // -baseline, -write-conns and -duplicates unless given
		case v == "true":
			v = "" // a mode's own flag
		case name == "postgres":
			v = "'" + redacted(v) + "'"
		case name == "baseline":
			v = shellQuote(v)
		}
		b.reproduce = strings.TrimSpace(b.reproduce + " -" + name + " " + v)
	}
	err := mode.run(b, ctx)
	if ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if cerr := b.cleanup(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "hookbench: %v\n", err)
		return 1
	}
	return 0
}

// modes are the comparisons, each named by its flag (the default one by none), with the
// flags that go with it, in the order its reproduce line gives them.
var modes = []struct {
	flag, flags string
	run         func(*bench, context.Context) error
}{
	{"", "rounds c n warmup max-run half-for rate steady-for fsyncs baseline", (*bench).run},
	{"postgres", "postgres replicas write-conns rounds c n warmup max-run duplicates", (*bench).runReplicas},
	{"destinations", "destinations nats rounds c n warmup max-run drain-max", (*bench).runDestinations},
	{"flood", "flood rounds c n warmup flood-c max-rows max-run", (*bench).runFlood},
	{"retention", "retention rounds old rate c steady-for max-run", (*bench).runRetention},
}

// check reports what is wrong with the flags, or "" when nothing is. A flag that does not
// go with the mode is an error rather than ignored, so that a report never seems to
// have measured what it did not.
func (o *options) check(set map[string]bool, flags string) string {
	for name := range set {
		if name != "keep" && !slices.Contains(strings.Fields(flags), name) {
			return "-" + name + " does not go with this comparison (-postgres, -destinations, -flood and -retention each have their own flags; see -h)"
		}
	}
	if _, err := withDatabase(o.postgres, "x"); o.postgres != "" && err != nil {
		return err.Error()
	}
	if u, err := url.Parse(o.natsURL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return "-nats wants a URL such as " + defaultNATS
	}
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{o.concurrency < 1 || o.count < 1, "-c and -n must be at least 1"},
		{o.warmup < 0 || o.halfFor < 0 || o.maxRun <= 0, "-warmup and -half-for must not be negative, -max-run must be positive"},
		{o.rounds < 1, "-rounds must be at least 1"},
		{!(o.rate > 0) || math.IsInf(o.rate, 0), "-rate must be a positive number of requests per second"},
		{o.steadyFor < 0 || (o.retention && o.steadyFor == 0), "-steady-for must not be negative (with -retention: must be positive)"},
		{o.fsyncs < 0, "-fsyncs must not be negative"},
		{!(o.duplicates >= 0 && o.duplicates <= 1), "-duplicates is a share between 0 and 1"},
		{o.drainMax <= 0, "-drain-max must be positive"},
		{o.floodConns < 1, "-flood-c must be at least 1"},
		{o.maxRows < 1, "-max-rows must be at least 1: the bound is what -flood exercises"},
		{o.old < 1, "-old must be at least 1"},
		{o.postgres != "" && slices.Max(o.replicas) > o.concurrency, fmt.Sprintf("-c %d cannot give each of %d replicas a connection", o.concurrency, slices.Max(o.replicas))},
	} {
		if c.bad {
			return c.msg
		}
	}
	return ""
}

// bench is one comparison run and what it started.
type bench struct {
	o         options
	reproduce string // the command that repeats it
	out, log  io.Writer
	dir       string
	procs     []*proc
	databases []string // created on -postgres and not dropped yet
	nats      *natsConn
}

// result is one target's measured run.
type result struct {
	name string
	rep  loadgen.Report
	rss  int64 // bytes; -1 when unknown
}

// ingestTarget is one server of the default comparison.
type ingestTarget struct {
	label string // as the table shows it
	p     *proc
	url   string
	vault bool // a hookvault build: it gets the steady runs, and the targets apply to it
}

// ingestRun is what one round measured of one target.
type ingestRun struct {
	round  int
	target *ingestTarget
	res    result
	// cpuPerReq is the server's CPU time during the measured run over the requests it
	// answered; -1 when unknown.
	cpuPerReq time.Duration
	// ofCeiling and ofDurable are its requests/s over the ceilings' in the same round.
	ofCeiling, ofDurable float64
	// The steady runs, hookvault's only: at half of this round's peak, and at -rate.
	half, steady *loadgen.Report
}

// run compares hookvault (and with -baseline an older build of it) with the bare ceiling
// and the durable ceiling, -rounds times, interleaved.
func (b *bench) run(ctx context.Context) error {
	o := b.o
	b.header("hookvault against a bare net/http server (the ceiling) and one that appends each body\n"+
		"with group-committed fdatasync (the durable ceiling)", b.reproduce)

	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	var base baseline
	if o.baseline != "" {
		if base, err = resolveBaseline(ctx, root, o.baseline); err != nil {
			return err
		}
		subject := base.subject
		if r := []rune(subject); len(r) > 60 {
			subject = string(r[:59]) + "…"
		}
		fmt.Fprintf(b.out, "baseline:  hookvault@%s is %s (%s), built from git archive\n", base.short, base.rev, subject)
	}
	binary, err := b.build(ctx)
	if err != nil {
		return err
	}
	var baseBinary string
	if o.baseline != "" {
		if baseBinary, err = b.buildBaseline(ctx, root, base); err != nil {
			return err
		}
	}
	// The disk is measured alone, before any server runs.
	fsync, err := b.probeDisk()
	if err != nil {
		return err
	}
	fmt.Fprintln(b.out)

	secret := randomHex(16)
	targets, err := b.startIngest(ctx, secret, binary, baseBinary, base.short)
	if err != nil {
		return err
	}
	var runs []*ingestRun
	for round := 1; round <= o.rounds; round++ {
		these, err := b.ingestRound(ctx, round, targets, []byte(secret))
		if err != nil {
			return err
		}
		runs = append(runs, these...)
	}
	meds := medianRuns(targets, runs)
	b.table(runs, meds)
	b.steadyTable(meds, fsync)
	b.targets(meds, fsync)

	var errs []string
	for _, r := range runs {
		for _, l := range r.loads(o.rate) {
			if l.rep.Unexpected > 0 {
				errs = append(errs, fmt.Sprintf("%s (round %d)%s %d", r.target.label, r.round, l.at, l.rep.Unexpected))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("unexpected answers (%s): not a clean measurement", strings.Join(errs, ", "))
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./~^@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// probeDisk measures the fsync latency of the disk of the temporary directory with -fsyncs
// appends, and prints it; nil when -fsyncs is 0.
func (b *bench) probeDisk() (*fsyncStats, error) {
	if b.o.fsyncs == 0 {
		return nil, nil
	}
	fmt.Fprintf(b.log, "fsync probe: %d appends\n", b.o.fsyncs)
	s, err := probeFsync(b.dir, b.o.fsyncs, 0)
	if err != nil {
		return nil, err
	}
	where := b.dir
	if t := fsType(b.dir); t != "" {
		where += " (" + t + ")"
	}
	fmt.Fprintf(b.out, "fsync:     %d × append %d KiB (into preallocated space) + fdatasync in %s,\n", s.n, fsyncBlock>>10, where)
	fmt.Fprintf(b.out, "           where the SQLite files and the durable ceiling's file are: p50 %s, p99 %s, max %s\n",
		loadgen.Round(s.p50), loadgen.Round(s.p99), loadgen.Round(s.max))
	if b.o.steadyFor > 0 && b.o.rate > 0 {
		// At a steady rate each commit syncs after an idle gap, which costs more than syncs
		// back to back: the probe again at the rate's spacing, at most five seconds of it.
		every := time.Duration(float64(time.Second) / b.o.rate)
		p, err := probeFsync(b.dir, min(b.o.fsyncs, max(1, int(5*time.Second/every))), every)
		if err != nil {
			return nil, err
		}
		s.paced, s.every = &p, every
		fmt.Fprintf(b.out, "           one every %s (the steady -rate's spacing): p50 %s, p99 %s, max %s\n", loadgen.Round(every),
			loadgen.Round(p.p50), loadgen.Round(p.p99), loadgen.Round(p.max))
	}
	if fsType(b.dir) == "tmpfs" {
		fmt.Fprintf(b.out, "warning: %s is in memory (tmpfs): nothing reaches a disk; set TMPDIR to a directory on one\n", b.dir)
	}
	return &s, nil
}

// startIngest starts the targets of the default comparison, in their table's order (the
// ceiling, the durable ceiling, hookvault at the baseline when there is one, hookvault),
// each ready before the next starts.
func (b *bench) startIngest(ctx context.Context, secret, binary, baseBinary, baseShort string) ([]*ingestTarget, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var targets []*ingestTarget
	add := func(label, path string, vault bool, argsEnv func(addr string) ([]string, []string)) error {
		// The log file's name: ceiling, durable, hookvault@…, hookvault.
		p, url, err := b.serve(ctx, strings.TrimSuffix(label, " ceiling"), path, argsEnv)
		targets = append(targets, &ingestTarget{label: label, p: p, url: url, vault: vault})
		return err
	}
	child := func(args ...string) func(string) ([]string, []string) {
		return func(addr string) ([]string, []string) { return append(args, "-addr", addr), os.Environ() }
	}
	vault := func(label string) func(string) ([]string, []string) {
		return func(addr string) ([]string, []string) {
			return nil, sqliteEnv(secret, filepath.Join(b.dir, label+".db"), "LISTEN_ADDR="+addr)
		}
	}
	if err := add("ceiling", self, false, child("ceiling")); err != nil {
		return nil, err
	}
	if err := add("durable ceiling", self, false, child("durable", "-dir", b.dir)); err != nil {
		return nil, err
	}
	if baseBinary != "" {
		if err := add("hookvault@"+baseShort, baseBinary, true, vault("hookvault@"+baseShort)); err != nil {
			return nil, err
		}
	}
	return targets, add("hookvault", binary, true, vault("hookvault"))
}

// ingestRound warms every target up and measures it at its peak, reading the server's CPU
// time just before and just after; then each hookvault at half of its peak and at -rate.
func (b *bench) ingestRound(ctx context.Context, round int, targets []*ingestTarget, secret []byte) ([]*ingestRun, error) {
	var ceil, durable float64
	var runs []*ingestRun
	for _, t := range inOrder(round, targets) {
		cfg := b.loadConfig(secret, t.url)
		if err := b.warmUp(ctx, t.label, cfg); err != nil {
			return nil, err
		}
		pid := t.p.cmd.Process.Pid
		rep, cpu, err := b.measured(ctx, t.label, cfg, []int{pid}, nil)
		if err != nil {
			return nil, err
		}
		r := &ingestRun{round: round, target: t, res: result{name: t.label, rep: rep, rss: peakRSS(pid)}, cpuPerReq: -1}
		if answered := rep.Sent - rep.Errors; cpu.hookvaultTime >= 0 && answered > 0 {
			r.cpuPerReq = cpu.hookvaultTime / time.Duration(answered)
		}
		switch t.label {
		case "ceiling":
			ceil = r.res.rep.Throughput
		case "durable ceiling":
			durable = r.res.rep.Throughput
		}
		runs = append(runs, r)
	}
	for _, r := range runs {
		r.ofCeiling, r.ofDurable = r.res.rep.Throughput/ceil, r.res.rep.Throughput/durable
	}
	var err error
	for _, r := range runs {
		// The durable ceiling's latency at -rate is the floor of hookvault's: one append and
		// one fdatasync per request, behind the same loopback HTTP.
		if r.target.label == "durable ceiling" && b.o.steadyFor > 0 {
			if r.steady, err = b.steady(ctx, r.target, secret, b.o.rate, b.o.steadyFor); err != nil {
				return nil, err
			}
		}
		if !r.target.vault {
			continue
		}
		if b.o.halfFor > 0 {
			if r.half, err = b.steady(ctx, r.target, secret, r.res.rep.Throughput/2, b.o.halfFor); err != nil {
				return nil, err
			}
		}
		if b.o.steadyFor > 0 {
			if r.steady, err = b.steady(ctx, r.target, secret, b.o.rate, b.o.steadyFor); err != nil {
				return nil, err
			}
		}
		// The high-water mark of the server's life so far, the steady runs included.
		r.res.rss = peakRSS(r.target.p.cmd.Process.Pid)
	}
	return runs, nil
}

func (b *bench) machine() {
	fmt.Fprintf(b.out, "machine:   %s/%s, %d CPUs, GOMAXPROCS %d, %s; generator and servers share the CPUs\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}

// build makes the temporary directory and builds the server into it.
func (b *bench) build(ctx context.Context) (binary string, err error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if b.dir, err = os.MkdirTemp("", "hookbench-"); err != nil {
		return "", err
	}
	binary = filepath.Join(b.dir, "hookvault")
	fmt.Fprintf(b.log, "building %s\n", binary)
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/hookvault")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hookvault: %v\n%s", err, out)
	}
	return binary, nil
}

// steady loads a hookvault target at rate requests/s for d.
func (b *bench) steady(ctx context.Context, t *ingestTarget, secret []byte, rate float64, d time.Duration) (*loadgen.Report, error) {
	fmt.Fprintf(b.log, "%s: %.0f requests/s for %s\n", t.label, rate, d)
	cfg := b.loadConfig(secret, t.url)
	cfg.Rate, cfg.Duration = rate, d
	rep, err := loadgen.Run(ctx, cfg, nil)
	return &rep, err
}

// medianRuns sums up the rounds: per target, the median of each figure over the rounds
// (the one round's figures when there is one), the highest peak RSS and all errors.
func medianRuns(targets []*ingestTarget, runs []*ingestRun) []*ingestRun {
	var meds []*ingestRun
	for _, t := range targets {
		m := &ingestRun{target: t, res: result{name: t.label, rss: -1}, cpuPerReq: -1}
		var peak, half, steady []loadgen.Report
		var cpu, ofC, ofD []float64
		for _, r := range runs {
			if r.target != t {
				continue
			}
			peak, ofC, ofD = append(peak, r.res.rep), append(ofC, r.ofCeiling), append(ofD, r.ofDurable)
			if r.cpuPerReq >= 0 {
				cpu = append(cpu, float64(r.cpuPerReq))
			}
			m.res.rss = max(m.res.rss, r.res.rss)
			if r.half != nil {
				half = append(half, *r.half)
			}
			if r.steady != nil {
				steady = append(steady, *r.steady)
			}
		}
		m.res.rep, m.ofCeiling, m.ofDurable = medianReport(peak), median(ofC), median(ofD)
		if len(cpu) > 0 {
			m.cpuPerReq = time.Duration(median(cpu))
		}
		if len(half) > 0 {
			h := medianReport(half)
			// The rate asked for, as the table shows it: half of the median peak, which is the
			// median of the halves.
			h.Throughput, m.half = m.res.rep.Throughput/2, &h
		}
		if len(steady) > 0 {
			s := medianReport(steady)
			m.steady = &s
		}
		meds = append(meds, m)
	}
	return meds
}

// table prints every measured run (by round when there are several, then the medians).
func (b *bench) table(runs, meds []*ingestRun) {
	width := 0
	for _, r := range meds {
		width = max(width, len(r.target.label))
	}
	rows := func(rs []*ingestRun, byRound bool) {
		// Numbers align right; the padded names keep the first column to the left.
		tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
		if byRound {
			fmt.Fprint(tw, "round\t")
		}
		fmt.Fprintf(tw, "%-*s\trequests/s\tp50\tp99\tmax\tCPU/req\tpeak RSS\terrors\tof ceiling\tof durable\t\n", width, "target")
		for _, r := range rs {
			if byRound {
				fmt.Fprintf(tw, "%d\t", r.round)
			}
			l := r.res.rep.Latency
			fmt.Fprintf(tw, "%-*s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%.2f\t%.2f\t\n", width, r.target.label, r.res.rep.Throughput,
				loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max), perRequest(r.cpuPerReq), mib(r.res.rss),
				r.res.rep.Unexpected, r.ofCeiling, r.ofDurable)
		}
		_ = tw.Flush()
	}
	if b.o.rounds > 1 {
		rows(runs, true)
		fmt.Fprintf(b.out, "\nmedians over %d rounds (peak RSS: the highest; errors: all):\n", b.o.rounds)
	}
	rows(meds, false)
	fmt.Fprintf(b.out, "CPU/req: the server's CPU time (user and system, all threads) during the measured run over the\n")
	fmt.Fprintf(b.out, "requests it answered; of ceiling, of durable: requests/s over the ceilings' in the same round.\n")
	for _, r := range runs {
		for _, l := range r.loads(b.o.rate) {
			samples(b.out, fmt.Sprintf("%s%s (round %d)", r.target.label, l.at, r.round), *l.rep)
		}
	}
}

// load is one load of an ingest run, named by what follows the target's label.
type load struct {
	at  string
	rep *loadgen.Report
}

// loads are the run's loads: at its peak, and hookvault's at half of it and at -rate.
func (r *ingestRun) loads(rate float64) []load {
	ls := []load{{"", &r.res.rep}, {" at half rate", r.half}, {fmt.Sprintf(" at %g requests/s", rate), r.steady}}
	return slices.DeleteFunc(ls, func(l load) bool { return l.rep == nil })
}

// steadyTable prints the latency at a steady rate, hookvault's and the durable ceiling's, next
// to the disk's fsync p99.
func (b *bench) steadyTable(meds []*ingestRun, fsync *fsyncStats) {
	if b.o.halfFor <= 0 && b.o.steadyFor <= 0 {
		return
	}
	fmt.Fprintf(b.out, "\nat a steady rate")
	if b.o.rounds > 1 {
		fmt.Fprintf(b.out, " (medians over %d rounds)", b.o.rounds)
	}
	if fsync != nil {
		fmt.Fprintf(b.out, "; the disk's fsync p99 is %s back to back", loadgen.Round(fsync.p99))
		if fsync.paced != nil {
			fmt.Fprintf(b.out, ", %s one every %s", loadgen.Round(fsync.paced.p99), loadgen.Round(fsync.every))
		}
	}
	fmt.Fprintln(b.out, ":")
	width := 0
	for _, r := range meds {
		width = max(width, len(r.target.label))
	}
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tload\trequests/s\tp50\tp99\tmax\terrors\t\n", width, "target")
	for _, r := range meds {
		for _, s := range []struct {
			load   string
			rep    *loadgen.Report
			length time.Duration
		}{{fmt.Sprintf("%g req/s", b.o.rate), r.steady, b.o.steadyFor}, {"half of peak", r.half, b.o.halfFor}} {
			if s.rep == nil {
				continue
			}
			l := s.rep.Latency
			fmt.Fprintf(tw, "%-*s\t%s for %s\t%.0f\t%s\t%s\t%s\t%d\t\n", width, r.target.label, s.load, s.length, s.rep.Throughput,
				loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max), s.rep.Unexpected)
		}
	}
	_ = tw.Flush()
}

// targets compares hookvault's figures (the medians) with issue 15's targets, the baseline's
// in brackets.
func (b *bench) targets(meds []*ingestRun, fsync *fsyncStats) {
	var cur, base *ingestRun
	for _, r := range meds {
		switch {
		case r.target.label == "hookvault":
			cur = r
		case r.target.vault:
			base = r
		}
	}
	if cur == nil {
		return
	}
	medians := map[bool]string{true: ", medians"}[b.o.rounds > 1]
	fmt.Fprintf(b.out, "\ntargets (hookvault%s):\n", medians)
	var limit time.Duration
	if fsync != nil {
		limit = fsync.p99 + targetOverFsync
	}
	for _, t := range []struct {
		shown bool
		what  string
		value func(r *ingestRun) string
		met   func() bool
	}{
		{cur.cpuPerReq >= 0, fmt.Sprintf("CPU per request ≤ %s", targetCPUPerReq),
			func(r *ingestRun) string { return perRequest(r.cpuPerReq) }, func() bool { return cur.cpuPerReq <= targetCPUPerReq }},
		{true, fmt.Sprintf("requests/s ≥ %.2f of the ceiling's", targetOfCeiling),
			func(r *ingestRun) string { return fmt.Sprintf("%.2f", r.ofCeiling) }, func() bool { return cur.ofCeiling >= targetOfCeiling }},
		{true, fmt.Sprintf("requests/s ≥ %.2f of the durable ceiling's", targetOfDurable),
			func(r *ingestRun) string { return fmt.Sprintf("%.2f", r.ofDurable) }, func() bool { return cur.ofDurable >= targetOfDurable }},
		{cur.steady != nil && fsync != nil, fmt.Sprintf("p99 at %g requests/s ≤ the fsync p99 + %s = %s", b.o.rate, targetOverFsync, loadgen.Round(limit)),
			func(r *ingestRun) string { return loadgen.Round(r.steady.Latency.P99).String() },
			func() bool { return cur.steady.Latency.P99 <= limit && cur.steady.Unexpected == 0 }},
		{cur.half != nil, fmt.Sprintf("p99 at half of peak ≤ %s", targetHalfP99),
			func(r *ingestRun) string { return loadgen.Round(r.half.Latency.P99).String() },
			func() bool { return cur.half.Latency.P99 <= targetHalfP99 && cur.half.Unexpected == 0 }},
		{cur.res.rss >= 0, fmt.Sprintf("peak RSS ≤ %d MiB", targetRSS>>20),
			func(r *ingestRun) string { return mib(r.res.rss) }, func() bool { return cur.res.rss <= targetRSS }},
	} {
		if !t.shown {
			continue
		}
		was := ""
		if base != nil {
			was = fmt.Sprintf(" (%s: %s)", base.target.label, t.value(base))
		}
		fmt.Fprintf(b.out, "  %s: %s, %s%s\n", t.what, t.value(cur), verdict(t.met()), was)
	}
}

// perRequest shows a CPU time per request in µs with one decimal; "n/a" when unknown.
func perRequest(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// samples lists what the first unexpected answers of a run were.
func samples(w io.Writer, name string, rep loadgen.Report) {
	if rep.Unexpected == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d unexpected (%d × 503, %d without an answer), for example:\n", name, rep.Unexpected, rep.Overloaded, rep.Errors)
	for _, s := range rep.Samples {
		fmt.Fprintf(w, "  %s\n", s)
	}
}

func mib(bytes int64) string {
	if bytes < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

// proc is a server started by hookbench.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has been waited for
	err     error         // how it exited, once exited is closed
}

// start runs a server with its output in a log file in the temporary directory: a pipe that
// nobody drains would stall it, and the terminal is for the report.
func (b *bench) start(name, path string, args, env []string) (*proc, error) {
	logPath := filepath.Join(b.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	b.procs = append(b.procs, p)
	return p, nil
}

// stop asks the process to drain and exit, and kills it if it does not in time.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, stopTimeout)
	}
}

// tail returns the end of the process's log, to show why it failed.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// cleanup stops every server, drops the databases, deletes the NATS streams and removes the
// temporary directory, unless -keep asked for them.
func (b *bench) cleanup() error {
	var errs []error
	for _, p := range b.procs {
		if err := p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(b.databases) > 0 {
		if b.o.keep {
			fmt.Fprintf(b.log, "kept databases %s\n", strings.Join(b.databases, ", "))
		} else {
			for _, db := range slices.Clone(b.databases) {
				errs = append(errs, b.dropDatabase(db))
			}
		}
	}
	if b.nats != nil {
		errs = append(errs, b.nats.close(b.o.keep, b.log))
	}
	if b.dir != "" {
		if b.o.keep {
			fmt.Fprintf(b.log, "kept %s\n", b.dir)
		} else if err := os.RemoveAll(b.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitReady polls url until it answers 200, the process exits or readyTimeout passes.
func waitReady(ctx context.Context, p *proc, url string) error {
	err := poll(ctx, 20*time.Millisecond, readyTimeout, p, func() (bool, error) {
		_, err := get(ctx, url)
		return err == nil, nil
	})
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("%s not ready at %s within %s; its log ends:\n%s", p.name, url, readyTimeout, p.tail())
	}
	return err
}

// moduleRoot finds the directory of the hookvault module, where the server is built.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run hookbench inside the hookvault module: go run ./cmd/hookbench")
	}
	return filepath.Dir(gomod), nil
}

// serverEnv is the environment without hookvault's own variables, so that the developer's
// settings (a log level, a database, a rate limit) cannot change what is measured.
func serverEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !serverVars[name] {
			env = append(env, kv)
		}
	}
	return env
}

// serverVars are the variables hookvault reads, as config.Load asks for them: a list kept
// by hand here fell behind the server's settings before.
var serverVars = func() map[string]bool {
	vars := map[string]bool{}
	_, _ = config.Load(nil, func(name string) string { vars[name] = true; return "" }, io.Discard)
	return vars
}()

// freeAddr returns a loopback address with a port nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}

// peakRSS reads a process's peak resident set (VmHWM) from /proc, or -1 where there is none.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	_, rest, found := strings.Cut(string(b), "\nVmHWM:")
	line, _, _ := strings.Cut(rest, "\n")
	kb, perr := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "kB")), 10, 64)
	if err != nil || !found || perr != nil {
		return -1
	}
	return kb << 10
}
