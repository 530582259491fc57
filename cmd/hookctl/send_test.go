package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
)

// accepted decodes send's output, which must be exactly one line of JSON.
func accepted(t *testing.T, r result) gen.WebhookAccepted {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing", r.stderr)
	}
	if !strings.HasSuffix(r.stdout, "\n") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout is not one line: %q", r.stdout)
	}
	var a gen.WebhookAccepted
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("stdout is not the JSON answer: %v: %q", err, r.stdout)
	}
	return a
}

func TestSendCreatedThenDuplicate(t *testing.T) {
	env := map[string]string{"HOOKVAULT_URL": startServer(t), "WEBHOOK_SECRET": testSecret}
	args := []string{"send", "--id=evt-1", "--sender=alice", "--content=hello <world> & more"}

	first := accepted(t, hookctl(t, env, "", args...))
	if want := (gen.WebhookAccepted{Status: "ok", Id: "evt-1", Duplicate: false}); first != want {
		t.Errorf("first send answered %+v, want %+v", first, want)
	}
	again := accepted(t, hookctl(t, env, "", args...))
	if want := (gen.WebhookAccepted{Status: "ok", Id: "evt-1", Duplicate: true}); again != want {
		t.Errorf("second send answered %+v, want %+v", again, want)
	}
}

func TestSendDefaultIDIsFreshEachTime(t *testing.T) {
	env := map[string]string{"HOOKVAULT_URL": startServer(t), "WEBHOOK_SECRET": testSecret}
	idPattern := regexp.MustCompile(`^hookctl-[0-9a-f]{16}$`)

	a := accepted(t, hookctl(t, env, "", "send"))
	b := accepted(t, hookctl(t, env, "", "send"))
	for _, got := range []gen.WebhookAccepted{a, b} {
		if !idPattern.MatchString(got.Id) || got.Duplicate {
			t.Errorf("answer %+v, want a new id matching %s", got, idPattern)
		}
	}
	if a.Id == b.Id {
		t.Errorf("two sends without --id both used %q", a.Id)
	}
}

func TestSendAnswers(t *testing.T) {
	url := startServer(t)
	withExtras := `{"id":"raw-file","sender":"bob","content":"","meta":{"attempt":3},"tags":["a","b"]}`
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, []byte(withExtras), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		secret     string
		stdin      string
		args       []string
		wantCode   int
		wantID     string   // on success
		wantStderr []string // on failure
	}{
		{"data with extra members", testSecret, "",
			[]string{"--data", `{"id":"raw-data","sender":"bob","content":"x","extra":{"n":1}}`}, 0, "raw-data", nil},
		{"file with extra members", testSecret, "", []string{"--file", file}, 0, "raw-file", nil},
		{"file from stdin", testSecret, `{"id":"raw-stdin","sender":"bob","content":""}`, []string{"--file=-"}, 0, "raw-stdin", nil},
		{"first of several secrets signs", testSecret + ",retired-secret", "", []string{"--id=rotated"}, 0, "rotated", nil},
		{"wrong secret", "wrong-secret", "", []string{"--id=w1"}, 1, "",
			[]string{"hookctl: 401 ", "invalid signature"}},
		{"only a later secret is right", "retired-secret," + testSecret, "", []string{"--id=w2"}, 1, "",
			[]string{"401", "invalid signature"}},
		{"missing field", testSecret, "", []string{"--data", `{"id":"v1","content":""}`}, 1, "",
			[]string{"hookctl: 422 ", "sender"}},
		{"not JSON", testSecret, "", []string{"--data", "hello"}, 1, "", []string{"422"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": tt.secret}
			r := hookctl(t, env, tt.stdin, append([]string{"send"}, tt.args...)...)
			if tt.wantCode == 0 {
				if got := accepted(t, r); got.Id != tt.wantID || got.Duplicate {
					t.Errorf("answer %+v, want new message %q", got, tt.wantID)
				}
				return
			}
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}

// closedURL returns the URL of a port that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// silentURL returns the URL of a port that accepts connections and never answers.
func silentURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func TestSendFailures(t *testing.T) {
	down := closedURL(t)
	silent := silentURL(t)
	live := startServer(t)

	tests := []exitCase{
		{"server down", map[string]string{"WEBHOOK_SECRET": testSecret},
			[]string{"--url", down}, 1, []string{"hookctl: cannot reach " + down + ": connection refused"}},
		{"server down, URL from HOOKVAULT_URL", map[string]string{"WEBHOOK_SECRET": testSecret, "HOOKVAULT_URL": down},
			nil, 1, []string{"cannot reach " + down}},
		{"no answer within the timeout", map[string]string{"WEBHOOK_SECRET": testSecret},
			[]string{"--url", silent, "--timeout=200ms"}, 1, []string{"no answer from " + silent + " within 200ms"}},
		{"URL without scheme", map[string]string{"WEBHOOK_SECRET": testSecret},
			[]string{"--url", "127.0.0.1:8000"}, 1, []string{`bad URL "127.0.0.1:8000"`}},
		{"URL with a wrong path", map[string]string{"WEBHOOK_SECRET": testSecret},
			[]string{"--url", live + "/nope"}, 1, []string{"hookctl: 404 "}},
		{"password in URL is not shown", map[string]string{"WEBHOOK_SECRET": testSecret},
			[]string{"--url", strings.Replace(down, "//", "//user:"+testSecret+"@", 1)}, 1, []string{"user:xxxxx@"}},
		{"missing secret", map[string]string{"HOOKVAULT_URL": live},
			nil, 2, []string{"WEBHOOK_SECRET", "--secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"send"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}

func TestSendBuildsBody(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name string
		cmd  sendCmd
		want string
	}{
		{"all flags", sendCmd{ID: str("1"), Sender: str("alice"), Content: str("hello")},
			`{"id":"1","sender":"alice","content":"hello"}`},
		{"defaults but id", sendCmd{ID: str("2")}, `{"id":"2","sender":"hookctl","content":""}`},
		// The stored raw body must hold what the user typed, not \u003c-escapes.
		{"markup kept as typed", sendCmd{ID: str("3"), Content: str(`<b> & "q"`)},
			`{"id":"3","sender":"hookctl","content":"<b> & \"q\""}`},
		{"data as is", sendCmd{Data: str(" {\"id\": \"4\"}\n")}, " {\"id\": \"4\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cmd.body(&streams{stdin: strings.NewReader("")})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("body = %s, want %s", got, tt.want)
			}
		})
	}
}
