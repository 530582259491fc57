package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/natstest"
)

// The README's "Delivering to your app", followed as a reader would: its destinations YAML
// beside its sources YAML, its Go receiver built in a module of its own with the official
// Standard Webhooks library, and a NATS server. A GitHub push reaches the receiver, verified;
// a ping (not in the app's types) does not; both reach the stream on their subjects. The
// Python receiver is compiled, and run when its library is installed (the Python package
// index is not reachable from this machine kind).
func TestReadmeDeliveryReceivers(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	var sourcesYAML, destYAML, goReceiver, pyReceiver string
	for _, b := range readmeFenced(readme, "yaml") {
		text := strings.Join(b.lines, "\n") + "\n"
		switch {
		case sourcesYAML == "" && strings.HasPrefix(text, "sources:"):
			sourcesYAML = text
		case destYAML == "" && strings.HasPrefix(text, "destinations:"):
			destYAML = text
		}
	}
	for _, b := range readmeFenced(readme, "go") {
		if text := strings.Join(b.lines, "\n"); strings.Contains(text, "standardwebhooks") {
			goReceiver = text + "\n"
		}
	}
	for _, b := range readmeFenced(readme, "python") {
		if text := strings.Join(b.lines, "\n"); strings.Contains(text, "standardwebhooks") {
			pyReceiver = text + "\n"
		}
	}
	const appURL = "http://127.0.0.1:3000/hooks"
	if sourcesYAML == "" || destYAML == "" || goReceiver == "" || pyReceiver == "" || !strings.Contains(destYAML, appURL) {
		t.Fatalf("README.md lacks a yaml block starting `sources:` or `destinations:` (with url %s), or a go or python block using standardwebhooks", appURL)
	}

	work := t.TempDir()
	recv := buildReadmeReceiver(t, work, goReceiver)
	py := filepath.Join(work, "receiver.py")
	if err := os.WriteFile(py, []byte(pyReceiver), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("python3", "-m", "py_compile", py).CombinedOutput(); err != nil {
		t.Fatalf("the README's Python receiver does not compile: %v\n%s", err, out)
	}

	n := natstest.Start(t)
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	recvAddr := freeAddr(t)
	port := recvAddr[strings.LastIndex(recvAddr, ":")+1:]
	app := startReceiver(t, []string{recv}, "PORT="+port, "APP_FORWARD_SECRET="+secret)
	var pyApp *receiverOutput
	pyAddr := freeAddr(t)
	if exec.Command("python3", "-c", "import standardwebhooks").Run() == nil {
		pyApp = startReceiver(t, []string{"python3", py}, "PORT="+pyAddr[strings.LastIndex(pyAddr, ":")+1:], "APP_FORWARD_SECRET="+secret)
	} else {
		t.Log("the Python receiver was compiled but not run: the standardwebhooks package is not installed (pip install standardwebhooks)")
	}

	file := sourcesYAML + strings.Replace(destYAML, appURL, "http://"+recvAddr+"/hooks", 1)
	if pyApp != nil {
		file += fmt.Sprintf("  - name: python-app\n    url: http://%s/hooks\n    secret: %s\n", pyAddr, secret)
	}
	path := filepath.Join(work, "sources.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	const ghSecret = "github-secret"
	addr, _, _ := start(t, "SOURCES_FILE="+path, "GITHUB_WEBHOOK_SECRET="+ghSecret, "STRIPE_WEBHOOK_SECRET=whsec_stripe",
		"APP_FORWARD_SECRET="+secret, "NATS_URL="+n.URL())

	push := `{"ref":"refs/heads/main","after":"c0ffee"}`
	for _, d := range []struct{ id, event, body string }{{"d-push", "push", push}, {"d-ping", "ping", `{"zen":"Keep it logically awesome."}`}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook/github", strings.NewReader(d.body))
		mac := hmac.New(sha256.New, []byte(ghSecret))
		mac.Write([]byte(d.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", d.id)
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /webhook/github (%s) = %d", d.event, resp.StatusCode)
		}
	}
	want := "github/d-push push " + push
	waitFor(t, 30*time.Second, "the Go receiver to print the push", func() bool { return strings.Contains(app.String(), want) }, app.String)
	if pyApp != nil {
		waitFor(t, 30*time.Second, "the Python receiver to print the push", func() bool { return strings.Contains(pyApp.String(), want) }, pyApp.String)
	}
	waitFor(t, 30*time.Second, "both messages in the stream", func() bool { return natstest.Count(n.URL(), "HOOKVAULT") == 2 },
		func() string { return fmt.Sprintf("%d in the stream", natstest.Count(n.URL(), "HOOKVAULT")) })
	msgs, _ := natstest.Messages(t, n.URL(), "HOOKVAULT")
	if m := msgs["github/d-push"]; m == nil || m.Subject != "hookvault.github.push" || string(m.Data) != push {
		t.Errorf("push in the stream: %+v", m)
	}
	if m := msgs["github/d-ping"]; m == nil || m.Subject != "hookvault.github.ping" {
		t.Errorf("ping in the stream: %+v", m)
	}
	if out := app.String(); strings.Contains(out, "d-ping") {
		t.Errorf("the app got the ping, which its types filter leaves out:\n%s", out)
	}
}

// buildReadmeReceiver builds the README's Go receiver in a throwaway module outside the
// repository, as a reader would, resolving the Standard Webhooks library like `go mod tidy`
// does for them.
func buildReadmeReceiver(t *testing.T, work, source string) string {
	t.Helper()
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go [0-9.]+$`).Find(goMod)
	lib := regexp.MustCompile(`(?m)^\s*github.com/standard-webhooks/standard-webhooks/libraries (v\S+)`).FindSubmatch(goMod)
	if goLine == nil || lib == nil {
		t.Fatal("../../go.mod has no go line or no standard-webhooks requirement (the version the receiver is tested with)")
	}
	mod := filepath.Join(work, "receiver")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	sdkWriteFile(t, filepath.Join(mod, "go.mod"), fmt.Sprintf("module example.com/receiver\n\n%s\n\nrequire github.com/standard-webhooks/standard-webhooks/libraries %s\n", goLine, lib[1]))
	sdkWriteFile(t, filepath.Join(mod, "main.go"), source)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", "receiver", "."}} {
		c := exec.CommandContext(ctx, "go", args...)
		c.Dir = mod
		c.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go %s for the README's receiver: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return filepath.Join(mod, "receiver")
}

// receiverOutput collects what a receiver prints.
type receiverOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *receiverOutput) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func startReceiver(t *testing.T, argv []string, env ...string) *receiverOutput {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out := &receiverOutput{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			out.mu.Lock()
			out.buf.WriteString(s.Text() + "\n")
			out.mu.Unlock()
		}
	}()
	return out
}
