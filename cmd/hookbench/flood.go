package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// targetFloodRatio is the target: real deliveries keep at least this share of their
// requests/s while a flood of forged ones is refused and journaled beside them.
const targetFloodRatio = 0.8

// floodFrom is the one client address the forged deliveries come from: not the real
// senders' 127.0.0.1, so that the server's per-client bounds see an attacker of its own.
const floodFrom = "127.0.0.2"

// settleWait bounds the wait for the journal to store (or count as dropped) every forged
// delivery the server answered, after the flood has stopped.
const settleWait = 30 * time.Second

// floodRun is one measured run of the flood comparison; with is with the forged deliveries
// beside the real ones.
type floodRun struct {
	pairRun
	// With the flood only.
	gen      loadgen.Report // the flood generator's own
	forged   int            // 401s the server counted: webhook_requests_total{source="default",result="invalid_signature"}
	recorded int            // entries the journal stored: its newest rid, on a fresh SQLite file
	dropped  int            // webhook_rejections_dropped_total
	rows     int            // journal rows once every entry is stored
	pruned   int            // journal rows after a restart's prune
}

// floodName names a run of the flood comparison: real deliveries beside the flood, or alone.
var floodName = map[bool]string{true: "flood", false: "alone"}

// runFlood measures real deliveries alone and beside a flood of forged ones, -rounds times,
// each run on a fresh SQLite file.
func (b *bench) runFlood(ctx context.Context) error {
	b.header("real deliveries alone against beside a flood of forged ones from one client", b.reproduce)
	runs, err := pairs(ctx, b, func(binary, self, secret string, round int, flood bool) (*floodRun, error) {
		return b.floodRun(ctx, binary, self, secret, round, flood)
	})
	if err != nil {
		return err
	}
	b.floodTable(runs)
	return notClean(runs, "unexpected answers to real deliveries")
}

// floodRun measures one configuration on a SQLite file of its own. With flood, the forged
// deliveries start before the measured run and stop after it; then the journal is read
// until it accounts for every one, and the server is restarted on the same file so that
// the recorder's prune at start shows the row bound.
func (b *bench) floodRun(ctx context.Context, binary, self, secret string, round int, flood bool) (*floodRun, error) {
	o := b.o
	run := &floodRun{pairRun: pairRun{round: round, with: flood}}
	name := fmt.Sprintf("round%d-%s", round, floodName[flood])
	db := filepath.Join(b.dir, name+".db")
	env := sqliteEnv(secret, db, "SHUTDOWN_DELAY=0s", "REJECTION_MAX_ROWS="+strconv.Itoa(o.maxRows))
	vault, base, err := b.startVault(ctx, name, binary, env)
	if err != nil {
		return run, err
	}

	cfg := b.loadConfig([]byte(secret), base)
	if err := b.warmUp(ctx, name, cfg); err != nil {
		return run, err
	}
	var flooder *proc
	var helpers []int
	report := filepath.Join(b.dir, name+"-flood.json")
	if flood {
		// The flood's own limit is a backstop: hookbench stops it after the measured run.
		args := []string{"flood", "-url", base, "-from", floodFrom, "-c", strconv.Itoa(o.floodConns),
			"-max-run", (2*o.maxRun + readyTimeout).String(), "-report", report}
		if flooder, err = b.start(name+"-flood", self, args, os.Environ()); err != nil {
			return run, err
		}
		helpers = []int{flooder.cmd.Process.Pid}
		if err := waitForged(ctx, base, flooder); err != nil {
			return run, err
		}
	}
	rep, cpu, err := b.measured(ctx, name, cfg, []int{vault.cmd.Process.Pid}, helpers)
	if err != nil {
		return run, err
	}
	run.cpu = cpu

	if flood {
		if err := flooder.stop(); err != nil {
			return run, err
		}
		if run.gen, err = readFloodReport(report); err != nil {
			return run, fmt.Errorf("%s: %w; its log ends:\n%s", flooder.name, err, flooder.tail())
		}
		if err := b.settle(ctx, base, db, run); err != nil {
			return run, err
		}
	}
	run.res = result{name: name, rep: rep, rss: peakRSS(vault.cmd.Process.Pid)}
	if err := vault.stop(); err != nil {
		return run, err
	}

	if flood {
		if err := b.pruneAtStart(ctx, binary, name, env, db, run); err != nil {
			return run, err
		}
	}
	if o.keep {
		return run, nil
	}
	// A run's file holds tens of thousands of journal entries; the next runs need the disk more.
	return run, removeSQLite(db)
}

// waitForged waits until the server has refused a forged delivery, so that the measured run
// starts with the flood under way.
func waitForged(ctx context.Context, base string, flooder *proc) error {
	err := poll(ctx, drainPoll, readyTimeout, flooder, func() (bool, error) {
		s, err := scrapeMetrics(ctx, base)
		return s.value("webhook_requests_total", "source", "default", "result", "invalid_signature") > 0, err
	})
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("no forged delivery refused within %s of the flood's start; its log ends:\n%s", readyTimeout, flooder.tail())
	}
	return err
}

// settle reads /metrics and the journal until every forged delivery the server answered is
// either stored or counted as dropped, twice in a row (a request the flood abandoned may
// still be in the server when it stops).
func (b *bench) settle(ctx context.Context, base, db string, run *floodRun) error {
	matched := 0
	err := poll(ctx, drainPoll, settleWait, nil, func() (bool, error) {
		s, err := scrapeMetrics(ctx, base)
		if err != nil {
			return false, err
		}
		run.forged = int(s.value("webhook_requests_total", "source", "default", "result", "invalid_signature"))
		run.dropped = int(s.value("webhook_rejections_dropped_total"))
		if run.rows, run.recorded, err = journalCounts(ctx, db); err != nil {
			return false, err
		}
		matched++
		if run.recorded+run.dropped != run.forged {
			matched = 0
		}
		return matched == 2, nil
	})
	if errors.Is(err, errTimedOut) {
		run.problems = append(run.problems, fmt.Sprintf("after %s, %d forged answered but %d recorded + %d dropped",
			settleWait, run.forged, run.recorded, run.dropped))
		return nil
	}
	return err
}

// pruneAtStart restarts the server on the run's file and waits for the recorder's first
// prune, which runs at start: the journal then holds REJECTION_MAX_ROWS rows. (The next one
// would come a minute later; no setting makes it sooner.)
func (b *bench) pruneAtStart(ctx context.Context, binary, name string, env []string, db string, run *floodRun) error {
	p, _, err := b.startVault(ctx, name+"-restart", binary, env)
	if err != nil {
		return err
	}
	want := min(run.recorded, b.o.maxRows)
	err = poll(ctx, drainPoll, settleWait, nil, func() (done bool, err error) {
		run.pruned, _, err = journalCounts(ctx, db)
		return run.pruned <= want, err
	})
	if errors.Is(err, errTimedOut) {
		run.problems = append(run.problems, fmt.Sprintf("%d journal rows %s after a restart, over REJECTION_MAX_ROWS %d",
			run.pruned, settleWait, b.o.maxRows))
		err = nil
	}
	return errors.Join(err, p.stop())
}

// journalCounts reads the journal's rows and how many entries were ever appended to it: on
// a fresh file, the newest rid, which AUTOINCREMENT never hands out twice nor leaves a gap
// in (a refused batch rolls its rids back and is counted as dropped).
func journalCounts(ctx context.Context, path string) (rows, appended int, err error) {
	var seq sql.NullInt64
	err = queryRO(ctx, path, `SELECT (SELECT count(*) FROM rejections),
		(SELECT seq FROM sqlite_sequence WHERE name = 'rejections')`, nil, &rows, &seq)
	if err != nil {
		return 0, 0, fmt.Errorf("read the journal of %s: %w", path, err)
	}
	return rows, int(seq.Int64), nil
}

func (b *bench) floodTable(runs []*floodRun) {
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\treal\trequests/s\tp50\tp99\tmax\terrors\tflood req/s\tpeak RSS\tcores: hookvault\tflood\tgenerator\tother\tall\tvs alone\t\n")
	for _, r := range runs {
		l := r.res.rep.Latency
		ftput := "-"
		if r.with {
			ftput = fmt.Sprintf("%.0f", r.gen.Throughput)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n",
			r.round, floodName[r.with], r.res.rep.Throughput, loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max),
			r.res.rep.Unexpected, ftput, mib(r.res.rss), r.cpu.cores(r.cpu.hookvault, r.cpu.helper, r.cpu.generator), fixed(r.ratio, 2))
	}
	_ = tw.Flush()
	fmt.Fprintf(b.out, "\nflood req/s: the forged deliveries' own rate over their whole run, from %s over -flood-c\n", floodFrom)
	fmt.Fprintf(b.out, "  connections; each is answered 401, or 503 once the address is shed for failing its\n")
	fmt.Fprintf(b.out, "  signatures (MAX_CLIENT_SIGNATURE_FAILURES).\n")
	fmt.Fprintf(b.out, "cores: CPU time over the measured run's length, of %d: hookvault, the flood's generator,\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  hookbench's own generator of real deliveries, everything else, and the whole machine.\n")
	warnNoisy(b, runs)

	fmt.Fprintf(b.out, "\nthe journal (REJECTION_MAX_ROWS %d):\n", b.o.maxRows)
	jw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(jw, "round\tforged sent\t401s\tother answers\tanswered (server)\trecorded\tdropped\trecorded+dropped\trows after load\tafter prune\t\n")
	for _, r := range runs {
		if r.with {
			fmt.Fprintf(jw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.round, r.gen.Sent, r.gen.Rejected, r.gen.Unexpected,
				r.forged, r.recorded, r.dropped, r.recorded+r.dropped, r.rows, r.pruned)
		}
	}
	_ = jw.Flush()
	fmt.Fprintf(b.out, "forged sent, 401s, other answers: the flood's own count (requests in flight when it was\n")
	fmt.Fprintf(b.out, "  stopped are not in it); answered: the server's invalid_signature count; recorded: entries\n")
	fmt.Fprintf(b.out, "  stored (the newest rid); dropped: webhook_rejections_dropped_total. Rows after load: once\n")
	fmt.Fprintf(b.out, "  every entry is stored or dropped, whatever the recorder pruned meanwhile; after prune: after\n")
	fmt.Fprintf(b.out, "  a restart on the same file, whose prune at start leaves nine tenths of REJECTION_MAX_ROWS.\n")
	for _, r := range runs {
		for _, s := range r.gen.Samples {
			fmt.Fprintf(b.out, "%s flood: %s\n", r.res.name, s)
		}
	}

	fmt.Fprintf(b.out, "\nmedians over %d round(s):\n", b.o.rounds)
	mtw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(mtw, "real\trequests/s\tp50\tp99\tmax\tpeak RSS\tflood req/s\t\n")
	for _, flood := range []bool{false, true} {
		these, m := medians(runs, flood)
		var rss, ftput []float64
		for _, r := range these {
			rss, ftput = append(rss, float64(r.res.rss)), append(ftput, r.gen.Throughput)
		}
		f := "-"
		if flood {
			f = fmt.Sprintf("%.0f", median(ftput))
		}
		fmt.Fprintf(mtw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", floodName[flood], m.Throughput, loadgen.Round(m.Latency.P50),
			loadgen.Round(m.Latency.P99), loadgen.Round(m.Latency.Max), mib(int64(median(rss))), f)
	}
	_ = mtw.Flush()
	ratioTarget(b, runs, "flood/alone of real requests/s", targetFloodRatio)
}

// readFloodReport reads the report the flood's generator wrote when it stopped.
func readFloodReport(path string) (r loadgen.Report, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return r, fmt.Errorf("the flood's report: %w", err)
	}
	return r, nil
}

// runFloodChild sends forged deliveries (signed with a key the server does not have) from
// one client address as fast as they are answered, until SIGTERM or -max-run, then writes
// its count to -report. It runs as a process of its own, a second load generator beside
// hookbench's, so that its CPU is told apart from the real deliveries' generator.
func runFloodChild(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hookbench flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "hookvault's base URL")
	from := fs.String("from", floodFrom, "the loopback address to send from")
	conns := fs.Int("c", loadgen.DefaultConcurrency, "connections")
	maxRun := fs.Duration("max-run", time.Minute, "stop after this long")
	report := fs.String("report", "", "write the count here as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The raw engine cannot pick its local address, so the flood goes through
	// net/http: it costs the flood more CPU per request, which the cores column shows.
	client := loadgen.NewClient(*conns, 30*time.Second)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*from)}, Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	client.Transport.(*http.Transport).DialContext = d.DialContext
	rep, err := loadgen.Run(ctx, loadgen.Config{
		URL: *base, Secret: []byte(randomHex(16)), Concurrency: *conns, Duration: *maxRun,
		BadSignatureShare: 1, Client: client,
	}, nil)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "flood: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "flood: %d forged deliveries in %s (%.0f/s), %d answered 401, %d otherwise\n",
		rep.Sent, loadgen.Round(rep.Duration), rep.Throughput, rep.Rejected, rep.Unexpected)
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(*report, b, 0o600); err != nil {
		fmt.Fprintf(stderr, "flood: %v\n", err)
		return 1
	}
	return 0
}
