package config_test

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Secrets: [][]byte{[]byte("s")},
		Database: config.Database{Driver: "sqlite", Path: "data/hookvault.db", Synchronous: "FULL",
			ReadConns: 4, WriteConns: 1, Timeout: 10 * time.Second, AutoMigrate: true},
		ListenAddr:         ":8000",
		MaxBodyBytes:       1 << 20,
		SignatureTolerance: 5 * time.Minute,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "auto",
		ShutdownTimeout:    15 * time.Second,
		MaxInFlight:        1024,
		RateLimitWindow:    time.Second,
		ReadHeaderTimeout:  5 * time.Second,
		ReadBodyTimeout:    10 * time.Second,
		IdleTimeout:        30 * time.Second,
		ShutdownDelay:      5 * time.Second,

		MaxBodyBytesInFlight: 64 << 20,
		MaxConnections:       4096,
		MaxClientConnections: 256,
		MaxClientRequests:    256,

		MaxClientSignatureFailures: 20,
	}
	if got := c.LogValue().String(); got != want.LogValue().String() {
		t.Errorf("config = %s\nwant     %s", got, want.LogValue())
	}
	if c.NATSURL != "" || c.NATSStream != "HOOKVAULT" || c.RetryFirst != 5*time.Second || c.RetryMax != time.Hour ||
		c.RejectionBodyBytes != 4096 || c.RejectionRetention != 168*time.Hour || c.RejectionMaxRows != 100000 || c.Retention != 0 {
		t.Errorf("NATS_URL %q, NATS_STREAM %q", c.NATSURL, c.NATSStream)
	}
	if string(c.Secrets[0]) != "s" || c.Database != want.Database || len(c.APITokens) != 0 {
		t.Errorf("secrets %q, database %+v, tokens %q", c.Secrets, c.Database, c.APITokens)
	}
}

func TestFlagOverridesEnvironment(t *testing.T) {
	c, err := config.Load(
		[]string{"--listen-addr", "127.0.0.1:9000", "--webhook-secret=a, b", "--api-token=t1,t2"},
		env(map[string]string{"WEBHOOK_SECRET": "from-env", "LISTEN_ADDR": ":1", "MAX_BODY_BYTES": "2048", "LOG_LEVEL": "debug"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9000" {
		t.Errorf("ListenAddr = %q, want the flag's value", c.ListenAddr)
	}
	if len(c.Secrets) != 2 || string(c.Secrets[0]) != "a" || string(c.Secrets[1]) != "b" {
		t.Errorf("Secrets = %q, want [a b] from the flag, trimmed", c.Secrets)
	}
	if strings.Join(c.APITokens, ",") != "t1,t2" {
		t.Errorf("APITokens = %q", c.APITokens)
	}
	if c.MaxBodyBytes != 2048 || c.LogLevel != slog.LevelDebug {
		t.Errorf("MaxBodyBytes = %d, LogLevel = %v: the environment should apply where no flag is given", c.MaxBodyBytes, c.LogLevel)
	}
}

func TestDatabaseURL(t *testing.T) {
	tests := []struct {
		url      string
		wantPath string
		wantSync string
	}{
		{"sqlite:data/x.db", "data/x.db", "FULL"},
		{"sqlite:/var/lib/hv.db", "/var/lib/hv.db", "FULL"},
		{"sqlite:///relative/x.db", "relative/x.db", "FULL"},
		{"sqlite:////absolute/x.db", "/absolute/x.db", "FULL"},
		{"sqlite:x.db?synchronous=normal", "x.db", "NORMAL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": tt.url}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.Database.Path != tt.wantPath || c.Database.Synchronous != tt.wantSync {
				t.Errorf("got path %q sync %q, want %q %q", c.Database.Path, c.Database.Synchronous, tt.wantPath, tt.wantSync)
			}
		})
	}
}

// A PostgreSQL URL is kept whole for the driver, and its password never reaches a log.
func TestPostgresURL(t *testing.T) {
	for _, u := range []string{
		"postgres://hv:s3cret-pw@db.internal:5432/hookvault?sslmode=require",
		"postgresql://hv:s3cret-pw@10.0.0.5/hookvault",
	} {
		c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": u, "DATABASE_WRITE_CONNS": "8"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Database.Driver != "postgres" || c.Database.URL != u || c.Database.WriteConns != 8 {
			t.Errorf("%s: database = %+v", u, c.Database)
		}
		if logged := c.LogValue().String(); strings.Contains(logged, "s3cret-pw") || !strings.Contains(logged, "hv:xxxxx@") {
			t.Errorf("%s: logged as %s, want the password redacted", u, logged)
		}
	}
	_, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres://hv:s3cret-pw@[bad/x"}), io.Discard)
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("bad URL error = %v, want an error without the password", err)
	}

	// The password as a parameter is redacted too, in any case of its name.
	c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s",
		"DATABASE_URL": "postgres://hv@db/hookvault?password=s3cret-pw&sslmode=require&SSLPassword=k3y-pw"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if logged := c.LogValue().String(); strings.Contains(logged, "s3cret-pw") || strings.Contains(logged, "k3y-pw") ||
		!strings.Contains(logged, "password=xxxxx") || !strings.Contains(logged, "sslmode=require") {
		t.Errorf("logged as %s, want the password parameters redacted", logged)
	}
	if c.Database.URL != "postgres://hv@db/hookvault?password=s3cret-pw&sslmode=require&SSLPassword=k3y-pw" {
		t.Errorf("the driver gets %q, want the URL whole", c.Database.URL)
	}

	// A keyword/value string is refused without being echoed.
	for _, dsn := range []string{"host=db user=hv password=s3cret-pw dbname=hookvault", "host=db password=s3:cret-pw"} {
		_, err = config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": dsn}), io.Discard)
		if err == nil || strings.Contains(err.Error(), "s3") || !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("%s: error %v, want one without the password that shows the URL form", dsn, err)
		}
	}
}

// Every bad value names its variable (or flag), and all of them are reported at once.
func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want []string
	}{
		{"no secret", nil, nil, []string{"WEBHOOK_SECRET: is required"}},
		{"empty secret member", nil, map[string]string{"WEBHOOK_SECRET": "a,,b"}, []string{"WEBHOOK_SECRET: member 2"}},
		{"bad body limit", nil, map[string]string{"WEBHOOK_SECRET": "s", "MAX_BODY_BYTES": "1MB"}, []string{`MAX_BODY_BYTES: "1MB"`}},
		{"zero body limit", nil, map[string]string{"WEBHOOK_SECRET": "s", "MAX_BODY_BYTES": "0"}, []string{"MAX_BODY_BYTES"}},
		{"bad tolerance", nil, map[string]string{"WEBHOOK_SECRET": "s", "SIGNATURE_TOLERANCE": "5"}, []string{"SIGNATURE_TOLERANCE"}},
		{"negative shutdown", nil, map[string]string{"WEBHOOK_SECRET": "s", "SHUTDOWN_TIMEOUT": "-1s"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"bad level", nil, map[string]string{"WEBHOOK_SECRET": "s", "LOG_LEVEL": "loud"}, []string{"LOG_LEVEL"}},
		{"bad format", nil, map[string]string{"WEBHOOK_SECRET": "s", "LOG_FORMAT": "xml"}, []string{"LOG_FORMAT"}},
		{"bad listen addr", nil, map[string]string{"WEBHOOK_SECRET": "s", "LISTEN_ADDR": "8000"}, []string{"LISTEN_ADDR"}},
		{"memory database", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "sqlite::memory:"}, []string{"DATABASE_URL: needs a file path"}},
		{"unknown scheme", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "mysql://x"}, []string{"DATABASE_URL"}},
		{"postgres without host", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres:///db"}, []string{"DATABASE_URL: needs a host"}},
		{"zero read conns", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_READ_CONNS": "0"}, []string{"DATABASE_READ_CONNS"}},
		{"bad write conns", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_WRITE_CONNS": "many"}, []string{"DATABASE_WRITE_CONNS"}},
		{"bad database timeout", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_TIMEOUT": "10"}, []string{"DATABASE_TIMEOUT"}},
		{"bad auto migrate", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_AUTO_MIGRATE": "sometimes"}, []string{"DATABASE_AUTO_MIGRATE"}},
		{"unknown sqlite option", nil, map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "sqlite:x.db?cache=shared"}, []string{"DATABASE_URL", "cache"}},
		{"bad nats url", nil, map[string]string{"WEBHOOK_SECRET": "s", "NATS_URL": "127.0.0.1:4222"}, []string{"NATS_URL: must be a URL"}},
		{"retry max under first", nil, map[string]string{"WEBHOOK_SECRET": "s", "DELIVERY_RETRY_FIRST": "10s", "DELIVERY_RETRY_MAX": "5s"}, []string{"DELIVERY_RETRY_MAX: 5s is shorter"}},
		{"unbounded journal", nil, map[string]string{"WEBHOOK_SECRET": "s", "REJECTION_RETENTION": "0", "REJECTION_MAX_ROWS": "0"}, []string{"REJECTION_MAX_ROWS: 0 with"}},
		{"journal body over bound", nil, map[string]string{"WEBHOOK_SECRET": "s", "REJECTION_BODY_BYTES": "70000"}, []string{"REJECTION_BODY_BYTES"}},
		{"bad retention", nil, map[string]string{"WEBHOOK_SECRET": "s", "RETENTION": "30d"}, []string{"RETENTION"}},
		{"bad nats stream", nil, map[string]string{"WEBHOOK_SECRET": "s", "NATS_STREAM": "a.b"}, []string{"NATS_STREAM"}},
		{"flag is named", []string{"--max-body-bytes=-5"}, map[string]string{"WEBHOOK_SECRET": "s"}, []string{"--max-body-bytes"}},
		{"several at once", nil, map[string]string{"LOG_FORMAT": "xml"}, []string{"WEBHOOK_SECRET", "LOG_FORMAT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.args, env(tt.vars), io.Discard)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSecretsStayOutOfLogValue(t *testing.T) {
	c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "hunter2-secret", "API_TOKEN": "tok-123"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := c.LogValue().String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-123") {
		t.Fatalf("LogValue leaks a secret: %s", s)
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := config.Load([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"WEBHOOK_SECRET", "DATABASE_URL", "--shutdown-timeout", "hookvault migrate", "hookvault --version"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("usage does not mention %s", name)
		}
	}
}

func TestLogFormat(t *testing.T) {
	for _, v := range []string{"auto", "json", "text"} {
		c, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", "LOG_FORMAT": v}), io.Discard)
		if err != nil || c.LogFormat != v {
			t.Errorf("LOG_FORMAT=%s: format %q, error %v", v, c.LogFormat, err)
		}
	}
}
