package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/pgtest"
)

// procStatusKiB reads one "Vm…" line of /proc/PID/status, in KiB.
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), field+":"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// The attack the read API must survive: GET /messages?limit=1000 over messages of about a
// megabyte each. A page ends at 4 MiB of messages and is streamed, so the server's peak
// memory grows by about a page per request, not by limit times the largest message. The
// peak is VmHWM of the real binary, reset after the messages are stored, on either store.
func TestListMemoryStaysBounded(t *testing.T) {
	const (
		messages = 64
		content  = 1_000_000 // with the JSON around it, just under the 1 MiB body limit
		// Far above the 10-16 MiB measured with four requests at once, far below the ~250 MiB
		// of one request (~950 MiB of four) when a page was read and encoded whole.
		maxGrowthMiB = 96
	)
	client := &http.Client{Timeout: time.Minute}
	for _, tt := range []struct {
		store      string
		concurrent int
	}{{"sqlite", 1}, {"sqlite", 4}, {"postgres", 1}, {"postgres", 4}} {
		concurrent := tt.concurrent
		t.Run(fmt.Sprintf("%s/%d_at_once", tt.store, concurrent), func(t *testing.T) {
			env := []string{"WEBHOOK_SECRET=mem-secret", "API_TOKEN=mem-token"}
			if tt.store == "postgres" {
				env = append(env, "DATABASE_URL="+pgtest.Schema(t))
			}
			addr, cmd, _ := start(t, env...)
			pid := cmd.Process.Pid
			filler := strings.Repeat("x", content)
			for i := range messages {
				body := fmt.Appendf(nil, `{"id":"big-%02d","sender":"alice","content":%q}`, i, filler)
				if a := postWebhook(client, addr, "mem-secret", body); !a.acked() {
					t.Fatalf("message %d: %d %v", i, a.status, a.err)
				}
			}
			// Writing 5 resets the peak (VmHWM) to the current resident set.
			if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
				missingTool(t, "cannot reset the peak RSS of the server: %v", err)
			}
			before := procStatusKiB(t, pid, "VmRSS")

			var wg sync.WaitGroup
			answered := make([]int64, concurrent)
			errs := make([]error, concurrent)
			for i := range concurrent {
				wg.Go(func() {
					req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/messages?limit=1000", nil)
					if err != nil {
						errs[i] = err
						return
					}
					req.Header.Set("Authorization", "Bearer mem-token")
					resp, err := client.Do(req)
					if err != nil {
						errs[i] = err
						return
					}
					defer resp.Body.Close()
					answered[i], errs[i] = io.Copy(io.Discard, resp.Body)
					if errs[i] == nil && resp.StatusCode != http.StatusOK {
						errs[i] = fmt.Errorf("status %d", resp.StatusCode)
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			peak := procStatusKiB(t, pid, "VmHWM")
			growth := (peak - before) / 1024
			t.Logf("%s, %d request(s) of %d bytes each: RSS %d MiB before, peak %d MiB (+%d MiB)",
				tt.store, concurrent, answered[0], before/1024, peak/1024, growth)
			if growth > maxGrowthMiB {
				t.Errorf("peak RSS grew by %d MiB, want at most %d MiB", growth, maxGrowthMiB)
			}
		})
	}
}
