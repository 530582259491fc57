package loadgen_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// ceilingEnv makes the test binary serve as the ceiling instead of running tests, so that
// the benchmark's CPU profile and rusage hold the generator alone, as when hookbench loads
// its child ceiling.
const ceilingEnv = "LOADGEN_TEST_CEILING"

func TestMain(m *testing.M) {
	if os.Getenv(ceilingEnv) == "1" {
		os.Exit(serveCeiling())
	}
	os.Exit(m.Run())
}

// serveCeiling runs NewCeilingServer, as cmd/hookbench does, in a child process; it prints
// its address on stdout and serves until killed.
func serveCeiling() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	srv := loadgen.NewCeilingServer()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startCeiling runs the ceiling as a child process and returns its URL and pid.
func startCeiling(tb testing.TB) (string, int) {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), ceilingEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("ceiling did not start: %v", err)
	}
	return "http://" + strings.TrimSpace(addr), cmd.Process.Pid
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPUTime reads another process's user+system CPU time from /proc, in clock ticks of
// 10ms: coarse, but a benchmark run lasts seconds.
func procCPUTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces; the fields after it do not.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkRunCeiling loads a child ceiling server the way hookbench does (64 workers, new
// ids), with each engine, and reports the ceiling's requests/s and the CPU the generator and
// the server each spend per request. Run it with a fixed count, which makes one Run of b.N
// requests, and -cpuprofile to see where the generator's time goes:
//
//	go test -run '^$' -bench RunCeiling -benchtime 200000x -cpuprofile /tmp/gen.prof ./internal/loadgen/
//
// The generator shares the cores with the server, as in hookbench: the less CPU it needs per
// request, the closer the ceiling's requests/s comes to what the server alone can do.
func BenchmarkRunCeiling(b *testing.B) {
	for _, tc := range []struct {
		name   string
		engine loadgen.Engine
	}{{"raw", loadgen.EngineRaw}, {"nethttp", loadgen.EngineNetHTTP}} {
		b.Run(tc.name, func(b *testing.B) {
			url, pid := startCeiling(b)
			cfg := loadgen.Config{URL: url, Secret: []byte(testSecret), Concurrency: loadgen.DefaultConcurrency, Engine: tc.engine}
			warm := cfg
			warm.Count = 2000
			if _, err := loadgen.Run(context.Background(), warm, nil); err != nil {
				b.Fatal(err)
			}
			cfg.Count = b.N
			genCPU, srvCPU := cpuTime(), procCPUTime(pid)
			b.ResetTimer()
			rep, err := loadgen.Run(context.Background(), cfg, nil)
			b.StopTimer()
			genCPU, srvCPU = cpuTime()-genCPU, procCPUTime(pid)-srvCPU
			if err != nil {
				b.Fatal(err)
			}
			if rep.Sent != b.N || rep.Unexpected != 0 {
				b.Fatalf("sent %d, unexpected %d (%q), want %d, 0", rep.Sent, rep.Unexpected, rep.Samples, b.N)
			}
			b.ReportMetric(rep.Throughput, "req/s")
			b.ReportMetric(float64(genCPU.Nanoseconds())/1e3/float64(b.N), "gen-µs/req")
			b.ReportMetric(float64(srvCPU.Nanoseconds())/1e3/float64(b.N), "srv-µs/req")
			b.ReportMetric(float64(rep.Latency.P99.Microseconds()), "p99-µs")
		})
	}
}
