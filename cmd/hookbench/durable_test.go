package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readRecords reads the durable ceiling's file: each body after its length plus one, up
// to the first zero length. A record the writer is still writing may read as zeros or be
// cut short; it is read as far as it goes or left out.
func readRecords(tb testing.TB, path string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var bodies [][]byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b)) - 1
		if n < 0 || len(b) < 4+n {
			break
		}
		bodies = append(bodies, b[4:4+n])
		b = b[4+n:]
	}
	return bodies
}

// TestDurableAnswersAfterAppend posts bodies concurrently to the durable ceiling: each is
// answered with the bare ceiling's 200 only once its body is in the file, and in the end
// the file holds every body exactly once.
func TestDurableAnswersAfterAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), durableFile)
	l, err := openBodyLog(path, 64<<10) // less than the bodies: the log also grows past it
	if err != nil {
		t.Fatal(err)
	}
	srv := newDurableServer(l)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/webhook"

	want := httpAnswer(t, newCeilingServer().Handler, http.MethodPost, "{}")
	client := &http.Client{Transport: &http.Transport{}}

	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"id":"m%d","pad":%q}`, i, bytes.Repeat([]byte{'x'}, i*37))
			resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(body)))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := answerText(resp.StatusCode, resp.Header.Get("Content-Type"), b)
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("body %d: answered %q, want the ceiling's %q", i, got, want)
				return
			}
			for _, rec := range readRecords(t, path) {
				if string(rec) == body {
					return
				}
			}
			errs <- fmt.Errorf("body %d answered 200 before it was in the file", i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if got := l.bodies.Load(); got != n || l.groups.Load() < 1 || l.groups.Load() > n {
		t.Errorf("the writer counted %d bodies in %d groups, want %d in 1 to %d", got, l.groups.Load(), n, n)
	}
	seen := map[string]int{}
	for _, rec := range readRecords(t, path) {
		seen[string(rec)]++
	}
	if len(seen) != n {
		t.Errorf("the file holds %d distinct bodies, want %d", len(seen), n)
	}
	for body, times := range seen {
		if times != 1 {
			t.Errorf("%.20s… is in the file %d times, want once", body, times)
		}
	}
}

// TestDurableAnswersLikeCeiling: a request that is not a POST (the readiness check) gets
// the ceiling's answer without touching the file, and the headers are the ceiling's.
func TestDurableAnswersLikeCeiling(t *testing.T) {
	path := filepath.Join(t.TempDir(), durableFile)
	l, err := openBodyLog(path, 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	srv := newDurableServer(l)
	ceiling := newCeilingServer()
	if got, want := httpAnswer(t, srv.Handler, http.MethodGet, ""), httpAnswer(t, ceiling.Handler, http.MethodGet, ""); !bytes.Equal(got, want) {
		t.Errorf("GET: %q, want the ceiling's %q", got, want)
	}
	if recs := readRecords(t, path); len(recs) != 0 {
		t.Errorf("GET wrote %d records, want none", len(recs))
	}
	if srv.ReadHeaderTimeout != ceiling.ReadHeaderTimeout || srv.ReadTimeout != ceiling.ReadTimeout ||
		srv.WriteTimeout != ceiling.WriteTimeout || srv.IdleTimeout != ceiling.IdleTimeout || srv.MaxHeaderBytes != ceiling.MaxHeaderBytes {
		t.Error("the durable ceiling's limits differ from the ceiling's")
	}
}

// httpAnswer is what h answers one request: its status, content type and body.
func httpAnswer(tb testing.TB, h http.Handler, method, body string) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1/webhook", bytes.NewReader([]byte(body)))
	if err != nil {
		tb.Fatal(err)
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	return answerText(rec.status, rec.header.Get("Content-Type"), rec.body.Bytes())
}

func answerText(status int, contentType string, body []byte) []byte {
	return fmt.Appendf(nil, "%d %s\n%s", status, contentType, body)
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// TestBodyLogQueueFull fills the queue while the writer is not running: the next append is
// refused at once and counted, and the queued one is written once the writer runs.
func TestBodyLogQueueFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), durableFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	l := newBodyLog(f, 1)
	first := make(chan error, 1)
	go func() { first <- l.append([]byte("queued")) }()
	for len(l.queue) == 0 {
		runtime.Gosched()
	}
	if err := l.append([]byte("refused")); !errors.Is(err, errQueueFull) {
		t.Fatalf("append to a full queue: %v, want %v", err, errQueueFull)
	}
	if got := l.full.Load(); got != 1 {
		t.Errorf("refusals counted: %d, want 1", got)
	}
	go l.writeLoop()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if recs := readRecords(t, path); len(recs) != 1 || string(recs[0]) != "queued" {
		t.Errorf("the file holds %q, want only the queued body", recs)
	}
}

func TestProbeFsync(t *testing.T) {
	dir := t.TempDir()
	s, err := probeFsync(dir, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.n != 20 || s.p50 <= 0 || s.p50 > s.p99 || s.p99 > s.max+time.Microsecond {
		t.Errorf("probe: %+v, want 20 appends with 0 < p50 ≤ p99 ≤ max", s)
	}
	// Paced, as at a steady rate.
	if s, err = probeFsync(dir, 5, time.Millisecond); err != nil || s.n != 5 || s.p50 <= 0 || s.p50 > s.p99 {
		t.Errorf("paced probe: %+v, %v; want 5 appends with 0 < p50 ≤ p99", s, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %d files behind", len(left))
	}
}

// TestProcessCPU reads this process's CPU time, which getrusage brackets, and another's.
func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the CPU time of another process is read on Linux only")
	}
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn 20 ms of CPU, as this clock counts it.
	for d := time.Duration(0); d < 20*time.Millisecond; {
		for range 100000 {
			runtime.KeepAlive(d)
		}
		now, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		d = now - start
	}
	lo := rusage()
	got, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	hi := rusage()
	// getrusage rounds to microseconds; allow a millisecond for the threads in between.
	if got < lo-time.Millisecond || got > hi+time.Millisecond {
		t.Errorf("CPU time %s, want between getrusage's %s and %s", got, lo, hi)
	}

	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	other, err := processCPU(cmd.Process.Pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err != nil || other < 0 || other > time.Second {
		t.Errorf("a sleeping process: %s, %v; want a little CPU time", other, err)
	}
	if _, err := processCPU(cmd.Process.Pid); err == nil {
		t.Error("a process that has ended and been waited for: no error")
	}
}
