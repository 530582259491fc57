package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `make run` as a newcomer meets it: it says that it compiles before the minute of silence,
// listens on loopback only (its secret and token are public), says so, and Ctrl-C, which the
// terminal sends to make and the server alike, ends in a clean drain without make's
// "Error 1".
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	makePath := needTool(t, "make", "apt-get install -y make")
	addr := freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(makePath, "--no-print-directory", "-C", "../..", "run",
		"HOOKVAULT_BIN="+filepath.Join(dir, "hookvault"), "LISTEN_ADDR="+addr)
	cmd.Env = append(makeEnv(), "DATABASE_URL=sqlite:"+filepath.Join(dir, "hv.db"), "LOG_FORMAT=auto")
	// Its own process group, as a terminal's foreground job: Ctrl-C goes to the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncLog
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 3*time.Minute, "the server to listen", func() bool {
		return strings.Contains(out.String(), `"msg":"hookvault listening","addr":"`+addr+`"`)
	}, out.String)

	text := out.String()
	compiling := strings.Index(text, "hookvault: compiling")
	listening := strings.Index(text, `"msg":"hookvault listening"`)
	if compiling < 0 || compiling > listening {
		t.Errorf("make run does not say that it compiles before it starts:\n%s", text)
	}
	if !strings.Contains(text, "hookvault: listening on "+addr+", reachable from this machine only") {
		t.Errorf("make run does not say where it listens:\n%s", text)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("make run still runs 30 s after Ctrl-C:\n%s", out.String())
	}
	text = out.String()
	if !strings.Contains(text, `"msg":"hookvault stopped cleanly"`) || strings.Contains(text, "***") {
		t.Errorf("after Ctrl-C, want a clean stop and no word from make:\n%s", text)
	}
	// make dies of the SIGINT it got itself, as a shell expects of an interrupted command;
	// it never exits with a status of its own (2, after "Error 1").
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Errorf("make run after Ctrl-C: %v, want death by SIGINT", err)
	}
}

// `make test` ends by saying which tests were skipped and why (go test alone hides that
// without -v), keeps go test's exit status, and with TESTFLAGS=-v prints the lines that
// .ci/run greps from out/test.log.
func TestMakeTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make test on a small package")
	}
	makePath := needTool(t, "make", "apt-get install -y make")
	makeTest := func(env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(makePath, append([]string{"--no-print-directory", "-C", "../..", "test",
			"TESTPKGS=./cmd/hookvault/testdata/maketest"}, args...)...)
		cmd.Env = append(makeEnv(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const pkg = "github.com/hookvault/hookvault/cmd/hookvault/testdata/maketest"
	const reason = "needs the frobnicator: set FROB_URL to run it"

	out, err := makeTest(nil)
	if err != nil {
		t.Fatalf("make test: %v\n%s", err, out)
	}
	for _, want := range []string{"ok  \t" + pkg, "=== SKIP: cmd/hookvault/testdata/maketest TestSkips", reason, "1 skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("make test does not print %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "=== RUN") {
		t.Errorf("make test without -v prints every test:\n%s", out)
	}

	out, err = makeTest(nil, "TESTFLAGS=-v")
	if err != nil {
		t.Fatalf("make test TESTFLAGS=-v: %v\n%s", err, out)
	}
	for _, re := range []string{`(?m)^ok  \t` + pkg, `(?m)^--- PASS: TestPasses `, `(?m)^--- SKIP: TestSkips `, `(?m)^\s+maketest_test.go:\d+: ` + reason} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("make test TESTFLAGS=-v has no line matching %s:\n%s", re, out)
		}
	}

	out, err = makeTest([]string{"MAKETEST_FAIL=1"})
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(out, "FAIL\t"+pkg) ||
		!strings.Contains(out, "=== FAIL: cmd/hookvault/testdata/maketest TestFailsOnDemand") || !strings.Contains(out, "failed as asked") {
		t.Errorf("make test with a failing test: %v, want a failure naming it:\n%s", err, out)
	}
}

// makeEnv is the environment without what an outer make hands its children: `make test
// TESTFLAGS=-v` (as .ci/run runs the tests) passes TESTFLAGS=-v to every make below it
// through MAKEFLAGS, which would change what the make under test prints.
func makeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "TESTFLAGS", "TESTPKGS":
			continue
		}
		env = append(env, kv)
	}
	return env
}
