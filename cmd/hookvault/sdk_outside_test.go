package main

// The Go client SDK, proven from outside: a program in a module of its own requires
// github.com/hookvault/hookvault (through a replace directive to this checkout), so only what
// an importer can reach is used: gen's exported API and the modules it pulls in, resolved by
// `go mod tidy` as an importer's go.sum would have them.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	sdkSecret = "sdk-outside-secret"
	sdkToken  = "sdk-outside-token"
)

func TestSDKFromOutsideModule(t *testing.T) {
	addr, _, _ := start(t, "WEBHOOK_SECRET="+sdkSecret, "API_TOKEN="+sdkToken)
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mainGo, err := os.ReadFile(filepath.Join("testdata", "sdkuser", "main.go"))
	if err != nil {
		t.Fatal(err)
	}

	// The throwaway module: outside the repository, with the repository's go version.
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go [0-9.]+$`).Find(goMod)
	if goLine == nil {
		t.Fatal("../../go.mod has no go line")
	}
	mod := t.TempDir()
	sdkWriteFile(t, filepath.Join(mod, "go.mod"), fmt.Sprintf(`module example.com/sdkuser

%s

require github.com/hookvault/hookvault v0.0.0-00010101000000-000000000000

replace github.com/hookvault/hookvault => %s
`, goLine, root))
	sdkWriteFile(t, filepath.Join(mod, "main.go"), string(mainGo))

	// Downloads are allowed (the module proxy may be needed with a cold cache); with a warm
	// one the two commands take a few seconds.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	goEnv := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	goCmd := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, goTool, args...)
		c.Dir = mod
		c.Env = goEnv
		return c
	}
	began := time.Now()
	if out, err := goCmd("mod", "tidy").CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy in the throwaway module: %v\n%s", err, out)
	}
	tidied := time.Since(began)
	run := goCmd("run", ".")
	run.Env = append(run.Env, "HOOKVAULT_URL=http://"+addr, "WEBHOOK_SECRET="+sdkSecret, "API_TOKEN="+sdkToken)
	var stderr strings.Builder
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("go run in the throwaway module: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	t.Logf("go mod tidy %v, go run %v", tidied.Round(time.Millisecond), (time.Since(began) - tidied).Round(time.Millisecond))

	want := `posted sdk-1 duplicate=false
posted sdk-1 duplicate=true
posted sdk-2 duplicate=false
listed default/sdk-1 outside "hello from another module"
listed default/sdk-2 outside "raw bytes"
next_cursor null
payload {"id":"sdk-2", "sender":"outside", "content":"raw bytes", "extra":[1, 2]}
content_type application/json
source default hookvault /webhook json:/id
total_messages 2
stats source default 2
wrong token 401 invalid bearer token
`
	if string(out) != want {
		t.Errorf("the SDK program printed:\n%s\nwant:\n%s", out, want)
	}

	// The server agrees, asked without the SDK: the raw delivery is stored byte for byte.
	resp, body, err := getWithToken(testClient, addr, sdkToken, "/messages/sdk-2")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /messages/sdk-2 = %d %s", resp.StatusCode, body)
	}
	var stored struct{ Payload json.RawMessage }
	if err := json.Unmarshal(body, &stored); err != nil {
		t.Fatal(err)
	}
	if got := string(stored.Payload); got != `{"id":"sdk-2", "sender":"outside", "content":"raw bytes", "extra":[1, 2]}` {
		t.Errorf("stored payload %s", got)
	}
}

func sdkWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
