package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/loadgen/loadgentest"
	"github.com/hookvault/hookvault/internal/signature"
)

// TestRawEngine runs loadgen's suite of senders with the raw engine.
func TestRawEngine(t *testing.T) {
	loadgentest.Run(t, newRawConn)
}

// engines are the raw engine and net/http, which must not differ in anything a report says.
var engines = []struct {
	name    string
	connect loadgentest.Connect
}{{"raw", newRawConn}, {"net/http", nil}}

// TestEnginesReportAlike gives the raw engine and net/http answers that are not hookvault's, or not HTTP,
// and checks they report them the same.
func TestEnginesReportAlike(t *testing.T) {
	fixed := func(raw string, closeAfter bool) func(io.Writer, int, string) bool {
		return func(w io.Writer, _ int, _ string) bool {
			io.WriteString(w, raw)
			return closeAfter
		}
	}
	const count = 12
	tests := []struct {
		name  string
		frame func(io.Writer, int, string) bool
		want  string // in the first sample, ids as "ID"
		err   bool   // no answer
	}{
		{"no content", fixed("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", false),
			`new ID: 204 (""), want 200`, false},
		{"overloaded", fixed("HTTP/1.1 503 Service Unavailable\r\nretry-after:  7 \r\nRetry-After: 9\r\nContent-Length: 5\r\n\r\nbusy\n", false),
			`new ID: 503 (overloaded; Retry-After "7")`, false},
		{"problem", fixed("HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/problem+json\r\nContent-Length: 42\r\n\r\n"+
			`{"title":"Invalid message","detail":"bad"}`, false), `new ID: 422 (Invalid message: bad), want 200`, false},
		{"odd status", fixed("HTTP/1.1 299 Odd\r\nContent-Length: 2\r\n\r\n{}", false),
			`new ID: 299 ("{}"), want 200`, false},
		{"large page", fixed("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("<p>", 33333)+"x", false),
			`new ID: 200 with an answer that is not hookvault's ("<p><p>`, false},
		{"large chunked page", fixed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
			strings.Repeat("1000\r\n"+strings.Repeat("a", 0x1000)+"\r\n", 20)+"0\r\n\r\n", false),
			`new ID: 200 with an answer that is not hookvault's ("aaaa`, false},
		{"hookvault with extra member", fixed("HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n"+
			`{"status":"ok","duplicate":false,"extra":[1,2]}`+"\n", false), "", false},
		{"duplicate null", fixed("HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n"+
			`{"status":"ok","duplicate":null}`+"\n", false), `new ID: 200 with an answer that is not hookvault's`, false},
		{"status case", fixed("HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n"+
			`{"Status":"ok","duplicate":false}`, false), "", false},
		{"hang up", func(io.Writer, int, string) bool { return true }, "no answer", true},
		{"not HTTP", fixed("SSH-2.0-OpenSSH_9.6\r\n", true), "no answer", true},
		{"truncated body", fixed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\"", true), "no answer", true},
		{"bad length", fixed("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}", true), "no answer", true},
		{"unknown transfer encoding", fixed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true), "no answer", true},
		{"switching protocols", fixed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", true),
			`new ID: 101 (""), want 200`, false},
	}
	ids := regexp.MustCompile(`lg-[0-9]+`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reports []string
			for _, e := range engines {
				url, _ := loadgentest.AnswerServer(t, tt.frame)
				rep, err := loadgen.Run(t.Context(), loadgen.Config{
					URL: url, Secret: []byte(loadgentest.Secret), Count: count, Concurrency: 1, Connect: e.connect, Prefix: "lg",
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				sample := ""
				if len(rep.Samples) > 0 {
					sample = ids.ReplaceAllString(rep.Samples[0], "ID")
				}
				if !strings.Contains(sample, tt.want) {
					t.Errorf("%s: first sample %q, want one containing %q", e.name, sample, tt.want)
				}
				if tt.err {
					if rep.Errors != count || len(rep.Status) != 0 {
						t.Errorf("%s: errors %d, statuses %v, want %d transport errors", e.name, rep.Errors, rep.Status, count)
					}
					sample = "" // the transport's own words differ
				}
				reports = append(reports, fmt.Sprintf("sent %d, statuses %v, created %d, duplicates %d, rejected %d, unexpected %d, overloaded %d, errors %d, sample %q",
					rep.Sent, rep.Status, rep.Created, rep.Duplicates, rep.Rejected, rep.Unexpected, rep.Overloaded, rep.Errors, sample))
			}
			if reports[0] != reports[1] {
				t.Errorf("the engines report differently:\n%s: %s\n%s: %s", engines[0].name, reports[0], engines[1].name, reports[1])
			}
		})
	}
}

// TestEnginesSendSameRequest checks that a server sees the same request from the raw engine
// as from net/http.
func TestEnginesSendSameRequest(t *testing.T) {
	type seen struct {
		Method, RequestURI, Host, Proto string
		ContentLength                   int64
		TransferEncoding                []string
		Header                          http.Header
		Body                            string
	}
	var got []seen
	var mu sync.Mutex
	verifier, err := signature.NewVerifier([][]byte{[]byte(loadgentest.Secret)}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := loadgentest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, r.Proto, r.ContentLength, r.TransferEncoding, r.Header.Clone(), string(body)})
		mu.Unlock()
		if _, err := verifier.Verify(r.Header, body); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		// Both runs send the same message, so both must be answered as new.
		_, _ = io.WriteString(w, `{"status":"ok","duplicate":false}`)
	}))
	for _, e := range engines {
		rep, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url + "/base/", Secret: []byte(loadgentest.Secret), Count: 1, Concurrency: 1, Connect: e.connect, Prefix: "same",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != 1 {
			t.Fatalf("%s: created %d, want 1; samples %q", e.name, rep.Created, rep.Samples)
		}
	}
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(got))
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("the engines' requests differ:\n%s: %+v\n%s: %+v", engines[0].name, got[0], engines[1].name, got[1])
	}
	if got[0].RequestURI != "/base/webhook" {
		t.Errorf("request URI %q, want /base/webhook", got[0].RequestURI)
	}
}

// TestRawEngineRefuses checks that the raw engine refuses, before anything is sent, what
// it cannot speak.
func TestRawEngineRefuses(t *testing.T) {
	tls := httptest.NewUnstartedServer(loadgentest.NewFakeVault(t, loadgentest.Secret))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	tls.StartTLS()
	t.Cleanup(tls.Close)
	bad := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"TLS", loadgen.Config{URL: tls.URL}, "without TLS"},
		{"credentials", loadgen.Config{URL: "http://u:p@127.0.0.1:1"}, "credentials"},
		{"IDNA host", loadgen.Config{URL: "http://bücher.example:1"}, "IDNA"},
		{"one URL over TLS", loadgen.Config{URLs: []string{"http://127.0.0.1:1", tls.URL}, Concurrency: 2}, "without TLS"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Secret, tt.cfg.Count, tt.cfg.Connect = []byte(loadgentest.Secret), 2, newRawConn
			_, err := loadgen.Run(t.Context(), tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "raw engine cannot send") {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line          string
		minor, status int
		ok            bool
	}{
		{"HTTP/1.1 200 OK", 1, 200, true},
		{"HTTP/1.0 503 Service Unavailable", 0, 503, true},
		{"HTTP/1.1 204", 1, 204, true},
		{"HTTP/1.1 999 ", 1, 999, true},
		{"HTTP/1.1 20 OK", 0, 0, false},
		{"HTTP/1.1 2000 OK", 0, 0, false},
		{"HTTP/1.1 2x0 OK", 0, 0, false},
		{"HTTP/1.2 200 OK", 0, 0, false},
		{"HTTP/2 200 OK", 0, 0, false},
		{"http/1.1 200 OK", 0, 0, false},
		{"HTTP/1.1  200 OK", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		minor, status, ok := parseStatusLine([]byte(tt.line))
		if minor != tt.minor || status != tt.status || ok != tt.ok {
			t.Errorf("%q: %d, %d, %t, want %d, %d, %t", tt.line, minor, status, ok, tt.minor, tt.status, tt.ok)
		}
	}
}

// deadConn is a kept-alive connection whose next write fails before sending anything.
type deadConn struct {
	net.Conn
	closed bool
}

func (*deadConn) Write([]byte) (int, error)       { return 0, syscall.EPIPE }
func (*deadConn) SetDeadline(time.Time) error     { return nil }
func (c *deadConn) Close() error                  { c.closed = true; return nil }
func (*deadConn) SetReadDeadline(time.Time) error { return nil }

// TestRawRetriesOnlyUnsent checks the one case in which a request is sent again, as
// net/http does it: nothing of it was written, to a connection that had carried requests.
func TestRawRetriesOnlyUnsent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"status":"ok","duplicate":false}`)
	}))
	t.Cleanup(srv.Close)
	endpoint, err := url.Parse(srv.URL + "/webhook")
	if err != nil {
		t.Fatal(err)
	}
	for _, reused := range []bool{true, false} {
		conn, err := newRawConn(endpoint, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := conn.(*rawConn)
		dead := &deadConn{}
		start := time.Now()
		c.conn, c.reused, c.idle, c.stop = dead, reused, start, func() bool { return true }
		a, err := c.Post(context.Background(), []byte("{}"), []byte("sig"), start)
		if !dead.closed {
			t.Errorf("reused %t: the dead connection was not closed", reused)
		}
		if reused {
			if err != nil || a.Status != http.StatusOK {
				t.Errorf("reused: status %d, err %v, want 200 on a new connection", a.Status, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("fresh: status %d, err %v, want the write's error", a.Status, err)
		}
		c.Close()
	}
}

// BenchmarkRunCeiling loads the ceiling, as a child process, the way hookbench does (64
// workers, new ids) with each engine, and reports the ceiling's requests/s and the CPU the
// generator and the server each spend per request. Run it with a fixed count, which makes
// one Run of b.N requests, and -cpuprofile to see where the generator's time goes:
//
//	go test -run '^$' -bench RunCeiling -benchtime 200000x -cpuprofile /tmp/gen.prof ./cmd/hookbench/
//
// The generator shares the cores with the server, as in hookbench: the less CPU it needs per
// request, the closer the ceiling's requests/s comes to what the server alone can do.
func BenchmarkRunCeiling(b *testing.B) {
	for _, e := range engines {
		b.Run(strings.ReplaceAll(e.name, "/", ""), func(b *testing.B) {
			url, pid := startCeiling(b)
			cfg := loadgen.Config{URL: url, Secret: []byte(loadgentest.Secret), Concurrency: loadgen.DefaultConcurrency, Connect: e.connect}
			warm := cfg
			warm.Count = 2000
			if _, err := loadgen.Run(context.Background(), warm, nil); err != nil {
				b.Fatal(err)
			}
			cfg.Count = b.N
			genCPU, srvCPU := procCPU(os.Getpid()), procCPU(pid)
			b.ResetTimer()
			rep, err := loadgen.Run(context.Background(), cfg, nil)
			b.StopTimer()
			genCPU, srvCPU = procCPU(os.Getpid())-genCPU, procCPU(pid)-srvCPU
			if err != nil {
				b.Fatal(err)
			}
			if rep.Sent != b.N || rep.Unexpected != 0 {
				b.Fatalf("sent %d, unexpected %d (%q), want %d, 0", rep.Sent, rep.Unexpected, rep.Samples, b.N)
			}
			b.ReportMetric(rep.Throughput, "req/s")
			b.ReportMetric(genCPU*1e6/float64(b.N), "gen-µs/req")
			b.ReportMetric(srvCPU*1e6/float64(b.N), "srv-µs/req")
			b.ReportMetric(float64(rep.Latency.P99.Microseconds()), "p99-µs")
		})
	}
}

// startCeiling runs the test binary as "hookbench ceiling" (see TestMain), so that the
// benchmark's CPU profile and rusage hold the generator alone, and returns its URL and pid.
func startCeiling(tb testing.TB) (string, int) {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self, "ceiling", "-addr", addr)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{name: "ceiling", cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	if err := waitReady(context.Background(), p, "http://"+addr+"/"); err != nil {
		tb.Fatal(err)
	}
	return "http://" + addr, cmd.Process.Pid
}

// TestEveryLoadNamesItsSender keeps hookbench's figures comparable: every loadgen.Config
// it writes names its sender, the raw engine (Connect) or, for the flood's own address, a
// net/http Client, so that a new run cannot fall back to net/http's default unnoticed.
func TestEveryLoadNamesItsSender(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := lit.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Config" || fmt.Sprint(sel.X) != "loadgen" {
				return true
			}
			for _, e := range lit.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok && (fmt.Sprint(kv.Key) == "Connect" || fmt.Sprint(kv.Key) == "Client") {
					return true
				}
			}
			t.Errorf("%s: a loadgen.Config without Connect (the raw engine) or Client", fset.Position(lit.Pos()))
			return true
		})
	}
}
