package httpapi

import (
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Limits bound what clients can make the server do at once. The zero value limits nothing.
type Limits struct {
	// MaxInFlight caps the requests being served at once; one more is answered 503 at once
	// rather than queued, so a flood cannot pile up goroutines, buffers and store waiters
	// without bound. 0 means no cap.
	MaxInFlight int
	// RateLimit is how many requests one client address may make per RateLimitWindow;
	// 0 turns the rate limit off.
	RateLimit       int
	RateLimitWindow time.Duration
	// TrustedProxies are the CIDR prefixes of reverse proxies whose X-Forwarded-For names
	// the client. Empty means the TCP peer is the client: a header anyone can write must
	// not pick the bucket a request is counted in.
	TrustedProxies []string
}

// unlimited are the routes that no limit applies to: an orchestrator that cannot reach
// the probes of an overloaded but healthy instance restarts it, and a readiness probe
// turned away by a spike would pull every instance out of the balancer at once.
var unlimited = map[string]bool{"/health/live": true, "/health/ready": true}

// middleware returns the middleware that applies l, rate limit before the in-flight cap so
// that one noisy client is turned away before it takes slots from everyone else.
func (l Limits) middleware() []func(http.Handler) http.Handler {
	var mws []func(http.Handler) http.Handler
	if l.RateLimit > 0 {
		mws = append(mws, l.rateLimit())
	}
	if l.MaxInFlight > 0 {
		mws = append(mws, maxInFlight(l.MaxInFlight))
	}
	return mws
}

// exempt wraps a limit so that the unlimited routes bypass it.
func exempt(limited func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		guarded := limited(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if unlimited[r.URL.Path] {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

// maxInFlight sheds load beyond n concurrent requests with 503 and Retry-After, which
// webhook senders treat as "try again later", instead of letting them queue.
func maxInFlight(n int) func(http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return exempt(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
			default:
				fail(w, r, hookvault.Errorf(hookvault.EUNAVAILABLE, "server overloaded: too many requests in flight; retry later"))
				return
			}
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		})
	})
}

// rateLimit counts requests per client address with httprate's sliding window. Refusals
// are 503 + Retry-After like every other refusal a retry can fix (SPEC), so senders need
// no special case and the contract and OpenAPI document stay as they are.
func (l Limits) rateLimit() func(http.Handler) http.Handler {
	clientIP := middleware.ClientIPFromRemoteAddr
	if len(l.TrustedProxies) > 0 {
		clientIP = middleware.ClientIPFromXFF(l.TrustedProxies...)
	}
	window := l.RateLimitWindow
	if window <= 0 {
		window = time.Second
	}
	limiter := httprate.LimitBy(l.RateLimit, window, clientKey,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			fail(w, r, hookvault.Errorf(hookvault.EUNAVAILABLE, "rate limit exceeded for this client address; retry later"))
		}),
		// The local counter does not fail; should a future one, refusing is the safe answer.
		httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			fail(w, r, &hookvault.Error{Code: hookvault.EUNAVAILABLE, Message: "rate limit unavailable; retry later", Err: err})
		}),
	)
	return exempt(func(next http.Handler) http.Handler { return clientIP(limiter(next)) })
}

// clientKey is the bucket of a request: the client IP resolved upstream, or the TCP peer
// when a trusted proxy sent no usable X-Forwarded-For (an empty key would put every such
// request in one shared bucket).
func clientKey(r *http.Request) (string, error) {
	ip := middleware.GetClientIP(r.Context())
	if ip == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip = host
	}
	return httprate.CanonicalizeIP(ip), nil
}
