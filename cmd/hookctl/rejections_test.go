package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/signature"
)

var rejectionColumns = []string{"RID", "RECEIVED_AT", "SOURCE", "STATUS", "RESULT", "REASON", "HINTS"}

// refuse posts body to url+path with the headers (pairs) and checks the answer's status.
func refuse(t *testing.T, url, path string, body []byte, status int, kv ...string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, status)
	}
}

// signedWithNewline is the X-Signature of body plus a newline: the newcomer's mistake of
// signing what echo printed.
func signedWithNewline(body []byte) string {
	return signature.Sign([]byte(testSecret), append(slices.Clip(body), '\n'))
}

// waitForRejections lists the journal through hookctl until it holds n entries: the server
// records them a moment after it answers.
func waitForRejections(t *testing.T, url string, n int) []gen.RejectionSummary {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := hookctl(t, readEnv(url), "", "rejections", "--limit=200", "-o", "json")
		succeeded(t, r)
		var page gen.RejectionList
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
			t.Fatalf("not a page: %v: %q", err, r.stdout)
		}
		if len(page.Data) >= n {
			return page.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries, want %d", len(page.Data), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedRejections records one refusal of each common kind, oldest first: an unknown source,
// a media type, a signature over the body plus a newline, and a body that is not text.
func seedRejections(t *testing.T, url string) []gen.RejectionSummary {
	t.Helper()
	body := []byte(`{"id":"r-1","sender":"alice","content":"hi"}`)
	refuse(t, url, "/webhook/gitlab", []byte(`{}`), 404, "Content-Type", "application/json")
	refuse(t, url, "/webhook", body, 415, "Content-Type", "text/plain", "X-Signature", signature.Sign([]byte(testSecret), body))
	refuse(t, url, "/webhook", body, 401, "Content-Type", "application/json", "X-Signature", signedWithNewline(body),
		"Authorization", "Bearer not-kept", "X-Trace", "t-1")
	binary := []byte("\xff\x00\xfe not text")
	refuse(t, url, "/webhook", binary, 401, "Content-Type", "application/json", "X-Signature", "deadbeef")
	return waitForRejections(t, url, 4)
}

func TestRejectionsTable(t *testing.T) {
	url := startServer(t)
	all := seedRejections(t, url)

	r := hookctl(t, readEnv(url), "", "rejections")
	succeeded(t, r)
	rows := tableRows(t, r.stdout, rejectionColumns)
	var got [][]string
	for _, row := range rows {
		got = append(got, []string{row["SOURCE"], row["STATUS"], row["RESULT"]})
	}
	want := [][]string{
		{"default", "401", "invalid_signature"},
		{"default", "401", "invalid_signature"},
		{"default", "415", "unsupported_media_type"},
		{"gitlab", "404", "unknown_source"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows %q, want newest first %q:\n%s", got, want, r.stdout)
	}
	for i, row := range rows {
		if row["RID"] != strconv.FormatInt(all[i].Rid, 10) || row["HINTS"] != strconv.Itoa(len(all[i].Hints)) ||
			!strings.HasPrefix(all[i].Reason, strings.TrimSuffix(row["REASON"], "…")) {
			t.Errorf("row %v, want entry %+v", row, all[i])
		}
	}
	if rows[1]["HINTS"] == "0" {
		t.Errorf("the newline mistake has no hint: %v", rows[1])
	}

	t.Run("filters", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "rejections", "--result=invalid_signature", "--source=default")
		succeeded(t, r)
		if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 2 || rows[0]["RESULT"] != "invalid_signature" {
			t.Errorf("--result: %v", rows)
		}
		since := all[1].ReceivedAt.Format(time.RFC3339Nano)
		r = hookctl(t, readEnv(url), "", "rejections", "--since="+since)
		succeeded(t, r)
		if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 2 {
			t.Errorf("--since %s: %v", since, rows)
		}
		r = hookctl(t, readEnv(url), "", "rejections", "--until="+since)
		succeeded(t, r)
		if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 2 || rows[0]["RESULT"] != "unsupported_media_type" {
			t.Errorf("--until %s: %v", since, rows)
		}
	})
	t.Run("pages", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "rejections", "--limit=1", "--result=invalid_signature")
		if r.code != 0 || !strings.HasPrefix(r.stderr, "next: hookctl rejections --result invalid_signature --limit 1 --cursor ") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		next := strings.Fields(r.stderr)
		r = hookctl(t, readEnv(url), "", "rejections", "--limit=1", "--result=invalid_signature", "--cursor="+next[len(next)-1])
		succeeded(t, r)
		if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 1 || rows[0]["RID"] != strconv.FormatInt(all[1].Rid, 10) {
			t.Errorf("second page: %v", rows)
		}
		r = hookctl(t, readEnv(url), "", "rejections", "--limit=1", "--all")
		succeeded(t, r)
		if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 4 {
			t.Errorf("--all: %d rows", len(rows))
		}
		r = hookctl(t, readEnv(url), "", "rejections", "--limit=3", "--all", "-o", "json")
		succeeded(t, r)
		var every []gen.RejectionSummary
		if err := json.Unmarshal([]byte(r.stdout), &every); err != nil || len(every) != 4 || every[0].Rid != all[0].Rid {
			t.Errorf("--all -o json: %v: %s", err, r.stdout)
		}
	})
}

func TestRejectionsShowOne(t *testing.T) {
	url := startServer(t)
	all := seedRejections(t, url)

	r := hookctl(t, readEnv(url), "", "rejections", strconv.FormatInt(all[1].Rid, 10))
	succeeded(t, r)
	fields, rest, ok := strings.Cut(r.stdout, "HINTS\n")
	if !ok {
		t.Fatalf("no HINTS section:\n%s", r.stdout)
	}
	for _, want := range []string{"RID  ", "RECEIVED_AT  ", "SOURCE  ", "STATUS  ", "RESULT  ", "REASON  ", "REQUEST_ID  ",
		"REMOTE_ADDR  ", "BODY_SIZE  ", "BODY_SHA256  "} {
		if !strings.Contains(fields, "\n"+want) && !strings.HasPrefix(fields, want) {
			t.Errorf("no %s field:\n%s", strings.TrimSpace(want), fields)
		}
	}
	if !regexp.MustCompile(`(?m)^REASON +hmac_sha256: mismatch$`).MatchString(fields) ||
		!regexp.MustCompile(`(?m)^STATUS +401$`).MatchString(fields) {
		t.Errorf("fields:\n%s", fields)
	}
	hints, rest, _ := strings.Cut(rest, "HEADERS\n")
	if lines := strings.Split(strings.TrimSuffix(hints, "\n"), "\n"); len(lines) != len(all[1].Hints) ||
		!strings.HasPrefix(lines[0], "  - ") || !strings.Contains(hints, "newline") {
		t.Errorf("hints, one a line, want %d about the newline:\n%s", len(all[1].Hints), hints)
	}
	headers, body, _ := strings.Cut(rest, "BODY\n")
	if !strings.Contains(headers, "X-Trace: t-1\n") || strings.Contains(headers, "Authorization") || strings.Contains(headers, "not-kept") {
		t.Errorf("headers:\n%s", headers)
	}
	if body != `{"id":"r-1","sender":"alice","content":"hi"}`+"\n" {
		t.Errorf("body %q", body)
	}

	t.Run("binary", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "rejections", strconv.FormatInt(all[0].Rid, 10))
		succeeded(t, r)
		if !strings.Contains(r.stdout, "BODY (12 bytes that are not text, in base64)\n/wD+IG5vdCB0ZXh0\n") {
			t.Errorf("binary body:\n%s", r.stdout)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "rejections", strconv.FormatInt(all[0].Rid, 10), "-o", "json")
		succeeded(t, r)
		var e gen.Rejection
		if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.BodyBase64 == nil || string(*e.BodyBase64) != "\xff\x00\xfe not text" {
			t.Errorf("-o json: %v: %s", err, r.stdout)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "rejections", "999999")
		r.wantFailure(t, 1, "404")
	})
}

// lockedBuffer is a stdout that a running command writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --follow prints the newest entries, then one recorded after it started, each once, oldest
// first, and ends with exit 0 on Ctrl-C.
func TestRejectionsFollow(t *testing.T) {
	url := startServer(t)
	body := []byte(`{}`)
	refuse(t, url, "/webhook/first", body, 404, "Content-Type", "application/json")
	refuse(t, url, "/webhook/second", body, 404, "Content-Type", "application/json")
	waitForRejections(t, url, 2)

	saved := interrupted
	t.Cleanup(func() { interrupted = saved })
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			// Ctrl-C, as the test presses it.
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			interrupted = func() (context.Context, context.CancelFunc) { return ctx, func() {} }
			var stdout, stderr lockedBuffer
			done := make(chan int, 1)
			env := readEnv(url)
			go func() {
				done <- run([]string{"rejections", "--follow", "-o", output}, strings.NewReader(""), &stdout, &stderr,
					func(k string) string { return env[k] })
			}()
			waitFor := func(what string) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(stdout.String(), what) {
					if time.Now().After(deadline) {
						t.Fatalf("no %q in:\n%s\nstderr: %s", what, stdout.String(), stderr.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitFor("second")
			later := "later-" + output
			refuse(t, url, "/webhook/"+later, body, 404, "Content-Type", "application/json")
			waitFor(later)
			stop()
			if code := <-done; code != 0 || stderr.String() != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			var sources []string
			for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
				if output == "json" {
					var e gen.RejectionSummary
					if err := json.Unmarshal([]byte(line), &e); err != nil {
						t.Fatalf("not an entry: %q", line)
					}
					sources = append(sources, e.Source)
				} else if f := strings.Fields(line); f[0] != "RID" {
					sources = append(sources, f[2])
				}
			}
			// Oldest first, each once; the json run also sees the table run's entry.
			want := []string{"first", "second", "later-table", later}
			if output == "table" {
				want = want[:3]
			}
			if !slices.Equal(sources, want) {
				t.Errorf("sources %q, want %q:\n%s", sources, want, stdout.String())
			}
		})
	}
}

func TestRejectionsUsage(t *testing.T) {
	url := startServer(t)
	tests := []exitCase{
		{"unknown result", readEnv(url), []string{"--result=lost"}, 2, []string{"--result must be unknown_source"}},
		{"limit zero", readEnv(url), []string{"--limit=0"}, 2, []string{"--limit must be between 1 and 200"}},
		{"limit too large", readEnv(url), []string{"--limit=201"}, 2, []string{"--limit must be between 1 and 200"}},
		{"bad since", readEnv(url), []string{"--since=yesterday"}, 2, []string{"--since", "RFC 3339"}},
		{"rid and filter", readEnv(url), []string{"5", "--source=github"}, 2, []string{"RID shows one entry"}},
		{"rid zero", readEnv(url), []string{"0"}, 2, []string{"positive"}},
		{"follow all", readEnv(url), []string{"--follow", "--all"}, 2, []string{"--follow"}},
		{"unknown output", readEnv(url), []string{"--output=yaml"}, 2, []string{"--output", "table", "json"}},
		{"no token", map[string]string{"HOOKVAULT_URL": url}, nil, 2, []string{"API_TOKEN", "--token"}},
		{"bad cursor", readEnv(url), []string{"--cursor=not-a-cursor"}, 1, []string{"hookctl: 400 Bad Request: ", "cursor"}},
		{"wrong token", map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": "wrong"}, []string{"--follow"}, 1, []string{"401"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"rejections"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
	r := hookctl(t, readEnv(url), "", "rejections")
	succeeded(t, r)
	if rows := tableRows(t, r.stdout, rejectionColumns); len(rows) != 0 {
		t.Errorf("an empty journal: %q", r.stdout)
	}
}
