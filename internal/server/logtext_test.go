package server_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/server"
)

// In text format (a terminal, or LOG_FORMAT=text) the start-up line is short and names the
// version, and each request is one line with the fields the contract names.
func TestTextLogs(t *testing.T) {
	cfg := mustConfig(t)
	cfg.LogFormat = "text"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, server.NewLogger(logs, cfg)) }()

	addrRE := regexp.MustCompile(`msg="hookvault listening" addr=(\S+) version=\S+ database=sqlite:\S+ sources=\[default\]\n`)
	var addr string
	waitUntil(t, func() bool {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	}, logs.String)
	if status := post(t, addr, "text-1"); status != 200 {
		t.Fatalf("post = %d", status)
	}
	cancel(server.ErrInterrupted)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}

	out := logs.String()
	if strings.Contains(out, "config.") || strings.Contains(out, "max_in_flight") {
		t.Errorf("the text start-up line lists the whole configuration:\n%s", out)
	}
	var requests []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "msg=request") {
			requests = append(requests, l)
		}
	}
	want := regexp.MustCompile(`^time=\S+ level=INFO msg=request request_id=\S+ method=POST path=/webhook route=/webhook status=200 latency_ms=[0-9.]+ .*message_id=text-1 .*dup=false.* result=created`)
	if len(requests) != 1 || !want.MatchString(requests[0]) {
		t.Errorf("request lines:\n%s\nwant one matching %s", strings.Join(requests, "\n"), want)
	}
}

// waitUntil polls cond for a few seconds; status explains a timeout.
func waitUntil(t *testing.T, cond func() bool, status func() string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; state:\n%s", status())
		}
	}
}
