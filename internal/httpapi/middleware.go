package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/hookvault/hookvault/internal/connlimit"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/sources"
)

const headerRequestID = "X-Request-Id"

// requestIDs hands out ids "<random prefix>-<counter>": unique across restarts without a
// random read per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return &requestIDs{prefix: hex.EncodeToString(b)}
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 10)
}

// requestID keeps a caller's X-Request-Id when it is short and printable, so that a trace
// through a proxy stays joined, and makes one otherwise.
func requestID(r *http.Request, g *requestIDs) string {
	id := r.Header.Get(headerRequestID)
	if id == "" || len(id) > 128 {
		return g.next()
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return g.next()
		}
	}
	return id
}

// probes are the paths still served on a connection beyond MAX_CONNECTIONS.
var probes = map[string]bool{"/health/live": true, "/health/ready": true, "/metrics": true}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// observe is the one layer before routing: it gives the request its id, routes HEAD as GET
// (net/http drops the body, so HEAD answers with GET's headers), turns a panic into a logged
// 500, and after the response writes the metrics and the one access log line, with what
// inner layers put in requestInfo.
func observe(log *slog.Logger, m *metrics.Metrics, ids *requestIDs) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := &requestInfo{requestID: requestID(r, ids)}
			h := w.Header()
			h[headerRequestID] = []string{info.requestID}
			h["X-Content-Type-Options"] = nosniff
			if len(r.TransferEncoding) > 0 {
				// net/http drops a Content-Length sent beside Transfer-Encoding, so a request
				// that had both, which RFC 9112 §6.1 says to answer by closing the
				// connection (bytes after the chunks may be a smuggled request), cannot be
				// told from a plain chunked one: close after every chunked request.
				h.Set("Connection", "close")
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			r = r.WithContext(withInfo(r.Context(), info))
			if rc := chi.RouteContext(r.Context()); rc != nil && r.Method == http.MethodHead {
				rc.RouteMethod = http.MethodGet // no route serves HEAD itself
			}

			handler := next
			if connlimit.Overflow(r.Context()) {
				// A connection beyond MAX_CONNECTIONS serves the probes and the metrics only,
				// once each, so that an overloaded instance still tells its state.
				h.Set("Connection", "close")
				if !probes[r.URL.Path] {
					handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						m.Shed("connections")
						fail(w, r, hookvault.Errorf(hookvault.EUNAVAILABLE, "server overloaded: too many connections; retry later"))
					})
				}
			}
			panicked := serve(log, handler, ww, r)

			end := time.Now()
			took := end.Sub(start)
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			// The pattern is complete only after routing, so read it after next.
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			m.HTTP(route, methodLabel(r.Method), status, took)
			webhook := route == webhookRoute || route == webhookSourceRoute
			if webhook && info.source == "" {
				// Refused before the checks named it (a limit): the route names it; the
				// metrics count only configured sources, whatever the path says.
				info.source = sources.Default
				if route == webhookSourceRoute {
					info.source = chi.RouteContext(r.Context()).URLParam("source")
				}
			}
			if webhook && info.result != "" {
				m.Webhook(info.source, info.result)
			}

			attrs := make([]slog.Attr, 0, 15)
			attrs = append(attrs,
				slog.String("request_id", info.requestID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("latency_ms", float64(took.Microseconds())/1000),
			)
			if info.client != "" { // the address the per-client limits counted
				attrs = append(attrs, slog.String("client", info.client))
			}
			if webhook {
				attrs = append(attrs,
					slog.String("source", info.source),
					slog.String("message_id", info.messageID),
					slog.Bool("dup", info.dup),
					slog.String("result", info.result))
			}
			if info.sigScheme != "" {
				attrs = append(attrs, slog.String("signature_scheme", info.sigScheme))
			}
			if info.sigReason != "" {
				attrs = append(attrs, slog.String("signature_failure", string(info.sigReason)))
			}
			if info.err != nil {
				attrs = append(attrs, slog.String("error", info.err.Error()))
			}
			level := logLevel(status)
			if panicked != nil {
				// The status line went out, but the client got a broken answer.
				attrs = append(attrs, slog.Bool("aborted", true))
				level = slog.LevelError
			}
			// The record is made here rather than by log.LogAttrs, which walks the stack for a
			// source position that the access log never shows.
			if lh := log.Handler(); lh.Enabled(r.Context(), level) {
				rec := slog.NewRecord(end, level, "request", 0)
				rec.AddAttrs(attrs...)
				_ = lh.Handle(r.Context(), rec) // a log that cannot be written is no reason to fail the request
			}
			if panicked != nil {
				panic(panicked)
			}
		})
	}
}

// serve calls next, and answers a panic with a logged 500 problem. It returns what next
// panicked with only for http.ErrAbortHandler: an answer cut off on purpose, which the log
// and the metrics must still show before net/http closes the connection.
func serve(log *slog.Logger, next http.Handler, w http.ResponseWriter, r *http.Request) (aborted any) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
			aborted = v
			return
		}
		log.ErrorContext(r.Context(), "panic serving request",
			slog.String("request_id", infoFrom(r.Context()).requestID),
			slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		fail(w, r, &hookvault.Error{Code: hookvault.EINTERNAL, Message: "internal error", Err: fmt.Errorf("panic: %v", v)})
	}()
	next.ServeHTTP(w, r)
	return nil
}
