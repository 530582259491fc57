// Command hookbench measures hookvault against the HTTP ceiling of this machine: it builds
// the server, starts it on a fresh SQLite file, starts a bare net/http server that only
// reads the body and answers 200 (itself, re-executed as "hookbench ceiling"), loads each
// with internal/loadgen under the same settings and prints requests/s, latency and peak RSS
// side by side, then measures hookvault's p99 at half of its peak rate.
//
// The ratio is what carries from machine to machine: the load generator and both servers
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
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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

// Targets of issue 4, printed next to what was measured.
const (
	targetRatio   = 0.50
	targetHalfP99 = 10 * time.Millisecond
	targetRSS     = 100 << 20
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

	// The retention comparison; retention is false in the other modes.
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
	case "ceiling":
		return serveCeiling(args[1:], os.Stderr), true
	case "receiver":
		return serveReceiver(args[1:], os.Stderr), true
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
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory: the SQLite file and the servers' logs (and with -postgres the databases)")
	fs.StringVar(&o.postgres, "postgres", "", "compare hookvault replicas on the PostgreSQL server at `URL` instead (postgres://user@host:port/db; each run gets a fresh database, so the user needs CREATEDB)")
	replicas := intList{1, 2}
	fs.Var(&replicas, "replicas", "with -postgres: replica `counts` to compare, comma-separated; ratios are to the first")
	var writeConns intList
	fs.Var(&writeConns, "write-conns", "with -postgres: DATABASE_WRITE_CONNS `values` to try, comma-separated (default: the server's)")
	fs.IntVar(&o.rounds, "rounds", 1, "with -postgres, -destinations, -flood or -retention (the last three default to 3): repeat every run this often, interleaved, and report medians")
	fs.Float64Var(&o.duplicates, "duplicates", 0, "with -postgres: share (0..1) of requests that re-send an id acked by another replica (by the same one with 1)")
	fs.BoolVar(&o.destinations, "destinations", false, "compare hookvault without destinations against hookvault forwarding to an HTTP receiver and NATS JetStream instead")
	fs.StringVar(&o.natsURL, "nats", defaultNATS, "with -destinations: the NATS server with JetStream at `URL`; each run gets a stream of its own, deleted afterwards")
	fs.DurationVar(&o.drainMax, "drain-max", 5*time.Minute, "with -destinations: give up waiting for the deliveries of a run after this long")
	fs.BoolVar(&o.flood, "flood", false, "compare real deliveries alone against beside a flood of forged ones from one client address instead")
	fs.IntVar(&o.floodConns, "flood-c", loadgen.DefaultConcurrency, "with -flood: the forged deliveries' connections")
	fs.IntVar(&o.maxRows, "max-rows", 10000, "with -flood: REJECTION_MAX_ROWS, low so that the flood exceeds it")
	fs.BoolVar(&o.retention, "retention", false, "compare POST /webhook at a steady rate during a retention pass against without one instead")
	fs.IntVar(&o.old, "old", 100000, "with -retention: old messages stored before each run, all deleted by the pass")
	fs.Float64Var(&o.rate, "rate", 200, "with -retention: the steady load's requests/s")
	fs.DurationVar(&o.steadyFor, "steady-for", 5*time.Second, "with -retention: the steady load's length without a pass (with one, it lasts the pass)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./cmd/hookbench [flags]\n\nCompares hookvault with a bare net/http server on this machine, with -postgres\n1 and more hookvault replicas on one PostgreSQL server, with -destinations\nhookvault with and without an HTTP and a NATS destination, with -flood real\ndeliveries alone and beside a flood of forged ones, or with -retention webhook\nlatency during a retention pass and without one.\n\n")
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
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "hookbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	case o.concurrency < 1 || o.count < 1 || o.warmup < 0 || o.maxRun <= 0 || o.halfFor < 0:
		fmt.Fprintln(stderr, "hookbench: -c and -n must be at least 1, -warmup and -half-for not negative, -max-run positive")
		return 2
	}
	if msg := o.checkMode(set); msg != "" {
		fmt.Fprintf(stderr, "hookbench: %s\n", msg)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, out: stdout, log: stderr}
	measure := b.run
	switch {
	case o.postgres != "":
		measure = b.runReplicas
	case o.destinations:
		measure = b.runDestinations
	case o.flood:
		measure = b.runFlood
	case o.retention:
		measure = b.runRetention
	}
	err := measure(ctx)
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

// bench is one comparison run and what it started.
type bench struct {
	o         options
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

func (b *bench) run(ctx context.Context) error {
	o := b.o
	fmt.Fprintf(b.out, "hookbench: hookvault against a bare net/http server (the HTTP ceiling), loopback\n")
	fmt.Fprintf(b.out, "reproduce: go run ./cmd/hookbench -c %d -n %d -warmup %d -max-run %s -half-for %s\n",
		o.concurrency, o.count, o.warmup, o.maxRun, o.halfFor)
	b.machine()

	binary, err := b.build(ctx)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	secret := randomHex(16)
	ceilAddr, err := freeAddr()
	if err != nil {
		return err
	}
	vaultAddr, err := freeAddr()
	if err != nil {
		return err
	}
	ceiling, err := b.start("ceiling", self, []string{"ceiling", "-addr", ceilAddr}, os.Environ())
	if err != nil {
		return err
	}
	vault, err := b.start("hookvault", binary, nil, append(serverEnv(os.Environ()),
		"WEBHOOK_SECRET="+secret,
		"DATABASE_URL=sqlite:"+filepath.Join(b.dir, "hookvault.db"),
		"LISTEN_ADDR="+vaultAddr,
	))
	if err != nil {
		return err
	}
	servers := []struct {
		p    *proc
		addr string
	}{{ceiling, ceilAddr}, {vault, vaultAddr}}
	for _, t := range servers {
		if err := waitReady(ctx, t.p, "http://"+t.addr+"/health/ready"); err != nil {
			return err
		}
	}

	var results []result
	for _, t := range servers {
		res, err := b.measure(ctx, t.p, "http://"+t.addr, []byte(secret))
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	ceil, hv := results[0], results[1]
	ratio := hv.rep.Throughput / ceil.rep.Throughput
	b.table(results, ratio)

	var half *loadgen.Report
	if o.halfFor > 0 {
		rate := hv.rep.Throughput / 2
		fmt.Fprintf(b.log, "hookvault: %.0f requests/s for %s\n", rate, o.halfFor)
		rep, err := loadgen.Run(ctx, loadgen.Config{
			URL: "http://" + vaultAddr, Secret: []byte(secret), Concurrency: o.concurrency,
			Rate: rate, Duration: o.halfFor, Connect: newRawConn,
		}, nil)
		if err != nil {
			return err
		}
		half = &rep
		fmt.Fprintf(b.out, "\np99 at half of peak rate: %s (%.0f requests/s asked, %.0f sent, for %s; p50 %s, max %s, %d errors)\n",
			loadgen.Round(rep.Latency.P99), rate, rep.Throughput, loadgen.Round(rep.Duration),
			loadgen.Round(rep.Latency.P50), loadgen.Round(rep.Latency.Max), rep.Unexpected)
		samples(b.out, "hookvault at half rate", rep)
		if rss := peakRSS(vault.cmd.Process.Pid); rss > hv.rss {
			hv.rss = rss
		}
	}

	b.targets(ratio, hv.rss, half)

	var errs []string
	for _, r := range results {
		if r.rep.Unexpected > 0 {
			errs = append(errs, fmt.Sprintf("%s %d", r.name, r.rep.Unexpected))
		}
	}
	if half != nil && half.Unexpected > 0 {
		errs = append(errs, fmt.Sprintf("hookvault at half rate %d", half.Unexpected))
	}
	if len(errs) > 0 {
		return fmt.Errorf("unexpected answers (%s): not a clean measurement", strings.Join(errs, ", "))
	}
	return nil
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

// measure warms a server up, then loads it with the measured run and reads its peak RSS.
func (b *bench) measure(ctx context.Context, p *proc, url string, secret []byte) (result, error) {
	cfg := loadgen.Config{URL: url, Secret: secret, Concurrency: b.o.concurrency, Duration: b.o.maxRun, Connect: newRawConn}
	if err := b.warmUp(ctx, p.name, cfg); err != nil {
		return result{}, err
	}
	fmt.Fprintf(b.log, "%s: %d requests over %d connections\n", p.name, b.o.count, b.o.concurrency)
	cfg.Count = b.o.count
	rep, err := loadgen.Run(ctx, cfg, nil)
	if err != nil {
		return result{}, err
	}
	if rep.Sent < b.o.count {
		fmt.Fprintf(b.out, "%s: -max-run %s ended the run after %d of %d requests\n", p.name, b.o.maxRun, rep.Sent, b.o.count)
	}
	return result{name: p.name, rep: rep, rss: peakRSS(p.cmd.Process.Pid)}, nil
}

// warmUp sends -warmup requests with cfg before a measured run, and shows any unexpected
// answers among them.
func (b *bench) warmUp(ctx context.Context, name string, cfg loadgen.Config) error {
	if b.o.warmup == 0 {
		return nil
	}
	fmt.Fprintf(b.log, "%s: warm-up, %d requests\n", name, b.o.warmup)
	cfg.Count = b.o.warmup
	rep, err := loadgen.Run(ctx, cfg, nil)
	if err != nil {
		return err
	}
	if rep.Unexpected > 0 {
		fmt.Fprintf(b.out, "%s warm-up: %d unexpected answers\n", name, rep.Unexpected)
		samples(b.out, name+" warm-up", rep)
	}
	return nil
}

func (b *bench) table(results []result, ratio float64) {
	// Numbers align right; the padded names keep the first column to the left.
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target   \trequests/s\tp50\tp99\tmax\tpeak RSS\terrors\t")
	for _, r := range results {
		l := r.rep.Latency
		fmt.Fprintf(tw, "%-9s\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", r.name, r.rep.Throughput,
			loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max), mib(r.rss), r.rep.Unexpected)
	}
	_ = tw.Flush()
	fmt.Fprintf(b.out, "\nratio hookvault/ceiling: %.2f of the ceiling's requests/s\n", ratio)
	for _, r := range results {
		samples(b.out, r.name, r.rep)
	}
}

// targets compares the measurements with issue 4's targets.
func (b *bench) targets(ratio float64, rss int64, half *loadgen.Report) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "missed"
	}
	fmt.Fprintf(b.out, "\ntargets:\n")
	fmt.Fprintf(b.out, "  requests/s ≥ %.0f%% of the ceiling: %.0f%%, %s\n", targetRatio*100, ratio*100, verdict(ratio >= targetRatio))
	if half != nil {
		fmt.Fprintf(b.out, "  p99 at half of peak rate ≤ %s: %s, %s\n", targetHalfP99, loadgen.Round(half.Latency.P99),
			verdict(half.Latency.P99 <= targetHalfP99 && half.Unexpected == 0))
	}
	if rss >= 0 {
		fmt.Fprintf(b.out, "  peak RSS under load ≤ %d MiB: %s, %s\n", targetRSS>>20, mib(rss), verdict(rss <= targetRSS))
	}
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
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				client.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, p.err, p.tail())
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("%s not ready at %s within %s; its log ends:\n%s", p.name, url, readyTimeout, p.tail())
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
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
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}
