// Package connlimit bounds the connections an HTTP server holds open: in total, and per client
// address. Without a bound, idle keep-alive connections (or a client that opens thousands)
// use up the process's file descriptors, after which even health probes fail.
//
// At the cap, the listener first closes the connection that has waited longest without a
// request in progress (idle between requests, or opened without a complete request header
// yet): an idle keep-alive connection costs its client only a reconnect, and a silent one
// is most likely an attacker's. With none idle, it still accepts a
// small reserve of connections beyond the cap, marked in their context (Overflow) so that the
// HTTP layer serves only health probes and metrics on them: an orchestrator can tell an
// overloaded instance from a dead one. Beyond the reserve, a connection is answered 503 and
// closed at once.
package connlimit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Options are the bounds. Zero values mean no bound.
type Options struct {
	// Max is the number of connections served normally.
	Max int
	// Reserve is how many connections beyond Max are accepted for probes only.
	Reserve int
	// PerClient caps the connections of one client address, except Exempt ones.
	PerClient int
	// Exempt are the addresses of reverse proxies, which carry many clients' connections;
	// they still count towards Max.
	Exempt []netip.Prefix
	// OnRefuse is called for each connection closed at accept ("client" or "total") and
	// each idle connection closed to make room ("evicted").
	OnRefuse func(reason string)
}

// Listener applies Options to the connections of an inner listener. Give its ConnState and
// ConnContext to the http.Server that serves it.
type Listener struct {
	net.Listener
	opts Options

	mu       sync.Mutex
	open     int // connections counted against Max, the reserve included
	overflow int // of which accepted into the reserve
	byClient map[netip.Addr]int
	idle     map[*conn]time.Time // connections with no request in progress, and since when
}

// New wraps inner.
func New(inner net.Listener, opts Options) *Listener {
	return &Listener{Listener: inner, opts: opts, byClient: map[netip.Addr]int{}, idle: map[*conn]time.Time{}}
}

// refusalBody is the problem document of a refusal: every error answer has one, this one
// too, although no handler writes it (the package imports nothing of ours, so it is spelled
// out here rather than made by package problem).
const refusalBody = `{"type":"about:blank","title":"Service Unavailable","status":503,` +
	`"detail":"connection limit reached; retry later"}` + "\n"

// refusal is written to a connection refused at accept, so that an HTTP client sees a
// retryable answer rather than only a reset. It is small enough to fit any socket buffer.
var refusal = []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n" +
	"Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n" +
	"Content-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n\r\n" + refusalBody)

// Accept returns the next connection within the bounds; the ones beyond them are refused
// here, so the server never sees them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := peer(c)
		wrapped, victim, reason := l.admit(c, client)
		if victim != nil {
			_ = victim.Close()
			l.refused("evicted")
		}
		if wrapped != nil {
			return wrapped, nil
		}
		l.refused(reason)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}
}

func (l *Listener) admit(c net.Conn, client netip.Addr) (accepted *conn, victim *conn, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	capped := l.opts.PerClient > 0 && client.IsValid() && !l.exempt(client)
	if capped && l.byClient[client] >= l.opts.PerClient {
		return nil, nil, "client"
	}
	overflow := false
	if l.opts.Max > 0 && l.open-l.overflow >= l.opts.Max {
		if victim = l.oldestIdle(); victim != nil {
			l.forget(victim) // counted out now, so that the new one takes its place
		} else if l.overflow < l.opts.Reserve {
			overflow = true
		} else {
			return nil, nil, "total"
		}
	}
	accepted = &conn{Conn: c, l: l, overflow: overflow}
	if capped {
		accepted.client = client
		l.byClient[client]++
	}
	l.open++
	if overflow {
		l.overflow++
	}
	return accepted, victim, ""
}

func (l *Listener) exempt(a netip.Addr) bool {
	for _, p := range l.opts.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// oldestIdle is the connection idle the longest, or nil. It scans: this runs only at the
// cap, and the idle set is at most Max.
func (l *Listener) oldestIdle() *conn {
	var oldest *conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	return oldest
}

// forget takes c out of the counts, once. Called with l.mu held.
func (l *Listener) forget(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	delete(l.idle, c)
	l.open--
	if c.overflow {
		l.overflow--
	}
	if c.client.IsValid() {
		if l.byClient[c.client]--; l.byClient[c.client] <= 0 {
			delete(l.byClient, c.client)
		}
	}
}

func (l *Listener) refused(reason string) {
	if l.opts.OnRefuse != nil {
		l.opts.OnRefuse(reason)
	}
}

// Open is the number of connections held open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Busy is the number of connections with a request in progress: the ones a graceful
// shutdown waits for.
func (l *Listener) Busy() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open - len(l.idle)
}

// ConnState tracks which connections are idle between requests; it is the http.Server's
// ConnState hook.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone {
		return
	}
	switch state {
	case http.StateNew, http.StateIdle:
		// Waiting for a request: between requests, or since accept with no complete header
		// yet (a client that connects and sends nothing is cut at READ_HEADER_TIMEOUT, but
		// at the cap it gives its place to a new connection first).
		l.idle[c] = time.Now()
	default:
		delete(l.idle, c)
	}
}

type overflowKey struct{}

// ConnContext marks the requests of connections accepted into the reserve; it is the
// http.Server's ConnContext hook.
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*conn); ok && c.overflow {
		return context.WithValue(ctx, overflowKey{}, true)
	}
	return ctx
}

// Overflow reports whether the request came on a connection beyond the cap, on which only
// probes should be served.
func Overflow(ctx context.Context) bool {
	v, _ := ctx.Value(overflowKey{}).(bool)
	return v
}

type conn struct {
	net.Conn
	l        *Listener
	client   netip.Addr // zero when not counted per client
	overflow bool
	gone     bool // counted out; guarded by l.mu
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite lets net/http end a connection it refuses more of (a body over the limit)
// with a FIN before it closes, so that the client reads the answer instead of a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// peer is the client address of c, v4-mapped addresses folded to v4 so that one client
// cannot count as two.
func peer(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}
