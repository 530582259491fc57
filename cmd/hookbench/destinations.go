package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// defaultNATS is the NATS server of -destinations unless -nats names another.
const defaultNATS = "nats://127.0.0.1:4222"

// targetDestRatio is the target: with one HTTP and one NATS destination, ingest keeps
// at least this share of its requests/s without destinations.
const targetDestRatio = 0.8

// drainPoll is how often /metrics is read while deliveries drain: the drain time is known to
// about this much.
const drainPoll = 50 * time.Millisecond

// pendingWait bounds the wait for deliveries_pending to read 0 once every delivery is
// counted: the relay reads the outbox for it only every 5 s.
const pendingWait = 15 * time.Second

// natsTimeout bounds each request hookbench makes to NATS itself.
const natsTimeout = 10 * time.Second

// destNames are the destinations of the sources file, in the report's order.
var destNames = []string{"http", "nats"}

// destRun is one measured run of the destination comparison; with is with the two
// destinations.
type destRun struct {
	pairRun
	// With destinations only; problems are deliveries missing, failed or still pending.
	drain   time.Duration       // from the load's last answer to the last delivery
	lag     map[string][]bucket // delivery_lag_seconds of the measured run, by destination
	total   int                 // messages the server created, warm-up included
	got     map[string]int      // http: distinct webhook-ids the receiver got; nats: messages in the stream
	repeats int                 // requests the receiver got more than once
}

// configName names a run of the destination comparison: with the two destinations, or none.
var configName = map[bool]string{true: "http+nats", false: "none"}

// runDestinations measures hookvault without destinations and with one HTTP and one NATS
// destination, -rounds times, each run on a fresh SQLite file.
func (b *bench) runDestinations(ctx context.Context) error {
	b.header("hookvault without destinations against one HTTP and one NATS JetStream destination", b.reproduce)
	// A NATS server that is down or lacks JetStream fails here, before the build.
	var err error
	if b.nats, err = dialNATS(ctx, b.o.natsURL); err != nil {
		return err
	}
	runs, err := pairs(ctx, b, func(binary, self, secret string, round int, forward bool) (*destRun, error) {
		return b.destRun(ctx, binary, self, secret, round, forward)
	})
	if err != nil {
		return err
	}
	b.destTable(runs)
	return notClean(runs, "unexpected answers")
}

// destRun measures one configuration on a SQLite file of its own; with forward, it also
// starts the receiver, names a fresh stream, and waits until every message is delivered.
func (b *bench) destRun(ctx context.Context, binary, self, secret string, round int, forward bool) (*destRun, error) {
	o := b.o
	run := &destRun{pairRun: pairRun{round: round, with: forward}}
	name := fmt.Sprintf("round%d-%s", round, configName[forward])
	db := filepath.Join(b.dir, name+".db")
	// No balancer routes here, so the readiness delay on SIGTERM would only slow every run's end.
	env := sqliteEnv(secret, db, "SHUTDOWN_DELAY=0s")
	var recv *proc
	var recvURL, stream string
	var helpers []int
	if forward {
		var err error
		recv, recvURL, err = b.serve(ctx, name+"-receiver", self, func(addr string) ([]string, []string) {
			return []string{"receiver", "-addr", addr}, os.Environ()
		})
		if err != nil {
			return run, err
		}
		helpers = []int{recv.cmd.Process.Pid}
		token := randomHex(4)
		stream = "HOOKBENCH_" + strings.ToUpper(token)
		b.nats.streams = append(b.nats.streams, stream) // hookvault creates it on its first publish
		fmt.Fprintf(b.log, "%s: stream %s\n", name, stream)
		file := filepath.Join(b.dir, name+"-sources.yaml")
		if err := os.WriteFile(file, sourcesFile(recvURL, token), 0o600); err != nil {
			return run, err
		}
		env = append(env, "SOURCES_FILE="+file, "NATS_URL="+o.natsURL, "NATS_STREAM="+stream)
	}
	// hookvault's port is picked once the receiver listens: freeAddr may hand out a port
	// twice, and a receiver on hookvault's port would answer its readiness probe.
	vault, base, err := b.startVault(ctx, name, binary, env)
	if err != nil {
		return run, err
	}

	cfg := b.loadConfig([]byte(secret), base)
	if err := b.warmUp(ctx, name, cfg); err != nil {
		return run, err
	}
	// The warm-up's deliveries drain first: the measured run starts on an empty outbox, and
	// its lag histogram is what the run adds to this reading.
	before, _, err := b.drained(ctx, base, vault, forward)
	if err != nil {
		return run, err
	}
	rep, cpu, err := b.measured(ctx, name, cfg, []int{vault.cmd.Process.Pid}, helpers)
	if err != nil {
		return run, err
	}
	end := time.Now()
	run.cpu, run.res = cpu, result{name: name, rep: rep, rss: peakRSS(vault.cmd.Process.Pid)}

	if forward {
		fmt.Fprintf(b.log, "%s: waiting for the deliveries (at most -drain-max %s)\n", name, o.drainMax)
		after, at, err := b.drained(ctx, base, vault, true)
		if err != nil {
			return run, err
		}
		run.drain = max(0, at.Sub(end))
		fmt.Fprintf(b.log, "%s: every message delivered %s after the load\n", name, loadgen.Round(run.drain))
		run.lag = map[string][]bucket{}
		for _, d := range destNames {
			run.lag[d] = bucketsSince(after.buckets("delivery_lag_seconds", "destination", d),
				before.buckets("delivery_lag_seconds", "destination", d))
		}
		if err := b.verify(ctx, base, recvURL, stream, after, run); err != nil {
			return run, err
		}
	}

	errs := []error{vault.stop()}
	if recv != nil {
		errs = append(errs, recv.stop())
	}
	if err := errors.Join(errs...); err != nil || o.keep {
		return run, err // cleanup tells what -keep kept
	}
	if forward {
		if err := b.nats.delete(stream); err != nil {
			return run, err
		}
	}
	return run, removeSQLite(db)
}

// sourcesFile declares the two destinations: the receiver, and a NATS subject with a token
// of the run, so that a stream left by an interrupted run (or another hookbench on the same
// server) cannot take the same subjects.
func sourcesFile(receiver, token string) []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return fmt.Appendf(nil, `# Written by hookbench for one run: every message goes to both destinations.
destinations:
  - name: http
    url: %s/hook
    secret: "whsec_%s"
  - name: nats
    nats_subject: "bench.%s.{source}"
`, receiver, base64.StdEncoding.EncodeToString(key), token)
}

// drained reads /metrics until every message the server created has been delivered (or
// failed) to each destination, and returns that reading and when it was taken. Without
// destinations it reads once.
func (b *bench) drained(ctx context.Context, base string, vault *proc, forward bool) (s scrape, at time.Time, err error) {
	var created float64
	var short []string
	err = poll(ctx, drainPoll, b.o.drainMax, vault, func() (bool, error) {
		var err error
		s, err = scrapeMetrics(ctx, base)
		at, short = time.Now(), nil
		created = s.value("webhook_messages_received_total", "source", "default")
		for _, d := range destNames {
			done := s.value("delivery_attempts_total", "destination", d, "outcome", "delivered") +
				s.value("delivery_attempts_total", "destination", d, "outcome", "failed")
			if !(done >= created) { // NaN (a series missing) counts as not done
				short = append(short, fmt.Sprintf("%s %.0f", d, done))
			}
		}
		return !forward || len(short) == 0, err
	})
	if errors.Is(err, errTimedOut) {
		err = fmt.Errorf("%s: after -drain-max %s, of %.0f messages delivered: %s; its log ends:\n%s",
			vault.name, b.o.drainMax, created, strings.Join(short, ", "), vault.tail())
	}
	return s, at, err
}

// verify checks a drained run from the other side: the receiver got every message, the
// stream holds every one, nothing failed, and the outbox reads empty.
func (b *bench) verify(ctx context.Context, base, recvURL, stream string, s scrape, run *destRun) error {
	run.total = int(s.value("webhook_messages_received_total", "source", "default"))
	for _, d := range destNames {
		if f := s.value("delivery_attempts_total", "destination", d, "outcome", "failed"); f > 0 {
			run.problems = append(run.problems, fmt.Sprintf("%.0f deliveries to %s failed", f, d))
		}
	}
	c, err := receiverCounts(ctx, recvURL)
	if err != nil {
		return err
	}
	n, err := b.nats.count(ctx, stream)
	if err != nil {
		return err
	}
	run.got = map[string]int{"http": c.Distinct, "nats": n}
	run.repeats = c.Requests - c.Distinct
	if c.Distinct < 0 {
		run.got["http"], run.repeats = c.Requests, 0
	}
	for _, d := range destNames {
		if run.got[d] < run.total {
			run.problems = append(run.problems, fmt.Sprintf("%s got %d of %d messages", d, run.got[d], run.total))
		}
	}
	// deliveries_pending is read from the outbox, the truth the counters above only mirror.
	var left []string
	err = poll(ctx, 250*time.Millisecond, pendingWait, nil, func() (bool, error) {
		left = nil
		for _, d := range destNames {
			if p := s.value("deliveries_pending", "destination", d); !(p == 0) {
				left = append(left, fmt.Sprintf("%s %.0f", d, p))
			}
		}
		if len(left) == 0 {
			return true, nil
		}
		var err error
		s, err = scrapeMetrics(ctx, base) // for the next look
		return false, err
	})
	if errors.Is(err, errTimedOut) {
		run.problems = append(run.problems, "deliveries_pending still "+strings.Join(left, ", "))
		return nil
	}
	return err
}

// seconds shows a duration in seconds rounded as loadgen rounds latencies; "n/a" for NaN.
func seconds(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return loadgen.Round(time.Duration(v * float64(time.Second))).String()
}

func lagQuantile(r *destRun, d string, q float64) float64 {
	v, _, _ := quantile(q, r.lag[d])
	return v
}

func (b *bench) destTable(runs []*destRun) {
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tdestinations\trequests/s\tp50\tp99\terrors\tdrain\tlag http p50\tp99\tlag nats p50\tp99\tcores: hookvault\tnats\treceiver\tgenerator\tother\tall\tvs none\t\n")
	for _, r := range runs {
		l := r.res.rep.Latency
		cells := []string{"-", "-", "-", "-", "-"}
		if r.with {
			cells = []string{loadgen.Round(r.drain).String()}
			for _, d := range destNames {
				cells = append(cells, seconds(lagQuantile(r, d, 0.5)), seconds(lagQuantile(r, d, 0.99)))
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t\n",
			r.round, configName[r.with], r.res.rep.Throughput, loadgen.Round(l.P50), loadgen.Round(l.P99), r.res.rep.Unexpected,
			strings.Join(cells, "\t"), r.cpu.cores(r.cpu.hookvault, r.cpu.nats, r.cpu.helper, r.cpu.generator), fixed(r.ratio, 2))
	}
	_ = tw.Flush()

	fmt.Fprintf(b.out, "\ndrain: from the load's last answer until /metrics counted every message delivered to both\n")
	fmt.Fprintf(b.out, "  destinations (read every %s).\n", drainPoll)
	fmt.Fprintf(b.out, "lag: delivery_lag_seconds (commit to acknowledgement) of the measured run's messages, p50 and\n")
	fmt.Fprintf(b.out, "  p99 interpolated inside the histogram's buckets as histogram_quantile does: bucket-bounded,\n")
	fmt.Fprintf(b.out, "  a value is only known to lie in its bucket (shown with the medians).\n")
	fmt.Fprintf(b.out, "cores: CPU time over the measured run's length, of %d: hookvault, nats-server, the receiver,\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  hookbench's own load generator, everything else, and the whole machine.\n")
	for _, r := range runs {
		if r.with {
			fmt.Fprintf(b.out, "%s: %d messages (warm-up included); the receiver got %d (%d repeated), the stream holds %d\n",
				r.res.name, r.total, r.got["http"], r.repeats, r.got["nats"])
		}
	}
	warnNoisy(b, runs)

	fmt.Fprintf(b.out, "\nmedians over %d round(s):\n", b.o.rounds)
	mtw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(mtw, "destinations\trequests/s\tp50\tp99\tdrain\tlag http p50\tp99 (its bucket)\tlag nats p50\tp99 (its bucket)\t\n")
	for _, forward := range []bool{false, true} {
		these, m := medians(runs, forward)
		if len(these) == 0 {
			continue
		}
		cells := []string{"-", "-", "-", "-", "-"}
		if forward {
			var drain []float64
			lags := map[string][2][]float64{}
			for _, r := range these {
				drain = append(drain, r.drain.Seconds())
				for _, d := range destNames {
					q := lags[d]
					q[0], q[1] = append(q[0], lagQuantile(r, d, 0.5)), append(q[1], lagQuantile(r, d, 0.99))
					lags[d] = q
				}
			}
			cells = []string{seconds(median(drain))}
			for _, d := range destNames {
				m99 := median(lags[d][1])
				cells = append(cells, seconds(median(lags[d][0])), seconds(m99)+" ("+bucketOf(m99, these[len(these)-1].lag[d])+")")
			}
		}
		fmt.Fprintf(mtw, "%s\t%.0f\t%s\t%s\t%s\t\n", configName[forward], m.Throughput,
			loadgen.Round(m.Latency.P50), loadgen.Round(m.Latency.P99), strings.Join(cells, "\t"))
	}
	_ = mtw.Flush()
	ratioTarget(b, runs, "http+nats/none of requests/s", targetDestRatio)
}

// bucketOf names the bucket of bs that holds v, as "lo–hi".
func bucketOf(v float64, bs []bucket) string {
	if math.IsNaN(v) || len(bs) == 0 {
		return "n/a"
	}
	lo := 0.0
	for _, b := range bs {
		if v <= b.upper {
			return seconds(lo) + "–" + seconds(b.upper)
		}
		lo = b.upper
	}
	return "n/a"
}

// natsConn is hookbench's own connection to NATS: to check JetStream before the build, to
// count what a run's stream holds, and to delete the streams the runs made.
type natsConn struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	streams []string // named for a run and not deleted yet
}

func dialNATS(ctx context.Context, u string) (*natsConn, error) {
	nc, err := nats.Connect(u, nats.Name("hookbench"), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("NATS at %s: %w (start one with `nats-server -js`, or name another with -nats)", u, err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, natsTimeout)
		defer cancel()
		_, err = js.AccountInfo(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w (nats-server needs -js)", u, err)
	}
	return &natsConn{nc: nc, js: js}, nil
}

// count returns the number of messages in stream; 0 if hookvault never created it.
func (n *natsConn) count(ctx context.Context, stream string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	st, err := n.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return int(info.State.Msgs), nil
}

// delete removes a run's stream. It does not follow hookbench's context, so that an
// interrupted run still cleans up.
func (n *natsConn) delete(stream string) error {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	if err := n.js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream %s: %w", stream, err)
	}
	n.streams = slices.DeleteFunc(n.streams, func(s string) bool { return s == stream })
	return nil
}

// close deletes the streams not deleted yet (unless keep) and disconnects.
func (n *natsConn) close(keep bool, log io.Writer) error {
	defer n.nc.Close()
	if len(n.streams) == 0 {
		return nil
	}
	if keep {
		fmt.Fprintf(log, "kept NATS streams %s\n", strings.Join(n.streams, ", "))
		return nil
	}
	var errs []error
	for _, s := range slices.Clone(n.streams) {
		errs = append(errs, n.delete(s))
	}
	return errors.Join(errs...)
}
