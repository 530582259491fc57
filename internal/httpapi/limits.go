package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"golang.org/x/time/rate"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/metrics"
)

// Limits bound what clients can make the server do at once. The zero value limits nothing.
type Limits struct {
	// MaxInFlight caps the requests being processed at once (verified, validated, stored);
	// one more is answered 503 at once rather than queued. A request takes its slot only
	// once its body is in, so clients that send slowly cannot hold the slots. 0: no cap.
	MaxInFlight int
	// MaxBodyBytesInFlight caps the request body bytes held in memory at once; a body that
	// would go beyond it is answered 503. One client may hold at most a quarter of it, and
	// bodies over 64 KiB only the first three quarters, so that neither one client nor a
	// flood of big bodies can starve small deliveries. 0: no cap.
	MaxBodyBytesInFlight int64
	// MaxClientRequests caps the requests of one client address at once, from their first
	// body byte to their answer. 0: no cap.
	MaxClientRequests int
	// ReadBodyTimeout is the time a client has to send the whole body once its headers are
	// in; 0: no deadline beyond the server's.
	ReadBodyTimeout time.Duration
	// RateLimit is how many requests one client address may make per RateLimitWindow;
	// 0 turns the rate limit off.
	RateLimit       int
	RateLimitWindow time.Duration
	// TrustedProxies are the CIDR prefixes of reverse proxies whose X-Forwarded-For names
	// the client. Empty means the TCP peer is the client: a header anyone can write must
	// not pick the bucket a request is counted in.
	TrustedProxies []string
	// MaxClientSignatureFailures is how many refused signatures per second one client
	// address may cause (twice that in a burst) before its deliveries are answered 503 for a
	// second, unread; 0: no bound.
	MaxClientSignatureFailures int
}

// unlimited are the routes that no limit applies to: an orchestrator that cannot reach
// the probes of an overloaded but healthy instance restarts it, and a readiness probe
// turned away by a spike would pull every instance out of the balancer at once.
var unlimited = map[string]bool{"/health/live": true, "/health/ready": true}

// limiter enforces Limits. Every refusal is a 503 with Retry-After (SPEC: a refusal that a
// retry can fix), counted in http_requests_shed_total by reason.
type limiter struct {
	slots   chan struct{} // processing slots; nil: no cap
	bodies  *bodyBudget   // nil: no cap
	clients *clientCounts // nil: no cap
	rate    func(http.Handler) http.Handler
	// resolve puts the client address into the request's context (X-Forwarded-For from
	// trusted proxies); nil when the TCP peer is the client.
	resolve     func(http.Handler) http.Handler
	metrics     *metrics.Metrics
	bodyTimeout time.Duration
	failures    *signatureFailures // nil: no bound
}

func newLimiter(l Limits, m *metrics.Metrics, log *slog.Logger) *limiter {
	lim := &limiter{metrics: m, bodyTimeout: l.ReadBodyTimeout}
	if l.MaxInFlight > 0 {
		lim.slots = make(chan struct{}, l.MaxInFlight)
		m.GaugeFunc("http_requests_processing", "Requests holding a processing slot (bounded by MAX_IN_FLIGHT).",
			func() float64 { return float64(len(lim.slots)) })
	}
	if l.MaxBodyBytesInFlight > 0 {
		lim.bodies = newBodyBudget(l.MaxBodyBytesInFlight)
		m.GaugeFunc("http_request_body_bytes_in_flight", "Request body bytes held in memory (bounded by MAX_BODY_BYTES_IN_FLIGHT).",
			func() float64 { return float64(lim.bodies.inUse()) })
	}
	if l.MaxClientRequests > 0 {
		lim.clients = &clientCounts{max: l.MaxClientRequests, n: map[string]int{}}
	}
	if l.MaxClientSignatureFailures > 0 {
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		warn := rate.Sometimes{Interval: time.Minute}
		lim.failures = newSignatureFailures(l.MaxClientSignatureFailures, func() {
			warn.Do(func() {
				log.Warn("MAX_CLIENT_SIGNATURE_FAILURES: too many client addresses fail their signatures to track them all; new ones are not shed until older ones are forgotten after a minute",
					slog.Int("tracked", maxFailingClients))
			})
		})
	}
	if len(l.TrustedProxies) > 0 {
		lim.resolve = middleware.ClientIPFromXFF(l.TrustedProxies...)
	}
	if l.RateLimit > 0 {
		window := l.RateLimitWindow
		if window <= 0 {
			window = time.Second
		}
		lim.rate = httprate.LimitBy(l.RateLimit, window, func(r *http.Request) (string, error) { return infoFrom(r.Context()).client, nil },
			httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
				lim.shed(w, r, "rate_limit", "rate limit exceeded for this client address; retry later")
			}),
			// The local counter does not fail; should a future one, refusing is the safe answer.
			httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				fail(w, r, &hookvault.Error{Code: hookvault.EUNAVAILABLE, Message: "rate limit unavailable; retry later", Err: err})
			}),
		)
	}
	return lim
}

// admit is the group's first middleware: it names the client, then applies the per-client
// rate limit and concurrency cap, before anything of the request is read.
func (lim *limiter) admit(next http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lim.failures != nil && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/webhook") {
			if wait := lim.failures.shed(infoFrom(r.Context()).client, time.Now()); wait > 0 {
				t := time.NewTimer(min(wait, shedDelay))
				select {
				case <-t.C:
				case <-r.Context().Done():
				}
				t.Stop()
				lim.shed(w, r, "signature_failures", "too many invalid signatures from this client address; retry later")
				return
			}
		}
		if lim.clients != nil {
			client := infoFrom(r.Context()).client
			if !lim.clients.acquire(client) {
				lim.shed(w, r, "client_requests", "too many requests from this client address at once; retry later")
				return
			}
			defer lim.clients.release(client)
		}
		next.ServeHTTP(w, r)
	})
	if lim.rate != nil {
		h = lim.rate(h)
	}
	counted := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).client = clientKey(r)
		counted.ServeHTTP(w, r)
	})
	if lim.resolve != nil {
		h = lim.resolve(h)
	}
	limited := h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unlimited[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// shedDelay is how long the answer to a shed delivery of a client failing its signatures
// waits: a sender waits for its answer before it sends again on a connection, so the forger
// gets at most ten deliveries per connection per second through.
const shedDelay = 100 * time.Millisecond

// signatureFailed counts a refused signature of the request's client.
func (lim *limiter) signatureFailed(r *http.Request) {
	if lim.failures != nil {
		lim.failures.failed(infoFrom(r.Context()).client, time.Now())
	}
}

// takeSlot takes a processing slot, or answers 503 and returns false. The returned function
// gives the slot back.
func (lim *limiter) takeSlot(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if lim.slots == nil || unlimited[r.URL.Path] {
		return func() {}, true
	}
	select {
	case lim.slots <- struct{}{}:
		return lim.freeSlot, true
	default:
		lim.shed(w, r, "in_flight", "server overloaded: too many requests in flight; retry later")
		return nil, false
	}
}

func (lim *limiter) freeSlot() { <-lim.slots }

// shed answers a refused request and counts it.
func (lim *limiter) shed(w http.ResponseWriter, r *http.Request, reason, detail string) {
	lim.metrics.Shed(reason)
	fail(w, r, hookvault.Errorf(hookvault.EUNAVAILABLE, "%s", detail))
}

// clientKey is the client address of a request: the one resolved from a trusted proxy's
// X-Forwarded-For, or the TCP peer (also when a trusted proxy sent no usable header: an
// empty key would put every such request in one shared bucket).
func clientKey(r *http.Request) string {
	ip := middleware.GetClientIP(r.Context())
	if ip == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip = host
	}
	return httprate.CanonicalizeIP(ip)
}

// clientCounts caps the concurrent requests per client address.
type clientCounts struct {
	mu  sync.Mutex
	max int
	n   map[string]int // only clients with requests in flight, so it is bounded by them
}

func (c *clientCounts) acquire(client string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] >= c.max {
		return false
	}
	c.n[client]++
	return true
}

func (c *clientCounts) release(client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client]--; c.n[client] <= 0 {
		delete(c.n, client)
	}
}

// smallBody is the size up to which a body may still grow when the budget is three quarters
// full: typical webhook deliveries are a few KiB, and keep flowing while big ones wait.
const smallBody = 64 << 10

// bodyBudget counts the body bytes that requests hold (the capacity of their buffers).
type bodyBudget struct {
	mu        sync.Mutex
	max       int64
	perClient int64
	big       int64 // growth beyond smallBody only while in use stays below this
	used      int64
	byClient  map[string]int64 // only clients holding bytes
}

func newBodyBudget(max int64) *bodyBudget {
	return &bodyBudget{max: max, perClient: max / 4, big: max / 4 * 3, byClient: map[string]int64{}}
}

// reserve takes n more bytes for a request of client that will then hold held bytes. It
// returns the reason it cannot, or "".
func (b *bodyBudget) reserve(client string, n, held int64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.used+n > b.max:
		return "body_bytes"
	case held > smallBody && b.used+n > b.big:
		return "body_bytes"
	case b.byClient[client]+n > b.perClient:
		return "client_body_bytes"
	}
	b.used += n
	b.byClient[client] += n
	return ""
}

func (b *bodyBudget) release(client string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byClient[client] -= n; b.byClient[client] <= 0 {
		delete(b.byClient, client)
	}
}

func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
