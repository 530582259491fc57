package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/mounttest"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const (
	storeSecret = "store-secret"
	storeToken  = "store-token"
)

// readyStatus returns the status of GET /health/ready and its body.
func readyStatus(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, body, err := getWithToken(testClient, addr, storeToken, "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestDatabaseDeletedUnderLoad deletes the SQLite database, its WAL and shared memory (rm
// x.db*) while several senders post to the real server, lets them post a while longer, then
// restarts the server on the same DATABASE_URL. No delivery that got a 200, before or after
// the delete, may be missing after the restart; the server must have stopped answering 200
// for what it could not keep, turned readiness to 503, and said in its log what happened.
func TestDatabaseDeletedUnderLoad(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hv.db")
	env := []string{"WEBHOOK_SECRET=" + storeSecret, "API_TOKEN=" + storeToken, "DATABASE_URL=sqlite:" + db}
	addr, cmd, rest := start(t, env...)

	const senders, before, after = 6, 300, 300 // posts before the delete, and after it
	var (
		mu                       sync.Mutex
		acked                    []string
		posted, postedAfter      atomic.Int64
		ackedAfter, refusedAfter atomic.Int64
		deleted                  atomic.Bool
		stop                     = make(chan struct{})
		finished                 sync.WaitGroup
	)
	for s := range senders {
		finished.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("s%d-%d", s, i)
				body := fmt.Appendf(nil, `{"id":%q,"sender":"s%d","content":"n %d"}`, id, s, i)
				a := postWebhook(client, addr, storeSecret, body)
				late := deleted.Load() // answered after the delete
				switch {
				case a.acked():
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
					if late {
						ackedAfter.Add(1)
					}
				case a.err == nil && a.status == http.StatusServiceUnavailable && a.retryAfter != "":
					if late {
						refusedAfter.Add(1)
					}
				default:
					t.Errorf("post %s: %d (%v), want 200 or 503 with Retry-After", id, a.status, a.err)
				}
				posted.Add(1)
				if late {
					postedAfter.Add(1)
				}
			}
		})
	}
	waitFor(t, 60*time.Second, "deliveries before the delete", func() bool { return posted.Load() >= before }, func() string { return "" })
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	deleted.Store(true)
	waitFor(t, 60*time.Second, "deliveries after the delete", func() bool { return postedAfter.Load() >= after }, func() string { return "" })
	close(stop)
	finished.Wait()

	if status, body := readyStatus(t, addr); status != http.StatusServiceUnavailable || !strings.Contains(body, `"store":"unavailable"`) {
		t.Errorf("readiness after the delete = %d %s, want 503 naming the store", status, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out := rest()
	_ = cmd.Wait()
	var alarms []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "was deleted or replaced while open") && strings.Contains(line, `"msg":"database file`) {
			alarms = append(alarms, line)
		}
	}
	if len(alarms) != 1 || !strings.Contains(alarms[0], `"level":"ERROR"`) || !strings.Contains(alarms[0], "stopped acknowledging") {
		t.Errorf("want one error line saying what happened, got %d; the log without request lines:\n%s", len(alarms), notRequests(out))
	}

	addr, _, _ = start(t, env...)
	lost := 0
	for _, id := range acked {
		resp, _, err := getWithToken(testClient, addr, storeToken, "/messages/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s: GET /messages/%s = %d after the restart", id, id, resp.StatusCode)
			}
		}
	}
	t.Logf("%d posts, %d acknowledged; after the delete: %d posts, %d answered 200, %d answered 503; %d acknowledged lost",
		posted.Load(), len(acked), postedAfter.Load(), ackedAfter.Load(), refusedAfter.Load(), lost)
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged deliveries are gone after the restart", lost, len(acked))
	}
}

// notRequests drops the access log lines from a server's output.
func notRequests(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, `"msg":"request"`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// runToExit runs the binary with env until it exits and returns its exit code and output. A
// server that starts listening instead fails the test.
func runToExit(t *testing.T, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t))
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "WEBHOOK_SECRET="+storeSecret), env...)
	var out syncLog
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			return cmd.ProcessState.ExitCode(), out.String()
		case <-tick.C:
			if strings.Contains(out.String(), `"msg":"hookvault listening"`) {
				t.Fatalf("the server started on a database it cannot use; output:\n%s", out.String())
			}
		}
	}
}

// wantStartRefused checks that the server exits 1 with a JSON error line saying want.
func wantStartRefused(t *testing.T, code int, out string, want ...string) {
	t.Helper()
	var line struct{ Level, Msg, Error string }
	for _, l := range strings.Split(out, "\n") {
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "hookvault stopped with an error" {
			break
		}
	}
	if code != 1 || line.Level != "ERROR" {
		t.Fatalf("exit %d, want 1 with an error line; output:\n%s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(line.Error, w) {
			t.Errorf("the error %q does not say %q", line.Error, w)
		}
	}
}

// A corrupt database file stops the start (exit 1) with a message that says how to recover.
func TestCorruptDatabaseStopsTheStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		id := fmt.Sprintf("%016x", r.Uint64())
		if _, err := st.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "s", Payload: bytes.Repeat([]byte("x"), 200)}); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	if err := st.Close(); err != nil { // checkpoints everything into the file
		t.Fatal(err)
	}
	// Garbage over eight pages in the middle, as a failing disk or a stray write leaves it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 8*4096)
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(garbage, fi.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := runToExit(t, "DATABASE_URL=sqlite:"+path)
	wantStartRefused(t, code, out, "DATABASE_URL: database file "+path+" is corrupt", "restore the file from a backup", ".recover")
}

// wantConfigRefused checks that the server exits 2, as for any bad setting, with a message
// that names DATABASE_URL and says want.
func wantConfigRefused(t *testing.T, code int, out string, want ...string) {
	t.Helper()
	if code != 2 || !strings.Contains(out, "hookvault: bad configuration:\n  DATABASE_URL: ") {
		t.Fatalf("exit %d, want 2 naming DATABASE_URL; output:\n%s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the output does not say %q:\n%s", w, out)
		}
	}
}

// A typo in DATABASE_URL stops the start (exit 2) and creates nothing; a folder the server
// cannot write in too, as root included (a path under a regular file, which no one can
// create, and a folder such as /proc, where access(2) lets root write but SQLite cannot open
// a file): SQLite alone said "unable to open database file (14)" and exit 1.
func TestMistypedDatabaseURLExitsTwo(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "dta", "nested", "hv.db")
	code, out := runToExit(t, "DATABASE_URL=sqlite:"+typo)
	wantConfigRefused(t, code, out, "the folder "+filepath.Dir(typo)+" of the database file "+typo+" does not exist")
	if _, err := os.Stat(filepath.Join(dir, "dta")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a folder was created for the typo: %v", err)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(file, "sub", "hv.db")
	code, out = runToExit(t, "DATABASE_URL=sqlite:"+under)
	wantConfigRefused(t, code, out, under, "not a directory")

	cmd := exec.Command(buildBinary(t), "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL=sqlite:"+typo)
	migrated, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(migrated), "DATABASE_URL: the folder") {
		t.Errorf("migrate on a typo: %v, want exit 2 naming DATABASE_URL:\n%s", err, migrated)
	}

	if fi, err := os.Stat("/proc/self"); err != nil || !fi.IsDir() {
		return // no procfs here
	}
	proc := "/proc/hookvault-test.db"
	code, out = runToExit(t, "DATABASE_URL=sqlite:"+proc)
	wantConfigRefused(t, code, out, "cannot write the database file "+proc)
	cmd = exec.Command(buildBinary(t), "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL=sqlite:"+proc)
	migrated, err = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(migrated), "DATABASE_URL: cannot write the database file "+proc) {
		t.Errorf("migrate in /proc: %v, want exit 2 naming DATABASE_URL and the path:\n%s", err, migrated)
	}
}

// A database on a read-only file system stops the start (exit 2, like any setting that
// cannot work) with a message that says so, also when SQLite could open it read-only (a
// crash left its WAL to read).
func TestReadOnlyDatabaseStopsTheStart(t *testing.T) {
	dir := mounttest.Tmpfs(t, "4m")
	path := filepath.Join(dir, "hv.db")
	addr, cmd, _ := start(t, "WEBHOOK_SECRET="+storeSecret, "DATABASE_URL=sqlite:"+path)
	if a := postWebhook(testClient, addr, storeSecret, []byte(`{"id":"1","sender":"a","content":"c"}`)); !a.acked() {
		t.Fatalf("post: %d %v", a.status, a.err)
	}
	if err := cmd.Process.Kill(); err != nil { // a crash: the WAL stays
		t.Fatal(err)
	}
	_ = cmd.Wait()
	mounttest.ReadOnly(t, dir)
	code, out := runToExit(t, "DATABASE_URL=sqlite:"+path)
	wantConfigRefused(t, code, out, "cannot create files in the folder "+dir+" of the database file "+path+" (read-only file system)")
}
