package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
)

func TestGet(t *testing.T) {
	url := startServer(t)
	// Member order, number spelling and spacing are the sender's, and must come back so.
	body := `{"id":"g/1 ü","sender":"alice","content":"two\nlines","amount":1.50,"meta":{"z":1,"a":[true,null]}}`
	send := hookctl(t, map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": testSecret}, "", "send", "--data", body)
	if send.code != 0 {
		t.Fatalf("send: %s", send.stderr)
	}

	t.Run("table", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "get", "g/1 ü")
		succeeded(t, r)
		fields, payload, ok := strings.Cut(r.stdout, "PAYLOAD\n")
		if !ok {
			t.Fatalf("no PAYLOAD section:\n%s", r.stdout)
		}
		for _, want := range []string{"ID           g/1 ü\n", "SENDER       alice\n", "RECEIVED_AT  20", "CONTENT      two lines\n"} {
			if !strings.Contains(fields, want) {
				t.Errorf("fields do not contain %q:\n%s", want, fields)
			}
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(body), "", "  "); err != nil {
			t.Fatal(err)
		}
		if want := indented.String() + "\n"; payload != want {
			t.Errorf("payload =\n%s\nwant\n%s", payload, want)
		}
	})

	t.Run("json is the server's answer", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "get", "--output=json", "g/1 ü")
		succeeded(t, r)
		var m gen.MessageDetail
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("stdout is not a message: %v: %q", err, r.stdout)
		}
		if m.Id != "g/1 ü" || deref(m.Sender, "") != "alice" || deref(m.Content, "") != "two\nlines" || m.ReceivedAt.IsZero() {
			t.Errorf("message = %+v", m)
		}
		if got := string(deref(m.Payload, nil)); got != body {
			t.Errorf("payload = %s, want the body as sent: %s", got, body)
		}
		if strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("stdout is not one line: %q", r.stdout)
		}
	})
}

func TestGetFailures(t *testing.T) {
	url := startServer(t)
	tests := []exitCase{
		{"unknown id", readEnv(url), []string{"nope"}, 1, []string{`hookctl: 404 Not Found: no message with id "nope"`}},
		{"unknown id as json", readEnv(url), []string{"-o", "json", "nope"}, 1, []string{"hookctl: 404 "}},
		{"wrong token", map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": "wrong-token"}, []string{"nope"}, 1,
			[]string{"hookctl: 401 Unauthorized: invalid bearer token"}},
		{"server down", readEnv(closedURL(t)), []string{"x"}, 1, []string{"cannot reach http://127.0.0.1:"}},
		{"no token", map[string]string{"HOOKVAULT_URL": url}, []string{"nope"}, 2, []string{"API_TOKEN", "--token"}},
		{"no id", readEnv(url), nil, 2, []string{"message id"}},
		{"empty id", readEnv(url), []string{""}, 2, []string{"the message id is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"get"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
}
