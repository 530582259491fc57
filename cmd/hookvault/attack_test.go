package main

// Attacks on the real binary over loopback, each bounded in connections, bytes and time.
// Attackers dial from other loopback addresses (all of 127.0.0.0/8 is loopback on Linux)
// so that the server sees them as other clients than the real senders on 127.0.0.1.
//
// They also measure: run them with -v to see the numbers, and with HOOKVAULT_TEST_BINARY
// set to an older build to measure that one the same way.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

const (
	attackSecret = "attack-test-secret"
	attackToken  = "attack-test-token"
)

// dialFrom opens a connection to addr from the loopback address from.
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// clientFrom is an HTTP client whose connections come from the loopback address from.
func clientFrom(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

// memory returns a process's resident set and its peak so far, in MiB.
func memory(t *testing.T, pid int) (rss, peak float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read memory from: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// realDeliveries sends n unique signed deliveries from 127.0.0.1 with 8 senders and returns
// how many were acknowledged, and the statuses of the others.
func realDeliveries(addr, prefix string, n int) (acked int, others map[string]int) {
	client := clientFrom("127.0.0.1")
	var mu sync.Mutex
	others = map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				body := fmt.Appendf(nil, `{"id":"%s-%d","sender":"real","content":"during the attack"}`, prefix, i)
				a := postWebhook(client, addr, attackSecret, body)
				mu.Lock()
				switch {
				case a.acked():
					acked++
				case a.err != nil:
					others[a.err.Error()]++
				default:
					others[strconv.Itoa(a.status)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked, others
}

// ready is the readiness status, or 0 when the probe got no answer.
func ready(addr string) int {
	client := clientFrom("127.0.0.1")
	client.Timeout = 3 * time.Second
	resp, err := client.Get("http://" + addr + "/health/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Slow senders hold no processing slot: a request takes one only once its body is in. 11
// client addresses (127.0.0.2 to 127.0.0.12) open 20 connections each, far under the
// per-client caps, so that only MAX_IN_FLIGHT could stop them; each announces a 1 MiB body
// and sends one byte. The server holds all 220 bodies, 8 KiB each, against 64 slots, with
// no slot taken, and real deliveries all go through meanwhile, until READ_BODY_TIMEOUT cuts
// the bodies.
func TestSlowBodyAttackLeavesDeliveriesServed(t *testing.T) {
	const clients, perClient, slots, bodyTimeout = 11, 20, 64, 5 * time.Second
	const attack = clients * perClient
	addr, _, rest := start(t, "WEBHOOK_SECRET="+attackSecret, "API_TOKEN="+attackToken,
		"READ_BODY_TIMEOUT="+bodyTimeout.String(), "MAX_IN_FLIGHT="+strconv.Itoa(slots))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	began := time.Now()
	for i := range attack {
		c, err := dialFrom(fmt.Sprintf("127.0.0.%d", 2+i%clients), addr)
		if err != nil {
			t.Fatalf("attacker connection %d: %v", i, err)
		}
		held = append(held, c)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Signature: 00\r\nContent-Length: 1048576\r\n\r\n{")
	}
	// Every attacker's body is being read: each holds the first buffer, 8 KiB.
	holding := func() (bodyBytes, processing float64) {
		m := scrapeMetrics(t, addr)
		return metricValue(m, "http_request_body_bytes_in_flight"), metricValue(m, "http_requests_processing")
	}
	waitFor(t, bodyTimeout/2, "the server to read all the attackers' bodies", func() bool {
		b, _ := holding()
		return b == attack*8<<10
	}, func() string {
		b, p := holding()
		return fmt.Sprintf("body bytes in flight %v (want %d), processing %v", b, attack*8<<10, p)
	})
	if _, p := holding(); p != 0 {
		t.Errorf("with %d bodies still arriving, %v requests hold a processing slot; want 0", attack, p)
	}

	readyDuring := ready(addr)
	sent := time.Now()
	acked, others := realDeliveries(addr, "slow-body", 200)
	t.Logf("slow-body attack, %d connections from %d addresses, %d slots: real deliveries acknowledged %d/200 in %v (others %v); readiness %d",
		attack, clients, slots, acked, time.Since(sent).Round(time.Millisecond), others, readyDuring)
	if acked != 200 || readyDuring != 200 {
		t.Errorf("during the attack: %d/200 deliveries acknowledged (others %v), readiness %d; want all, and 200", acked, others, readyDuring)
	}
	// Else the bodies were cut before the deliveries ended, and the test proved less.
	if b, _ := holding(); b != attack*8<<10 {
		t.Errorf("after the real deliveries (%v into the attack) the server holds %v body bytes, want all %d attackers' still",
			time.Since(began).Round(time.Millisecond), b, attack*8<<10)
	}

	// The attackers' bodies end at READ_BODY_TIMEOUT with a 408.
	for _, c := range []net.Conn{held[0], held[attack-1]} {
		_ = c.SetReadDeadline(time.Now().Add(bodyTimeout + 5*time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("an attacker connection after %v: %v %v, want a 408", time.Since(began).Round(time.Millisecond), resp, err)
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%.3000s", rest())
	}
}

// Connections beyond the open-file limit would leave the server unable to accept, probes
// included. Under a limit of 1,024 open files, 1,500 keep-alive connections that went idle,
// and then 1,500 that never send a request, leave the probes and real deliveries served:
// the oldest waiting connection gives way to a new one.
func TestConnectionFloodKeepsProbesAnswering(t *testing.T) {
	prlimit := needTool(t, "prlimit", "apt-get install util-linux")
	addr, _, rest := startCommand(t, []string{prlimit, "--nofile=1024:1024", buildBinary(t)},
		"WEBHOOK_SECRET="+attackSecret, "API_TOKEN="+attackToken)
	for _, silent := range []bool{false, true} {
		name := map[bool]string{false: "idle keep-alive", true: "silent"}[silent]
		var conns []net.Conn
		for i := 0; i < 1500; i++ {
			// Ten addresses, 150 each: under the per-client cap, so only the total cap acts.
			c, err := dialFrom(fmt.Sprintf("127.0.1.%d", 1+i%10), addr)
			if err != nil {
				t.Fatalf("%s connection %d: %v", name, i, err)
			}
			conns = append(conns, c)
			if !silent {
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				fmt.Fprint(c, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
			}
		}
		if !silent {
			for _, c := range conns { // wait for the answers, so the connections are idle
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					resp.Body.Close()
				}
			}
		}
		readyDuring := ready(addr)
		acked, others := realDeliveries(addr, "flood-"+strings.ReplaceAll(name, " ", "-"), 40)
		t.Logf("%s connection flood, 1,500 connections at a limit of 1,024 open files: readiness %d, real deliveries acknowledged %d/40 (others %v)",
			name, readyDuring, acked, others)
		if readyDuring != 200 || acked != 40 {
			t.Errorf("%s flood: readiness %d, %d/40 acknowledged (others %v); want 200 and all", name, readyDuring, acked, others)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%.3000s", rest())
	}
}

// bodyFlood makes 1,000 clients (25 connections on each of 40 addresses) each send a body
// of 1 MiB; a held flood stops one byte short and holds the connection, a complete one
// sends signed deliveries to the end. It returns how many requests got each status and the
// server's peak RSS in MiB.
func bodyFlood(t *testing.T, addr string, pid int, complete bool) (statuses map[string]int, peakMiB float64) {
	t.Helper()
	const size = 1 << 20
	filler := strings.Repeat("x", size)
	var mu sync.Mutex
	statuses = map[string]int{}
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		c, err := dialFrom(fmt.Sprintf("127.0.2.%d", 1+i%40), addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		conns = append(conns, c)
		// A held body never ends, so what it holds does not matter; a complete one is a
		// valid signed delivery just under the 1 MiB limit.
		body := filler
		if complete {
			body = fmt.Sprintf(`{"id":"flood-%d","sender":"flood","content":"%s"}`, i, filler[:size-100])
		}
		wg.Go(func() {
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Signature: %s\r\nContent-Length: %d\r\n\r\n",
				signature.Sign([]byte(attackSecret), []byte(body)), len(body))
			send := body
			if !complete {
				send = body[:len(body)-1]
			}
			_, werr := io.WriteString(c, send)
			status := "held"
			if complete || werr != nil {
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				switch {
				case err != nil:
					status = "no answer"
				default:
					resp.Body.Close()
					status = strconv.Itoa(resp.StatusCode)
				}
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	_, peakMiB = memory(t, pid)
	if !complete {
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
	}
	return statuses, peakMiB
}

// The memory a flood of big bodies costs is bounded by MAX_BODY_BYTES_IN_FLIGHT, not by the
// number of requests; real deliveries keep going through beside it.
func TestBodyFloodMemoryIsBounded(t *testing.T) {
	for _, complete := range []bool{false, true} {
		name := map[bool]string{false: "held unsigned bodies", true: "complete signed deliveries"}[complete]
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			addr, cmd, _ := start(t, "WEBHOOK_SECRET="+attackSecret, "API_TOKEN="+attackToken, "READ_BODY_TIMEOUT=20s")
			_, before := memory(t, cmd.Process.Pid)
			statuses, peak := bodyFlood(t, addr, cmd.Process.Pid, complete)
			acked, others := realDeliveries(addr, "beside-"+strings.ReplaceAll(name, " ", "-"), 40)
			t.Logf("1,000 × 1 MiB %s: peak RSS %.0f MiB (%.0f MiB before); answers %v; real deliveries beside it %d/40 (others %v)",
				name, peak, before, statuses, acked, others)
			// The default budget is 64 MiB; the rest is the runtime, buffers on their way to
			// the garbage collector, and the store.
			if peak > 400 {
				t.Errorf("peak RSS %.0f MiB, want under 400", peak)
			}
			if acked != 40 {
				t.Errorf("real deliveries: %d/40 acknowledged (others %v)", acked, others)
			}
			for status := range statuses {
				if status != "held" && status != "200" && status != "503" {
					t.Errorf("flood requests got %q (%v); want only 200 or 503", status, statuses)
				}
			}
		})
	}
}
