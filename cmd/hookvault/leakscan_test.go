package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leakScanEnv marks the child test run, so that it does not scan itself again.
const leakScanEnv = "HOOKVAULT_LEAKSCAN_CHILD"

// leakScanRuns are the test runs whose output is scanned: the packages whose tests start
// servers and the binary, send deliveries with right and wrong secrets and tokens, and log.
// cmd/hookvault is limited to its server tests; the browser, crash and SDK tests would
// push the scan past a minute without adding a code path that logs.
var leakScanRuns = [][]string{
	{"./internal/httpapi", "./internal/server"},
	{"-run", "^(TestConfigurationErrorsExitTwoAndNameTheVariable|TestBinaryServesAndStopsCleanlyOnSIGTERM|TestPrometheusScrapesHookvault)$", "./cmd/hookvault"},
}

// publicValues are "secrets" that the Makefile and README print on purpose.
var publicValues = map[string]bool{"dev-secret-change-me": true, "dev-token-change-me": true}

// secretName matches the identifiers and variables that hold secrets and tokens.
var (
	secretName   = regexp.MustCompile(`(?i)secret|token`)
	secretInEnv  = regexp.MustCompile(`(?:WEBHOOK_SECRET|API_TOKEN)=([^"\s,]+)|--(?:webhook-secret|api-token)=([^"\s,]+)`)
	whsecLiteral = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{8,}`)
)

// testSecrets collects the secret and token values hard-coded in the test files of dirs:
// string constants and variables whose name says secret or token, WEBHOOK_SECRET=… and
// API_TOKEN=… settings, and Standard Webhooks whsec_ keys.
func testSecrets(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	add := func(v string) {
		// Shorter values ("s", "x") occur by chance in any output.
		if len(v) >= 8 && !publicValues[v] {
			found[v] = true
		}
	}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range secretInEnv.FindAllStringSubmatch(string(src), -1) {
				add(m[1] + m[2])
			}
			for _, m := range whsecLiteral.FindAllString(string(src), -1) {
				add(m)
			}
			f, err := parser.ParseFile(fset, name, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, id := range vs.Names {
					if i >= len(vs.Values) || !secretName.MatchString(id.Name) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if v, err := strconv.Unquote(lit.Value); err == nil {
							add(v)
						}
					}
				}
				return true
			})
		}
	}
	return found
}

// testNameLine is a line of go test -v that only names a test (a subtest name may quote
// the value it is about).
var testNameLine = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP)):? `)

// leaks returns the lines of out that contain one of secrets.
func leaks(out string, secrets map[string]bool) []string {
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		if testNameLine.MatchString(line) {
			continue
		}
		for s := range secrets {
			if strings.Contains(line, s) {
				bad = append(bad, s+": "+line)
			}
		}
	}
	return bad
}

func TestLeaksFindsASecretInALogLine(t *testing.T) {
	secrets := map[string]bool{"hunter2-hunter2": true}
	if got := leaks(`{"level":"INFO","msg":"request","secret":"hunter2-hunter2"}`, secrets); len(got) != 1 {
		t.Fatalf("leaks = %v, want the log line", got)
	}
	if got := leaks("=== RUN   TestX/hunter2-hunter2", secrets); len(got) != 0 {
		t.Fatalf("leaks = %v, want a test name ignored", got)
	}
}

// A full test run of the packages that serve and log never prints a secret or token that
// the tests use: not in logs, error bodies, metrics or panics that reach the output.
func TestTestOutputHasNoSecrets(t *testing.T) {
	if os.Getenv(leakScanEnv) != "" {
		t.Skip("the child run of the leak scan")
	}
	if testing.Short() {
		t.Skip("runs the tests of other packages; not in -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	secrets := testSecrets(t, filepath.Join(root, "internal/httpapi"), filepath.Join(root, "internal/server"),
		filepath.Join(root, "cmd/hookvault"))
	if len(secrets) < 5 {
		t.Fatalf("found only %d secrets in the test files (%v): the scan would prove nothing", len(secrets), secrets)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	began := time.Now()
	for _, args := range leakScanRuns {
		cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-v", "-count=1"}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), leakScanEnv+"=1")
		// On timeout, kill the test binaries go test started too, not only go itself.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if err != nil {
			t.Fatalf("go test %v: %v\n%s", args, err, b)
		}
	}
	if passed := strings.Count(out.String(), "--- PASS"); passed < 20 {
		t.Fatalf("only %d tests passed in the scanned run: the scan would prove little", passed)
	}
	if bad := leaks(out.String(), secrets); len(bad) > 0 {
		t.Errorf("secrets in the test output:\n%s", strings.Join(bad, "\n"))
	}
	t.Logf("scanned %d bytes of output from %d passed tests for %d secrets in %v",
		out.Len(), strings.Count(out.String(), "--- PASS"), len(secrets), time.Since(began).Round(time.Millisecond))
}
