// Package server runs hookvault: it opens the store named by the configuration, builds the
// HTTP API on it, serves, and drains on shutdown. It is the only package that knows the
// concrete store backends.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/hookvault/hookvault/internal/buildinfo"
	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/connlimit"
	"github.com/hookvault/hookvault/internal/delivery"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/journal"
	"github.com/hookvault/hookvault/internal/logbuf"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/retention"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// HTTP server limits: generous for a webhook sender on a slow link, short enough that a
// client dribbling bytes cannot hold a connection for long. The header, body and idle
// timeouts are settings; these are the defaults of a Config built by hand.
const (
	readHeaderTimeout = 5 * time.Second
	readBodyTimeout   = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 64 << 10
	// connReserve is how many connections beyond MAX_CONNECTIONS are accepted to answer
	// health probes and metrics only.
	connReserve = 32
)

// Server is a running hookvault.
type Server struct {
	log     *slog.Logger
	store   hookvault.Store
	Metrics *metrics.Metrics
	http    *http.Server
	ln      net.Listener
	conns   *connlimit.Listener
	cfg     config.Config

	providerOpts  provider.Options
	defaultSource *sources.Source // POST /webhook's, nil without WEBHOOK_SECRET
	sources       atomic.Pointer[sources.Set]
	relay         *delivery.Relay
	journal       *journal.Recorder
	retention     *retention.Runner
	receiving     atomic.Int64         // deliveries being received (POST /webhook…), for the relay's Busy
	nats          *delivery.NATSSender // nil without NATS_URL
	pprof         *http.Server         // nil unless PPROF_ADDR is set
	pprofLn       net.Listener
	draining      atomic.Bool
	served        chan error
}

// NewLogger returns the structured logger the configuration asks for: JSON lines for a log
// collector, or slog's text lines for a person, which LOG_FORMAT=auto picks when w is a
// terminal. On a terminal the time is only the clock, so that a request fits on one line.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	return slog.New(newHandler(w, w, cfg))
}

// logFlushEvery bounds how late a buffered log line is.
const logFlushEvery = 100 * time.Millisecond

// NewBufferedLogger is NewLogger writing through a buffer (internal/logbuf): a line per
// request costs no write system call of its own; lines at warn and above go out at once, the
// rest within logFlushEvery. close writes what is left: call it before the process exits.
func NewBufferedLogger(w io.Writer, cfg config.Config) (log *slog.Logger, close func() error) {
	b := logbuf.New(w, logFlushEvery, 64<<10)
	return slog.New(logbuf.Handler(newHandler(b, w, cfg), b)), b.Close
}

// newHandler makes NewLogger's handler, writing to out for a process whose log goes to w
// (which says whether it is a terminal).
func newHandler(out, w io.Writer, cfg config.Config) slog.Handler {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	terminal := isTerminal(w)
	if logFormat(cfg.LogFormat, terminal) == "json" {
		return slog.NewJSONHandler(out, opts)
	}
	if terminal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		}
	}
	return slog.NewTextHandler(out, opts)
}

// ResolveLogFormat turns LOG_FORMAT=auto into what NewLogger(w, …) writes, "text" or
// "json", for Run, which keeps the start-up line short for a person.
func ResolveLogFormat(format string, w io.Writer) string {
	return logFormat(format, isTerminal(w))
}

// logFormat resolves LOG_FORMAT: "auto" is text for a person at a terminal and json
// otherwise (the contract's default, for whatever collects the logs of a service).
func logFormat(format string, terminal bool) string {
	if format == "auto" || format == "" {
		if terminal {
			return "text"
		}
		return "json"
	}
	return format
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Open opens the store, listens on cfg.ListenAddr (":0" picks a free port, for tests) and
// starts serving.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{log: log, Metrics: metrics.New(), served: make(chan error, 1), cfg: cfg,
		providerOpts: provider.Options{DefaultTolerance: cfg.SignatureTolerance, Now: time.Now}}
	if s.cfg.Getenv == nil { // a Config built by hand rather than by config.Load
		s.cfg.Getenv = func(string) string { return "" }
	}
	var verifier *signature.Verifier
	if len(cfg.Secrets) > 0 {
		var err error
		if verifier, err = signature.NewVerifier(cfg.Secrets, signature.Options{Tolerance: cfg.SignatureTolerance, Now: time.Now}); err != nil {
			return nil, &ConfigError{fmt.Errorf("WEBHOOK_SECRET: %w", err)}
		}
		if s.defaultSource, err = sources.NewDefault(cfg.Secrets, s.providerOpts); err != nil {
			return nil, &ConfigError{fmt.Errorf("WEBHOOK_SECRET: %w", err)}
		}
	}
	fileSources, err := s.loadSources()
	if err != nil {
		return nil, err
	}
	s.setSources(fileSources)
	s.store, err = openStore(ctx, cfg.Database, s.Metrics, log)
	if err != nil {
		return nil, err
	}
	if err := s.startRelay(); err != nil {
		s.store.Close()
		return nil, err
	}
	if err := s.startHousekeeping(); err != nil {
		s.closeStore()
		return nil, err
	}
	deliveries, _ := s.store.(hookvault.Deliveries) // startRelay has refused a store without one
	rejections, _ := s.store.(hookvault.Journal)    // startHousekeeping has too
	handler, err := httpapi.New(httpapi.Deps{
		Store: s.store, Verifier: verifier, Sources: s.sources.Load, Metrics: s.Metrics, Logger: log,
		MaxBodyBytes: cfg.MaxBodyBytes, APITokens: cfg.APITokens, Draining: s.draining.Load,
		Limits: httpapi.Limits{
			MaxInFlight: cfg.MaxInFlight, MaxBodyBytesInFlight: cfg.MaxBodyBytesInFlight,
			MaxClientRequests: cfg.MaxClientRequests, MaxClientSignatureFailures: cfg.MaxClientSignatureFailures,
			ReadBodyTimeout: orDefault(cfg.ReadBodyTimeout, readBodyTimeout),
			RateLimit:       cfg.RateLimit, RateLimitWindow: cfg.RateLimitWindow, TrustedProxies: cfg.TrustedProxies,
		},
		Notify: s.relay.Notify, Journal: s.journal, Deliveries: deliveries, Rejections: rejections,
		Receiving: &s.receiving,
	})
	if err != nil {
		s.closeStore()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	s.conns = connlimit.New(ln, connlimit.Options{
		Max: connectionCap(cfg.MaxConnections, log), Reserve: connReserve, PerClient: cfg.MaxClientConnections,
		Exempt: prefixes(cfg.TrustedProxies), OnRefuse: s.Metrics.ConnectionRefused,
	})
	s.ln = s.conns
	s.Metrics.GaugeFunc("http_connections_open", "Open client connections (bounded by MAX_CONNECTIONS).",
		func() float64 { return float64(s.conns.Open()) })
	headerTimeout := orDefault(cfg.ReadHeaderTimeout, readHeaderTimeout)
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: headerTimeout,
		// The body has its own, tighter deadline (READ_BODY_TIMEOUT, set by the handler);
		// this bounds the requests whose body no handler reads.
		ReadTimeout:    headerTimeout + orDefault(cfg.ReadBodyTimeout, readBodyTimeout),
		WriteTimeout:   writeTimeout,
		IdleTimeout:    orDefault(cfg.IdleTimeout, idleTimeout),
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      s.conns.ConnState,
		ConnContext:    s.conns.ConnContext,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.PprofAddr != "" {
		if err := s.servePprof(cfg.PprofAddr); err != nil {
			s.ln.Close()
			s.closeStore()
			return nil, err
		}
	}
	go func() { s.served <- s.http.Serve(s.ln) }()
	return s, nil
}

// ConfigError is a mistake in the configuration found when the server opens (a sources
// file with mistakes, a database folder that is missing or not writable): main exits 2 for
// it, as for a bad variable.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// loadSources reads SOURCES_FILE, when one is set.
func (s *Server) loadSources() (*sources.Set, error) {
	if s.cfg.SourcesFile == "" {
		return nil, nil
	}
	set, err := sources.Load(s.cfg.SourcesFile, s.cfg.Getenv, s.providerOpts)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("SOURCES_FILE %s:\n%w", s.cfg.SourcesFile, err)}
	}
	if s.cfg.NATSURL == "" {
		for _, d := range set.Destinations() {
			if d.NATSSubject != "" {
				return nil, &ConfigError{fmt.Errorf("SOURCES_FILE %s:\ndestination %q: nats_subject: needs NATS_URL (the NATS server to publish to)", s.cfg.SourcesFile, d.Name)}
			}
		}
	}
	return set, nil
}

// startHousekeeping starts the rejection journal's recorder and the retention of messages.
func (s *Server) startHousekeeping() error {
	j, ok := s.store.(hookvault.Journal)
	if !ok {
		return fmt.Errorf("DATABASE_URL: the %s store keeps no rejection journal", s.cfg.Database.Driver)
	}
	r, ok := s.store.(hookvault.Retention)
	if !ok {
		return fmt.Errorf("DATABASE_URL: the %s store cannot delete old messages", s.cfg.Database.Driver)
	}
	s.journal = journal.New(journal.Options{Store: j, BodyBytes: s.cfg.RejectionBodyBytes,
		Retention: s.cfg.RejectionRetention, MaxRows: s.cfg.RejectionMaxRows,
		Dropped: s.Metrics.RejectionsDropped.Inc, Logger: s.log, Busy: s.busy})
	s.retention = retention.Start(retention.Options{Store: r, Retention: s.cfg.Retention, Sizes: s.Metrics.Sizes, Logger: s.log})
	return nil
}

// startRelay starts delivering the outbox to the configured destinations.
func (s *Server) startRelay() error {
	deliveries, ok := s.store.(hookvault.Deliveries)
	if !ok {
		return fmt.Errorf("DATABASE_URL: the %s store keeps no outbox", s.cfg.Database.Driver)
	}
	if s.cfg.NATSURL != "" {
		n, err := delivery.NewNATSSender(s.cfg.NATSURL, s.cfg.NATSStream, s.log)
		if err != nil {
			return &ConfigError{err}
		}
		s.nats = n
	}
	opts := delivery.Options{Store: deliveries, HTTP: delivery.NewHTTPSender("hookvault/" + buildinfo.Read().Version),
		Observer: s.Metrics, Logger: s.log, Busy: s.busy,
		Policy: delivery.DefaultPolicy.WithRetries(s.cfg.RetryFirst, s.cfg.RetryMax)}
	if s.nats != nil {
		opts.NATS = s.nats
	}
	s.relay = delivery.New(opts)
	s.setDestinations(s.sources.Load())
	return nil
}

func (s *Server) setDestinations(set *sources.Set) {
	if s.relay == nil {
		return
	}
	if s.nats != nil {
		s.nats.SetDestinations(set.Destinations())
	}
	s.relay.SetDestinations(set.Destinations())
}

// busyReceiving is how many deliveries received at once make the relay hold back: a few
// are the normal state of a server at a steady rate; more mean senders are waiting.
const busyReceiving = 8

func (s *Server) busy() bool { return s.receiving.Load() >= busyReceiving }

// closeStore stops the relay, then closes the store: for a start-up that fails half-way.
func (s *Server) closeStore() {
	if s.retention != nil {
		s.retention.Close()
	}
	if s.journal != nil {
		_ = s.journal.Close(context.Background())
	}
	if s.relay != nil {
		_ = s.relay.Close(context.Background())
	}
	if s.nats != nil {
		s.nats.Close()
	}
	s.store.Close()
}

// setSources makes file's sources, after the default one, those the server receives from,
// at once for every request that starts after it.
func (s *Server) setSources(file *sources.Set) {
	set := sources.With(s.defaultSource, file)
	s.Metrics.Sources(set.Names()...)
	s.sources.Store(set)
	s.setDestinations(set)
}

// Reload reads SOURCES_FILE again (SIGHUP) and, when it is valid, swaps its sources in
// whole: a secret rotated in the file takes effect without a restart. A file with mistakes
// changes nothing; the error says what to fix.
func (s *Server) Reload() error {
	if s.cfg.SourcesFile == "" {
		return errors.New("no SOURCES_FILE to reload")
	}
	set, err := s.loadSources()
	if err != nil {
		return err
	}
	s.setSources(set)
	return nil
}

// Sources are the names of the sources the server receives from now.
func (s *Server) Sources() []string { return s.sources.Load().Names() }

// servePprof serves the profiler on its own listener, so that it is never reachable through
// the public address and can be bound to loopback only.
func (s *Server) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprofLn = ln
	s.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = s.pprof.Serve(ln) }()
	s.log.Info("pprof listening", slog.String("addr", ln.Addr().String()))
	return nil
}

// PprofAddr is the profiler's address, "" when it is off.
func (s *Server) PprofAddr() string {
	if s.pprofLn == nil {
		return ""
	}
	return s.pprofLn.Addr().String()
}

func openStore(ctx context.Context, db config.Database, m *metrics.Metrics, log *slog.Logger) (hookvault.Store, error) {
	switch db.Driver {
	case "sqlite":
		if err := checkSQLitePath(db.Path); err != nil {
			return nil, err
		}
		st, err := sqlite.Open(ctx, db.Path, sqlite.Options{
			Synchronous: db.Synchronous, Observer: m, WriteTimeout: db.Timeout, ReadConns: db.ReadConns,
			Logger: log,
		})
		if err != nil {
			return nil, sqliteOpenError(err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, db.URL, postgres.Options{
			ReadConns: db.ReadConns, WriteConns: db.WriteConns, Timeout: db.Timeout,
			Migrate: db.AutoMigrate, Observer: m,
		})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL (%s): %w", db, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("DATABASE_URL: no store for driver %q", db.Driver)
}

// Migrate brings the database's schema up to date: `hookvault migrate`, run once before
// replicas start with DATABASE_AUTO_MIGRATE=false. SQLite migrates when it opens.
func Migrate(ctx context.Context, db config.Database) error {
	switch db.Driver {
	case "sqlite":
		if err := checkSQLitePath(db.Path); err != nil {
			return err
		}
		st, err := sqlite.Open(ctx, db.Path, sqlite.Options{Synchronous: db.Synchronous, WriteTimeout: db.Timeout})
		if err != nil {
			return sqliteOpenError(err)
		}
		return st.Close()
	case "postgres":
		if err := postgres.Migrate(ctx, db.URL, db.Timeout); err != nil {
			return fmt.Errorf("DATABASE_URL (%s): %w", db, err)
		}
		return nil
	}
	return fmt.Errorf("DATABASE_URL: no store for driver %q", db.Driver)
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops taking new connections, turns readiness to 503, lets in-flight requests
// finish until ctx ends, then closes the store, which commits every insert already queued.
// Connections still busy at the deadline are cut, and their number logged: a request cut
// before its answer was never acknowledged, so a cut drain is not an error. Only a store
// that fails to close is.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.pprof != nil {
		_ = s.pprof.Close() // profiles in progress are not worth waiting for
	}
	if err := s.http.Shutdown(ctx); err != nil {
		cut := s.conns.Busy()
		_ = s.http.Close()
		s.log.Warn("drain timed out: cut the connections still busy; no answer was sent on them",
			slog.Int("connections_cut", cut), slog.String("cause", err.Error()))
	}
	// Attempts in flight finish (each within its destination's timeout) or are cut when
	// ctx ends; either way the outbox still holds what was not recorded as delivered.
	s.retention.Close()
	// The journal stores what it queued (the last refusals answered) before the store closes.
	if err := s.journal.Close(ctx); err != nil {
		s.log.Warn("drain timed out before the rejection journal had stored its queue")
	}
	if err := s.relay.Close(ctx); err != nil {
		s.log.Warn("drain timed out with delivery attempts in flight; they are attempted again at the next start")
	}
	if s.nats != nil {
		s.nats.Close()
	}
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// ErrInterrupted is the cancel cause main gives the context of Run on an interrupt
// (Ctrl-C): someone at a terminal wants the server gone, so Run skips SHUTDOWN_DELAY.
var ErrInterrupted = errors.New("interrupted")

// Run serves until ctx is cancelled (by SIGTERM or SIGINT in main). Then, unless the cause is
// ErrInterrupted, readiness answers 503 for cfg.ShutdownDelay while requests are still
// served, so that load balancers stop sending new ones before the listener closes; then it
// drains within cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	// SIGHUP's default action ends the process: caught from the start, with or without a
	// sources file, so that a hangup during start-up or with nothing to reload stops nothing.
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	s, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	build := buildinfo.Read()
	if cfg.LogFormat == "text" {
		// A person reads this one: where to send, what runs, where it stores; the whole
		// configuration is a debug line away (LOG_LEVEL=debug).
		log.Info("hookvault listening", slog.String("addr", s.Addr()), slog.String("version", build.Version),
			slog.String("database", cfg.Database.String()), slog.Any("sources", s.Sources()))
		log.Debug("configuration", slog.Any("config", cfg), memoryLimit())
	} else {
		log.Info("hookvault listening", slog.String("addr", s.Addr()), slog.String("version", build.Version),
			slog.String("revision", build.Revision), slog.Any("config", cfg), slog.Any("sources", s.Sources()), memoryLimit())
	}
	for serving := true; serving; {
		select {
		case <-ctx.Done():
			serving = false
		case <-hangups:
			if cfg.SourcesFile == "" {
				log.Info("SIGHUP: no SOURCES_FILE, nothing to reload")
				continue
			}
			if err := s.Reload(); err != nil {
				s.Metrics.SourceReloads.WithLabelValues("error").Inc()
				log.Error("SIGHUP: the sources file has mistakes; the running sources are kept", slog.String("error", err.Error()))
				continue
			}
			s.Metrics.SourceReloads.WithLabelValues("ok").Inc()
			log.Info("SIGHUP: sources reloaded", slog.Any("sources", s.Sources()))
		case err := <-s.served:
			_ = s.Shutdown(context.Background())
			return fmt.Errorf("serve: %w", err)
		}
	}
	if cfg.ShutdownDelay > 0 && !errors.Is(context.Cause(ctx), ErrInterrupted) {
		s.draining.Store(true)
		log.Info("shutting down: readiness answers 503 while requests are still served",
			slog.String("delay", cfg.ShutdownDelay.String()))
		time.Sleep(cfg.ShutdownDelay)
	}
	log.Info("shutting down: draining connections", slog.String("timeout", cfg.ShutdownTimeout.String()))
	dctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(dctx); err != nil {
		return err
	}
	log.Info("hookvault stopped cleanly")
	return nil
}

// fdHeadroom is the open files kept for everything but client connections: the database
// and its WAL, the listeners, connections to PostgreSQL, the profiler.
const fdHeadroom = 64

// connectionCap is MAX_CONNECTIONS, lowered to what the open-file limit leaves room for:
// a cap above it would let connections use up the descriptors the probes, the store and the
// accept loop need. 0 (no cap) becomes that room too.
func connectionCap(want int, log *slog.Logger) int {
	limit, ok := openFileLimit()
	if !ok {
		return want
	}
	room := max(limit-fdHeadroom-connReserve, 1)
	if want == 0 || want > room {
		log.Warn("MAX_CONNECTIONS lowered to what the open-file limit allows; raise the limit (ulimit -n) to allow more",
			slog.Int("max_connections", want), slog.Int("open_file_limit", limit), slog.Int("using", room))
		return room
	}
	return want
}

// memoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT), which the garbage
// collector works harder to stay under; "none" unless it is set.
func memoryLimit() slog.Attr {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return slog.String("gomemlimit", "none")
	}
	return slog.Int64("gomemlimit", limit)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// prefixes parses TRUSTED_PROXIES, which config has checked.
func prefixes(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
