package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/loadgen"
)

// answers reads the counts of bulk's "answers" summary line.
type answers struct{ created, duplicates, rejected, unexpected int }

var answersLine = regexp.MustCompile(`(?m)^answers +(\d+) created, (\d+) duplicates recognised, (\d+) bad signatures rejected, (\d+) unexpected$`)

func parseAnswers(t *testing.T, stdout string) answers {
	t.Helper()
	m := answersLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no answers line in the summary:\n%s", stdout)
	}
	n := func(s string) int {
		v, _ := strconv.Atoi(s)
		return v
	}
	return answers{n(m[1]), n(m[2]), n(m[3]), n(m[4])}
}

func TestBulk(t *testing.T) {
	url := startServer(t)
	env := map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": testSecret, "API_TOKEN": testToken}

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, got answers)
	}{
		{"all new", nil, func(t *testing.T, got answers) {
			if want := (answers{created: 200}); got != want {
				t.Errorf("answers %+v, want %+v", got, want)
			}
		}},
		{"duplicates", []string{"--duplicates=0.2"}, func(t *testing.T, got answers) {
			if got.duplicates == 0 || got.created+got.duplicates != 200 || got.rejected != 0 {
				t.Errorf("answers %+v, want some of 200 recognised as duplicates, the rest created", got)
			}
		}},
		{"bad signatures", []string{"--bad-signatures=0.2"}, func(t *testing.T, got answers) {
			if got.rejected == 0 || got.created+got.rejected != 200 || got.duplicates != 0 {
				t.Errorf("answers %+v, want some of 200 rejected, the rest created", got)
			}
		}},
		{"verify", []string{"--verify", "--duplicates=0.1", "--bad-signatures=0.1"}, func(t *testing.T, got answers) {
			if got.created+got.duplicates+got.rejected != 200 {
				t.Errorf("answers %+v, want 200 as expected", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, env, "", append([]string{"bulk", "-n", "200", "-c", "8"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			got := parseAnswers(t, r.stdout)
			tt.check(t, got)
			if !strings.Contains(r.stderr, "sent 200/200 (100%)\n") {
				t.Errorf("stderr has no final progress line:\n%s", r.stderr)
			}
			for _, want := range []string{"throughput ", "latency ", "p50 ", "p90 ", "p99 ", "max ", "status "} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("summary lacks %q:\n%s", want, r.stdout)
				}
			}
			if got.rejected > 0 && !strings.Contains(r.stdout, "401 × "+strconv.Itoa(got.rejected)) {
				t.Errorf("status line does not count %d × 401:\n%s", got.rejected, r.stdout)
			}
			if verified := "verified " + strconv.Itoa(got.created) + "/" + strconv.Itoa(got.created) + "\n"; slices.Contains(tt.args, "--verify") != strings.Contains(r.stdout, verified) {
				t.Errorf("stdout has %q only with --verify:\n%s", verified, r.stdout)
			}
		})
	}
}

func TestBulkSamePrefixTwice(t *testing.T) {
	env := map[string]string{"HOOKVAULT_URL": startServer(t), "WEBHOOK_SECRET": testSecret}
	args := []string{"bulk", "-n", "20", "-c", "4", "--prefix", "again"}
	if r := hookctl(t, env, "", args...); r.code != 0 {
		t.Fatalf("first run: exit %d; stderr: %s", r.code, r.stderr)
	}
	// The ids were acked by the first run, so every new-id request now gets duplicate:true.
	r := hookctl(t, env, "", args...)
	if r.code != 1 {
		t.Errorf("second run: exit %d, want 1", r.code)
	}
	if got, want := parseAnswers(t, r.stdout), (answers{unexpected: 20}); got != want {
		t.Errorf("answers %+v, want %+v", got, want)
	}
	if !strings.Contains(r.stdout, "200 with duplicate:true") {
		t.Errorf("summary does not show why:\n%s", r.stdout)
	}
}

func TestBulkWrongSecret(t *testing.T) {
	env := map[string]string{"HOOKVAULT_URL": startServer(t), "WEBHOOK_SECRET": "not-" + testSecret}
	r := hookctl(t, env, "", "bulk", "-n", "50", "-c", "4", "--duplicates=0.2")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if got, want := parseAnswers(t, r.stdout), (answers{unexpected: 50}); got != want {
		t.Errorf("answers %+v, want %+v", got, want)
	}
	if !strings.Contains(r.stdout, "401 × 50") || !strings.Contains(r.stdout, "invalid signature") {
		t.Errorf("summary does not show 50 × 401 and why:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "hookctl: 50 of 50 requests to http://") || !strings.HasSuffix(r.stderr, "got an unexpected answer\n") {
		t.Errorf("stderr does not end with the failure:\n%s", r.stderr)
	}
}

func TestBulkServerDown(t *testing.T) {
	down := closedURL(t)
	r := hookctl(t, map[string]string{"WEBHOOK_SECRET": testSecret}, "", "bulk", "--url", down, "-n", "10", "-c", "2")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stdout, "no answer × 10") || !strings.Contains(r.stdout, "connection refused") {
		t.Errorf("summary does not show 10 requests without an answer:\n%s", r.stdout)
	}
}

func TestBulkUsage(t *testing.T) {
	env := map[string]string{"HOOKVAULT_URL": "http://127.0.0.1:1", "WEBHOOK_SECRET": testSecret}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"endless", env, []string{"-n", "0"}, "give a --duration too"},
		{"no workers", env, []string{"-c", "0"}, "--concurrency must be at least 1"},
		{"share over 1", env, []string{"--duplicates=1.5"}, "--duplicates must be a share"},
		{"shares over 1", env, []string{"--duplicates=0.6", "--bad-signatures=0.5"}, "add up to more than 1"},
		{"negative rate", env, []string{"--rate=-1"}, "--rate must be a number of requests per second"},
		{"share not a number", env, []string{"--bad-signatures=NaN"}, "--bad-signatures must be a share"},
		{"verify without token", env, []string{"--verify"}, "set API_TOKEN or pass --token"},
		{"no secret", map[string]string{}, nil, "set WEBHOOK_SECRET or pass --secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"bulk"}, tt.args...)...)
			r.wantFailure(t, 2, tt.want) // nothing on stdout: nothing sent
		})
	}
}

// TestVerifyFindsProblems runs verify against a read API that lost one message, changed
// another, stored one twice and stored one that was never acked.
func TestVerifyFindsProblems(t *testing.T) {
	stored := map[string]string{
		"r-1": `{"id":"r-1","sender":"r","content":"a"}`,
		"r-2": `{"id":"r-2","sender":"r","content":"changed"}`,
		"r-9": `{"id":"r-9","sender":"r","content":"rejected"}`,
	}
	listed := []string{"r-1", "r-2", "r-2", "r-9"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/messages" {
			if r.URL.Query().Get("sender") != "r" {
				http.Error(w, "want sender=r", http.StatusBadRequest)
				return
			}
			var page gen.MessageList
			for _, id := range listed {
				sender := "r"
				page.Data = append(page.Data, gen.MessageSummary{Id: id, Source: "default", Sender: &sender, ReceivedAt: time.Now()})
			}
			_ = json.NewEncoder(w).Encode(page)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/messages/")
		body, ok := stored[id]
		if !ok {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404,"detail":"no message"}`))
			return
		}
		sender, payload := "r", json.RawMessage(body)
		_ = json.NewEncoder(w).Encode(gen.MessageDetail{Id: id, Source: "default", Sender: &sender, ReceivedAt: time.Now(), Payload: payload})
	}))
	defer srv.Close()

	client, err := gen.NewClientWithResponses(srv.URL, gen.WithBearerToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	rep := loadgen.Report{Sender: "r", Acked: []loadgen.Ack{
		{ID: "r-1", Body: []byte(`{"id":"r-1","sender":"r","content":"a"}`)},
		{ID: "r-2", Body: []byte(`{"id":"r-2","sender":"r","content":"b"}`)},
		{ID: "r-3", Body: []byte(`{"id":"r-3","sender":"r","content":"c"}`)},
	}}
	var stdout, stderr bytes.Buffer
	err = verify(context.Background(), &streams{stdout: &stdout, stderr: &stderr}, client, srv.URL, rep, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "4 problems") {
		t.Errorf("err = %v, want 4 problems", err)
	}
	for _, want := range []string{
		"verified 1/3\n",
		"r-2: stored payload",
		"r-3: acked but not stored (404)",
		"r-2: listed more than once",
		"r-9: stored but never acked",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}
