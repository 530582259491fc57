//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

const (
	chromiumPath = "/usr/bin/chromium" // Debian's package; a browser is never downloaded
	browserDir   = "testdata/browser"
	npmInstall   = "npm install --no-audit --no-fund --no-package-lock --prefix cmd/hookvault/testdata/browser"
)

// browserE2E is what testdata/browser/e2e.js reports.
type browserE2E struct {
	Browser      string   `json:"browser"`
	Operations   []string `json:"operations"`
	Webhook      shown    `json:"webhook"`
	Messages     shown    `json:"messages"`
	Sent         []sent   `json:"sent"`
	Listed       []string `json:"listed"`    // the query string of each request to /messages
	Prefilled    []string `json:"prefilled"` // name=value of each form field Swagger UI filled in
	SecretSeenIn []string `json:"secretSeenIn"`
	Console      []string `json:"console"`
	PageErrors   []string `json:"pageErrors"`
	Screenshot   string   `json:"screenshot"`
	ExpectedBody string   `json:"expectedBody"`
	Steps        []string `json:"steps"` // each with its duration
	Error        string   `json:"error"`
}

// shown is an answer as Swagger UI shows it after "Execute".
type shown struct{ Status, Body, Curl string }

// sent is a request to /webhook as it left the browser.
type sent struct{ Method, Signature, Body string }

// needBrowserTools returns node and the e2e script, or skips the test (fails it under CI,
// which must install them: apt-get install chromium, and npm install as in npmInstall).
func needBrowserTools(t *testing.T) (node, script string) {
	t.Helper()
	node = needTool(t, "node", "install Node.js 20 or later")
	if _, err := os.Stat(chromiumPath); err != nil {
		missingTool(t, "%s not found: apt-get install chromium", chromiumPath)
	}
	var pkg struct{ Dependencies map[string]string }
	var installed struct{ Version string }
	b, err := os.ReadFile(filepath.Join(browserDir, "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &pkg)
	}
	if err != nil {
		t.Fatalf("%s/package.json: %v", browserDir, err)
	}
	want := pkg.Dependencies["playwright-core"]
	b, err = os.ReadFile(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &installed)
	}
	if err != nil || installed.Version != want {
		missingTool(t, "playwright-core %s is not installed (found %q): run %s", want, installed.Version, npmInstall)
	}
	return node, filepath.Join(browserDir, "e2e.js")
}

// specOperations lists every operation of api/openapi.yaml as "METHOD /path", sorted.
func specOperations(t *testing.T) []string {
	t.Helper()
	var ops []string
	for _, o := range loadSpec(t) {
		ops = append(ops, o.String())
	}
	return ops
}

// artifactDir is where the screenshot goes: $HOOKVAULT_ARTIFACTS (kept after the run, for CI)
// or a temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOOKVAULT_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("HOOKVAULT_ARTIFACTS: %v", err)
	}
	return dir
}

// TestBrowserSwaggerUI is a person using /docs in a real browser: Debian's Chromium, driven
// by Playwright, against the real binary. They see every operation of the spec, enter the
// webhook secret and the read token under "Authorize", send a webhook with "Try it out"
// (signed in the browser, the secret never sent) and find it in the list of messages.
func TestBrowserSwaggerUI(t *testing.T) {
	node, script := needBrowserTools(t)
	const secret, token = "browser-secret-7c1d", "browser-token-2b9e"
	addr, _, _ := start(t, "WEBHOOK_SECRET="+secret, "API_TOKEN="+token)
	base := "http://" + addr // 127.0.0.1 is a secure context: crypto.subtle is there

	wantOps := specOperations(t)
	for _, op := range []string{"GET /metrics", "GET /openapi.yaml", "GET /openapi.json", "POST /webhook", "GET /messages"} {
		if !slices.Contains(wantOps, op) {
			t.Fatalf("api/openapi.yaml lacks %s: %v", op, wantOps)
		}
	}
	opsJSON, _ := json.Marshal(wantOps)
	id := fmt.Sprintf("browser-%d", time.Now().UnixNano())
	out := artifactDir(t)

	// Chromium writes into $HOME (and Playwright its profile into $TMPDIR) whatever the flags:
	// both go to a directory of this test's own.
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	e2e := exec.CommandContext(ctx, node, script)
	e2e.Env = append(os.Environ(),
		"HOME="+home, "TMPDIR="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"HV_BASE_URL="+base, "HV_SECRET="+secret, "HV_TOKEN="+token, "HV_MESSAGE_ID="+id,
		"HV_OUT_DIR="+out, "HV_EXPECTED_OPS="+string(opsJSON), "HV_CHROMIUM="+chromiumPath)
	// On a timeout the whole group goes, Chromium's processes included.
	e2e.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	e2e.Cancel = func() error { return syscall.Kill(-e2e.Process.Pid, syscall.SIGKILL) }
	e2e.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	e2e.Stdout, e2e.Stderr = &stdout, &stderr
	began := time.Now()
	runErr := e2e.Run()
	took := time.Since(began).Round(time.Millisecond)
	if e2e.Process != nil { // whatever node left behind, if it died before closing Chromium
		_ = syscall.Kill(-e2e.Process.Pid, syscall.SIGKILL)
	}
	var got browserE2E
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("e2e.js: %v, after %s, printed no result (%v)\nstderr:\n%s\nstdout:\n%s", runErr, took, err, stderr.String(), stdout.String())
	}
	kept := "kept"
	if os.Getenv("HOOKVAULT_ARTIFACTS") == "" {
		kept = "removed after the test; set HOOKVAULT_ARTIFACTS=DIR to keep it"
	}
	t.Logf("Chromium %s drove /docs in %s (%s); screenshot %s (%s)", got.Browser, took, strings.Join(got.Steps, ", "), got.Screenshot, kept)
	if len(got.Console) > 0 {
		t.Logf("browser console:\n  %s", strings.Join(got.Console, "\n  "))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("e2e.js printed: %s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	if runErr != nil || got.Error != "" {
		t.Fatalf("e2e.js: %v: %s", runErr, got.Error)
	}

	// An operation with two tags is listed twice; listed it is.
	listed := slices.Compact(slices.Sorted(slices.Values(got.Operations)))
	if !slices.Equal(listed, wantOps) {
		t.Errorf("Swagger UI lists\n  %v\nwant every operation of api/openapi.yaml\n  %v", listed, wantOps)
	}
	if len(got.PageErrors) > 0 {
		t.Errorf("errors in the page: %q", got.PageErrors)
	}
	for _, line := range got.Console {
		if strings.Contains(line, "hookvault:") {
			t.Errorf("the signing interceptor complained: %s", line)
		}
	}
	if len(got.SecretSeenIn) > 0 {
		t.Errorf("the webhook secret left the browser in %q", got.SecretSeenIn)
	}

	// What went on the wire: the typed body, signed by the browser as the server signs it.
	body := got.ExpectedBody
	wantSig := signature.Sign([]byte(secret), []byte(body))
	if len(got.Sent) != 1 || got.Sent[0].Method != http.MethodPost || got.Sent[0].Body != body || got.Sent[0].Signature != wantSig {
		t.Errorf("requests to /webhook: %+v\nwant one POST of\n%s\nwith X-Signature %s", got.Sent, body, wantSig)
	}
	if strings.Contains(got.Webhook.Curl, secret) || !strings.Contains(got.Webhook.Curl, wantSig) {
		t.Errorf("Swagger UI's curl line shows no signature or the secret:\n%s", got.Webhook.Curl)
	}

	var accepted struct {
		Status    string
		ID        string `json:"id"`
		Duplicate *bool
	}
	if err := json.Unmarshal([]byte(got.Webhook.Body), &accepted); err != nil || got.Webhook.Status != "200" ||
		accepted.ID != id || accepted.Duplicate == nil || *accepted.Duplicate || accepted.Status != "ok" {
		t.Errorf("POST /webhook in Swagger UI: %s %s; want 200 with id %q and duplicate false", got.Webhook.Status, got.Webhook.Body, id)
	}
	// "Try it out" on GET /messages, executed without typing: Swagger UI may send the page
	// size it shows as the default, but no filter that nobody typed (a parameter example it
	// pre-filled would list nothing, or the wrong messages).
	if len(got.Listed) != 1 {
		t.Errorf("requests to /messages: %q, want one", got.Listed)
	}
	for _, query := range got.Listed {
		q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
		if err != nil {
			t.Errorf("GET /messages%s: %v", query, err)
		}
		for name, values := range q {
			if name != "limit" || !slices.Equal(values, []string{"50"}) {
				t.Errorf("Swagger UI sent GET /messages%s: %s=%q, which nobody typed (pre-filled: %q)", query, name, values, got.Prefilled)
			}
		}
	}
	var page struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(got.Messages.Body), &page); err != nil || got.Messages.Status != "200" ||
		!slices.ContainsFunc(page.Data, func(m struct{ ID string }) bool { return m.ID == id }) {
		t.Errorf("GET /messages in Swagger UI: %s %s; want 200 listing %q", got.Messages.Status, got.Messages.Body, id)
	}
	if fi, err := os.Stat(got.Screenshot); err != nil || fi.Size() == 0 || filepath.Dir(got.Screenshot) != out {
		t.Errorf("screenshot %s: %v", got.Screenshot, err)
	}

	// The server agrees: the message is stored with the exact bytes typed in the browser.
	resp, raw, err := getWithToken(testClient, addr, token, "/messages/"+id)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		ID      string          `json:"id"`
		Sender  string          `json:"sender"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &stored); err != nil || resp.StatusCode != http.StatusOK ||
		stored.ID != id || stored.Sender != "swagger-ui" || string(stored.Payload) != body {
		t.Errorf("GET /messages/%s = %d %s; want the payload exactly as typed:\n%s", id, resp.StatusCode, raw, body)
	}
}
