package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/provider"
)

// TestSendEveryProvider: for every provider, send signs its sample as the provider would,
// a real server configured with that source stores it, and list --source finds it; the same
// send under a wrong secret is a 401 and exit 1.
func TestSendEveryProvider(t *testing.T) {
	url := startSourcesServer(t)
	covered := map[string]bool{}
	for _, ts := range testSources() {
		covered[ts.provider] = true
		t.Run(ts.provider, func(t *testing.T) {
			args := append([]string{"send", "--source", ts.provider, "--provider", ts.provider}, ts.args...)
			r := hookctl(t, sendEnv(url, ts.secret), "", args...)
			noSecret(t, r, ts.secret)
			a := accepted(t, r)
			if a.Id == "" || a.Duplicate || a.Status != "ok" {
				t.Fatalf("answer %+v, want a new message", a)
			}

			page := listed(t, hookctl(t, readEnv(url), "", "list", "--source", ts.provider, "-o", "json"))
			if len(page.Data) != 1 {
				t.Fatalf("list --source %s = %+v, want the one message sent", ts.provider, page.Data)
			}
			m := page.Data[0]
			if m.Id != a.Id || m.Source != ts.provider || !equalPtr(m.Type, ts.wantType) {
				t.Errorf("listed %s/%s type %v, want %s/%s type %v", m.Source, m.Id, show(m.Type), ts.provider, a.Id, show(ts.wantType))
			}
			// Only POST /webhook's format has a sender; the hookvault preset's is hookctl's.
			if wantSender := ts.provider == "hookvault"; (m.Sender != nil) != wantSender {
				t.Errorf("sender = %v, want one: %t", show(m.Sender), wantSender)
			}

			r = hookctl(t, sendEnv(url, ts.wrong), "", args...)
			noSecret(t, r, ts.wrong)
			r.wantFailure(t, 1, "hookctl: 401 Unauthorized: invalid signature")
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
	for _, name := range provider.Names() {
		if !covered[name] {
			t.Errorf("provider %s has no test source", name)
		}
	}
}

// TestSamplesCoverEveryProvider: send has a sample for every provider but hookvault, whose
// message the flags build.
func TestSamplesCoverEveryProvider(t *testing.T) {
	var want []string
	for _, name := range provider.Names() {
		if name != "hookvault" {
			want = append(want, name)
		}
	}
	var got []string
	for name := range samples {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("samples for %q, want %q", got, want)
	}
}

func noSecret(t *testing.T, r result, secret string) {
	t.Helper()
	if secret != "" && strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("hookctl printed the secret:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}

func equalPtr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// show is a pointer's value for messages, or <nil>.
func show(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestSignsURLMatchesProviders holds send's list of presets that sign the public URL to
// internal/provider: exactly those refuse a source without url.
func TestSignsURLMatchesProviders(t *testing.T) {
	for _, name := range provider.Names() {
		c := provider.Config{Name: "x", Provider: name, Secrets: []string{whsec("k")}}
		switch name {
		case "discord":
			c.Secrets, c.PublicKey = nil, strings.Repeat("ab", 32)
		case "hmac":
			c.Header = "X-Sig"
		}
		_, err := provider.New(c, provider.Options{})
		needsURL := err != nil && strings.Contains(err.Error(), "url: required")
		if err != nil && !needsURL {
			t.Errorf("%s: %v", name, err)
		}
		if needsURL != signsURL[name] {
			t.Errorf("%s: needs a url %t, but signsURL says %t", name, needsURL, signsURL[name])
		}
	}
}

func TestSendSourceUsage(t *testing.T) {
	url := startSourcesServer(t)
	env := sendEnv(url, "some-secret")
	tests := []exitCase{
		{"provider without source", env, []string{"--provider", "github"}, 2, []string{"--provider needs --source"}},
		{"unknown provider", env, []string{"--source", "x", "--provider", "gitlab"}, 2,
			[]string{`--provider "gitlab" is not one of`, "github", "zoom"}},
		{"bad source name", env, []string{"--source", "Git Hub"}, 2, []string{`--source "Git Hub" is not a source name`}},
		{"empty source name", env, []string{"--source="}, 2, []string{`--source "" is not a source name`}},
		{"id with a provider", env, []string{"--source", "github", "--provider", "github", "--id=1"}, 2,
			[]string{"--id builds a message of POST /webhook's format", "--data or --file"}},
		{"content with a provider", env, []string{"--source", "github", "--provider", "github", "--content=x"}, 2,
			[]string{"--content builds"}},
		{"public URL to a provider that signs none", env,
			[]string{"--source", "github", "--provider", "github", "--public-url", publicBase + "github"}, 2,
			[]string{"--public-url is for the providers that sign the URL they call", "not provider github"}},
		{"public URL without a provider", env, []string{"--source", "hookvault", "--public-url", publicBase + "x"}, 2,
			[]string{"--public-url is for"}},
		{"hmac flag without hmac", env, []string{"--source", "stripe", "--provider", "stripe", "--hmac-header", "X-Sig"}, 2,
			[]string{"--hmac-header is for --provider hmac only"}},
		{"hmac without its header", env, []string{"--source", "hmac", "--provider", "hmac"}, 2,
			[]string{"--hmac-header: required for provider hmac"}},
		{"hmac with an unknown algorithm", env,
			[]string{"--source", "hmac", "--provider", "hmac", "--hmac-header", "X-Sig", "--hmac-algorithm", "md5"}, 2,
			[]string{`--hmac-algorithm: "md5" is not one of sha1, sha256, sha512`}},
		{"discord secret not a seed", env, []string{"--source", "discord", "--provider", "discord"}, 2,
			[]string{"--secret: for provider discord, the Ed25519 private key seed"}},
		{"standard webhooks secret not base64", sendEnv(url, "whsec_!!!"),
			[]string{"--source", "svix", "--provider", "svix"}, 2, []string{"--secret: not base64 after whsec_"}},
		{"public URL not absolute", env, []string{"--source", "twilio", "--provider", "twilio", "--public-url", "/webhook/twilio"}, 2,
			[]string{"--public-url: not an absolute http or https URL"}},
		{"public URL with a query", env, []string{"--source", "twilio", "--provider", "twilio", "--public-url", publicBase + "twilio?a=1"}, 2,
			[]string{"--public-url: leave out the query"}},
		{"header without a colon", env, []string{"--source", "github", "--provider", "github", "-H", "X-GitHub-Event push"}, 2,
			[]string{`--header "X-GitHub-Event push" is not NAME: VALUE`}},
		{"header with a bad name", env, []string{"-H", "X Event: push"}, 2, []string{"is not NAME: VALUE"}},
		{"content type as a header", env, []string{"-H", "content-type: text/plain"}, 2,
			[]string{"--header Content-Type: give it with --content-type"}},
		{"content type not a media type", env, []string{"--content-type", "json"}, 2,
			[]string{`--content-type "json" is not a media type`}},
		{"mailgun body not an object", env, []string{"--source", "mailgun", "--provider", "mailgun", "--data", "[1]"}, 2,
			[]string{"sign for mailgun", "not a JSON object"}},
		{"twilio form that does not parse", env,
			[]string{"--source", "twilio", "--provider", "twilio", "--public-url", publicBase + "twilio", "--data", "a=%zz"}, 2,
			[]string{"sign for twilio", "not a form"}},
		{"no secret", map[string]string{"HOOKVAULT_URL": url}, []string{"--source", "github", "--provider", "github"}, 2,
			[]string{"WEBHOOK_SECRET", "--secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"send"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
			noSecret(t, r, tt.env["WEBHOOK_SECRET"])
		})
	}
}

// sourceByName is the test source of a provider.
func sourceByName(t *testing.T, name string) testSource {
	t.Helper()
	for _, ts := range testSources() {
		if ts.provider == name {
			return ts
		}
	}
	t.Fatalf("no test source %s", name)
	return testSource{}
}

// billingSource is SPEC's example of the generic scheme, whose id is a header.
const billingSource = `  - name: billing
    provider: hmac
    secrets: ["billing-secret"]
    header: X-Billing-Signature
    id: header:X-Billing-Delivery
    type: json:/event
`

func TestSendSourceAnswers(t *testing.T) {
	url := startServerWith(t, "--api-token="+testToken, "--sources-file="+writeSources(t, sourcesYAML(billingSource)))
	src := func(name string, args ...string) []string {
		return append([]string{"send", "--source", name, "--provider", name}, append(sourceByName(t, name).args, args...)...)
	}
	secret := func(name string) string { return sourceByName(t, name).secret }
	const twilioJSON = `{"MessageSid":"SMjson","Body":"hi"}`
	pushBody := `{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"full_name":"octocat/Hello-World"}}`

	tests := []struct {
		name     string
		secret   string
		args     []string
		wantID   string   // on success
		wantDup  bool     // on success
		wantCode int      // 0 for success
		wantErr  []string // on failure
	}{
		// Without --provider, --source signs as POST /webhook does.
		{"default source by name", testSecret, []string{"send", "--source", "default", "--id=d-1"}, "d-1", false, 0, nil},
		{"hookvault preset", secret("hookvault"), []string{"send", "--source", "hookvault", "--id=h-1"}, "h-1", false, 0, nil},
		{"hookvault preset again", secret("hookvault"), []string{"send", "--source", "hookvault", "--id=h-1"}, "h-1", true, 0, nil},
		{"hookvault preset by name", secret("hookvault"), src("hookvault", "--id=h-2", "--sender=bob"), "h-2", false, 0, nil},
		// Headers the id and type come from are kept as given.
		{"github push", secret("github"), src("github", "-H", "X-GitHub-Event: push", "-H", "X-GitHub-Delivery: gh-1", "--data", pushBody),
			"gh-1", false, 0, nil},
		{"github push again", secret("github"), src("github", "-H", "X-GitHub-Event: push", "-H", "X-GitHub-Delivery: gh-1", "--data", pushBody),
			"gh-1", true, 0, nil},
		// A body that is not JSON goes as a form to a provider that takes forms.
		{"github form", secret("github"), src("github", "-H", "X-GitHub-Delivery: gh-form",
			"--data", "payload=%7B%22zen%22%3A%22Keep+it+simple.%22%7D"), "gh-form", false, 0, nil},
		// Twilio signs bodySHA256 in the query for a JSON body; its id is the body's sha256.
		{"twilio JSON body", secret("twilio"), src("twilio", "--data", twilioJSON), sha256ID(twilioJSON), false, 0, nil},
		{"stripe from a file on stdin", secret("stripe"), src("stripe", "--file=-"), "evt_stdin", false, 0, nil},
		{"unknown source", secret("github"), []string{"send", "--source", "gitlab", "--provider", "github"}, "", false, 1,
			[]string{"hookctl: 404 Not Found: ", `no source "gitlab"`}},
		{"content type the source does not take", secret("stripe"), src("stripe", "--content-type", "text/plain"), "", false, 1,
			[]string{"hookctl: 415 "}},
		{"body the preset cannot read", secret("github"), src("github", "--content-type", "application/json", "--data", "{not json"),
			"", false, 1, []string{"hookctl: 422 ", "body is not JSON"}},
		{"not JSON goes as a form", secret("github"), src("github", "--data", "{not json"), "", false, 1,
			[]string{"hookctl: 422 ", "form field payload is missing"}},
		{"id header missing", "billing-secret", []string{"send", "--source", "billing", "--provider", "hmac",
			"--hmac-header", "X-Billing-Signature"}, "", false, 1, []string{"hookctl: 422 ", "header X-Billing-Delivery is missing"}},
		{"id header given", "billing-secret", []string{"send", "--source", "billing", "--provider", "hmac",
			"--hmac-header", "X-Billing-Signature", "-H", "X-Billing-Delivery: b-1"}, "b-1", false, 0, nil},
		{"twilio behind another URL", secret("twilio"), []string{"send", "--source", "twilio", "--provider", "twilio"}, "", false, 1,
			[]string{"hookctl: 401 Unauthorized: invalid signature", "twilio signs the URL it calls", "--public-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := ""
			if slices.Contains(tt.args, "--file=-") {
				stdin = `{"id":"evt_stdin","object":"event","type":"invoice.paid"}`
			}
			r := hookctl(t, sendEnv(url, tt.secret), stdin, tt.args...)
			noSecret(t, r, tt.secret)
			if tt.wantCode != 0 {
				r.wantFailure(t, tt.wantCode, tt.wantErr...)
				if strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("stderr is not one line: %q", r.stderr)
				}
				return
			}
			if got := accepted(t, r); got.Id != tt.wantID || got.Duplicate != tt.wantDup {
				t.Errorf("answer %+v, want id %q duplicate %t", got, tt.wantID, tt.wantDup)
			}
		})
	}
}

// sha256ID is the id of a body under a sha256 id rule.
func sha256ID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestSendChallenges: a provider's endpoint check is answered as the provider expects, the
// answer printed as it came, and nothing is stored.
func TestSendChallenges(t *testing.T) {
	url := startSourcesServer(t)
	zoomMAC := hmac.New(sha256.New, []byte(sourceByName(t, "zoom").secret))
	zoomMAC.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))

	tests := []struct {
		provider string
		args     []string
		want     string
	}{
		{"slack", []string{"--data", `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`},
			"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P\n"},
		{"zoom", []string{"--data", `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`},
			`{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"` + hex.EncodeToString(zoomMAC.Sum(nil)) + `"}` + "\n"},
		{"twitch", []string{"-H", "Twitch-Eventsub-Message-Type: webhook_callback_verification", "--data",
			`{"challenge":"pogChamp-challenge","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","type":"channel.follow","version":"2","status":"webhook_callback_verification_pending"}}`},
			"pogChamp-challenge\n"},
		{"discord", []string{"--data", `{"id":"1","application_id":"2","type":1,"token":"t","version":1}`}, `{"type":1}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			ts := sourceByName(t, tt.provider)
			r := hookctl(t, sendEnv(url, ts.secret), "", append([]string{"send", "--source", tt.provider, "--provider", tt.provider}, tt.args...)...)
			succeeded(t, r)
			if r.stdout != tt.want {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.want)
			}
			if page := listed(t, hookctl(t, readEnv(url), "", "list", "--source", tt.provider, "-o", "json")); len(page.Data) != 0 {
				t.Errorf("the check was stored: %+v", page.Data)
			}
		})
	}
}

// TestSendDefaultPublicURL: without --public-url, twilio, square and hubspot sign the URL
// hookctl posts to, which is the source's url when the provider calls hookvault directly.
func TestSendDefaultPublicURL(t *testing.T) {
	file := writeSources(t, "sources:\n  - name: placeholder\n    provider: github\n    secrets: [\"x\"]\n")
	srv := openServer(t, "--api-token="+testToken, "--sources-file="+file)
	url := "http://" + srv.Addr()
	var yaml strings.Builder
	yaml.WriteString("sources:\n")
	for name := range signsURL {
		fmt.Fprintf(&yaml, "  - name: %s-local\n    provider: %[1]s\n    secrets: [\"local-%[1]s\"]\n    url: %s/webhook/%[1]s-local\n", name, url)
	}
	if err := os.WriteFile(file, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	for name := range signsURL {
		t.Run(name, func(t *testing.T) {
			r := hookctl(t, sendEnv(url, "local-"+name), "", "send", "--source", name+"-local", "--provider", name)
			if a := accepted(t, r); a.Duplicate {
				t.Errorf("answer %+v, want a new message", a)
			}
		})
	}
}

// sendTo sends to the test source of provider as that provider, with args added, and
// returns the accepted answer.
func sendTo(t *testing.T, url, name, stdin string, args ...string) gen.WebhookAccepted {
	t.Helper()
	ts := sourceByName(t, name)
	r := hookctl(t, sendEnv(url, ts.secret), stdin,
		append(append([]string{"send", "--source", name, "--provider", name}, ts.args...), args...)...)
	return accepted(t, r)
}
