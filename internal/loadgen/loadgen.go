// Package loadgen sends signed webhook deliveries to a hookvault server as fast as it takes
// them, or at a set rate, and reports throughput, a latency histogram and every answer that
// was not the one a correct server gives. hookctl bulk and the hookbench comparison both
// drive it, so the command-line load and the benchmark measure the same thing.
//
// The hot path uses net/http directly rather than the generated client: the body of each
// message is built once as bytes and signed with the signature package the server verifies
// with, and the generated client's per-request editors and decoding would cost the
// generator CPU that, on a shared machine, the server under test would otherwise have.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/time/rate"

	"github.com/hookvault/hookvault/internal/signature"
)

// DefaultConcurrency is the number of workers, and so of connections, when Config leaves it
// unset: the 64 connections the targets are measured with.
const DefaultConcurrency = 64

// Histogram bounds: a latency under 1µs cannot be told apart on loopback anyway, and one
// over a minute is a hung request, not a latency.
const (
	minLatency  = time.Microsecond
	maxLatency  = time.Minute
	latencySigs = 3
)

// maxSamples bounds the descriptions of unexpected answers kept for the summary.
const maxSamples = 5

// duplicatePool bounds how many acked messages a worker keeps to re-send as duplicates when
// the caller does not want them all back, so that a long run does not grow without bound.
const duplicatePool = 1024

// contents are the message texts, taken in turn: a little variety in size, so the server's
// JSON and storage paths see more than one shape.
var contents = []string{
	"hello",
	"order.created: 3 items, total 42.50 EUR",
	strings.Repeat("The quick brown fox jumps over the lazy dog. ", 6),
}

// progressEvery is how often Run reports progress.
const progressEvery = 100 * time.Millisecond

// Config describes one run.
type Config struct {
	// URL is the server's base URL; deliveries go to URL + "/webhook".
	URL string
	// Secret is the webhook secret that signs every delivery except the bad-signature share.
	Secret []byte

	// Count is the number of requests to send, duplicates and bad signatures included;
	// 0 sends until Duration ends.
	Count int
	// Duration stops the run after this long, whichever of Count and Duration ends first;
	// requests in flight then still finish. 0 means no limit.
	Duration time.Duration
	// Concurrency is the number of workers, each with one request in flight
	// (default DefaultConcurrency).
	Concurrency int
	// Rate caps requests per second over all workers; 0 sends as fast as answers come.
	Rate float64

	// DuplicateShare (0..1) of requests re-send a message already acked, to which a correct
	// server answers 200 with duplicate:true.
	DuplicateShare float64
	// BadSignatureShare (0..1) of requests carry a signature made with a wrong key, to which
	// a correct server answers 401.
	BadSignatureShare float64

	// Prefix starts every id ("<prefix>-<n>"); empty picks a random one, so that runs
	// against the same store do not collide.
	Prefix string
	// Sender is the sender of every message; empty uses the prefix, so that one run's
	// messages can be listed with the read API's sender filter.
	Sender string

	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// KeepAcked returns every acked message in Report.Acked, for verification.
	KeepAcked bool
	// Client replaces the HTTP client; by default Run makes one whose transport keeps a
	// connection per worker alive.
	Client *http.Client
}

// kind is what a request tests, and so which answer is expected.
type kind int

const (
	kindNew          kind = iota // a new id: 200 with duplicate:false
	kindDuplicate                // an acked id again: 200 with duplicate:true
	kindBadSignature             // wrong key: 401
)

func (k kind) String() string {
	switch k {
	case kindNew:
		return "new"
	case kindDuplicate:
		return "duplicate"
	case kindBadSignature:
		return "bad signature"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Ack is a message the server acknowledged as newly stored, with the exact bytes sent.
type Ack struct {
	ID   string
	Body []byte
}

// Latency summarises the latency of every request that got an answer.
type Latency struct {
	P50, P90, P99, Max time.Duration
	// Histogram holds every recorded latency in microseconds.
	Histogram *hdrhistogram.Histogram
}

// Round rounds d to three significant digits, all that a percentile from the histogram has,
// so that printed latencies do not claim more.
func Round(d time.Duration) time.Duration {
	unit := time.Nanosecond
	for limit := time.Duration(1000); d >= limit && unit < time.Second; limit *= 10 {
		unit *= 10
	}
	return d.Round(unit)
}

// Report is the outcome of a run.
type Report struct {
	Prefix     string
	Sender     string
	Sent       int           // requests that got an answer or failed in transit
	Duration   time.Duration // from the first request to the last answer
	Throughput float64       // Sent per second of Duration
	Latency    Latency

	// Status counts answers by HTTP status; transport errors are not in it.
	Status map[int]int
	// Expected answers, by kind: new messages created, duplicates recognised, bad
	// signatures rejected.
	Created, Duplicates, Rejected int
	// Unexpected counts every request whose answer was not the expected one, transport
	// errors and 503s included.
	Unexpected int
	// Overloaded counts 503 answers (also in Unexpected): the server shedding load.
	Overloaded int
	// Errors counts requests that got no HTTP answer (also in Unexpected).
	Errors int
	// Samples describes the first few unexpected answers.
	Samples []string

	// Acked holds every message acked as new, when Config.KeepAcked is set.
	Acked []Ack
}

// Run sends the configured load and reports on it. progress, if not nil, is called from one
// goroutine about every 100ms with the number of requests done so far, and once more at the
// end. When ctx ends, requests in flight are abandoned (and not counted) and Run returns the
// report so far with ctx's error.
func Run(ctx context.Context, cfg Config, progress func(done int)) (Report, error) {
	r, err := newRunner(cfg)
	if err != nil {
		return Report{}, err
	}

	var stopProgress func()
	if progress != nil {
		stopProgress = r.reportProgress(progress)
	}

	start := time.Now()
	if cfg.Duration > 0 {
		r.deadline = start.Add(cfg.Duration)
	}
	// Only waiting for the limiter ends with the duration; requests already sent finish.
	waitCtx := ctx
	if !r.deadline.IsZero() {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithDeadline(ctx, r.deadline)
		defer cancel()
	}

	n := r.cfg.Concurrency
	if cfg.Count > 0 {
		n = min(n, cfg.Count) // each worker holds a histogram; idle ones would only cost memory
	}
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	for i := range workers {
		w := r.newWorker()
		workers[i] = w
		wg.Go(func() { w.run(ctx, waitCtx) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if cfg.Client == nil {
		// The connections are this run's alone; left open, they would hold the server's
		// graceful shutdown, which waits for a connection that never sent a request.
		r.client.CloseIdleConnections()
	}

	if stopProgress != nil {
		stopProgress()
	}
	rep := r.merge(workers, elapsed)
	return rep, ctx.Err()
}

// runner is the state the workers share; everything written per request is per worker.
type runner struct {
	cfg      Config
	client   *http.Client
	endpoint string
	limiter  *rate.Limiter // nil without a rate
	deadline time.Time     // zero without a duration
	badKey   []byte

	// Pieces of every body, JSON-escaped once per run.
	idPrefix, sender string
	contents         []string

	next atomic.Int64 // request slots handed out
	done atomic.Int64 // requests finished, for progress
}

func newRunner(cfg Config) (*runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = RandomPrefix()
	}
	if cfg.Sender == "" {
		cfg.Sender = cfg.Prefix
	}
	r := &runner{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.URL, "/") + "/webhook",
		// Any other key makes a well-formed signature that no server secret produces,
		// the "mismatch" case rather than a malformed header.
		badKey:   append([]byte("loadgen-wrong-key-"), cfg.Secret...),
		idPrefix: jsonString(cfg.Prefix + "-"),
		sender:   jsonString(cfg.Sender),
	}
	for _, c := range contents {
		r.contents = append(r.contents, jsonString(c))
	}
	r.client = cfg.Client
	if r.client == nil {
		r.client = NewClient(cfg.Concurrency, cfg.Timeout)
	}
	if cfg.Rate > 0 {
		// A burst of one keeps the rate even: a larger one lets idle workers fire together.
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	return r, nil
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("bad URL %q: want http://host:port or https://host:port", c.URL)
	case len(c.Secret) == 0:
		return errors.New("the webhook secret is empty")
	case c.Count < 0:
		return errors.New("the count is negative")
	case c.Duration < 0:
		return errors.New("the duration is negative")
	case c.Count == 0 && c.Duration == 0:
		return errors.New("give a count, a duration or both: the run would never end")
	case c.Concurrency < 0:
		return errors.New("the concurrency is negative")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return errors.New("the rate is not a number of requests per second")
	case c.Timeout < 0:
		return errors.New("the timeout is negative")
	case !(c.DuplicateShare >= 0 && c.DuplicateShare <= 1): // NaN too
		return errors.New("the duplicate share is not between 0 and 1")
	case !(c.BadSignatureShare >= 0 && c.BadSignatureShare <= 1):
		return errors.New("the bad-signature share is not between 0 and 1")
	case c.DuplicateShare+c.BadSignatureShare > 1:
		return errors.New("the duplicate and bad-signature shares add up to more than 1")
	case len(c.Prefix) > 200:
		// ids are at most 256 characters, and "-<n>" needs room.
		return errors.New("the prefix is longer than 200 bytes")
	case len(c.Sender) > 256:
		return errors.New("the sender is longer than 256 bytes")
	}
	return nil
}

// NewClient returns an HTTP client for concurrency workers: one kept-alive connection per
// worker, so a run measures requests rather than TCP handshakes, and no redirects, which a
// webhook sender does not follow.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	tr := &http.Transport{
		Proxy: nil, // a load test of a local server must not go through HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		// The default of 2 idle connections per host would close all but two connections
		// after every answer and dial again for the next request.
		MaxIdleConns:          concurrency,
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RandomPrefix returns a fresh run prefix such as "run-3f9a2c1d7b".
func RandomPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return "run-" + hex.EncodeToString(b[:])
}

// appendBody builds {"id":…,"sender":…,"content":…} from pieces already JSON-escaped (without
// their closing quote for the id prefix), in the order of the documented example.
func appendBody(dst []byte, idPrefix, sender, content string, n int64) []byte {
	dst = append(dst, `{"id":`...)
	dst = append(dst, idPrefix[:len(idPrefix)-1]...) // drop the closing quote, the number follows
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `","sender":`...)
	dst = append(dst, sender...)
	dst = append(dst, `,"content":`...)
	dst = append(dst, content...)
	return append(dst, '}')
}

// jsonString returns s as a JSON string, quotes included, escaping no more than JSON
// requires: the raw body is stored byte for byte, and "<" should stay "<".
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// reportProgress calls progress about every progressEvery until the returned function is
// called, which reports the final count.
func (r *runner) reportProgress(progress func(int)) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				progress(int(r.done.Load()))
				return
			case <-t.C:
				progress(int(r.done.Load()))
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// worker sends one request at a time and records what it sees in its own histogram and
// counters, merged once at the end, so that workers share nothing in the hot path but two
// atomic counters and the limiter.
type worker struct {
	r    *runner
	rng  *mrand.Rand
	hist *hdrhistogram.Histogram

	status                      map[int]int
	created, dups, rejected     int
	unexpected, overloaded, err int
	samples                     []string
	acked                       []Ack
}

func (r *runner) newWorker() *worker {
	return &worker{
		r:      r,
		rng:    mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())),
		hist:   hdrhistogram.New(minLatency.Microseconds(), maxLatency.Microseconds(), latencySigs),
		status: map[int]int{},
	}
}

func (w *worker) run(ctx, waitCtx context.Context) {
	cfg := &w.r.cfg
	for ctx.Err() == nil {
		n := w.r.next.Add(1)
		if cfg.Count > 0 && n > int64(cfg.Count) {
			return
		}
		if !w.r.deadline.IsZero() && !time.Now().Before(w.r.deadline) {
			return
		}
		if w.r.limiter != nil {
			if err := w.r.limiter.Wait(waitCtx); err != nil {
				return // the duration ended, or ctx did
			}
		}
		w.send(ctx, n)
	}
}

// send makes request n, of a kind drawn by the configured shares, and records its outcome.
func (w *worker) send(ctx context.Context, n int64) {
	cfg := &w.r.cfg
	k := kindNew
	switch p := w.rng.Float64(); {
	case p < cfg.BadSignatureShare:
		k = kindBadSignature
	case p < cfg.BadSignatureShare+cfg.DuplicateShare && len(w.acked) > 0:
		// Only ids this worker saw acked: one still in flight could be answered either way.
		k = kindDuplicate
	}

	var msg Ack
	if k == kindDuplicate {
		msg = w.acked[w.rng.IntN(len(w.acked))]
	} else {
		r := w.r
		content := r.contents[n%int64(len(r.contents))]
		body := appendBody(make([]byte, 0, len(r.idPrefix)+len(r.sender)+len(content)+48),
			r.idPrefix, r.sender, content, n)
		msg = Ack{ID: cfg.Prefix + "-" + strconv.FormatInt(n, 10), Body: body}
	}
	key := cfg.Secret
	if k == kindBadSignature {
		key = w.r.badKey
	}

	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.r.endpoint, bytes.NewReader(msg.Body))
	var resp *http.Response
	if err == nil {
		req.Header["Content-Type"] = contentType
		req.Header[signature.HeaderSignature] = []string{signature.Sign(key, msg.Body)}
		resp, err = w.r.client.Do(req)
	}
	var body []byte
	if err == nil {
		// Read to the end so the connection goes back to the pool for the next request.
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	latency := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return // abandoned, not an answer
		}
		w.err++
		w.unexpect(fmt.Sprintf("%s %s: no answer: %v", k, msg.ID, unwrapURLError(err)))
		w.r.done.Add(1)
		return
	}
	w.record(latency)
	w.status[resp.StatusCode]++
	w.judge(k, msg, resp, body)
	w.r.done.Add(1)
}

var contentType = []string{"application/json"}

// judge compares an answer with the one a correct server gives for the kind of request.
func (w *worker) judge(k kind, msg Ack, resp *http.Response, body []byte) {
	if resp.StatusCode == http.StatusServiceUnavailable {
		w.overloaded++
		w.unexpect(fmt.Sprintf("%s %s: 503 (overloaded; Retry-After %q)", k, msg.ID, resp.Header.Get("Retry-After")))
		return
	}
	if k == kindBadSignature {
		if resp.StatusCode == http.StatusUnauthorized {
			w.rejected++
			return
		}
		w.unexpect(fmt.Sprintf("%s %s: %d (%s), want 401", k, msg.ID, resp.StatusCode, brief(body)))
		return
	}
	if resp.StatusCode != http.StatusOK {
		w.unexpect(fmt.Sprintf("%s %s: %d (%s), want 200", k, msg.ID, resp.StatusCode, brief(body)))
		return
	}
	var a struct {
		Status    string `json:"status"`
		ID        string `json:"id"`
		Duplicate *bool  `json:"duplicate"`
	}
	// The id is checked only when the answer has one, so that a bare server that answers
	// without reading the body (hookbench's ceiling) still counts as answering as expected.
	if err := json.Unmarshal(body, &a); err != nil || a.Status != "ok" || a.Duplicate == nil || (a.ID != "" && a.ID != msg.ID) {
		w.unexpect(fmt.Sprintf("%s %s: 200 with an answer that is not hookvault's (%s)", k, msg.ID, brief(body)))
		return
	}
	switch {
	case k == kindNew && !*a.Duplicate:
		w.created++
		w.keep(msg)
	case k == kindDuplicate && *a.Duplicate:
		w.dups++
	default:
		w.unexpect(fmt.Sprintf("%s %s: 200 with duplicate:%t", k, msg.ID, *a.Duplicate))
	}
}

// keep remembers an acked message, all of them for the caller or a bounded pool to draw
// duplicates from.
func (w *worker) keep(msg Ack) {
	if w.r.cfg.KeepAcked || len(w.acked) < duplicatePool {
		w.acked = append(w.acked, msg)
		return
	}
	w.acked[w.rng.IntN(len(w.acked))] = msg
}

func (w *worker) record(d time.Duration) {
	us := min(max(d, minLatency), maxLatency).Microseconds()
	_ = w.hist.RecordValue(us) // within the bounds, so it cannot fail
}

func (w *worker) unexpect(sample string) {
	w.unexpected++
	if len(w.samples) < maxSamples {
		w.samples = append(w.samples, sample)
	}
}

// brief shortens an answer body for a sample line: the title and detail of a problem
// answer, else the start of the body.
func brief(body []byte) string {
	var p struct{ Title, Detail string }
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		if p.Detail == "" {
			return p.Title
		}
		return p.Title + ": " + p.Detail
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}

// unwrapURLError drops the "Post \"http://…/webhook\": " that every transport error repeats.
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// merge adds up the workers' records.
func (r *runner) merge(workers []*worker, elapsed time.Duration) Report {
	rep := Report{
		Prefix:   r.cfg.Prefix,
		Sender:   r.cfg.Sender,
		Duration: elapsed,
		Status:   map[int]int{},
	}
	hist := hdrhistogram.New(minLatency.Microseconds(), maxLatency.Microseconds(), latencySigs)
	for _, w := range workers {
		hist.Merge(w.hist)
		for code, n := range w.status {
			rep.Status[code] += n
		}
		rep.Created += w.created
		rep.Duplicates += w.dups
		rep.Rejected += w.rejected
		rep.Unexpected += w.unexpected
		rep.Overloaded += w.overloaded
		rep.Errors += w.err
		rep.Samples = append(rep.Samples, w.samples...)
		if r.cfg.KeepAcked {
			rep.Acked = append(rep.Acked, w.acked...)
		}
	}
	rep.Sent = int(hist.TotalCount()) + rep.Errors
	if elapsed > 0 {
		rep.Throughput = float64(rep.Sent) / elapsed.Seconds()
	}
	if len(rep.Samples) > maxSamples {
		rep.Samples = rep.Samples[:maxSamples]
	}
	slices.SortFunc(rep.Acked, func(a, b Ack) int { return strings.Compare(a.ID, b.ID) })
	us := func(q float64) time.Duration { return time.Duration(hist.ValueAtQuantile(q)) * time.Microsecond }
	rep.Latency = Latency{
		P50:       us(50),
		P90:       us(90),
		P99:       us(99),
		Max:       time.Duration(hist.Max()) * time.Microsecond,
		Histogram: hist,
	}
	return rep
}
