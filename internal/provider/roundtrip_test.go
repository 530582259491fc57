package provider_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
)

// rtCase is a delivery each preset can make: Sign it, and the source verifies and reads it.
type rtCase struct {
	name          string
	cfg           provider.Config // Provider and the fields the preset needs; no secrets
	secret, other string
	contentType   string
	body          string
}

const rtBody = `{"id":"evt_1","type":"invoice.paid","event_id":"ev_1","event_type":"transaction.completed","event":"meeting.started","topic":"conversation.user.created","signature":{"token":"tok_1"},"event-data":{"event":"delivered"},"note":"héllo ✓"}`

func stdSecret(s string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(s)) }

var seedA, seedB = strings.Repeat("a1", 32), strings.Repeat("b2", 32)

func publicKey(seedHex string) string {
	seed, _ := hex.DecodeString(seedHex)
	return hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

func rtCases() []rtCase {
	url := "https://hooks.example.com/webhook/src"
	c := func(p string) provider.Config { return provider.Config{Provider: p} }
	return []rtCase{
		{name: "hookvault", cfg: c("hookvault"), secret: "s3cret", other: "other"},
		{name: "hookvault whsec", cfg: c("hookvault"), secret: stdSecret("key one"), other: stdSecret("key two")},
		{name: "standard-webhooks", cfg: c("standard-webhooks"), secret: stdSecret("key one"), other: stdSecret("key two")},
		{name: "standard-webhooks unprefixed", cfg: c("standard-webhooks"), secret: base64.StdEncoding.EncodeToString([]byte("key one")), other: stdSecret("key two")},
		{name: "svix", cfg: c("svix"), secret: stdSecret("key one"), other: stdSecret("key two")},
		{name: "stripe", cfg: c("stripe"), secret: "whsec_test_secret", other: "whsec_other"},
		{name: "github", cfg: c("github"), secret: "gh", other: "other"},
		{name: "github form", cfg: c("github"), secret: "gh", other: "other", contentType: "application/x-www-form-urlencoded",
			body: "payload=" + strings.ReplaceAll(strings.ReplaceAll(rtBody, "{", "%7B"), "}", "%7D")},
		{name: "shopify", cfg: c("shopify"), secret: "shp", other: "other"},
		{name: "slack", cfg: c("slack"), secret: "sl", other: "other"},
		{name: "slack slash command", cfg: c("slack"), secret: "sl", other: "other", contentType: "application/x-www-form-urlencoded",
			body: "command=%2Fdeploy&text=now&trigger_id=1.2.3"},
		{name: "twilio form", cfg: provider.Config{Provider: "twilio", URL: url}, secret: "tw", other: "other", contentType: "application/x-www-form-urlencoded",
			body: "MessageSid=SM1&Body=hi+there&To=%2B1555&Media=b&Media=a&Media=b"},
		{name: "twilio json", cfg: provider.Config{Provider: "twilio", URL: url}, secret: "tw", other: "other"},
		{name: "paddle", cfg: c("paddle"), secret: "pdl", other: "other"},
		{name: "square", cfg: provider.Config{Provider: "square", URL: url}, secret: "sq", other: "other"},
		{name: "hubspot", cfg: provider.Config{Provider: "hubspot", URL: url}, secret: "hs", other: "other"},
		{name: "linear", cfg: c("linear"), secret: "ln", other: "other"},
		{name: "zoom", cfg: c("zoom"), secret: "zm", other: "other"},
		{name: "twitch", cfg: c("twitch"), secret: "tw1234567890", other: "other123456"},
		{name: "discord", cfg: c("discord"), secret: seedA, other: seedB},
		{name: "typeform", cfg: c("typeform"), secret: "tf", other: "other"},
		{name: "intercom", cfg: c("intercom"), secret: "ic", other: "other"},
		{name: "mailgun", cfg: c("mailgun"), secret: "mg", other: "other"},
		{name: "calendly", cfg: c("calendly"), secret: "cal", other: "other"},
		{name: "hmac", cfg: provider.Config{Provider: "hmac", Header: "X-Billing-Signature", Algorithm: "sha512", Encoding: "base64", Prefix: "v1="},
			secret: "bill", other: "other"},
		{name: "hmac with header id", cfg: provider.Config{Provider: "hmac", Header: "X-Sig", ID: "header:X-Delivery", Type: "json:/type"},
			secret: "bill", other: "other"},
	}
}

// configFor is the source that holds secret (for Discord: the public key of the seed).
func configFor(tc rtCase, secret string) provider.Config {
	c := tc.cfg
	if c.Provider == "discord" {
		c.PublicKey = publicKey(secret)
	} else {
		c.Secrets = []string{secret}
	}
	return c
}

func (tc rtCase) signed(t *testing.T, at time.Time) provider.Request {
	t.Helper()
	body := tc.body
	if body == "" {
		body = rtBody
	}
	ct := tc.contentType
	if ct == "" {
		ct = "application/json"
	}
	r := request("", body, "Content-Type", ct)
	if err := provider.Sign(tc.cfg, tc.secret, &r, at); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return r
}

// TestRoundTrip: for every preset, what Sign makes verifies and reads, and does not verify
// under another secret.
func TestRoundTrip(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range rtCases() {
		covered[tc.cfg.Provider] = true
		t.Run(tc.name, func(t *testing.T) {
			r := tc.signed(t, tNow)
			s := mustNew(t, configFor(tc, tc.secret), tNow)
			checkVerify(t, s, r, "")
			d, err := s.Read(r)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if d.ID == "" || d.Challenge != nil {
				t.Fatalf("Read = %+v, want an id and no challenge", d)
			}
			checkVerify(t, mustNew(t, configFor(tc, tc.other), tNow), r, mismatch)
			// Rotation: the signing secret second of two.
			if tc.cfg.Provider != "discord" {
				c := configFor(tc, tc.other)
				c.Secrets = append(c.Secrets, tc.secret)
				checkVerify(t, mustNew(t, c, tNow), r, "")
			}
		})
	}
	for _, name := range provider.Names() {
		if !covered[name] {
			t.Errorf("no round trip for provider %s", name)
		}
	}
}

// TestRoundTripToleranceEdges signs each timestamped preset's delivery exactly at the
// tolerance, either way, and one second past it.
func TestRoundTripToleranceEdges(t *testing.T) {
	const tol = 90 * time.Second
	for _, tc := range rtCases() {
		c := configFor(tc, tc.secret)
		// hookvault's Sign makes X-Signature, which has no timestamp (TestVectorsHookvault
		// holds its Standard Webhooks path to the window).
		if mustNew(t, c, tNow).Info().Tolerance == 0 || c.Provider == "hookvault" {
			continue
		}
		c.Tolerance = tol
		s := mustNew(t, c, tNow)
		for _, e := range []struct {
			offset time.Duration
			stale  bool
		}{{-tol, false}, {tol, false}, {-tol - time.Second, true}, {tol + time.Second, true}} {
			t.Run(tc.name+"/"+e.offset.String(), func(t *testing.T) {
				r := tc.signed(t, tNow.Add(e.offset))
				if e.stale {
					checkVerify(t, s, r, stale)
				} else {
					checkVerify(t, s, r, "")
				}
			})
		}
	}
}

// TestSignKeepsWhatIsSet: Sign does not overwrite an id or type the caller chose, and a
// second Sign of the same request at another time still verifies (hookctl may re-sign).
func TestSignKeepsWhatIsSet(t *testing.T) {
	r := request("", rtBody, "X-GitHub-Delivery", "my-id", "X-GitHub-Event", "push")
	if err := provider.Sign(provider.Config{Provider: "github"}, "gh", &r, tNow); err != nil {
		t.Fatal(err)
	}
	s := mustNew(t, provider.Config{Provider: "github", Secrets: []string{"gh"}}, tNow)
	d, err := s.Read(r)
	if err != nil || d.ID != "my-id" || d.Type != "push" {
		t.Fatalf("Read = %+v, %v; want my-id, push", d, err)
	}

	lr := request("", `{"webhookTimestamp":1,"type":"Issue"}`)
	for _, at := range []time.Time{tNow.Add(-time.Hour), tNow} {
		if err := provider.Sign(provider.Config{Provider: "linear"}, "ln", &lr, at); err != nil {
			t.Fatal(err)
		}
	}
	checkVerify(t, mustNew(t, provider.Config{Provider: "linear", Secrets: []string{"ln"}}, tNow), lr, "")
	if strings.Count(string(lr.Body), "webhookTimestamp") != 1 {
		t.Fatalf("body %s: webhookTimestamp should be replaced, not added", lr.Body)
	}

	mr := request("", `{"signature":{"token":"keep-me","timestamp":"1","signature":"x"},"event-data":{"event":"opened"}}`)
	if err := provider.Sign(provider.Config{Provider: "mailgun"}, "mg", &mr, tNow); err != nil {
		t.Fatal(err)
	}
	ms := mustNew(t, provider.Config{Provider: "mailgun", Secrets: []string{"mg"}}, tNow)
	checkVerify(t, ms, mr, "")
	if d, err := ms.Read(mr); err != nil || d.ID != "keep-me" {
		t.Fatalf("Read = %+v, %v; want the body's token as id", d, err)
	}
}

func TestSignErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    provider.Config
		secret string
		body   string
		want   string
	}{
		{"unknown provider", provider.Config{Provider: "nope"}, "s", "{}", "provider: unknown"},
		{"discord secret not a seed", provider.Config{Provider: "discord"}, "not hex", "{}", "private key seed"},
		{"standard-webhooks secret not base64", provider.Config{Provider: "standard-webhooks"}, "whsec_!!!", "{}", "secrets[0]: not base64 after whsec_"},
		{"twilio without url", provider.Config{Provider: "twilio"}, "t", "a=b", "url: required"},
		{"mailgun body not an object", provider.Config{Provider: "mailgun"}, "m", "[1]", "not a JSON object"},
		{"linear body not JSON", provider.Config{Provider: "linear"}, "l", "nope", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("", tc.body)
			err := provider.Sign(tc.cfg, tc.secret, &r, tNow)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sign = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.secret) && len(tc.secret) > 2 {
				t.Fatalf("error %q quotes the secret", err)
			}
		})
	}
	if err := provider.Sign(provider.Config{Provider: "github"}, "s", nil, tNow); err == nil {
		t.Fatal("Sign(nil request) = nil")
	}
}

// TestErrorType: every refusal is an *Error whose Scheme is the preset (svix reads as
// standard-webhooks: a bounded label set).
func TestErrorType(t *testing.T) {
	s := mustNew(t, provider.Config{Provider: "svix", Secrets: []string{stdSecret("k")}}, tNow)
	err := s.Verify(request("", "{}"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Scheme != "standard-webhooks" || !pe.Missing() {
		t.Fatalf("Verify = %#v, want a missing standard-webhooks *Error", err)
	}
	if !slices.Contains(provider.Names(), "svix") || !slices.IsSorted(provider.Names()) {
		t.Fatalf("Names = %v", provider.Names())
	}
}
