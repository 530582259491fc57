package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// header prints what a comparison compares, the command that repeats it, and the machine.
func (b *bench) header(what, reproduce string) {
	fmt.Fprintf(b.out, "hookbench: %s, loopback\nreproduce: %s\n", what, reproduce)
	b.machine()
}

// loadConfig is the load of every comparison but the flood's forged deliveries: -c
// workers sending through the raw engine, each run ended by -max-run at the latest.
func (b *bench) loadConfig(secret []byte, urls ...string) loadgen.Config {
	return loadgen.Config{URLs: urls, Secret: secret, Concurrency: b.o.concurrency, Duration: b.o.maxRun, Connect: newRawConn}
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
	if err == nil && rep.Unexpected > 0 {
		fmt.Fprintf(b.out, "%s warm-up: %d unexpected answers\n", name, rep.Unexpected)
		samples(b.out, name+" warm-up", rep)
	}
	return err
}

// measured sends the measured run of -n requests with cfg (after its warm-up), reading
// the CPU time of pids (and helpers) just before and just after it, and says so if
// -max-run cut it short.
func (b *bench) measured(ctx context.Context, name string, cfg loadgen.Config, pids, helpers []int) (loadgen.Report, cpuUse, error) {
	to := ""
	if len(cfg.URLs) > 1 {
		to = fmt.Sprintf(" to %d servers", len(cfg.URLs))
	}
	fmt.Fprintf(b.log, "%s: %d requests over %d connections%s\n", name, b.o.count, cfg.Concurrency, to)
	cfg.Count = b.o.count
	before := sampleCPU(pids, helpers)
	rep, err := loadgen.Run(ctx, cfg, nil)
	after := sampleCPU(pids, helpers)
	if err == nil && rep.Sent < b.o.count {
		fmt.Fprintf(b.out, "%s: -max-run %s ended the run after %d of %d requests\n", name, b.o.maxRun, rep.Sent, b.o.count)
	}
	return rep, after.since(before), err
}

// serve starts a server on a free loopback port, which args and env give it, and waits
// until it is ready; it returns the process and its base URL.
func (b *bench) serve(ctx context.Context, name, path string, argsEnv func(addr string) (args, env []string)) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	args, env := argsEnv(addr)
	p, err := b.start(name, path, args, env)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	return p, base, waitReady(ctx, p, base+"/health/ready")
}

// startVault starts hookvault with env (it takes its address from LISTEN_ADDR).
func (b *bench) startVault(ctx context.Context, name, binary string, env []string) (*proc, string, error) {
	return b.serve(ctx, name, binary, func(addr string) ([]string, []string) {
		return nil, append(slices.Clip(env), "LISTEN_ADDR="+addr)
	})
}

// sqliteEnv is hookvault's environment on the SQLite file db, signing with secret.
func sqliteEnv(secret, db string, more ...string) []string {
	return append(append(serverEnv(os.Environ()), "WEBHOOK_SECRET="+secret, "DATABASE_URL=sqlite:"+db), more...)
}

// removeSQLite removes a run's SQLite file with its WAL: tens of MB, which the next runs
// need the disk for more.
func removeSQLite(db string) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// queryRO runs one query on a SQLite file, read-only, beside the server that writes it.
func queryRO(ctx context.Context, path, query string, args []any, dest ...any) error {
	conn, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return conn.QueryRowContext(ctx, query, args...).Scan(dest...)
}

// pairRun is one measured run of a comparison. In those of two configurations
// (-destinations, -flood, -retention), with tells which: with what is compared or without;
// -postgres's runs (replicaRun) leave it false.
type pairRun struct {
	round    int
	with     bool
	res      result
	cpu      cpuUse
	ratio    float64 // requests/s over those of the run it is compared with, in the same round
	problems []string
}

func (r *pairRun) pair() *pairRun { return r }

type paired interface{ pair() *pairRun }

// pairs builds hookvault and measures both configurations with run, -rounds times,
// interleaved (see inOrder), showing any unexpected answers of each run; then it fills in
// the ratios.
func pairs[R paired](ctx context.Context, b *bench, run func(binary, self, secret string, round int, with bool) (R, error)) ([]R, error) {
	binary, err := b.build(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	secret := randomHex(16)
	var runs []R
	for round := 1; round <= b.o.rounds; round++ {
		for _, with := range inOrder(round, []bool{false, true}) {
			r, err := run(binary, self, secret, round, with)
			if err != nil {
				return nil, err
			}
			samples(b.out, r.pair().res.name, r.pair().res.rep)
			runs = append(runs, r)
		}
	}
	fillRatios(runs, func(_, s R) bool { return !s.pair().with })
	return runs, nil
}

// fillRatios sets each run's ratio: its requests/s over those of the run of the same round
// that base picks; NaN without one.
func fillRatios[R paired](runs []R, base func(r, s R) bool) {
	for _, r := range runs {
		p := r.pair()
		p.ratio = math.NaN()
		for _, s := range runs {
			if s.pair().round == p.round && base(r, s) {
				p.ratio = p.res.rep.Throughput / s.pair().res.rep.Throughput
			}
		}
	}
}

// inOrder returns what a round measures in the order of that round: as given in odd
// rounds, reversed in even ones, so that nothing always runs on a machine that the run
// before has warmed up (page cache, CPU frequency), or cooled down.
func inOrder[T any](round int, items []T) []T {
	items = slices.Clone(items)
	if round%2 == 0 {
		slices.Reverse(items)
	}
	return items
}

// warnNoisy warns about the runs during which other work took much of the machine.
func warnNoisy[R paired](b *bench, runs []R) {
	var noisy []string
	for _, r := range runs {
		if r.pair().cpu.other() >= disturbed {
			noisy = append(noisy, r.pair().res.name)
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(b.out, "warning: other work took %.2f cores or more during %s: those numbers say less about hookvault\n",
			disturbed, strings.Join(noisy, ", "))
	}
}

// medians returns the runs of one configuration and the median of their loads: requests/s,
// p50, p99 and max each the median over the rounds, errors all of them.
func medians[R paired](runs []R, with bool) ([]R, loadgen.Report) {
	var these []R
	var reps []loadgen.Report
	for _, r := range runs {
		if r.pair().with == with {
			these, reps = append(these, r), append(reps, r.pair().res.rep)
		}
	}
	return these, medianReport(reps)
}

// medianReport sums runs up: the median of requests/s and of each latency, all errors.
func medianReport(reps []loadgen.Report) loadgen.Report {
	var m loadgen.Report
	var tput, p50, p99, mx []float64
	for _, r := range reps {
		tput, p50 = append(tput, r.Throughput), append(p50, float64(r.Latency.P50))
		p99, mx = append(p99, float64(r.Latency.P99)), append(mx, float64(r.Latency.Max))
		m.Unexpected += r.Unexpected
	}
	dur := func(vs []float64) time.Duration { return time.Duration(median(vs)) }
	m.Throughput, m.Latency = median(tput), loadgen.Latency{P50: dur(p50), P99: dur(p99), Max: dur(mx)}
	return m
}

// ratioTarget prints the ratios of the runs with what is compared to those without, and
// their median against target.
func ratioTarget[R paired](b *bench, runs []R, what string, target float64) {
	var rs []float64
	for _, r := range runs {
		if r.pair().with {
			rs = append(rs, r.pair().ratio)
		}
	}
	m := median(rs)
	fmt.Fprintf(b.out, "\nratio %s, by round: %s → median %.2f; target ≥ %.2f: %s\n", what, joinFixed(rs, 2), m, target, verdict(m >= target))
}

// notClean is the error of a pair comparison whose runs had unexpected answers or problems.
func notClean[R paired](runs []R, unexpected string) error {
	var errs []string
	for _, r := range runs {
		p := r.pair()
		if p.res.rep.Unexpected > 0 {
			errs = append(errs, fmt.Sprintf("%s: %d %s", p.res.name, p.res.rep.Unexpected, unexpected))
		}
		for _, s := range p.problems {
			errs = append(errs, p.res.name+": "+s)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("not a clean measurement: %s", strings.Join(errs, "; "))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// cores shows the CPU use columns: each of the given ones, then other and all.
func (u cpuUse) cores(of ...float64) string {
	cells := make([]string, 0, len(of)+2)
	for _, v := range append(of, u.other(), u.machine) {
		cells = append(cells, fixed(v, 2))
	}
	return strings.Join(cells, "\t")
}

// errTimedOut is poll's error when its time is up.
var errTimedOut = errors.New("timed out")

// poll calls check every interval until it reports done or an error, timeout passes (0:
// never) or ctx ends, or p exits (nil: no process to watch).
func poll(ctx context.Context, every, timeout time.Duration, p *proc, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var exited <-chan struct{}
	if p != nil {
		exited = p.exited
	}
	for {
		if done, err := check(); done || err != nil {
			return err
		}
		if timeout > 0 && time.Now().After(deadline) {
			return errTimedOut
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("%s exited (%v); its log ends:\n%s", p.name, p.err, p.tail())
		case <-time.After(every):
		}
	}
}
