package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/signature"
)

var receivedAt = regexp.MustCompile(`(?m)^(RECEIVED_AT +)20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// getSections splits get's table into its fields (with the arrival time as <time>), its
// header lines, and its payload section from the PAYLOAD line on, after checking that the
// header lines are sorted.
func getSections(t *testing.T, stdout string) (fields string, headers []string, payload string) {
	t.Helper()
	fields, rest, ok := strings.Cut(stdout, "HEADERS\n")
	if !ok {
		t.Fatalf("no HEADERS section:\n%s", stdout)
	}
	at := strings.Index(rest, "PAYLOAD")
	if at < 0 || (at > 0 && rest[at-1] != '\n') {
		t.Fatalf("no PAYLOAD section:\n%s", stdout)
	}
	if at > 0 {
		headers = strings.Split(strings.TrimSuffix(rest[:at], "\n"), "\n")
	}
	if !slices.IsSorted(headers) {
		t.Errorf("headers are not sorted: %q", headers)
	}
	if !receivedAt.MatchString(fields) {
		t.Errorf("no RECEIVED_AT in UTC to the millisecond:\n%s", fields)
	}
	return receivedAt.ReplaceAllString(fields, "${1}<time>"), headers, rest[at:]
}

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
		fields, headers, payload := getSections(t, r.stdout)
		want := "ID            g/1 ü\n" +
			"SOURCE        default\n" +
			"TYPE          -\n" +
			"SENDER        alice\n" +
			"RECEIVED_AT   <time>\n" +
			"CONTENT       two lines\n" +
			"CONTENT_TYPE  application/json\n"
		if fields != want {
			t.Errorf("fields =\n%s\nwant\n%s", fields, want)
		}
		for _, want := range []string{"Content-Type: application/json", "X-Signature: " + signature.Sign([]byte(testSecret), []byte(body))} {
			if !slices.Contains(headers, want) {
				t.Errorf("headers %q do not hold %q", headers, want)
			}
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(body), "", "  "); err != nil {
			t.Fatal(err)
		}
		if want := "PAYLOAD\n" + indented.String() + "\n"; payload != want {
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
		if m.Id != "g/1 ü" || m.Source != "default" || m.Type != nil || deref(m.Sender, "") != "alice" ||
			deref(m.Content, "") != "two\nlines" || m.ReceivedAt.IsZero() || m.ContentType != "application/json" {
			t.Errorf("message = %+v", m)
		}
		if got := string(m.Payload); got != body {
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
		{"bad source", readEnv(url), []string{"--source", "Git Hub", "x"}, 2, []string{`--source "Git Hub" is not a source name`}},
		{"json and table", readEnv(url), []string{"--json", "-o", "table", "x"}, 2, []string{"--json and --output=table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"get"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
}

// TestGetProviderMessages: get --source shows a provider's delivery with its type, content
// type and headers, and its payload as JSON, as text or, for bytes that are not text, in
// base64, said so.
func TestGetProviderMessages(t *testing.T) {
	url := startSourcesServer(t)
	push := `{"ref":"refs/heads/main","commits":[{"id":"6113728f","message":"Fix"}]}`
	sendTo(t, url, "github", "", "-H", "X-GitHub-Event: push", "-H", "X-GitHub-Delivery: gh-get", "--data", push)
	form := "MessageSid=SMget&Body=Hello+%E2%9C%93&From=%2B15017122661"
	sendTo(t, url, "twilio", "", "--data", form)
	text := sendTo(t, url, "hmac", "", "--content-type", "text/plain; charset=utf-8", "--data", "line one\r\nline\ttwo \x1b[31mred\x1b[0m")
	binary := sendTo(t, url, "hmac", "\xff\xfe\x00binary\x01", "--file=-")
	// A JSON body that is a string is JSON, not text.
	jsonString := sendTo(t, url, "hmac", "", "--data", `"just a string"`)

	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(push), "", "  "); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		args        []string
		wantFields  string
		wantHeaders []string
		wantPayload string
	}{
		{"github JSON", []string{"--source", "github", "gh-get"},
			"ID            gh-get\n" +
				"SOURCE        github\n" +
				"TYPE          push\n" +
				"RECEIVED_AT   <time>\n" +
				"CONTENT_TYPE  application/json\n",
			[]string{"Content-Type: application/json", "X-Github-Delivery: gh-get", "X-Github-Event: push",
				"X-Hub-Signature-256: " + hubSignature(sourceByName(t, "github").secret, push)},
			"PAYLOAD\n" + indented.String() + "\n"},
		{"twilio form as text", []string{"--source=twilio", "SMget"},
			"ID            SMget\n" +
				"SOURCE        twilio\n" +
				"TYPE          -\n" +
				"RECEIVED_AT   <time>\n" +
				"CONTENT_TYPE  application/x-www-form-urlencoded\n",
			[]string{"Content-Type: application/x-www-form-urlencoded"},
			"PAYLOAD\n" + form + "\n"},
		// Newlines and tabs stay; other control characters cannot reach the terminal.
		{"text", []string{"--source=hmac", text.Id}, "", []string{"Content-Type: text/plain; charset=utf-8"},
			"PAYLOAD\nline one\nline\ttwo  [31mred [0m\n"},
		{"bytes that are not text", []string{"--source=hmac", binary.Id}, "", []string{"Content-Type: application/octet-stream"},
			"PAYLOAD (10 bytes that are not text, in base64)\n//4AYmluYXJ5AQ==\n"},
		{"JSON string", []string{"--source=hmac", jsonString.Id}, "", nil, "PAYLOAD\n\"just a string\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, readEnv(url), "", append([]string{"get"}, tt.args...)...)
			succeeded(t, r)
			fields, headers, payload := getSections(t, r.stdout)
			if tt.wantFields != "" && fields != tt.wantFields {
				t.Errorf("fields =\n%s\nwant\n%s", fields, tt.wantFields)
			}
			for _, want := range tt.wantHeaders {
				if !slices.Contains(headers, want) {
					t.Errorf("headers %q do not hold %q", headers, want)
				}
			}
			if payload != tt.wantPayload {
				t.Errorf("payload =\n%q\nwant\n%q", payload, tt.wantPayload)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "get", "--json", "--source=hmac", binary.Id)
		succeeded(t, r)
		var m gen.MessageDetail
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("stdout is not a message: %v: %q", err, r.stdout)
		}
		if m.Source != "hmac" || string(m.Payload) != "null" || m.PayloadBase64 == nil || string(*m.PayloadBase64) != "\xff\xfe\x00binary\x01" {
			t.Errorf("message = %+v, want the bytes in payload_base64", m)
		}
	})

	t.Run("ids are unique per source", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "get", "gh-get")
		r.wantFailure(t, 1, `hookctl: 404 Not Found: no message with id "gh-get"`)
	})
}

// hubSignature is GitHub's X-Hub-Signature-256 of body under secret.
func hubSignature(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
