package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/loadgen"
)

// verifyConcurrency bounds the reads of --verify: enough to finish a large run quickly,
// few enough not to crowd out the server's writer while other load may still run.
const verifyConcurrency = 16

type bulkCmd struct {
	serverFlags
	secretFlag
	tokenFlag

	Count         int           `short:"n" default:"1000" help:"Requests to send, duplicates and bad signatures included; 0 sends until --duration ends."`
	Concurrency   int           `short:"c" default:"64" help:"Requests in flight at once, each on its own kept-alive connection."`
	Rate          float64       `placeholder:"N" help:"At most N requests per second in all (default: as fast as the server answers)."`
	Duplicates    float64       `placeholder:"SHARE" help:"Share of requests, 0 to 1, that re-send an acked message; hookvault answers those 200 with duplicate:true."`
	BadSignatures float64       `placeholder:"SHARE" help:"Share of requests, 0 to 1, signed with a wrong key; hookvault answers those 401."`
	Duration      time.Duration `placeholder:"D" help:"Stop sending after D (e.g. 30s), or at --count, whichever comes first."`
	Prefix        string        `placeholder:"PREFIX" help:"Ids are PREFIX-1, PREFIX-2, … and PREFIX is the sender (default: run-<10 random hex>, new on every call)."`
	Verify        bool          `help:"Afterwards read every acked message back through the read API (needs the token) and check it is stored once, byte for byte as sent."`
}

func (c *bulkCmd) Help() string {
	return `Sends signed webhooks from --concurrency workers, each with one request in flight on its
own kept-alive connection, and prints throughput, latency percentiles and the answers by
status. Every message has a new id (PREFIX-N) unless it is one of the --duplicates, which
re-send a message already acked. A request whose answer is not the one hookvault gives for
it (200 duplicate:false for a new id, 200 duplicate:true for a duplicate, 401 for a
--bad-signatures one) is unexpected, 503s and transport errors included; any unexpected
answer makes hookctl exit 1. --timeout bounds each request. Requests go through Go's
net/http client, so https:// URLs and the proxy variables (HTTPS_PROXY, HTTP_PROXY,
NO_PROXY; never used for a loopback address) work as for any client; a redirect is
reported, not followed.

hookvault sheds a client address that causes more than MAX_CLIENT_SIGNATURE_FAILURES refused
signatures a second (20 by default): beyond a few --bad-signatures a second, run the server
with MAX_CLIENT_SIGNATURE_FAILURES=0 for the test, or every request is answered 503.

A progress bar shows on a terminal; otherwise a line every 10% (or every 5 seconds).`
}

func (c *bulkCmd) Validate() error {
	switch {
	case c.Count < 0:
		return errors.New("--count must not be negative")
	case c.Count == 0 && c.Duration <= 0:
		return errors.New("--count 0 sends until --duration ends; give a --duration too")
	case c.Concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0): // NaN too
		return errors.New("--rate must be a number of requests per second, 0 or more")
	case !(c.Duplicates >= 0 && c.Duplicates <= 1):
		return errors.New("--duplicates must be a share between 0 and 1")
	case !(c.BadSignatures >= 0 && c.BadSignatures <= 1):
		return errors.New("--bad-signatures must be a share between 0 and 1")
	case c.Duplicates+c.BadSignatures > 1:
		return errors.New("--duplicates and --bad-signatures add up to more than 1")
	case c.Duration < 0:
		return errors.New("--duration must not be negative")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

func (c *bulkCmd) Run(s *streams) error {
	key, err := c.key()
	if err != nil {
		return err
	}
	// The read client is made before the load, so that a missing token or a bad URL stops
	// the call before it sends anything.
	var reader *gen.ClientWithResponses
	var shown string
	if c.Verify {
		token, err := c.token()
		if err != nil {
			return err
		}
		// A pool as large as the verifying workers, closed at the end: the default keeps
		// two idle connections, so the rest would be dialled again and again.
		hc := loadgen.NewClient(verifyConcurrency, c.Timeout)
		defer hc.CloseIdleConnections()
		reader, shown, err = c.client(gen.WithBearerToken(token), gen.WithHTTPClient(hc))
		if err != nil {
			return err
		}
	} else if _, shown, err = c.client(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cfg := loadgen.Config{
		URL:               c.URL,
		Secret:            key,
		Count:             c.Count,
		Duration:          c.Duration,
		Concurrency:       c.Concurrency,
		Rate:              c.Rate,
		DuplicateShare:    c.Duplicates,
		BadSignatureShare: c.BadSignatures,
		Prefix:            c.Prefix,
		Timeout:           c.Timeout,
		KeepAcked:         c.Verify,
	}
	prog := newProgress(s.stderr, c.Count, c.Duration)
	rep, err := loadgen.Run(ctx, cfg, prog.update)
	prog.finish()
	if err != nil && ctx.Err() == nil { // the configuration, before anything was sent
		return err
	}
	if werr := printSummary(s.stdout, rep, c.Concurrency); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("interrupted after %d requests", rep.Sent)
	}

	var verr error
	if c.Verify {
		verr = verify(ctx, s, reader, shown, rep, c.Timeout)
	}
	if rep.Unexpected > 0 {
		return errors.Join(fmt.Errorf("%d of %d requests to %s got an unexpected answer", rep.Unexpected, rep.Sent, shown), verr)
	}
	return verr
}

// printSummary writes the outcome of the run for people: what was sent, how fast, how
// quickly answered, and how the answers compare with what hookvault gives.
func printSummary(w io.Writer, rep loadgen.Report, concurrency int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s: %d requests in %s over %d connections\n",
		rep.Prefix, rep.Sent, loadgen.Round(rep.Duration), concurrency)
	fmt.Fprintf(tw, "throughput\t%.0f requests/s\n", rep.Throughput)
	l := rep.Latency
	fmt.Fprintf(tw, "latency\tp50 %s  p90 %s  p99 %s  max %s\n",
		loadgen.Round(l.P50), loadgen.Round(l.P90), loadgen.Round(l.P99), loadgen.Round(l.Max))

	codes := make([]int, 0, len(rep.Status))
	for code := range rep.Status {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var statuses []string
	for _, code := range codes {
		statuses = append(statuses, fmt.Sprintf("%d × %d", code, rep.Status[code]))
	}
	if rep.Errors > 0 {
		statuses = append(statuses, fmt.Sprintf("no answer × %d", rep.Errors))
	}
	if len(statuses) == 0 {
		statuses = append(statuses, "none")
	}
	fmt.Fprintf(tw, "status\t%s\n", strings.Join(statuses, ", "))
	fmt.Fprintf(tw, "answers\t%d created, %d duplicates recognised, %d bad signatures rejected, %d unexpected\n",
		rep.Created, rep.Duplicates, rep.Rejected, rep.Unexpected)
	if rep.Overloaded > 0 {
		fmt.Fprintf(tw, "overloaded\t%d answered 503 (the server shed load; a sender would retry)\n", rep.Overloaded)
	}
	for i, sample := range rep.Samples {
		label := ""
		if i == 0 {
			label = "unexpected"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, printable(sample))
	}
	return tw.Flush()
}

// progress shows how far the run is: a bar on a terminal, where it redraws in place, and
// otherwise a line every tenth of the count (or every few seconds), which a log or CI
// output can keep.
type progress struct {
	bar *progressbar.ProgressBar // nil when not a terminal

	w        io.Writer
	total    int
	duration time.Duration
	step     int // the last tenth reported
	last     time.Time
	now      func() time.Time
	rate     rateMeter
	shown    string    // the bar's description
	shownAt  time.Time // when it was set
}

// plainEvery is the longest a run goes without a plain progress line.
const plainEvery = 5 * time.Second

// describeEvery is how often the bar's rate and time left are recomputed: a new description
// redraws the bar, and a number that changes with every answer cannot be read anyway.
const describeEvery = 250 * time.Millisecond

func newProgress(w io.Writer, total int, duration time.Duration) *progress {
	return newProgressAt(w, total, duration, isTerminal(w), time.Now, 100*time.Millisecond)
}

// newProgressAt is newProgress with what a test sets: whether w is a terminal, the clock
// and how often the bar may redraw.
func newProgressAt(w io.Writer, total int, duration time.Duration, terminal bool, now func() time.Time, throttle time.Duration) *progress {
	start := now()
	p := &progress{w: w, total: total, duration: duration, last: start, now: now, rate: newRateMeter(start)}
	if !terminal {
		return p
	}
	max := total
	if max == 0 {
		max = -1 // no count: a spinner rather than a bar
	}
	// The rate and the time left are ours, in the description: the bar's own rate is the
	// count over the time since its first frame, which for the first answers is a few
	// milliseconds, so it showed millions of requests per second.
	p.shown = "sending"
	p.bar = progressbar.NewOptions(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(p.shown),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionClearOnFinish(),
	)
	return p
}

// isTerminal reports whether w is a terminal, where a bar that redraws itself is readable.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update is loadgen's progress callback, called from one goroutine.
func (p *progress) update(done int) {
	now := p.now()
	if p.bar != nil {
		if now.Sub(p.shownAt) >= describeEvery {
			p.shownAt = now
			if d := p.describe(now, done); d != p.shown {
				p.shown = d
				p.bar.Describe(d)
			}
		}
		_ = p.bar.Set(done)
		return
	}
	step := p.step
	if p.total > 0 {
		step = done * 10 / p.total
	}
	if step == p.step && now.Sub(p.last) < plainEvery {
		return
	}
	p.step, p.last = step, now
	if p.total > 0 {
		fmt.Fprintf(p.w, "sent %d/%d (%d%%)\n", done, p.total, done*100/p.total)
	} else {
		fmt.Fprintf(p.w, "sent %d\n", done)
	}
}

// describe is the bar's description: the rate and the time left once there is a rate to
// speak of.
func (p *progress) describe(now time.Time, done int) string {
	rate, ok := p.rate.observe(now, done)
	if !ok {
		return "sending"
	}
	d := fmt.Sprintf("sending %.0f req/s", rate)
	if p.total > 0 && rate > 0 {
		d += fmt.Sprintf(", %s left", (time.Duration(float64(p.total-done)/rate) * time.Second).Round(time.Second))
	}
	return d
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// rateWindow is the span the rate is measured over: long enough to smooth the answers'
// jitter, short enough to show a server slowing down. minRateSpan is how much of the run
// must have passed before there is a rate at all.
const (
	rateWindow      = 5 * time.Second
	minRateSpan     = time.Second
	rateSampleEvery = 250 * time.Millisecond
)

// rateMeter measures requests per second over the last rateWindow.
type rateMeter struct {
	start   time.Time
	samples []rateSample // oldest first, rateSampleEvery apart
}

type rateSample struct {
	at   time.Time
	done int
}

func newRateMeter(start time.Time) rateMeter {
	return rateMeter{start: start, samples: []rateSample{{start, 0}}}
}

// observe records done at now and returns the rate over the last rateWindow, and false
// while less than minRateSpan of the run has passed.
func (m *rateMeter) observe(now time.Time, done int) (float64, bool) {
	if now.Sub(m.samples[len(m.samples)-1].at) >= rateSampleEvery {
		m.samples = append(m.samples, rateSample{now, done})
	}
	// Keep one sample at least rateWindow old, so the rate always spans a whole window.
	for len(m.samples) > 1 && now.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	if now.Sub(m.start) < minRateSpan {
		return 0, false
	}
	base := m.samples[0]
	return float64(done-base.done) / now.Sub(base.at).Seconds(), true
}

// verify reads every acked message back through the read API and checks it is stored with
// the bytes sent, then lists the run's sender to check that each is stored once and that
// nothing is stored that was not acked (a rejected signature, say).
func verify(ctx context.Context, s *streams, client *gen.ClientWithResponses, shown string, rep loadgen.Report, timeout time.Duration) error {
	fmt.Fprintf(s.stderr, "verifying %d acked messages through %s\n", len(rep.Acked), shown)
	var (
		mu       sync.Mutex
		ok       int
		problems []string
	)
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, msg)
	}
	jobs := make(chan loadgen.Ack)
	var wg sync.WaitGroup
	for range min(verifyConcurrency, max(len(rep.Acked), 1)) {
		wg.Go(func() {
			for a := range jobs {
				if msg := checkStored(ctx, client, shown, a, timeout); msg != "" {
					fail(msg)
					continue
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	for _, a := range rep.Acked {
		if ctx.Err() != nil {
			break
		}
		jobs <- a
	}
	close(jobs)
	wg.Wait()

	for _, msg := range checkListing(ctx, client, shown, rep, timeout) {
		fail(msg)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted while verifying")
	}
	fmt.Fprintf(s.stdout, "verified %d/%d\n", ok, len(rep.Acked))
	if len(problems) == 0 {
		return nil
	}
	for i, msg := range problems {
		if i == 5 {
			fmt.Fprintf(s.stdout, "  … and %d more\n", len(problems)-i)
			break
		}
		fmt.Fprintf(s.stdout, "  %s\n", printable(msg))
	}
	return fmt.Errorf("verify failed: %d problems with the stored messages", len(problems))
}

// checkStored fetches one acked message and compares its payload with the bytes sent; it
// returns what is wrong, or "".
func checkStored(ctx context.Context, client *gen.ClientWithResponses, shown string, a loadgen.Ack, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.GetMessageWithResponse(ctx, a.ID, nil)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", a.ID, transportError(err, shown, timeout))
	case resp.StatusCode() == 404:
		return fmt.Sprintf("%s: acked but not stored (404)", a.ID)
	case resp.JSON200 == nil:
		return fmt.Sprintf("%s: %d from the read API", a.ID, resp.StatusCode())
	case !bytes.Equal(resp.JSON200.Payload, a.Body):
		return fmt.Sprintf("%s: stored payload %s differs from the %d bytes sent", a.ID, truncate(string(resp.JSON200.Payload), 80), len(a.Body))
	}
	return ""
}

// checkListing walks the run's messages, which are the only ones from its sender, and
// returns what is wrong: an id listed twice, or one stored that was never acked.
func checkListing(ctx context.Context, client *gen.ClientWithResponses, shown string, rep loadgen.Report, timeout time.Duration) []string {
	acked := make(map[string]bool, len(rep.Acked))
	for _, a := range rep.Acked {
		acked[a.ID] = true
	}
	seen := make(map[string]bool, len(rep.Acked))
	var problems []string
	params := &gen.ListMessagesParams{Sender: &rep.Sender, Limit: new(maxLimit)}
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := client.ListMessagesWithResponse(pctx, params)
		cancel()
		switch {
		case err != nil:
			return append(problems, fmt.Sprintf("listing sender %s: %v", rep.Sender, transportError(err, shown, timeout)))
		case resp.JSON200 == nil:
			return append(problems, fmt.Sprintf("listing sender %s: %d from the read API", rep.Sender, resp.StatusCode()))
		}
		for _, m := range resp.JSON200.Data {
			switch {
			case seen[m.Id]:
				problems = append(problems, fmt.Sprintf("%s: listed more than once", m.Id))
			case !acked[m.Id]:
				problems = append(problems, fmt.Sprintf("%s: stored but never acked (a rejected request stored, or an answer lost in transit)", m.Id))
			}
			seen[m.Id] = true
		}
		next := resp.JSON200.NextCursor
		if next == nil || (params.Cursor != nil && *params.Cursor == *next) {
			break
		}
		params.Cursor = next
	}
	return problems
}
