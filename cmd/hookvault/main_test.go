package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hookvault/hookvault/internal/signature"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds cmd/hookvault once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookvault-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hookvault")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// start runs cmd and returns the address from its "hookvault listening" line (":0" picks a
// free port), and a function that waits for the process to close its log and returns the
// rest of it. The log is read all along, so the server never blocks on a full pipe.
func start(t *testing.T, cmd *exec.Cmd) (addr string, rest func() string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	var seen []string
	for addr == "" && lines.Scan() {
		seen = append(seen, lines.Text())
		var l struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &l) == nil && l.Msg == "hookvault listening" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no listening line; output:\n%s", strings.Join(seen, "\n"))
	}
	done := make(chan string)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text())
			b.WriteByte('\n')
		}
		done <- b.String()
	}()
	return addr, sync.OnceValue(func() string { return <-done })
}

func TestConfigurationErrorsExitTwoAndNameTheVariable(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no secret", nil, "WEBHOOK_SECRET"},
		{"bad duration", map[string]string{"WEBHOOK_SECRET": "s", "SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
		{"postgres without host", map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres:///x"}, "DATABASE_URL"},
		{"bad pool size", map[string]string{"WEBHOOK_SECRET": "s", "DATABASE_WRITE_CONNS": "0"}, "DATABASE_WRITE_CONNS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			code := run(context.Background(), nil, func(k string) string { return tt.env[k] }, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, stderr.String(), tt.want)
			}
		})
	}
}

// The real binary: it serves, logs one JSON line per request, and on SIGTERM drains, closes
// the store and exits 0.
func TestBinaryServesAndStopsCleanlyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(buildBinary(t))
	cmd.Env = append(os.Environ(),
		"WEBHOOK_SECRET=e2e-secret", "LISTEN_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:"+filepath.Join(dir, "hv.db"), "SHUTDOWN_TIMEOUT=10s")
	addr, rest := start(t, cmd)

	body := `{"id":"e2e-1","sender":"alice","content":"hello"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", signature.Sign([]byte("e2e-secret"), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /webhook = %d %s", resp.StatusCode, answer)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out := rest()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, out)
	}
	for _, want := range []string{`"msg":"request"`, `"message_id":"e2e-1"`, `"result":"created"`, `"msg":"hookvault stopped cleanly"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "e2e-secret") {
		t.Error("the secret appears in the output")
	}
}

// `hookvault migrate` needs no secret, creates and migrates the database, and reports a bad
// setting like the server does.
func TestMigrateCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	var stderr strings.Builder
	env := map[string]string{"DATABASE_URL": "sqlite:" + path}
	if code := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, &stderr); code != 0 {
		t.Fatalf("migrate: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(path); err != nil || !strings.Contains(stderr.String(), "is up to date") {
		t.Fatalf("after migrate: %v, output %q", err, stderr.String())
	}
	stderr.Reset()
	env["DATABASE_TIMEOUT"] = "soon"
	if code := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, &stderr); code != 2 || !strings.Contains(stderr.String(), "DATABASE_TIMEOUT") {
		t.Fatalf("migrate with a bad setting: exit %d, %q; want 2 naming DATABASE_TIMEOUT", code, stderr.String())
	}
}
