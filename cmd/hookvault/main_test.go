package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/contracttest"
	"github.com/hookvault/hookvault/internal/signature"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds cmd/hookvault once per test run. HOOKVAULT_TEST_BINARY names a binary
// built elsewhere instead, e.g. an older commit's, to measure it with the same tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if bin := os.Getenv("HOOKVAULT_TEST_BINARY"); bin != "" {
		return bin
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

// start runs the built binary on a fresh SQLite file and a free loopback port, with env
// added to the environment (later entries win, so env may name another database or address).
// It returns the address from the "hookvault listening" line, the process, and a function
// that waits for the process to close its log and returns the rest of it. The log is read
// all along, so the server never blocks on a full pipe.
func start(t *testing.T, env ...string) (addr string, cmd *exec.Cmd, rest func() string) {
	t.Helper()
	return startCommand(t, []string{buildBinary(t)}, env...)
}

// startCommand is start with a command line that runs the binary, such as one under prlimit.
func startCommand(t *testing.T, argv []string, env ...string) (addr string, cmd *exec.Cmd, rest func() string) {
	t.Helper()
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "hv.db")), env...)
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
	return addr, cmd, sync.OnceValue(func() string { return <-done })
}

// webhookAnswer is what a sender learns from one POST /webhook.
type webhookAnswer struct {
	status      int
	dup         bool
	retryAfter  string
	contentType string
	err         error // no usable answer: transport error, or a 200 that is not the contract's
}

// acked reports whether the delivery was acknowledged.
func (a webhookAnswer) acked() bool { return a.err == nil && a.status == http.StatusOK }

// postWebhook posts body signed under secret. A 200 must be the contract's answer for the
// body's id, or err says what it was.
func postWebhook(client *http.Client, addr, secret string, body []byte) webhookAnswer {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", bytes.NewReader(body))
	if err != nil {
		return webhookAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signature.HeaderSignature, signature.Sign([]byte(secret), body))
	resp, err := client.Do(req)
	if err != nil {
		return webhookAnswer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := webhookAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		contentType: resp.Header.Get("Content-Type"), err: err}
	if a.status == http.StatusOK && err == nil {
		var sent struct{ ID string }
		_ = json.Unmarshal(body, &sent)
		var ok struct {
			Status, ID string
			Duplicate  bool
		}
		if json.Unmarshal(raw, &ok) != nil || ok.Status != "ok" || ok.ID != sent.ID {
			a.err = fmt.Errorf("200 with %q for id %q", raw, sent.ID)
		}
		a.dup = ok.Duplicate
	}
	return a
}

// getWithToken fetches path from the server at addr with a bearer token and returns the
// response, its body already read.
func getWithToken(client *http.Client, addr, token, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// testClient bounds every request, so a hung server fails the test instead of stalling it,
// and checks every answer against api/openapi.yaml: one the spec does not describe is the
// request's error.
var testClient = &http.Client{Timeout: 5 * time.Second, Transport: contracttest.Transport(nil)}

// syncLog collects a child's output for failure messages; the child writes it from exec's
// copying goroutine while the test may read it.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// freeAddr returns a loopback address that was free a moment ago, for a child that cannot
// report a port it picked itself.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls cond until it holds, failing the test after limit. Every wait is on an
// observable state, so a slow machine only makes the test slower, not flaky.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool, status func() string) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still waiting for %s\n%s", limit, what, status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// missingTool skips the test, or fails it when CI is set: CI must run every test.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this test may not skip)")
	}
	t.Skip(msg)
}

// needTool returns the path of tool, or calls missingTool saying how to install it.
func needTool(t *testing.T, tool, install string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		missingTool(t, "%s not found (%v): %s", tool, err, install)
	}
	return path
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

// The real binary: it serves, logs one JSON line per request, and on SIGTERM first answers
// readiness 503 for SHUTDOWN_DELAY while it still serves deliveries (so that a balancer
// stops routing to it before it stops listening), then drains, closes the store and exits 0.
func TestBinaryServesAndStopsCleanlyOnSIGTERM(t *testing.T) {
	addr, cmd, rest := start(t, "WEBHOOK_SECRET=e2e-secret", "SHUTDOWN_TIMEOUT=10s", "SHUTDOWN_DELAY=3s")

	body := `{"id":"e2e-1","sender":"alice","content":"hello"}`
	if a := postWebhook(http.DefaultClient, addr, "e2e-secret", []byte(body)); !a.acked() {
		t.Fatalf("POST /webhook = %d (%v)", a.status, a.err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readiness := func() int {
		resp, err := testClient.Get("http://" + addr + "/health/ready")
		if err != nil {
			return 0 // refused: the listener is closed
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, 2*time.Second, "readiness 503 after SIGTERM", func() bool { return readiness() == 503 },
		func() string { return fmt.Sprintf("readiness %d", readiness()) })
	late := `{"id":"e2e-2","sender":"alice","content":"sent while draining"}`
	if a := postWebhook(testClient, addr, "e2e-secret", []byte(late)); !a.acked() {
		t.Errorf("a delivery during SHUTDOWN_DELAY = %d (%v), want 200: requests are still served", a.status, a.err)
	}
	out := rest()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, out)
	}
	for _, want := range []string{`"msg":"request"`, `"message_id":"e2e-1"`, `"message_id":"e2e-2"`, `"result":"created"`,
		`"msg":"shutting down: readiness answers 503 while requests are still served","delay":"3s"`, `"msg":"hookvault stopped cleanly"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "e2e-secret") {
		t.Error("the secret appears in the output")
	}
}

// Ctrl-C (SIGINT) means someone at a terminal wants the server gone: no shutdown delay, and
// exit 0 after a clean drain (anything else makes `make run` print "Error 1").
func TestInterruptSkipsTheShutdownDelay(t *testing.T) {
	_, cmd, rest := start(t, "WEBHOOK_SECRET=e2e-secret", "SHUTDOWN_DELAY=1h")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out := rest()
	if err := cmd.Wait(); err != nil || cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit after SIGINT: %v, want 0; output:\n%s", err, out)
	}
	if strings.Contains(out, "readiness answers 503") || !strings.Contains(out, `"msg":"hookvault stopped cleanly"`) {
		t.Errorf("after SIGINT, want a clean stop without the delay:\n%s", out)
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

// A sources file with a mistake stops the start with exit 2 and a message that names the
// source and the field; WEBHOOK_SECRET is not needed beside a sources file.
func TestBadSourcesFileExitsTwo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sources.yaml")
	if err := os.WriteFile(path, []byte("sources:\n  - name: payments\n    provider: stripe\n    secrets: [\"${STRIPE_SECRET_X}\"]\n    tolerance: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	env := map[string]string{"SOURCES_FILE": path, "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "hv.db")}
	code := run(context.Background(), nil, func(k string) string { return env[k] }, &stderr)
	for _, want := range []string{`source "payments"`, "${STRIPE_SECRET_X} is not set", "tolerance"} {
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr.String(), want)
		}
	}
}

// SIGHUP reloads the sources file in the running binary; a bad file is logged and the
// running sources stay.
func TestSIGHUPReloadsSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sources.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sources:\n  - name: github\n    provider: github\n    secrets: [\"${GH_SECRET_ONE}\"]\n")
	addr, cmd, rest := start(t, "SOURCES_FILE="+path, "GH_SECRET_ONE=one-secret", "GH_SECRET_TWO=two-secret", "SHUTDOWN_DELAY=0s")
	reloads := func(result string) string {
		resp, err := testClient.Get("http://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `sources_reloads_total{result="`+result+`"}`) {
				return strings.Fields(line)[1]
			}
		}
		return "none"
	}
	hangup := func(result string) {
		t.Helper()
		before := reloads(result)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "a reload counted as "+result, func() bool { return reloads(result) != before },
			func() string { return reloads(result) })
	}
	write("sources:\n  - name: github\n    provider: github\n    secrets: [\"${GH_SECRET_ONE}\", \"${GH_SECRET_TWO}\"]\n  - name: slack\n    provider: slack\n    secrets: [s]\n")
	hangup("ok")
	write("sources:\n  - name: github\n    provider: nope\n")
	hangup("error")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out := rest()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, want := range []string{`"msg":"SIGHUP: sources reloaded","sources":["github","slack"]`,
		`"msg":"SIGHUP: the sources file has mistakes; the running sources are kept"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "two-secret") || strings.Contains(out, "one-secret") {
		t.Error("a secret appears in the log")
	}
}

// SIGHUP without a sources file is logged and changes nothing: its default action would end
// the server without a drain.
func TestSIGHUPWithoutSourcesFileKeepsServing(t *testing.T) {
	addr, cmd, rest := start(t, "WEBHOOK_SECRET=s", "SHUTDOWN_DELAY=0s")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "an answer after SIGHUP", func() bool {
		resp, err := testClient.Get("http://" + addr + "/health/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "no answer" })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out := rest()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"msg":"SIGHUP: no SOURCES_FILE, nothing to reload"`) {
		t.Errorf("log lacks the SIGHUP line:\n%s", out)
	}
}

// The log is buffered (a write per request line cost a system call each); every request's
// line is still written when the server stops on SIGTERM right after answering.
func TestNoLogLineLostOnSIGTERM(t *testing.T) {
	addr, cmd, rest := start(t, "WEBHOOK_SECRET="+logSecret, "SHUTDOWN_DELAY=0s")
	const n = 300
	for i := range n {
		if a := postWebhook(testClient, addr, logSecret, fmt.Appendf(nil, `{"id":"log-%d","sender":"a","content":"x"}`, i)); !a.acked() {
			t.Fatalf("delivery %d: %+v", i, a)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	lines := 0
	for _, l := range strings.Split(rest(), "\n") {
		var line struct{ Msg, Route string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "request" && line.Route == "/webhook" {
			lines++
		}
	}
	if lines != n {
		t.Errorf("%d request lines for /webhook after SIGTERM, want %d", lines, n)
	}
}

const logSecret = "log-secret"
