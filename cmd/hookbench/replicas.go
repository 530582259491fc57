package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// disturbed is how much CPU other work may take during a measured run before the report
// warns that the run shared the machine: a test suite next to the benchmark costs a
// configuration a third of its throughput on two cores.
const disturbed = 0.25

// dbTimeout bounds each statement hookbench runs itself (CREATE and DROP DATABASE).
const dbTimeout = 30 * time.Second

// replicaRun is one measured run of the replica comparison; its ratio is its requests/s
// over the first replica count's of the same round and write-conns.
type replicaRun struct {
	pairRun
	replicas   int
	writeConns int     // DATABASE_WRITE_CONNS; 0 left the server's default
	batch      float64 // mean store_commit_batch_size of the measured run; NaN if unknown
}

// withDatabase returns the PostgreSQL URL u with its database replaced by name.
func withDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") || p.Host == "" {
		return "", errors.New("-postgres wants a URL such as postgres://postgres@127.0.0.1:5432/test")
	}
	p.Path, p.RawPath = "/"+name, ""
	return p.String(), nil
}

// redacted shows a PostgreSQL URL without its password.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// runReplicas measures each replica count (and each -write-conns value), -rounds times,
// interleaved so that a drift of the machine (a thermal limit, a neighbour) spreads over all
// configurations instead of favouring the ones measured first.
func (b *bench) runReplicas(ctx context.Context) error {
	o := b.o
	b.header("hookvault replicas sharing one PostgreSQL server", b.reproduce)

	// An unreachable server or a user without CREATEDB fails here, before the build.
	if err := b.pgExec(ctx, "SELECT 1"); err != nil {
		return err
	}
	binary, err := b.build(ctx)
	if err != nil {
		return err
	}
	secret := randomHex(16)
	wcs := o.writeConns
	if len(wcs) == 0 {
		wcs = []int{0}
	}
	var runs []*replicaRun
	for round := 1; round <= o.rounds; round++ {
		for _, wc := range wcs {
			for _, n := range o.replicas {
				r, err := b.replicaRun(ctx, binary, secret, round, n, wc)
				if err != nil {
					return err
				}
				runs = append(runs, r)
			}
		}
	}
	fillRatios(runs, func(r, s *replicaRun) bool { return s.writeConns == r.writeConns && s.replicas == o.replicas[0] })
	b.replicaTable(runs)

	return notClean(runs, "unexpected answers")
}

// replicaRun measures n replicas on a database of their own: created, migrated once by
// `hookvault migrate` as an operator would, served by replicas that do not migrate, and
// dropped once they have stopped.
func (b *bench) replicaRun(ctx context.Context, binary, secret string, round, n, wc int) (*replicaRun, error) {
	run := &replicaRun{pairRun: pairRun{round: round}, replicas: n, writeConns: wc}
	tag := fmt.Sprintf("round%d-%dreplicas", round, n)
	if wc > 0 {
		tag += fmt.Sprintf("-%dwriteconns", wc)
	}
	db := "hookbench_" + randomHex(6)
	if err := b.pgExec(ctx, "CREATE DATABASE "+db); err != nil {
		return run, err
	}
	b.databases = append(b.databases, db)
	dbURL, err := withDatabase(b.o.postgres, db)
	if err != nil {
		return run, err
	}
	env := append(serverEnv(os.Environ()), "DATABASE_URL="+dbURL)
	migrate := exec.CommandContext(ctx, binary, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return run, fmt.Errorf("hookvault migrate on %s: %v\n%s", db, err, out)
	}
	fmt.Fprintf(b.log, "%s: database %s migrated\n", tag, db)

	var procs []*proc
	var urls []string
	var pids []int
	for i := range n {
		penv := append(slices.Clone(env), "WEBHOOK_SECRET="+secret, "DATABASE_AUTO_MIGRATE=false")
		if wc > 0 {
			penv = append(penv, "DATABASE_WRITE_CONNS="+strconv.Itoa(wc))
		}
		p, url, err := b.startVault(ctx, fmt.Sprintf("%s-%d", tag, i+1), binary, penv)
		if err != nil {
			return run, err
		}
		procs, urls, pids = append(procs, p), append(urls, url), append(pids, p.cmd.Process.Pid)
	}
	// The same load as the other comparisons, each connection staying with one replica.
	cfg := b.loadConfig([]byte(secret), urls...)
	cfg.DuplicateShare, cfg.CrossDuplicates = b.o.duplicates, b.o.duplicates > 0 && len(urls) > 1
	if err := b.warmUp(ctx, tag, cfg); err != nil {
		return run, err
	}
	sum0, count0 := commitBatches(ctx, urls)
	rep, cpu, err := b.measured(ctx, tag, cfg, pids, nil)
	if err != nil {
		return run, err
	}
	samples(b.out, tag, rep)
	sum1, count1 := commitBatches(ctx, urls)
	run.res, run.cpu, run.batch = result{name: tag, rep: rep, rss: sumOver(pids, peakRSS)}, cpu, math.NaN()
	if count1 > count0 {
		run.batch = (sum1 - sum0) / (count1 - count0)
	}
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.stop())
	}
	if err := errors.Join(errs...); err != nil || b.o.keep {
		return run, err // cleanup tells which databases -keep kept
	}
	return run, b.dropDatabase(db)
}

func (b *bench) replicaTable(runs []*replicaRun) {
	base := b.o.replicas[0]
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\treplicas\twrite conns\trequests/s\tp50\tp99\tmax\tpeak RSS (sum)\tbatch\tcores: hookvault\tpostgres\tgenerator\tother\tall\terrors\tvs %d\t\n", base)
	for _, r := range runs {
		l := r.res.rep.Latency
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n",
			r.round, r.replicas, writeConnsLabel(r.writeConns), r.res.rep.Throughput,
			loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max), mib(r.res.rss), fixed(r.batch, 1),
			r.cpu.cores(r.cpu.hookvault, r.cpu.postgres, r.cpu.generator), r.res.rep.Unexpected, fixed(r.ratio, 2))
	}
	_ = tw.Flush()
	fmt.Fprintf(b.out, "\nbatch: mean store_commit_batch_size of the measured run, over all replicas' commits.\n")
	fmt.Fprintf(b.out, "cores: CPU time over the measured run's length, of %d: hookvault (all replicas), the local\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  postgres processes, hookbench's own load generator, everything else (other processes,\n")
	fmt.Fprintf(b.out, "  and kernel work charged to no process), and the whole machine.\n")
	warnNoisy(b, runs)

	fmt.Fprintf(b.out, "\nmedians over %d round(s):\n", b.o.rounds)
	seen := map[[2]int]bool{}
	for _, r := range runs {
		key := [2]int{r.writeConns, r.replicas}
		if seen[key] {
			continue
		}
		seen[key] = true
		var tput, ratios []float64
		for _, s := range runs {
			if s.writeConns == r.writeConns && s.replicas == r.replicas {
				tput = append(tput, s.res.rep.Throughput)
				ratios = append(ratios, s.ratio)
			}
		}
		fmt.Fprintf(b.out, "  %d replicas, write conns %s: %.0f requests/s; vs %d: %s → median %.2f\n",
			r.replicas, writeConnsLabel(r.writeConns), median(tput), base, joinFixed(ratios, 2), median(ratios))
	}
}

func writeConnsLabel(wc int) string {
	if wc == 0 {
		return "default"
	}
	return strconv.Itoa(wc)
}

// fixed formats v with prec decimals, or "n/a" for an unknown (NaN or negative) value.
func fixed(v float64, prec int) string {
	if math.IsNaN(v) || v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func joinFixed(vs []float64, prec int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fixed(v, prec)
	}
	return strings.Join(s, ", ")
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pgExec runs one statement on the server named by -postgres, on a connection of its own:
// CREATE and DROP DATABASE cannot run inside a transaction or on the database they drop.
func (b *bench) pgExec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.o.postgres)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redacted(b.o.postgres), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// dropDatabase drops a database hookbench created. It does not follow hookbench's context,
// so that an interrupted run still cleans up; FORCE ends connections a killed replica left.
func (b *bench) dropDatabase(db string) error {
	if err := b.pgExec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		return err
	}
	b.databases = slices.DeleteFunc(b.databases, func(s string) bool { return s == db })
	return nil
}

// commitBatches adds up store_commit_batch_size's sum and count over the replicas; both
// are NaN when a replica does not tell.
func commitBatches(ctx context.Context, urls []string) (sum, count float64) {
	for _, u := range urls {
		s, c := math.NaN(), math.NaN()
		if sc, err := scrapeMetrics(ctx, u); err == nil {
			if h := sc.metric("store_commit_batch_size").GetHistogram(); h != nil {
				s, c = h.GetSampleSum(), float64(h.GetSampleCount())
			}
		}
		sum, count = sum+s, count+c
	}
	return sum, count
}

// cpuUse is CPU time over a span, in cores (seconds of CPU per second); -1 when unknown.
// postgres and nats are the local servers' processes, helper the processes a comparison
// starts beside hookvault (the receiver of -destinations); each is -1 when there is none.
type cpuUse struct {
	hookvault, postgres, nats, helper, generator, machine float64
	hookvaultTime                                         time.Duration // the measured server's CPU time over the span; -1 when unknown
}

// other is the machine's CPU time that none of the measured processes used.
func (u cpuUse) other() float64 {
	if u.machine < 0 || u.hookvault < 0 || u.generator < 0 {
		return -1
	}
	rest := u.machine - u.hookvault - u.generator
	for _, v := range []float64{u.postgres, u.nats, u.helper} {
		rest -= max(0, v) // a server that does not run here used nothing here
	}
	return max(0, rest)
}

// services are the local servers whose processes sampleCPU finds by name (/proc/PID/comm).
var services = []string{"postgres", "nats-server"}

// cpuSample is what sampleCPU read at one moment; seconds of CPU, -1 when unknown.
type cpuSample struct {
	at                      time.Time
	hookvault, self, helper float64
	services                map[string]map[int]float64 // by name, then pid
	machineBusy, machineAll float64                    // ticks of all CPUs
}

// userHZ is the unit of /proc's CPU times: 100 on every Linux architecture Go supports
// (the kernel's USER_HZ, which is not HZ).
const userHZ = 100

// sampleCPU reads the CPU time of hookvault's processes (pids), of helpers, of hookbench
// itself, of the local services and of the whole machine.
func sampleCPU(pids, helpers []int) cpuSample {
	s := cpuSample{at: time.Now(), self: procCPU(os.Getpid()), hookvault: sumOver(pids, cpuTime),
		helper: sumOver(helpers, procCPU), services: map[string]map[int]float64{}}
	if len(helpers) == 0 {
		s.helper = -1
	}
	if dir, err := os.ReadDir("/proc"); err == nil {
		for _, e := range dir {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			if name := string(bytes.TrimSpace(comm)); slices.Contains(services, name) {
				if t := procCPU(pid); t >= 0 {
					if s.services[name] == nil {
						s.services[name] = map[int]float64{}
					}
					s.services[name][pid] = t
				}
			}
		}
	}
	s.machineBusy, s.machineAll = machineTicks()
	return s
}

// since returns the CPU used from before to s. A service process that ended in between
// took its CPU time with it, so a postgres backend per connection would be missed; the
// replicas' pools keep theirs for the run.
func (s cpuSample) since(before cpuSample) cpuUse {
	secs := s.at.Sub(before.at).Seconds()
	rate := func(now, then float64) float64 {
		if now < 0 || then < 0 || secs <= 0 {
			return -1
		}
		return (now - then) / secs
	}
	u := cpuUse{hookvault: rate(s.hookvault, before.hookvault), generator: rate(s.self, before.self),
		helper: rate(s.helper, before.helper), machine: -1, hookvaultTime: -1}
	if s.hookvault >= 0 && before.hookvault >= 0 {
		u.hookvaultTime = time.Duration((s.hookvault - before.hookvault) * float64(time.Second))
	}
	service := func(name string) float64 {
		now := s.services[name]
		if len(now) == 0 || secs <= 0 {
			return -1
		}
		var t float64
		for pid, v := range now {
			t += v - before.services[name][pid] // a new process started from 0
		}
		return t / secs
	}
	u.postgres, u.nats = service("postgres"), service("nats-server")
	if all := s.machineAll - before.machineAll; all > 0 && s.machineAll > 0 && before.machineAll > 0 {
		u.machine = (s.machineBusy - before.machineBusy) / all * float64(runtime.NumCPU())
	}
	return u
}

// sumOver adds up what read reports of each process; -1 (unknown) if it does not know one.
func sumOver[T int64 | float64](pids []int, read func(pid int) T) T {
	var sum T
	for _, pid := range pids {
		v := read(pid)
		if v < 0 {
			return -1
		}
		sum += v
	}
	return sum
}

// cpuTime reads a process's CPU time in seconds from its CPU-time clock where there is one
// (see processCPU), else from /proc; -1 where there is neither.
func cpuTime(pid int) float64 {
	if d, err := processCPU(pid); err == nil {
		return d.Seconds()
	}
	return procCPU(pid)
}

// procCPU reads a process's user and system time from /proc, or -1 where there is none.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces and parentheses itself.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
	// majflt, cmajflt, utime, stime (proc(5)).
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / userHZ
}

// machineTicks reads the busy and total CPU ticks of the machine from /proc/stat; 0, 0
// where there is none. Waiting for I/O counts as idle: the CPU was free for others.
func machineTicks() (busy, all float64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(line)
	if (err != nil && err != io.EOF) || len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal; guest time is already in user.
	for i, v := range fields[1:9] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0
		}
		all += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, all
}

// intList is a flag of comma-separated positive numbers.
type intList []int

func (l intList) String() string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for part := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a list of whole numbers of 1 or more, such as 1,2", v)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
