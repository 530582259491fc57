// Package loadgen sends signed webhook deliveries to a hookvault server as fast as it takes
// them, or at a set rate, and reports throughput, a latency histogram and every answer that
// was not the one a correct server gives. hookctl bulk and the hookbench comparison both
// drive it, so the command-line load and the benchmark judge the answers alike.
//
// The generator shares the machine's cores with the server under test, so every microsecond
// of CPU it spends per request is one the server does not get. The hot path therefore does
// not use the generated client and allocates next to nothing per request besides what
// net/http's client needs. Requests go through net/http, as any client's do; a caller that
// must spend less per request plugs its own sender in through Config.Connect (hookbench's
// raw HTTP/1.1 engine, which costs less than half of what net/http's client does).
package loadgen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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
	// URLs, instead of URL, spreads one run over several servers, such as replicas of one
	// service: worker i sends to URLs[i % len(URLs)] for the whole run, as a load balancer
	// with connection affinity does, so Concurrency must be at least len(URLs). Ids are
	// unique over all of them.
	URLs []string
	// CrossDuplicates makes every duplicate (DuplicateShare) re-send an id that was acked
	// through another of the URLs (until one has acked any, a new message goes instead):
	// the case that replicas sharing one store must answer with duplicate:true. Only for
	// URLs that share a store, and two of them at least.
	CrossDuplicates bool
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
	// Client is the net/http client every request goes through; by default Run makes one
	// with NewClient, which keeps a connection per worker alive.
	Client *http.Client
	// Connect, instead of Client, makes each worker's own Conn to endpoint (a URL of the
	// run with "/webhook" added); timeout is Timeout or its default. It is called for every
	// worker before anything is sent, and its error ends the run there.
	Connect func(endpoint *url.URL, timeout time.Duration) (Conn, error)
}

// Conn sends one worker's requests, one at a time: the seam where a caller replaces
// net/http with a sender of its own.
type Conn interface {
	// Post sends body to the endpoint with sig as its X-Signature and returns the answer,
	// whose Body holds at most MaxAnswer bytes and may be a buffer of the Conn's, good until
	// the next Post. Post must be done with body and sig when it returns: the worker writes
	// the next request into the same buffers. start is when the request began; the timeout
	// runs from it, as net/http's Client.Timeout does.
	Post(ctx context.Context, body, sig []byte, start time.Time) (Answer, error)
	// Close ends the connection; the worker calls it when it sends no more.
	Close()
}

// Answer is what the generator judges of a response.
type Answer struct {
	Status     int
	RetryAfter string // the first Retry-After header, of a 503 only
	Body       []byte
}

// MaxAnswer bounds how much of an answer's body a Conn reads: enough for any problem
// detail, and a run aimed at the wrong server does not buffer its pages.
const MaxAnswer = 64 << 10

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
	n := r.cfg.Concurrency
	if cfg.Count > 0 {
		n = min(n, cfg.Count) // each worker holds a histogram; idle ones would only cost memory
	}
	workers := make([]*worker, n)
	for i := range workers {
		if workers[i], err = r.newWorker(); err != nil {
			for _, w := range workers[:i] {
				w.conn.Close()
			}
			return Report{}, err
		}
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

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx, waitCtx) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if r.client != nil && cfg.Client == nil {
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
	client   *http.Client // nil with Config.Connect
	targets  []*target
	assigned int           // workers given a target so far
	limiter  *rate.Limiter // nil without a rate
	deadline time.Time     // zero without a duration
	badKey   []byte

	// Pieces of every body, JSON-escaped once per run, and the largest body they make.
	idPrefix, sender string
	contents         []string
	maxBody          int
	// idPrefix unescaped: an answer's id is compared with it and the request's number.
	rawIDPrefix string

	next atomic.Int64 // request slots handed out
	// Every worker updates both counters on every request; on separate cache lines, one
	// core's update of one does not stall another's of the other.
	_    [56]byte
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
		cfg: cfg,
		// Any other key makes a well-formed signature that no server secret produces,
		// the "mismatch" case rather than a malformed header.
		badKey:      append([]byte("loadgen-wrong-key-"), cfg.Secret...),
		idPrefix:    jsonString(cfg.Prefix + "-"),
		sender:      jsonString(cfg.Sender),
		rawIDPrefix: cfg.Prefix + "-",
	}
	longest := 0
	for _, c := range contents {
		r.contents = append(r.contents, jsonString(c))
		longest = max(longest, len(r.contents[len(r.contents)-1]))
	}
	// The fixed JSON around the pieces and the largest int64 fit in 48 bytes.
	r.maxBody = len(r.idPrefix) + len(r.sender) + longest + 48
	for _, base := range cfg.urls() {
		t := &target{url: base}
		var err error
		if t.endpoint, err = url.Parse(strings.TrimSuffix(base, "/") + "/webhook"); err != nil {
			return nil, fmt.Errorf("bad URL %q: %w", base, err)
		}
		if cfg.CrossDuplicates {
			t.acked = make([]atomic.Int64, duplicatePool)
		}
		r.targets = append(r.targets, t)
	}
	if cfg.Connect == nil {
		r.client = cfg.Client
		if r.client == nil {
			r.client = NewClient(cfg.Concurrency, cfg.Timeout)
		}
	}
	if cfg.Rate > 0 {
		// A burst of one keeps the rate even: a larger one lets idle workers fire together.
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	return r, nil
}

// target is one server of a run.
type target struct {
	url      string
	endpoint *url.URL

	// With CrossDuplicates, a ring of ids acked through this target, which the other
	// targets' workers draw duplicates from; 0 marks a slot not written yet. Lock-free, so
	// that sharing it costs a worker one atomic add per ack, as the progress count does.
	acked     []atomic.Int64
	ackedNext atomic.Int64
}

// urls returns the servers of the run: URLs, or URL alone.
func (c *Config) urls() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

func (c Config) validate() error {
	urls := c.urls()
	concurrency := c.Concurrency
	if concurrency == 0 {
		concurrency = DefaultConcurrency
	}
	if c.URL != "" && len(c.URLs) > 0 {
		return errors.New("give URL or URLs, not both")
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("bad URL %q: want http://host:port or https://host:port", s)
		}
	}
	switch {
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
	case c.Client != nil && c.Connect != nil:
		return errors.New("give Client or Connect, not both")
	case concurrency < len(urls):
		return fmt.Errorf("%d URLs need a concurrency of %d at least, one worker each; it is %d", len(urls), len(urls), concurrency)
	case c.CrossDuplicates && len(urls) < 2:
		return errors.New("duplicates across URLs need two URLs at least")
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
		// As any client: HTTPS_PROXY and the like, which never apply to a loopback address.
		Proxy: http.ProxyFromEnvironment,
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

// appendBody builds message n, {"id":…,"sender":…,"content":…}, from pieces already
// JSON-escaped (without its closing quote for the id prefix), in the order of the
// documented example. The same n always makes the same bytes.
func (r *runner) appendBody(dst []byte, n int64) []byte {
	dst = append(dst, `{"id":`...)
	dst = append(dst, r.idPrefix[:len(r.idPrefix)-1]...) // drop the closing quote, the number follows
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `","sender":`...)
	dst = append(dst, r.sender...)
	dst = append(dst, `,"content":`...)
	dst = append(dst, r.contents[n%int64(len(r.contents))]...)
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
// atomic counters and the limiter. Its buffers and HMAC states are reused from request to
// request: what a request allocates, the collector has to come back for, on the cores the
// server under test needs.
type worker struct {
	r    *runner
	t    *target // every request goes to this one
	ti   int     // t's index in r.targets
	rng  *mrand.Rand
	hist *hdrhistogram.Histogram

	mac, badMac hash.Hash // keyed with the secret and the wrong key
	sum         [sha256.Size]byte
	sig         [2 * sha256.Size]byte
	body        []byte // the message being sent
	conn        Conn

	status                      [1000]int   // by HTTP status: HTTP/1.1 has three digits
	otherStatus                 map[int]int // any other, from a caller's Conn
	created, dups, rejected     int
	unexpected, overloaded, err int
	samples                     []string
	// The numbers of the messages acked: a message's id and body follow from its number,
	// so they are made again for a duplicate or the report rather than kept.
	acked []int64
}

// newWorker makes the next worker, with the next target in turn; Run calls it from one
// goroutine.
func (r *runner) newWorker() (*worker, error) {
	ti := r.assigned % len(r.targets)
	r.assigned++
	w := &worker{
		r:      r,
		t:      r.targets[ti],
		ti:     ti,
		rng:    mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())),
		hist:   hdrhistogram.New(minLatency.Microseconds(), maxLatency.Microseconds(), latencySigs),
		mac:    hmac.New(sha256.New, r.cfg.Secret),
		badMac: hmac.New(sha256.New, r.badKey),
		body:   make([]byte, 0, r.maxBody),
	}
	if r.cfg.Connect == nil {
		w.conn = &httpConn{client: r.client, endpoint: w.t.endpoint.String()}
		return w, nil
	}
	var err error
	if w.conn, err = r.cfg.Connect(w.t.endpoint, r.cfg.Timeout); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", w.t.url, err)
	}
	return w, nil
}

func (w *worker) run(ctx, waitCtx context.Context) {
	defer w.conn.Close()
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
	r := w.r
	cfg := &r.cfg
	k := kindNew
	switch p := w.rng.Float64(); {
	case p < cfg.BadSignatureShare:
		k = kindBadSignature
	case p < cfg.BadSignatureShare+cfg.DuplicateShare:
		// Only ids seen acked: one still in flight could be answered either way.
		if cfg.CrossDuplicates {
			if m, ok := w.ackedElsewhere(); ok {
				k, n = kindDuplicate, m
			}
		} else if len(w.acked) > 0 {
			k, n = kindDuplicate, w.acked[w.rng.IntN(len(w.acked))]
		}
	}
	w.body = r.appendBody(w.body[:0], n)
	mac := w.mac
	if k == kindBadSignature {
		mac = w.badMac
	}
	sig := w.sign(mac, w.body)

	start := time.Now()
	a, err := w.conn.Post(ctx, w.body, sig, start)
	end := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return // abandoned, not an answer
		}
		w.err++
		w.unexpect(fmt.Sprintf("%s %s: no answer: %v", k, r.id(n), unwrapURLError(err)))
		r.done.Add(1)
		return
	}
	w.record(end.Sub(start))
	if uint(a.Status) < uint(len(w.status)) {
		w.status[a.Status]++
	} else {
		if w.otherStatus == nil {
			w.otherStatus = map[int]int{}
		}
		w.otherStatus[a.Status]++
	}
	w.judge(k, n, a)
	r.done.Add(1)
}

// sign returns the hex HMAC-SHA256 of body, signature.Sign's value, in the worker's buffer.
func (w *worker) sign(mac hash.Hash, body []byte) []byte {
	mac.Reset()
	mac.Write(body)
	hex.Encode(w.sig[:], mac.Sum(w.sum[:0]))
	return w.sig[:]
}

// httpConn is a worker's Conn through net/http's Client, whose pool keeps the connections.
type httpConn struct {
	client   *http.Client
	endpoint string
	answer   []byte // the body of the latest answer
}

func (c *httpConn) Post(ctx context.Context, body, sig []byte, _ time.Time) (Answer, error) {
	// net/http may still read a request's body after Do returns (when the answer comes
	// first), and the worker writes the next request into the same buffer: hence a copy.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(bytes.Clone(body)))
	if err != nil {
		return Answer{}, err
	}
	req.Header["Content-Type"] = contentType
	req.Header[signature.HeaderSignature] = []string{string(sig)}
	resp, err := c.client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	// Read to the end so the connection goes back to the pool for the next request.
	c.answer, err = readAtMost(c.answer[:0], resp.Body, MaxAnswer)
	resp.Body.Close()
	a := Answer{Status: resp.StatusCode, Body: c.answer}
	if a.Status == http.StatusServiceUnavailable {
		a.RetryAfter = resp.Header.Get("Retry-After")
	}
	return a, err
}

// Close leaves the connection in the pool, which Run closes at the end.
func (*httpConn) Close() {}

// readAtMost appends what r has to dst, up to limit bytes in all, as
// io.ReadAll(io.LimitReader(r, limit)) does but into a buffer that is kept.
func readAtMost(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for len(dst) < limit {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// contentType is the Content-Type of every delivery sent through net/http, and of the
// ceiling's answers: one slice, shared, so that setting it allocates nothing.
var contentType = []string{"application/json"}

// judge compares an answer with the one a correct server gives for the kind of request.
func (w *worker) judge(k kind, n int64, a Answer) {
	if a.Status == http.StatusServiceUnavailable {
		w.overloaded++
		w.unexpect(fmt.Sprintf("%s %s: 503 (overloaded; Retry-After %q)", k, w.r.id(n), a.RetryAfter))
		return
	}
	if k == kindBadSignature {
		if a.Status == http.StatusUnauthorized {
			w.rejected++
			return
		}
		w.unexpect(fmt.Sprintf("%s %s: %d (%s), want 401", k, w.r.id(n), a.Status, brief(a.Body)))
		return
	}
	if a.Status != http.StatusOK {
		w.unexpect(fmt.Sprintf("%s %s: %d (%s), want 200", k, w.r.id(n), a.Status, brief(a.Body)))
		return
	}
	dup, ok := w.r.decodeAck(a.Body, n)
	if !ok {
		w.unexpect(fmt.Sprintf("%s %s: 200 with an answer that is not hookvault's (%s)", k, w.r.id(n), brief(a.Body)))
		return
	}
	switch {
	case k == kindNew && !dup:
		w.created++
		w.keep(n)
	case k == kindDuplicate && dup:
		w.dups++
	default:
		w.unexpect(fmt.Sprintf("%s %s: 200 with duplicate:%t", k, w.r.id(n), dup))
	}
}

// decodeAck reads the duplicate flag of a 200 answer to message n, and reports whether the
// answer is hookvault's at all: status "ok", a duplicate flag, and the message's id if it
// has one (a bare server that answers without reading the body, hookbench's ceiling, has
// none and still counts as answering as expected).
func (r *runner) decodeAck(body []byte, n int64) (dup, ok bool) {
	if f, scanned := scanAck(body); scanned {
		if string(f.status) != "ok" || !f.hasDup || (len(f.id) > 0 && !r.isID(f.id, n)) {
			return false, false
		}
		return f.dup, true
	}
	return r.decodeAckJSON(body, n)
}

// decodeAckJSON is decodeAck with encoding/json alone: the verdict for every answer that
// scanAck does not read, and the one scanAck's must always agree with.
func (r *runner) decodeAckJSON(body []byte, n int64) (dup, ok bool) {
	var a struct {
		Status    string `json:"status"`
		ID        string `json:"id"`
		Duplicate *bool  `json:"duplicate"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Status != "ok" || a.Duplicate == nil || (a.ID != "" && a.ID != r.id(n)) {
		return false, false
	}
	return *a.Duplicate, true
}

// isID reports whether id is message n's.
func (r *runner) isID(id []byte, n int64) bool {
	p := r.rawIDPrefix
	var digits [20]byte
	return len(id) > len(p) && string(id[:len(p)]) == p &&
		string(id[len(p):]) == string(strconv.AppendInt(digits[:0], n, 10))
}

// ackFields are the members of an answer that decodeAck looks at.
type ackFields struct {
	status, id  []byte
	hasDup, dup bool
}

// scanAck reads an answer in the shape servers send it in: one flat object of at most the
// members status, id and duplicate, once each, with strings of printable ASCII without
// escapes, a boolean duplicate, and no white space but at the end. Such a string's bytes
// are its value, so the members read are the ones encoding/json would decode. Anything else
// is not scanned (ok false) and goes to encoding/json, so no answer is judged differently
// for being read the cheap way; this only spares the reflection for the common case.
func scanAck(b []byte) (f ackFields, ok bool) {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return f, false
	}
	b = b[1 : len(b)-1]
	var seenStatus, seenID bool
	for len(b) > 0 {
		key, rest, ok := scanString(b)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return f, false
		}
		rest = rest[1:]
		switch string(key) {
		case "status":
			if seenStatus {
				return f, false
			}
			seenStatus = true
			f.status, rest, ok = scanString(rest)
		case "id":
			if seenID {
				return f, false
			}
			seenID = true
			f.id, rest, ok = scanString(rest)
		case "duplicate":
			if f.hasDup {
				return f, false
			}
			f.hasDup = true
			switch {
			case bytes.HasPrefix(rest, []byte("true")):
				f.dup, rest = true, rest[4:]
			case bytes.HasPrefix(rest, []byte("false")):
				rest = rest[5:]
			default:
				ok = false
			}
		default:
			return f, false
		}
		if !ok {
			return f, false
		}
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return f, false
			}
			rest = rest[1:]
		}
		b = rest
	}
	return f, true
}

// scanString reads a JSON string at the start of b whose bytes are its value: printable
// ASCII, no escapes.
func scanString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// keep remembers an acked message, all of them for the caller or a bounded pool to draw
// duplicates from, and offers it to the other targets' workers.
func (w *worker) keep(n int64) {
	if t := w.t; t.acked != nil {
		i := t.ackedNext.Add(1) - 1
		t.acked[i%int64(len(t.acked))].Store(n)
	}
	if w.r.cfg.KeepAcked || len(w.acked) < duplicatePool {
		w.acked = append(w.acked, n)
		return
	}
	w.acked[w.rng.IntN(len(w.acked))] = n
}

// ackedElsewhere draws an id acked through another target than the worker's, with
// CrossDuplicates; ok is false until the target drawn has acked one.
func (w *worker) ackedElsewhere() (n int64, ok bool) {
	ts := w.r.targets
	t := ts[(w.ti+1+w.rng.IntN(len(ts)-1))%len(ts)]
	filled := min(t.ackedNext.Load(), int64(len(t.acked)))
	if filled == 0 {
		return 0, false
	}
	// A slot claimed but not yet stored still reads 0.
	n = t.acked[w.rng.Int64N(filled)].Load()
	return n, n > 0
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

// id spells out the id of message n.
func (r *runner) id(n int64) string {
	return r.rawIDPrefix + strconv.FormatInt(n, 10)
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
			if n > 0 {
				rep.Status[code] += n
			}
		}
		for code, n := range w.otherStatus {
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
			for _, n := range w.acked {
				rep.Acked = append(rep.Acked, Ack{ID: r.id(n), Body: r.appendBody(nil, n)})
			}
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
		P50: us(50),
		P90: us(90),
		P99: us(99),
		Max: time.Duration(hist.Max()) * time.Microsecond,
	}
	return rep
}
