// Package config loads the server configuration from environment variables and equal
// command-line flags (a flag wins over its variable). Every bad value is reported with the
// name of the variable or flag it came from, so a failed start says what to fix.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the validated server configuration.
type Config struct {
	Secrets     [][]byte // WEBHOOK_SECRET; none when only SOURCES_FILE is set
	SourcesFile string   // SOURCES_FILE, "" for none
	NATSURL     string   // NATS_URL, "" for none: nats_subject destinations need it
	NATSStream  string   // NATS_STREAM
	// The rejection journal: REJECTION_BODY_BYTES, REJECTION_RETENTION (0: forever),
	// REJECTION_MAX_ROWS (0: no bound).
	RejectionBodyBytes int
	RejectionRetention time.Duration
	RejectionMaxRows   int
	// Retention is RETENTION: the age after which messages are deleted; 0 keeps them.
	Retention time.Duration
	// RetryFirst and RetryMax are the first retry's backoff and the cap of a delivery's
	// backoff (DELIVERY_RETRY_FIRST, DELIVERY_RETRY_MAX).
	RetryFirst, RetryMax time.Duration
	// Getenv is the environment the configuration was loaded from: the sources file's ${VAR}
	// references are expanded from it, at start and on every reload.
	Getenv             func(string) string
	APITokens          []string // API_TOKEN, none disables the read API
	Database           Database // DATABASE_URL
	ListenAddr         string   // LISTEN_ADDR
	MaxBodyBytes       int64    // MAX_BODY_BYTES
	SignatureTolerance time.Duration
	LogLevel           slog.Level
	LogFormat          string // "auto" (text on a terminal, else json), "json" or "text"
	ShutdownTimeout    time.Duration
	PprofAddr          string // PPROF_ADDR, "" disables /debug/pprof
	MaxInFlight        int    // MAX_IN_FLIGHT, 0 means no cap
	RateLimit          int    // RATE_LIMIT per RateLimitWindow per client address, 0 means off
	RateLimitWindow    time.Duration
	TrustedProxies     []string // TRUSTED_PROXIES: CIDRs whose X-Forwarded-For is believed
	ReadHeaderTimeout  time.Duration
	ReadBodyTimeout    time.Duration
	IdleTimeout        time.Duration
	ShutdownDelay      time.Duration // SHUTDOWN_DELAY: readiness 503 while still serving, before the drain
	// MaxBodyBytesInFlight caps the body bytes held in memory at once; 0 means no cap.
	MaxBodyBytesInFlight int64
	MaxConnections       int // MAX_CONNECTIONS, 0 means no cap
	MaxClientConnections int // MAX_CLIENT_CONNECTIONS per client address, 0 means no cap
	MaxClientRequests    int // MAX_CLIENT_REQUESTS per client address at once, 0 means no cap
	// MaxClientSignatureFailures is MAX_CLIENT_SIGNATURE_FAILURES per second per client
	// address, 0 means no bound.
	MaxClientSignatureFailures int
}

// Database says which store to open and how.
type Database struct {
	Driver string // "sqlite" or "postgres"
	// Path is the SQLite file.
	Path string
	// Synchronous is SQLite's synchronous pragma: FULL (the default) makes every commit
	// durable across power loss; NORMAL only across process crashes.
	Synchronous string
	// URL is the PostgreSQL connection URL. It may hold a password: log String() instead.
	URL string
	// ReadConns bounds the connections for reads; WriteConns the PostgreSQL batches in
	// flight (SQLite has one writer).
	ReadConns, WriteConns int
	// Timeout bounds connecting and each database operation.
	Timeout time.Duration
	// AutoMigrate applies migrations at start; without it an old schema stops the start.
	AutoMigrate bool
}

// String names the database without its password.
func (d Database) String() string {
	if d.Driver != "postgres" {
		return d.Driver + ":" + d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "postgres:(unparsable URL)"
	}
	// libpq also takes the password as a parameter: ?password=… (and sslpassword for a key).
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// LogValue keeps secrets and tokens out of logs: only their number is shown.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("secrets", len(c.Secrets)),
		slog.String("sources_file", c.SourcesFile),
		slog.Int("api_tokens", len(c.APITokens)),
		slog.String("database", c.Database.String()),
		slog.Int("database_read_conns", c.Database.ReadConns),
		slog.Int("database_write_conns", c.Database.WriteConns),
		slog.String("database_timeout", c.Database.Timeout.String()),
		slog.Bool("database_auto_migrate", c.Database.AutoMigrate),
		slog.String("listen_addr", c.ListenAddr),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.String("signature_tolerance", c.SignatureTolerance.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("pprof_addr", c.PprofAddr),
		slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int("rate_limit", c.RateLimit),
		slog.String("rate_limit_window", c.RateLimitWindow.String()),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.String("read_header_timeout", c.ReadHeaderTimeout.String()),
		slog.String("read_body_timeout", c.ReadBodyTimeout.String()),
		slog.String("idle_timeout", c.IdleTimeout.String()),
		slog.String("shutdown_delay", c.ShutdownDelay.String()),
		slog.Int64("max_body_bytes_in_flight", c.MaxBodyBytesInFlight),
		slog.Int("max_connections", c.MaxConnections),
		slog.Int("max_client_connections", c.MaxClientConnections),
		slog.Int("max_client_requests", c.MaxClientRequests),
		slog.Int("max_client_signature_failures", c.MaxClientSignatureFailures),
	)
}

// setting is one variable with its flag: the single table that Load, the usage text and
// the README agree on.
type setting struct {
	env, flag, def, usage string
	apply                 func(c *Config, v string) error
}

var settings = []setting{
	{"WEBHOOK_SECRET", "webhook-secret", "", "one or more secrets of POST /webhook, comma-separated (required unless SOURCES_FILE is set; prefer the variable: flags show in ps)", func(c *Config, v string) error {
		parts, err := list(v)
		if err != nil {
			return err
		}
		for _, p := range parts {
			c.Secrets = append(c.Secrets, []byte(p))
		}
		return nil
	}},
	{"SOURCES_FILE", "sources-file", "", "YAML file of the sources to receive from (GitHub, Stripe, …) on POST /webhook/{source}; SIGHUP reloads it", func(c *Config, v string) error {
		c.SourcesFile = v
		return nil
	}},
	{"REJECTION_BODY_BYTES", "rejection-body-bytes", "4096", "how much of a refused delivery's body the rejection journal keeps (0 keeps none; at most 65536)", func(c *Config, v string) (err error) {
		if c.RejectionBodyBytes, err = nonNegativeInt(v); err == nil && c.RejectionBodyBytes > 64<<10 {
			err = fmt.Errorf("%d is over the bound of 65536", c.RejectionBodyBytes)
		}
		return err
	}},
	{"REJECTION_RETENTION", "rejection-retention", "168h", "how long the rejection journal keeps an entry (0: until REJECTION_MAX_ROWS pushes it out)", func(c *Config, v string) (err error) {
		c.RejectionRetention, err = nonNegativeDuration(v)
		return err
	}},
	{"REJECTION_MAX_ROWS", "rejection-max-rows", "100000", "the most entries the rejection journal keeps, oldest deleted first (0: no bound but REJECTION_RETENTION)", func(c *Config, v string) (err error) {
		c.RejectionMaxRows, err = nonNegativeInt(v)
		return err
	}},
	{"RETENTION", "retention", "0", "age after which stored messages (and their deliveries) are deleted, in the background (0: keep forever); a redelivery of a deleted message is stored again", func(c *Config, v string) (err error) {
		c.Retention, err = nonNegativeDuration(v)
		return err
	}},
	{"NATS_URL", "nats-url", "", "NATS server of the nats_subject destinations (nats://host:4222); hookvault keeps reconnecting while it is down", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) {
			return errors.New("must be a URL such as nats://127.0.0.1:4222")
		}
		c.NATSURL = v
		return nil
	}},
	{"NATS_STREAM", "nats-stream", "HOOKVAULT", "JetStream stream that nats_subject destinations publish to; created when missing", func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, " \t.*>/\\") {
			return errors.New("must be a stream name without spaces, '.', '*', '>', '/' or '\\'")
		}
		c.NATSStream = v
		return nil
	}},
	{"DELIVERY_RETRY_FIRST", "delivery-retry-first", "5s", "backoff before a failed delivery's first retry; it doubles with each failure (±20% jitter)", func(c *Config, v string) (err error) {
		c.RetryFirst, err = positiveDuration(v)
		return err
	}},
	{"DELIVERY_RETRY_MAX", "delivery-retry-max", "1h", "the longest backoff between two attempts of a delivery", func(c *Config, v string) (err error) {
		c.RetryMax, err = positiveDuration(v)
		return err
	}},
	{"API_TOKEN", "api-token", "", "bearer tokens for the read API, comma-separated (none: read API answers 401)", func(c *Config, v string) (err error) {
		c.APITokens, err = list(v)
		return err
	}},
	{"DATABASE_URL", "database-url", "sqlite:data/hookvault.db", "sqlite:PATH, sqlite:///relative or sqlite:////absolute (?synchronous=NORMAL trades power-loss durability for speed; the folder must exist and be writable, only the default's data/ is created), or postgres://user:password@host:5432/database", func(c *Config, v string) error {
		db, err := parseDatabaseURL(v)
		c.Database.Driver, c.Database.Path, c.Database.Synchronous, c.Database.URL = db.Driver, db.Path, db.Synchronous, db.URL
		return err
	}},
	{"DATABASE_READ_CONNS", "database-read-conns", "4", "database connections for reads (list, get, stats, readiness) per process", func(c *Config, v string) (err error) {
		c.Database.ReadConns, err = positiveInt(v)
		return err
	}},
	{"DATABASE_WRITE_CONNS", "database-write-conns", "1", "PostgreSQL: batches committed at once per process; more help when the database is far away (SQLite always has one writer)", func(c *Config, v string) (err error) {
		c.Database.WriteConns, err = positiveInt(v)
		return err
	}},
	{"DATABASE_TIMEOUT", "database-timeout", "10s", "bound on connecting and on each database operation; an insert that waits longer for a writer is answered 503 and never written", func(c *Config, v string) (err error) {
		c.Database.Timeout, err = positiveDuration(v)
		return err
	}},
	{"DATABASE_AUTO_MIGRATE", "database-auto-migrate", "true", "apply schema migrations at start (PostgreSQL: under an advisory lock); false refuses to start on an old schema: run \"hookvault migrate\" first", func(c *Config, v string) (err error) {
		c.Database.AutoMigrate, err = strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		return nil
	}},
	{"LISTEN_ADDR", "listen-addr", ":8000", "address to serve on", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not host:port: %w", v, err)
		}
		c.ListenAddr = v
		return nil
	}},
	{"MAX_BODY_BYTES", "max-body-bytes", "1048576", "request body limit in bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive number of bytes", v)
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{"SIGNATURE_TOLERANCE", "signature-tolerance", "5m", "Standard Webhooks timestamp tolerance", func(c *Config, v string) (err error) {
		c.SignatureTolerance, err = positiveDuration(v)
		return err
	}},
	{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}
		return nil
	}},
	{"LOG_FORMAT", "log-format", "auto", "auto (text, one readable line per request, when standard error is a terminal; json otherwise), json or text", func(c *Config, v string) error {
		switch v {
		case "auto", "json", "text":
			c.LogFormat = v
			return nil
		}
		return fmt.Errorf("%q is not one of auto, json, text", v)
	}},
	{"SHUTDOWN_DELAY", "shutdown-delay", "5s", "on SIGTERM, how long readiness answers 503 while requests are still served, so that balancers stop routing here before the drain (0: none; Ctrl-C skips it)", func(c *Config, v string) (err error) {
		c.ShutdownDelay, err = nonNegativeDuration(v)
		return err
	}},
	{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "drain time on SIGTERM/SIGINT, after SHUTDOWN_DELAY; connections still busy then are cut", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
	{"PPROF_ADDR", "pprof-addr", "", "serve /debug/pprof on this separate address, e.g. 127.0.0.1:6060 (off when empty)", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not host:port: %w", v, err)
		}
		c.PprofAddr = v
		return nil
	}},
	{"MAX_IN_FLIGHT", "max-in-flight", "1024", "requests processed at once, counted from when their body is in; more are answered 503 with Retry-After (0: no cap)", func(c *Config, v string) (err error) {
		c.MaxInFlight, err = nonNegativeInt(v)
		return err
	}},
	{"MAX_BODY_BYTES_IN_FLIGHT", "max-body-bytes-in-flight", "67108864", "request body bytes held in memory at once, a quarter of it per client address; a body beyond it is answered 503 (0: no cap)", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of bytes of 0 or more", v)
		}
		c.MaxBodyBytesInFlight = n
		return nil
	}},
	{"MAX_CONNECTIONS", "max-connections", "4096", "open connections; at the cap the longest idle one is closed, or only health probes and metrics are served on a few more (0: no cap)", func(c *Config, v string) (err error) {
		c.MaxConnections, err = nonNegativeInt(v)
		return err
	}},
	{"MAX_CLIENT_CONNECTIONS", "max-client-connections", "256", "open connections from one client address, not counting TRUSTED_PROXIES (0: no cap)", func(c *Config, v string) (err error) {
		c.MaxClientConnections, err = nonNegativeInt(v)
		return err
	}},
	{"MAX_CLIENT_REQUESTS", "max-client-requests", "256", "requests from one client address at once (behind TRUSTED_PROXIES, the address in X-Forwarded-For); more are answered 503 (0: no cap)", func(c *Config, v string) (err error) {
		c.MaxClientRequests, err = nonNegativeInt(v)
		return err
	}},
	{"MAX_CLIENT_SIGNATURE_FAILURES", "max-client-signature-failures", "20", "refused signatures per second one client address may cause (twice that in a burst); past it, its deliveries are answered 503 for a second, unread (0: no bound)", func(c *Config, v string) (err error) {
		c.MaxClientSignatureFailures, err = nonNegativeInt(v)
		return err
	}},
	{"RATE_LIMIT", "rate-limit", "0", "requests per RATE_LIMIT_WINDOW from one client IP; more are answered 503 with Retry-After (0: off)", func(c *Config, v string) (err error) {
		c.RateLimit, err = nonNegativeInt(v)
		return err
	}},
	{"RATE_LIMIT_WINDOW", "rate-limit-window", "1s", "the sliding window of RATE_LIMIT", func(c *Config, v string) (err error) {
		c.RateLimitWindow, err = positiveDuration(v)
		return err
	}},
	{"TRUSTED_PROXIES", "trusted-proxies", "", "CIDRs of reverse proxies whose X-Forwarded-For names the client for RATE_LIMIT, comma-separated (none: the TCP peer is the client)", func(c *Config, v string) error {
		parts, err := list(v)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := netip.ParsePrefix(p); err != nil {
				return fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", p)
			}
		}
		c.TrustedProxies = parts
		return nil
	}},
	{"READ_HEADER_TIMEOUT", "read-header-timeout", "5s", "time a client has to send the request headers", func(c *Config, v string) (err error) {
		c.ReadHeaderTimeout, err = positiveDuration(v)
		return err
	}},
	{"READ_BODY_TIMEOUT", "read-body-timeout", "10s", "time a client has to send the whole request body after its headers; a slower body is answered 408", func(c *Config, v string) (err error) {
		c.ReadBodyTimeout, err = positiveDuration(v)
		return err
	}},
	{"IDLE_TIMEOUT", "idle-timeout", "30s", "how long an idle keep-alive connection is kept (behind a balancer that reuses connections, set it above the balancer's idle timeout)", func(c *Config, v string) (err error) {
		c.IdleTimeout, err = positiveDuration(v)
		return err
	}},
}

// Load reads the configuration from args (without the program name) and getenv. It returns
// flag.ErrHelp after printing usage to out when -h or -help is given.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c, err := load("hookvault", usageServe, settings, args, getenv, out)
	if errors.Is(err, flag.ErrHelp) {
		return c, err
	}
	if c.RejectionRetention == 0 && c.RejectionMaxRows == 0 {
		err = errors.Join(err, errors.New("REJECTION_MAX_ROWS: 0 with REJECTION_RETENTION 0 would let the rejection journal grow without bound; set one of them"))
	}
	if c.RetryMax < c.RetryFirst {
		err = errors.Join(err, fmt.Errorf("DELIVERY_RETRY_MAX: %s is shorter than DELIVERY_RETRY_FIRST (%s)", c.RetryMax, c.RetryFirst))
	}
	if len(c.Secrets) == 0 && c.SourcesFile == "" {
		err = errors.Join(err, errors.New("WEBHOOK_SECRET: is required unless SOURCES_FILE is set: set one or more secrets, comma-separated, or a sources file"))
	}
	c.Getenv = getenv
	return c, err
}

// LoadDatabase reads only the DATABASE_* settings, for commands such as `hookvault migrate`
// that need no secret.
func LoadDatabase(args []string, getenv func(string) string, out io.Writer) (Database, error) {
	var db []setting
	for _, s := range settings {
		if strings.HasPrefix(s.env, "DATABASE_") {
			db = append(db, s)
		}
	}
	c, err := load("hookvault migrate", usageMigrate, db, args, getenv, out)
	return c.Database, err
}

// usageServe and usageMigrate head the -h text of the two commands; the settings follow.
const (
	usageServe = `Usage:
  hookvault [flags]          receive, verify and store webhooks
  hookvault migrate [flags]  bring the database schema up to date and exit (DATABASE_* settings only)
  hookvault --version        print the version and exit

Every setting is an environment variable with an equal flag; a flag wins over its variable.
A bad value stops the start with exit status 2 and a message naming the variable.
`
	usageMigrate = `Usage:
  hookvault migrate [flags]

Applies the database migrations and exits: run it once before starting replicas with
DATABASE_AUTO_MIGRATE=false. Every setting is an environment variable with an equal flag.
`
)

// printUsage writes header, then each setting with its flag, variable, default and meaning,
// so that -h answers every question the README's configuration table does.
func printUsage(w io.Writer, header string, settings []setting) {
	fmt.Fprint(w, header)
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "\n  --%s, %s (default: %s)\n", s.flag, s.env, def)
		line := "     "
		for _, word := range strings.Fields(s.usage) {
			if len(line)+1+len(word) > 96 && strings.TrimSpace(line) != "" {
				fmt.Fprintln(w, line)
				line = "     "
			}
			line += " " + word
		}
		fmt.Fprintln(w, line)
	}
}

func load(name, header string, settings []setting, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { printUsage(out, header, settings) }
	values := make([]string, len(settings))
	for i, s := range settings {
		fs.StringVar(&values[i], s.flag, "", s.usage)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var c Config
	var errs []error
	for i, s := range settings {
		value, source := s.def, s.env
		if v := getenv(s.env); v != "" {
			value = v
		}
		if given[s.flag] {
			value, source = values[i], "--"+s.flag
		}
		if err := s.apply(&c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}
	return c, errors.Join(errs...)
}

// list splits a comma-separated list, trimming spaces; an empty member is an error because
// it is almost always a typo (a trailing comma) that would otherwise pass silently.
func list(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("member %d of the comma-separated list is empty", i+1)
		}
	}
	return parts, nil
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of 1 or more", v)
	}
	return n, nil
}

func nonNegativeInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number of 0 or more", v)
	}
	return n, nil
}

func nonNegativeDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration of 0 or more such as 0s or 5s", v)
	}
	return d, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s or 5m", v)
	}
	return d, nil
}

// parsePostgresURL checks the shape of a PostgreSQL URL; the driver checks its parameters
// when it connects. Errors never quote the URL: it may hold a password.
func parsePostgresURL(v string) (Database, error) {
	u, err := url.Parse(v)
	if err != nil {
		return Database{}, errors.New("is not a valid postgres://user:password@host:port/database URL")
	}
	if u.Opaque != "" || (u.Host == "" && u.Query().Get("host") == "") {
		return Database{}, errors.New("needs a host: postgres://user:password@host:port/database")
	}
	return Database{Driver: "postgres", URL: v}, nil
}

// parseDatabaseURL accepts sqlite:PATH, and SQLAlchemy's sqlite:///relative and
// sqlite:////absolute forms that users of the Python seed have in their environment.
func parseDatabaseURL(v string) (Database, error) {
	scheme, rest, ok := strings.Cut(v, ":")
	switch {
	case strings.ContainsAny(scheme, "= \t"):
		// A libpq keyword/value string (host=… password=…): never echoed, it may hold a password.
		return Database{}, errors.New("looks like a keyword/value connection string (host=… dbname=…); " +
			"write it as a URL: postgres://user:password@host:5432/database")
	case !ok:
		return Database{}, fmt.Errorf("%q has no scheme; use sqlite:PATH or postgres://…", v)
	case scheme == "postgres" || scheme == "postgresql":
		return parsePostgresURL(v)
	case scheme != "sqlite":
		return Database{}, fmt.Errorf("scheme %q is not supported; use sqlite:PATH or postgres://…", scheme)
	}
	path, rawQuery, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(path, "//") { // sqlite:///rel or sqlite:////abs: drop the empty authority
		path = path[2:]
		if strings.HasPrefix(path, "//") {
			path = path[1:]
		} else {
			path = strings.TrimPrefix(path, "/")
		}
	}
	if path == "" || path == ":memory:" {
		return Database{}, errors.New("needs a file path: the store must be durable (sqlite:data/hookvault.db)")
	}
	db := Database{Driver: "sqlite", Path: filepath.Clean(path), Synchronous: "FULL"}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Database{}, fmt.Errorf("bad query: %w", err)
	}
	for k, vs := range q {
		switch k {
		case "synchronous":
			switch s := strings.ToUpper(vs[0]); s {
			case "FULL", "NORMAL", "EXTRA":
				db.Synchronous = s
			default:
				return Database{}, fmt.Errorf("synchronous=%q is not one of FULL, NORMAL, EXTRA", vs[0])
			}
		default:
			return Database{}, fmt.Errorf("unknown parameter %q (supported: synchronous)", k)
		}
	}
	return db, nil
}
