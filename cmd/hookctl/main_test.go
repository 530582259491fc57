package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/server"
)

// testSecret and testToken are distinctive so that a leak into any output is found by a
// substring search.
const (
	testSecret = "test-secret-7f3a9c"
	testToken  = "test-token-4b8e1d"
)

type result struct {
	code           int
	stdout, stderr string
}

// wantFailure asserts a failed run: the exit code, nothing on stdout, and stderr holding
// every one of parts.
func (r result) wantFailure(t *testing.T, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d; stderr: %s", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	for _, want := range parts {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not contain %q: %s", want, r.stderr)
		}
	}
}

// exitCase is one run of a command in a test table: its environment and arguments, the
// exit code it must end with and, for a failure, what stderr must hold.
type exitCase struct {
	name       string
	env        map[string]string
	args       []string
	wantCode   int
	wantStderr []string
}

// hookctl runs the command in-process with only the given environment, so the developer's
// own HOOKVAULT_URL or WEBHOOK_SECRET cannot change the outcome.
func hookctl(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(args, strings.NewReader(stdin), &stdout, &stderr, getenv)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	for _, secret := range []string{testSecret, testToken} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("hookctl %q printed %q:\nstdout: %s\nstderr: %s", args, secret, r.stdout, r.stderr)
		}
	}
	return r
}

// startServer runs a real hookvault on a free port with a temporary SQLite file, the test
// secret and the test token, and returns its base URL.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, "--api-token="+testToken)
}

// startServerWith is startServer with the given server flags instead of the API token.
func startServerWith(t *testing.T, args ...string) string {
	t.Helper()
	return "http://" + openServer(t, args...).Addr()
}

// openServer starts the server of startServerWith and returns it, for tests that reload
// its sources.
func openServer(t *testing.T, args ...string) *server.Server {
	t.Helper()
	cfg, err := config.Load(append([]string{
		"--listen-addr=127.0.0.1:0",
		"--database-url=sqlite:" + filepath.Join(t.TempDir(), "hv.db"),
		"--webhook-secret=" + testSecret,
		// bulk --bad-signatures sends many refused signatures from one address on purpose.
		"--max-client-signature-failures=0",
	}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.Open(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"help", []string{"--help"}, 0, "Usage: hookctl <command>", ""},
		{"sign help explains newlines", []string{"sign", "--help"}, 0, "echo adds a newline and printf does not", ""},
		{"send help names the variables", []string{"send", "--help"}, 0, "$HOOKVAULT_URL", ""},
		{"no command", nil, 2, "", `expected one of "sign", "send"`},
		{"unknown command", []string{"frob"}, 2, "", "unexpected argument frob"},
		{"unknown flag", []string{"send", "--bogus"}, 2, "", "unknown flag --bogus"},
		{"bad timeout", []string{"send", "--timeout=soon"}, 2, "", "--timeout"},
		{"zero timeout", []string{"send", "--timeout=0s"}, 2, "", "--timeout must be positive"},
		{"data and file", []string{"send", "--data={}", "--file=x.json"}, 2, "", "--data or --file, not both"},
		{"data and id", []string{"send", "--data={}", "--id=1"}, 2, "", "cannot be combined with --data or --file"},
		{"file and content", []string{"send", "--file=x.json", "--content="}, 2, "", "cannot be combined with --data or --file"},
		{"sign data and file", []string{"sign", "--data=x", "body.json"}, 2, "", "--data or FILE, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, map[string]string{"WEBHOOK_SECRET": testSecret}, "", tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantStdout, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, r.stderr)
			}
		})
	}
}

func TestSecretKey(t *testing.T) {
	tests := []struct {
		secret  string
		want    string
		wantErr string
	}{
		{"key", "key", ""},
		{"key,other", "key", ""},
		{" key , other", "key", ""},
		{"", "", "set WEBHOOK_SECRET or pass --secret"},
		{"   ", "", "set WEBHOOK_SECRET or pass --secret"},
		{",key", "", "first secret in WEBHOOK_SECRET / --secret is empty"},
	}
	for _, tt := range tests {
		got, err := secretFlag{Secret: tt.secret}.key()
		if string(got) != tt.want {
			t.Errorf("key(%q) = %q, want %q", tt.secret, got, tt.want)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("key(%q): %v", tt.secret, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("key(%q) error = %v, want one containing %q", tt.secret, err, tt.wantErr)
		}
	}
}
