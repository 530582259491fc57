package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
)

// interopDir holds interop.js and the package.json that pins the official libraries; .ci/run
// installs them (npm install --prefix internal/provider/testdata/interop).
var interopDir = filepath.Join("testdata", "interop")

type nodeResult struct {
	OK    bool   `json:"ok"`
	Value string `json:"value"`
	Error string `json:"error"`
}

// runNode sends cases to interop.js and returns one result per case.
func runNode(t *testing.T, cases []map[string]any) []nodeResult {
	t.Helper()
	node, npm := lookTool(t, "node"), lookTool(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "stripe")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--prefix", interopDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("npm install: %v\n%s", err, out)
			}
			t.Skipf("npm install failed (offline?), skipping the interop test against the providers' npm libraries: %v", err)
		}
	}
	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(interopDir, "interop.js"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.js: %v\n%s", err, stderr.String())
	}
	var got struct{ Results []nodeResult }
	if err := json.Unmarshal(out, &got); err != nil || len(got.Results) != len(cases) {
		t.Fatalf("node output %q: %v; want %d results", out, err, len(cases))
	}
	return got.Results
}

// lookTool finds a command the interop test needs: CI must have it, a laptop may not.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found, and CI is set: the interop test against the providers' npm libraries must run in CI", name)
	}
	t.Skipf("%s not found: skipping the interop test against the providers' npm libraries (install Node.js 20+ to run it)", name)
	return ""
}

// interopCheck is one exchange: a case for node, and what to do with its answer.
type interopCheck struct {
	name  string
	input map[string]any
	check func(t *testing.T, r nodeResult)
}

// TestInterop signs with each official library that installs from npm and verifies with
// hookvault, and signs with hookvault and verifies with the library: Stripe, Standard
// Webhooks, Svix, Twilio, GitHub (octokit), and — where the official library only verifies
// — Slack (bolt-js's verifySlackRequest: Slack publishes no signer), Discord
// (discord-interactions verifyKey) and Paddle (its Node SDK's WebhooksValidator).
func TestInterop(t *testing.T) {
	nowMs := tNow.UnixMilli()
	body := `{"id":"evt_interop","type":"invoice.paid","note":"héllo ✓ \"quoted\"\n","n":1.50}`
	var checks []interopCheck
	add := func(c ...interopCheck) { checks = append(checks, c...) }

	// libraryAccepts: the library verified what hookvault signed.
	libraryAccepts := func(t *testing.T, r nodeResult) {
		t.Helper()
		if !r.OK {
			t.Fatalf("the official library refused hookvault's signature: %s", r.Error)
		}
	}
	libraryRefuses := func(t *testing.T, r nodeResult) {
		t.Helper()
		if r.OK {
			t.Fatal("the official library accepted a signature under another secret")
		}
	}
	// weAccept: hookvault verifies a request the library signed, built by mk from its value.
	weAccept := func(cfg provider.Config, mk func(value string) provider.Request) func(*testing.T, nodeResult) {
		return func(t *testing.T, r nodeResult) {
			t.Helper()
			if !r.OK {
				t.Fatalf("node: %s", r.Error)
			}
			checkVerify(t, mustNew(t, cfg, tNow), mk(r.Value), "")
		}
	}
	sign := func(cfg provider.Config, secret string, r provider.Request) provider.Request {
		if err := provider.Sign(cfg, secret, &r, tNow); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Stripe: the table's vectors re-derived, then both directions.
	for i, v := range stripeVectors {
		add(interopCheck{name: "stripe vector " + str(int64(i)),
			input: map[string]any{"op": "stripe.sign", "payload": stripePayload, "secret": v.secret, "timestamp": tNow.Unix() + v.offset},
			check: func(t *testing.T, r nodeResult) {
				if !r.OK || r.Value != v.header {
					t.Fatalf("stripe signs %q (%s), the table says %q", r.Value, r.Error, v.header)
				}
			}})
	}
	stripeCfg := provider.Config{Provider: "stripe", Secrets: []string{"whsec_interop"}}
	sr := sign(stripeCfg, "whsec_interop", request("", body))
	add(
		interopCheck{name: "stripe signs, hookvault verifies",
			input: map[string]any{"op": "stripe.sign", "payload": body, "secret": "whsec_interop", "timestamp": tNow.Unix()},
			check: weAccept(stripeCfg, func(v string) provider.Request { return request("", body, "Stripe-Signature", v) })},
		interopCheck{name: "hookvault signs, stripe verifies",
			input: map[string]any{"op": "stripe.verify", "payload": body, "header": sr.Header.Get("Stripe-Signature"), "secret": "whsec_interop", "tolerance": 300, "nowMs": nowMs},
			check: libraryAccepts},
		interopCheck{name: "stripe refuses another secret",
			input: map[string]any{"op": "stripe.verify", "payload": body, "header": sr.Header.Get("Stripe-Signature"), "secret": "whsec_other", "tolerance": 300, "nowMs": nowMs},
			check: libraryRefuses},
	)

	// Standard Webhooks and Svix, with whsec_ and with the bare base64 secret.
	for _, lib := range []struct{ name, provider, prefix string }{
		{"standardwebhooks", "standard-webhooks", "webhook-"}, {"svix", "svix", "svix-"},
	} {
		for _, secret := range []string{stdSecret("interop key 0123456789abcdef"), strings.TrimPrefix(stdSecret("bare key 0123456789abcdef"), "whsec_")} {
			cfg := provider.Config{Provider: lib.provider, Secrets: []string{secret}}
			r := sign(cfg, secret, request("", body, lib.prefix+"id", "msg_interop_"+lib.name))
			headers := map[string]string{}
			for _, k := range []string{"id", "timestamp", "signature"} {
				headers[lib.prefix+k] = r.Header.Get(lib.prefix + k)
			}
			if headers[lib.prefix+"signature"] == "" {
				t.Fatalf("%s: Sign did not use the %s headers: %v", lib.name, lib.prefix, r.Header)
			}
			id := "msg_from_" + lib.name
			add(
				interopCheck{name: lib.name + " signs, hookvault verifies",
					input: map[string]any{"op": lib.name + ".sign", "secret": secret, "id": id, "timestamp": tNow.Unix(), "payload": body},
					check: weAccept(cfg, func(v string) provider.Request {
						return request("", body, lib.prefix+"id", id, lib.prefix+"timestamp", str(tNow.Unix()), lib.prefix+"signature", v)
					})},
				interopCheck{name: "hookvault signs, " + lib.name + " verifies",
					input: map[string]any{"op": lib.name + ".verify", "secret": secret, "payload": body, "headers": headers, "nowMs": nowMs},
					check: libraryAccepts},
			)
		}
	}
	add(interopCheck{name: "standardwebhooks reference vector",
		input: map[string]any{"op": "standardwebhooks.sign", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": 1614265330, "payload": `{"test": 2432232314}`},
		check: func(t *testing.T, r nodeResult) {
			if r.Value != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
				t.Fatalf("standardwebhooks signs %q (%s)", r.Value, r.Error)
			}
		}})

	// Twilio: a form with a repeated name (the python/node rule), and a JSON body.
	const twURL = "https://hooks.example.com/webhook/sms"
	twCfg := provider.Config{Provider: "twilio", Secrets: []string{"twilio-token"}, URL: twURL}
	twForm := "MessageSid=SM1&Body=caf%C3%A9+%2B+more&MediaUrl=b&MediaUrl=a&MediaUrl=b&From=%2B15551234567"
	fr := sign(twCfg, "twilio-token", request("q=1", twForm, "Content-Type", formCT))
	jr := sign(twCfg, "twilio-token", request("q=1", body))
	add(
		interopCheck{name: "twilio signs a form, hookvault verifies",
			input: map[string]any{"op": "twilio.sign", "secret": "twilio-token", "url": twURL + "?q=1", "params": nodeParams(t, twForm)},
			check: weAccept(twCfg, func(v string) provider.Request {
				return request("q=1", twForm, "Content-Type", formCT, "X-Twilio-Signature", v)
			})},
		interopCheck{name: "hookvault signs a form, twilio verifies",
			input: map[string]any{"op": "twilio.verify", "secret": "twilio-token", "signature": fr.Header.Get("X-Twilio-Signature"), "url": twURL + "?q=1", "params": nodeParams(t, twForm)},
			check: libraryAccepts},
		interopCheck{name: "hookvault signs JSON, twilio verifies body and URL",
			input: map[string]any{"op": "twilio.verifyBody", "secret": "twilio-token", "signature": jr.Header.Get("X-Twilio-Signature"), "url": twURL + "?" + jr.URL.RawQuery, "payload": body},
			check: libraryAccepts},
		interopCheck{name: "twilio refuses another token",
			input: map[string]any{"op": "twilio.verify", "secret": "other", "signature": fr.Header.Get("X-Twilio-Signature"), "url": twURL + "?q=1", "params": nodeParams(t, twForm)},
			check: libraryRefuses},
	)

	// Slack: no official signer exists; bolt-js's verifier checks hookvault's signatures.
	slCfg := provider.Config{Provider: "slack", Secrets: []string{"slack-signing-secret"}}
	for _, tc := range []struct{ name, ct, body string }{
		{"events JSON", "application/json", `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","text":"héllo"}}`},
		{"slash command form", formCT, "command=%2Fdeploy&text=now+please&trigger_id=1.2.3"},
	} {
		r := sign(slCfg, "slack-signing-secret", request("", tc.body, "Content-Type", tc.ct))
		add(interopCheck{name: "hookvault signs slack " + tc.name + ", bolt verifies",
			input: map[string]any{"op": "slack.verify", "secret": "slack-signing-secret", "payload": tc.body,
				"signature": r.Header.Get("X-Slack-Signature"), "timestamp": r.Header.Get("X-Slack-Request-Timestamp"), "nowMs": nowMs},
			check: libraryAccepts})
	}

	// GitHub, through octokit/webhooks-methods.
	ghCfg := provider.Config{Provider: "github", Secrets: []string{"gh-secret"}}
	gr := sign(ghCfg, "gh-secret", request("", body))
	add(
		interopCheck{name: "octokit signs, hookvault verifies",
			input: map[string]any{"op": "octokit.sign", "secret": "gh-secret", "payload": body},
			check: weAccept(ghCfg, func(v string) provider.Request { return request("", body, "X-Hub-Signature-256", v) })},
		interopCheck{name: "hookvault signs, octokit verifies",
			input: map[string]any{"op": "octokit.verify", "secret": "gh-secret", "payload": body, "signature": gr.Header.Get("X-Hub-Signature-256")},
			check: libraryAccepts},
	)

	// Discord and Paddle: their libraries only verify.
	dr := sign(provider.Config{Provider: "discord"}, seedA, request("", `{"id":"1","type":1}`))
	add(interopCheck{name: "hookvault signs, discord-interactions verifyKey",
		input: map[string]any{"op": "discord.verify", "payload": `{"id":"1","type":1}`, "signature": dr.Header.Get("X-Signature-Ed25519"),
			"timestamp": dr.Header.Get("X-Signature-Timestamp"), "publicKey": publicKey(seedA)},
		check: libraryAccepts})
	pr := sign(provider.Config{Provider: "paddle"}, "pdl_ntfset_secret", request("", body))
	add(interopCheck{name: "hookvault signs, paddle WebhooksValidator",
		input: map[string]any{"op": "paddle.verify", "payload": body, "secret": "pdl_ntfset_secret", "signature": pr.Header.Get("Paddle-Signature"), "nowMs": nowMs},
		check: libraryAccepts})

	// The verify-only libraries refuse a changed body, so their acceptances above mean something.
	for _, c := range slices.Clone(checks) {
		op, _ := c.input["op"].(string)
		payload, ok := c.input["payload"].(string)
		if !ok || !strings.HasSuffix(op, ".verify") || strings.Contains(c.name, "refuses") {
			continue
		}
		in := maps.Clone(c.input)
		in["payload"] = payload + " "
		add(interopCheck{name: c.name + ", refuses a changed body", input: in, check: libraryRefuses})
	}

	inputs := make([]map[string]any, len(checks))
	for i, c := range checks {
		inputs[i] = c.input
	}
	results := runNode(t, inputs)
	for i, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.check(t, results[i]) })
	}
}

// nodeParams is a form as an Express-style object: a repeated name becomes an array, as
// twilio-node's validateRequest takes it.
func nodeParams(t *testing.T, form string) map[string]any {
	t.Helper()
	v, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k, vs := range v {
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			out[k] = vs
		}
	}
	return out
}
