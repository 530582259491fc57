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
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// --version names the build; the start-up line and hookvault_build_info name the same one.
func TestVersion(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := regexp.MustCompile(`^hookvault (\S+), revision (\S+)(?: \(modified\))?, (go\S+)\n$`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("hookvault --version: %v, %q", err, out)
	}
	version, revision, goVersion := m[1], m[2], m[3]

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET=s", "LISTEN_ADDR=127.0.0.1:0", "LOG_FORMAT=json",
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "hv.db"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var line struct{ Msg, Addr, Version, Revision string }
	for lines := bufio.NewScanner(stderr); line.Msg != "hookvault listening" && lines.Scan(); {
		_ = json.Unmarshal(lines.Bytes(), &line)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if line.Version != version || line.Revision != revision {
		t.Errorf("start-up line: version %q, revision %q; want %q, %q", line.Version, line.Revision, version, revision)
	}
	resp, err := http.Get("http://" + line.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf("hookvault_build_info{goversion=%q,revision=%q,version=%q} 1\n", goVersion, revision, version)
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// -h and --help list the settings and the subcommands, and exit 0.
func TestHelpListsSettingsAndSubcommands(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var out strings.Builder
		if code := run(context.Background(), []string{arg}, func(string) string { return "" }, &out); code != 0 {
			t.Fatalf("%s: exit %d", arg, code)
		}
		for _, want := range []string{"hookvault migrate [flags]", "hookvault --version", "--log-format, LOG_FORMAT (default: auto)",
			"--database-url, DATABASE_URL (default: sqlite:data/hookvault.db)"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s does not show %q:\n%s", arg, want, out.String())
			}
		}
	}
}
