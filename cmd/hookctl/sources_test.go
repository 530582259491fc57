package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
)

// testSource is one source of the test server's sources file, named after its provider:
// what the file says beyond name, provider and secret, and what hookctl send needs to sign
// as the provider does.
type testSource struct {
	provider string
	secret   string   // hookctl's --secret (discord: the private key seed, hex)
	wrong    string   // a secret of the same form that is not the source's
	yaml     string   // further fields of the source, indented as in the file
	args     []string // send's flags beyond --source and --provider
	wantType *string  // the type the provider's sample gets
}

const publicBase = "https://hooks.example.com/webhook/"

var (
	seedRight = strings.Repeat("5e", 32)
	seedWrong = strings.Repeat("0d", 32)
)

func whsec(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) }

// testSources has one source per name in provider.Names() (TestSendEveryProvider checks).
func testSources() []testSource {
	plain := func(p, wantType string, args ...string) testSource {
		ts := testSource{provider: p, secret: "src-secret-" + p, wrong: "not-the-" + p + "-secret", args: args}
		if wantType != "" {
			ts.wantType = &wantType
		}
		return ts
	}
	signsURL := func(p, wantType string) testSource {
		ts := plain(p, wantType, "--public-url", publicBase+p)
		ts.yaml = "    url: " + publicBase + p + "\n"
		return ts
	}
	std := func(p string) testSource {
		return testSource{provider: p, secret: whsec("std-key-" + p), wrong: whsec("other-key"), wantType: str("user.created")}
	}
	seed, _ := hex.DecodeString(seedRight)
	public := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	hmacSource := plain("hmac", "", "--hmac-header", "X-Test-Signature", "--hmac-algorithm", "sha512",
		"--hmac-encoding", "base64", "--hmac-prefix", "v1=")
	hmacSource.yaml = "    header: X-Test-Signature\n    algorithm: sha512\n    encoding: base64\n    prefix: \"v1=\"\n"
	return []testSource{
		plain("calendly", "invitee.created"),
		{provider: "discord", secret: seedRight, wrong: seedWrong, yaml: "    public_key: " + public + "\n", wantType: str("2")},
		plain("github", "ping"),
		hmacSource,
		plain("hookvault", ""),
		signsURL("hubspot", ""),
		plain("intercom", "ping"),
		plain("linear", "Issue"),
		plain("mailgun", "delivered"),
		plain("paddle", "transaction.completed"),
		plain("shopify", "shop/update"),
		plain("slack", "app_mention"),
		signsURL("square", "payment.updated"),
		std("standard-webhooks"),
		plain("stripe", "payment_intent.succeeded"),
		std("svix"),
		signsURL("twilio", ""),
		plain("twitch", "channel.update"),
		plain("typeform", "form_response"),
		plain("zoom", "meeting.started"),
	}
}

// sourcesYAML is a sources file with every test source, and extra appended.
func sourcesYAML(extra string) string {
	var b strings.Builder
	b.WriteString("sources:\n")
	for _, ts := range testSources() {
		fmt.Fprintf(&b, "  - name: %s\n    provider: %[1]s\n", ts.provider)
		if ts.provider != "discord" {
			fmt.Fprintf(&b, "    secrets: [%q]\n", ts.secret)
		}
		b.WriteString(ts.yaml)
	}
	b.WriteString(extra)
	return b.String()
}

// writeSources writes a sources file into a temporary directory and returns its path.
func writeSources(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sources.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSourcesServer is startServer receiving from every test source as well.
func startSourcesServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, "--api-token="+testToken, "--sources-file="+writeSources(t, sourcesYAML("")))
}

// sendEnv is the environment of send to url with secret.
func sendEnv(url, secret string) map[string]string {
	return map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": secret}
}

func TestSources(t *testing.T) {
	url := startSourcesServer(t)

	t.Run("table", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "sources")
		succeeded(t, r)
		columns := []string{"NAME", "PROVIDER", "PATH", "ID", "TYPE", "URL"}
		rows := tableRows(t, r.stdout, columns)
		byName := map[string]map[string]string{}
		var names []string
		for _, row := range rows {
			byName[row["NAME"]] = row
			names = append(names, row["NAME"])
		}
		want := []string{"default"}
		for _, ts := range testSources() {
			want = append(want, ts.provider)
		}
		if !slices.Equal(names, want) {
			t.Errorf("names = %q, want default, then the file's order %q", names, want[1:])
		}
		for _, w := range []map[string]string{
			{"NAME": "default", "PROVIDER": "hookvault", "PATH": "/webhook", "ID": "json:/id", "TYPE": "-", "URL": "-"},
			{"NAME": "github", "PROVIDER": "github", "PATH": "/webhook/github", "ID": "header:X-GitHub-Delivery",
				"TYPE": "header:X-GitHub-Event", "URL": "-"},
			{"NAME": "twilio", "PROVIDER": "twilio", "PATH": "/webhook/twilio",
				"ID": "form:MessageSid else form:CallSid else form:SmsSid else sha256", "TYPE": "-", "URL": publicBase + "twilio"},
			{"NAME": "hmac", "PROVIDER": "hmac", "PATH": "/webhook/hmac", "ID": "sha256", "TYPE": "-", "URL": "-"},
		} {
			if got := byName[w["NAME"]]; !maps.Equal(got, w) {
				t.Errorf("row %s = %q, want %q", w["NAME"], got, w)
			}
		}
		for _, ts := range testSources() {
			if strings.Contains(r.stdout, ts.secret) {
				t.Errorf("the table shows the secret of %s", ts.provider)
			}
		}
	})

	for _, flag := range []string{"--json", "--output=json"} {
		t.Run(flag, func(t *testing.T) {
			r := hookctl(t, readEnv(url), "", "sources", flag)
			succeeded(t, r)
			var list gen.SourceList
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
				t.Fatalf("stdout is not the sources: %v: %q", err, r.stdout)
			}
			if len(list.Data) != len(testSources())+1 {
				t.Fatalf("%d sources, want %d", len(list.Data), len(testSources())+1)
			}
			got := list.Data[3] // default, calendly, discord, github
			want := gen.SourceInfo{Name: "github", Provider: "github", Path: "/webhook/github",
				Id: "header:X-GitHub-Delivery", Type: str("header:X-GitHub-Event")}
			if got.Name != want.Name || got.Provider != want.Provider || got.Path != want.Path || got.Id != want.Id ||
				deref(got.Type, "") != *want.Type || got.Url != nil {
				t.Errorf("github = %+v, want %+v", got, want)
			}
			if strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("stdout is not the server's one line: %q", r.stdout)
			}
		})
	}

	t.Run("failures", func(t *testing.T) {
		for _, tt := range []exitCase{
			{"wrong token", map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": "wrong-token"}, nil, 1,
				[]string{"hookctl: 401 Unauthorized: invalid bearer token"}},
			{"no token", map[string]string{"HOOKVAULT_URL": url}, nil, 2, []string{"API_TOKEN", "--token"}},
			{"json and table", readEnv(url), []string{"--json", "--output=table"}, 2, []string{"--json", "--output=table"}},
			{"unknown output", readEnv(url), []string{"--output=yaml"}, 2, []string{"--output must be table or json"}},
			{"server down", readEnv(closedURL(t)), nil, 1, []string{"cannot reach http://127.0.0.1:"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := hookctl(t, tt.env, "", append([]string{"sources"}, tt.args...)...)
				r.wantFailure(t, tt.wantCode, tt.wantStderr...)
			})
		}
	})
}
