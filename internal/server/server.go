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
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// HTTP server limits: generous for a webhook sender on a slow link, short enough that a
// client dribbling bytes cannot hold a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Server is a running hookvault.
type Server struct {
	log      *slog.Logger
	store    hookvault.Store
	Metrics  *metrics.Metrics
	http     *http.Server
	ln       net.Listener
	pprof    *http.Server // nil unless PPROF_ADDR is set
	pprofLn  net.Listener
	draining atomic.Bool
	served   chan error
}

// NewLogger returns the structured logger the configuration asks for.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Open opens the store, listens on cfg.ListenAddr (":0" picks a free port, for tests) and
// starts serving.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	verifier, err := signature.NewVerifier(cfg.Secrets, signature.Options{Tolerance: cfg.SignatureTolerance, Now: time.Now})
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_SECRET: %w", err)
	}
	s := &Server{log: log, Metrics: metrics.New(), served: make(chan error, 1)}
	s.store, err = openStore(ctx, cfg.Database, s.Metrics, log)
	if err != nil {
		return nil, err
	}
	handler, err := httpapi.New(httpapi.Deps{
		Store: s.store, Verifier: verifier, Metrics: s.Metrics, Logger: log,
		MaxBodyBytes: cfg.MaxBodyBytes, APITokens: cfg.APITokens, Draining: s.draining.Load,
		Limits: httpapi.Limits{
			MaxInFlight: cfg.MaxInFlight, RateLimit: cfg.RateLimit,
			RateLimitWindow: cfg.RateLimitWindow, TrustedProxies: cfg.TrustedProxies,
		},
	})
	if err != nil {
		s.store.Close()
		return nil, err
	}
	s.ln, err = net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		s.store.Close()
		return nil, fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	headerTimeout := cfg.ReadHeaderTimeout
	if headerTimeout <= 0 { // a Config built by hand rather than by config.Load
		headerTimeout = readHeaderTimeout
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.PprofAddr != "" {
		if err := s.servePprof(cfg.PprofAddr); err != nil {
			s.ln.Close()
			s.store.Close()
			return nil, err
		}
	}
	go func() { s.served <- s.http.Serve(s.ln) }()
	return s, nil
}

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
		st, err := sqlite.Open(ctx, db.Path, sqlite.Options{
			Synchronous: db.Synchronous, Observer: m, WriteTimeout: db.Timeout, ReadConns: db.ReadConns,
			Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
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
		st, err := sqlite.Open(ctx, db.Path, sqlite.Options{Synchronous: db.Synchronous, WriteTimeout: db.Timeout})
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
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
// finish until ctx ends, then closes the store. Requests still running at the deadline are
// cut off and reported as an error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.pprof != nil {
		_ = s.pprof.Close() // profiles in progress are not worth waiting for
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("drain: %w", err)
		_ = s.http.Close()
	}
	if cerr := s.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	return err
}

// Run serves until ctx is cancelled (by SIGTERM or SIGINT in main), then drains within
// cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("hookvault listening", slog.String("addr", s.Addr()), slog.Any("config", cfg))
	select {
	case <-ctx.Done():
	case err := <-s.served:
		_ = s.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
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
