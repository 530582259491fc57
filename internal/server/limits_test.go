package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that dribbles its headers is cut off at READ_HEADER_TIMEOUT, however steadily
// it keeps sending: the timeout bounds the whole header, not the gap between bytes.
func TestSlowHeadersAreCutOff(t *testing.T) {
	cfg := mustConfig(t)
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	s := openServer(t, cfg)

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		// One header byte every 20ms: far slower than any real sender, never idle long.
		header := "POST /webhook HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: dribble\r\n", 100)
		for i := 0; i < len(header); i++ {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				return // cut off, as wanted
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the dribbling connection open for %v", took)
	}
	// The server's clock starts at accept, a moment before ours.
	if took < cfg.ReadHeaderTimeout/2 || took > 5*time.Second {
		t.Errorf("cut off after %v, want about %v", took, cfg.ReadHeaderTimeout)
	}
	// net/http closes silently or, with half a header line read, answers 400.
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4") {
		t.Errorf("answer to a timed-out header: %q, want nothing or a 4xx", got)
	}
}

// statusLine writes a raw request to the server, concurrently since the server may answer
// before reading all of it, and returns the first line of the answer.
func statusLine(t *testing.T, addr, request string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, request) }()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// Headers over the 64 KiB limit are refused with 431 before any handler runs.
func TestOversizedHeadersAre431(t *testing.T) {
	s := openServer(t, mustConfig(t))
	// net/http allows 4 KiB of slack over MaxHeaderBytes; 128 KiB is well past both.
	line := statusLine(t, s.Addr(), "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Signature: "+strings.Repeat("a", 128<<10)+"\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Fatalf("status line %q, want 431", line)
	}
}

// Headers just under the limit still pass: the limit is not set tighter than documented.
func TestLargeButAllowedHeadersPass(t *testing.T) {
	s := openServer(t, mustConfig(t))
	line := statusLine(t, s.Addr(), "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: "+strings.Repeat("a", 60<<10)+"\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("status line %q, want 200", line)
	}
}
