package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// The filled messages arrived oldAge ago, and the server keeps messages for retainFor: old
// enough for the pass to delete every one of them, and none of those the steady load sends.
const (
	oldAge    = 2 * time.Hour
	retainFor = time.Hour
)

// passLine is the message of the log line that ends a retention pass that deleted anything.
const passLine = "retention: deleted old messages"

// retentionRun is one measured run of the retention comparison; with is with RETENTION
// set, so that a pass deletes the old messages during the load.
type retentionRun struct {
	pairRun
	// With the pass only.
	passTook time.Duration // from the server's start to the pass's log line
	deleted  int           // as the log line says
	// oldLeft is the old messages still stored after the run: 0 with the pass, all without.
	oldLeft int
	gauge   float64 // store_messages after the load
}

// passName names a run of the retention comparison: with a retention pass, or none.
var passName = map[bool]string{true: "pass", false: "none"}

// runRetention measures POST /webhook at a steady rate while a retention pass deletes -old
// messages, against the same load on the same messages without a pass, -rounds times.
func (b *bench) runRetention(ctx context.Context) error {
	b.header("POST /webhook at a steady rate during a retention pass against without one", b.reproduce)
	runs, err := pairs(ctx, b, func(binary, _, secret string, round int, pass bool) (*retentionRun, error) {
		return b.retentionRun(ctx, binary, secret, round, pass)
	})
	if err != nil {
		return err
	}
	b.retentionTable(runs)
	return notClean(runs, "unexpected answers")
}

// retentionRun fills a fresh SQLite file with -old messages that arrived oldAge ago and
// starts the server on it. With pass, RETENTION makes its first pass, at start, delete them
// all, and the steady load runs until the pass's log line; without, the load runs
// -steady-for.
func (b *bench) retentionRun(ctx context.Context, binary, secret string, round int, pass bool) (*retentionRun, error) {
	o := b.o
	run := &retentionRun{pairRun: pairRun{round: round, with: pass}}
	name := fmt.Sprintf("round%d-%s", round, passName[pass])
	db := filepath.Join(b.dir, name+".db")
	if err := b.fill(ctx, db, name); err != nil {
		return run, err
	}
	env := sqliteEnv(secret, db, "SHUTDOWN_DELAY=0s", "LOG_FORMAT=json")
	if pass {
		env = append(env, "RETENTION="+retainFor.String())
	}
	started := time.Now()
	vault, base, err := b.startVault(ctx, name, binary, env)
	if err != nil {
		return run, err
	}

	// The pass began with the server; the load starts as soon as it answers, and with the
	// pass, ends with it, so that every latency measured is one the pass could have touched.
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := b.loadConfig([]byte(secret), base)
	cfg.Rate, cfg.Duration = o.rate, o.steadyFor
	var ended passEnd
	var watch sync.WaitGroup
	if pass {
		cfg.Duration = o.maxRun
		if e, ok := passEnded(vault.logPath); ok {
			run.problems = append(run.problems, fmt.Sprintf("the pass ended %s after the start, before the load began: raise -old",
				loadgen.Round(e.at.Sub(started))))
			ended = e
		} else {
			watch.Go(func() {
				ended = watchPass(loadCtx, vault)
				cancel()
			})
		}
	}
	fmt.Fprintf(b.log, "%s: %.0f requests/s, %s\n", name, o.rate, map[bool]string{true: "until the pass ends", false: "for " + o.steadyFor.String()}[pass])
	pids := []int{vault.cmd.Process.Pid}
	cpu0 := sampleCPU(pids, nil)
	rep, err := loadgen.Run(loadCtx, cfg, nil)
	run.cpu = sampleCPU(pids, nil).since(cpu0)
	cancel()
	watch.Wait()
	if err != nil && ctx.Err() != nil {
		return run, ctx.Err()
	}
	run.res = result{name: name, rep: rep}
	if pass {
		switch {
		case ended.at.IsZero():
			run.problems = append(run.problems, fmt.Sprintf("no %q line within -max-run %s", passLine, o.maxRun))
		default:
			run.passTook, run.deleted = ended.at.Sub(started), ended.deleted
		}
		if run.deleted != o.old {
			run.problems = append(run.problems, fmt.Sprintf("the pass deleted %d messages, want %d", run.deleted, o.old))
		}
	}
	if s, err := scrapeMetrics(ctx, base); err == nil {
		run.gauge = s.value("store_messages")
	}
	run.res.rss = peakRSS(vault.cmd.Process.Pid)
	if err := vault.stop(); err != nil {
		return run, err
	}
	if run.oldLeft, err = countOld(ctx, db); err != nil {
		return run, err
	}
	if want := map[bool]int{true: 0, false: o.old}[pass]; run.oldLeft != want {
		run.problems = append(run.problems, fmt.Sprintf("%d old messages left, want %d", run.oldLeft, want))
	}
	if o.keep {
		return run, nil
	}
	return run, removeSQLite(db)
}

// fill stores -old messages into a new SQLite file through the store itself, with a clock
// set oldAge back: the same rows, indexes and counters that receiving them would leave, in
// seconds instead of a load run's minutes. Many inserters at once make group commit write
// them in large batches.
func (b *bench) fill(ctx context.Context, path, name string) error {
	start := time.Now()
	st, err := sqlite.Open(ctx, path, sqlite.Options{
		Synchronous: "NORMAL", // the file is for one run: a power cut is not a concern
		Now:         func() time.Time { return time.Now().Add(-oldAge) },
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	prefix := loadgen.RandomPrefix()
	var next atomic.Int64
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.o.old); i = next.Add(1) {
				id := prefix + "-" + strconv.FormatInt(i, 10)
				content := fillContents[i%int64(len(fillContents))]
				payload, _ := json.Marshal(map[string]string{"id": id, "sender": prefix, "content": content})
				_, err := st.Insert(ctx, hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: prefix,
					Content: content, ContentType: "application/json", Payload: payload})
				if err != nil {
					errs <- fmt.Errorf("fill %s: %w", path, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	err = errors.Join(<-errs, st.Close())
	if err == nil {
		fmt.Fprintf(b.log, "%s: %d old messages stored in %s\n", name, b.o.old, loadgen.Round(time.Since(start)))
	}
	return err
}

// fillContents vary the old messages' sizes as loadgen varies the ones it sends.
var fillContents = []string{
	"hello",
	"order.created: 3 items, total 42.50 EUR",
	strings.Repeat("The quick brown fox jumps over the lazy dog. ", 6),
}

// passEnd is the log line of a retention pass that deleted something.
type passEnd struct {
	at      time.Time
	deleted int
}

// passEnded looks for the pass's line in a server's JSON log.
func passEnded(logPath string) (passEnd, bool) {
	f, err := os.Open(logPath)
	if err != nil {
		return passEnd{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Time    time.Time
			Msg     string
			Deleted int
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == passLine {
			return passEnd{at: l.Time, deleted: l.Deleted}, true
		}
	}
	return passEnd{}, false
}

// watchPass polls the server's log for the pass's line until it appears, the server exits
// or ctx ends.
func watchPass(ctx context.Context, p *proc) (e passEnd) {
	_ = poll(ctx, 20*time.Millisecond, 0, p, func() (ok bool, _ error) {
		e, ok = passEnded(p.logPath)
		return ok, nil
	})
	return e
}

// countOld counts the messages that arrived before the retention's cutoff.
func countOld(ctx context.Context, path string) (n int, err error) {
	cutoff := time.Now().Add(-retainFor).UnixNano()
	if err := queryRO(ctx, path, `SELECT count(*) FROM messages WHERE received_at < ?`, []any{cutoff}, &n); err != nil {
		return 0, fmt.Errorf("count old messages in %s: %w", path, err)
	}
	return n, nil
}

func (b *bench) retentionTable(runs []*retentionRun) {
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tretention\trequests/s\tsent\tp50\tp99\tmax\terrors\tload for\tpass took\tdeleted\told left\tstore_messages\tpeak RSS\tcores: hookvault\tgenerator\tother\tall\t\n")
	for _, r := range runs {
		rep, l := r.res.rep, r.res.rep.Latency
		took, deleted := "-", "-"
		if r.with {
			took, deleted = loadgen.Round(r.passTook).String(), strconv.Itoa(r.deleted)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n",
			r.round, passName[r.with], rep.Throughput, rep.Sent, loadgen.Round(l.P50), loadgen.Round(l.P99), loadgen.Round(l.Max),
			rep.Unexpected, loadgen.Round(rep.Duration), took, deleted, r.oldLeft, fixed(r.gauge, 0), mib(r.res.rss),
			r.cpu.cores(r.cpu.hookvault, r.cpu.generator))
	}
	_ = tw.Flush()
	fmt.Fprintf(b.out, "\npass took: from the server's start to its %q line (the pass begins at\n", passLine)
	fmt.Fprintf(b.out, "  start); load for: the steady load's length, from readiness to that line with a pass.\n")
	fmt.Fprintf(b.out, "old left: messages older than RETENTION %s still stored after the run; store_messages: the gauge\n", retainFor)
	fmt.Fprintf(b.out, "  after the load, as the pass's end left it.\n")
	fmt.Fprintf(b.out, "cores: CPU time over the load's length, of %d: hookvault, hookbench's generator, everything\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  else, and the whole machine.\n")
	warnNoisy(b, runs)

	fmt.Fprintf(b.out, "\nmedians over %d round(s):\n", b.o.rounds)
	mtw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(mtw, "retention\trequests/s\tp50\tp99\tmax\tpass took\t\n")
	p99s := map[bool]float64{}
	for _, pass := range []bool{false, true} {
		these, m := medians(runs, pass)
		var took []float64
		for _, r := range these {
			took = append(took, r.passTook.Seconds())
		}
		t := "-"
		if pass {
			t = seconds(median(took))
		}
		p99s[pass] = m.Latency.P99.Seconds()
		fmt.Fprintf(mtw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", passName[pass], m.Throughput,
			loadgen.Round(m.Latency.P50), loadgen.Round(m.Latency.P99), loadgen.Round(m.Latency.Max), t)
	}
	_ = mtw.Flush()
	fmt.Fprintf(b.out, "\np99 during a pass of %d deletions: %s against %s without (%.1f×)\n",
		b.o.old, seconds(p99s[true]), seconds(p99s[false]), p99s[true]/p99s[false])
}
