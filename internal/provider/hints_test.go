package provider_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// Secrets of the hint tests. Each is a plausible value for its provider; the Stripe and
// Standard Webhooks ones are whsec_ + base64, which is what makes the two key rules collide.
var (
	hGitHub   = "It's a Secret to Everybody"
	hStripe   = stdSecret("stripe endpoint secret 0123456789")
	hStripe2  = stdSecret("stripe rolled secret 9876543210ab")
	hStandard = stdSecret("standard webhooks key 0123456789")
	hSlack    = "8f742231b10e8888abcd99yyyzzz85a5"
	hBilling  = "billing-secret-2024"
	hDefault  = base64.StdEncoding.EncodeToString([]byte("hookvault default key 0123"))
	hDefaultW = stdSecret("hookvault whsec key 0123456789ab")
	hBody     = `{"id":"evt_1","type":"ping","zen":"Design for failure."}`
)

var (
	cGitHub   = provider.Config{Name: "github", Provider: "github", Secrets: []string{hGitHub}}
	cStripe   = provider.Config{Name: "payments", Provider: "stripe", Secrets: []string{hStripe2, hStripe}}
	cStandard = provider.Config{Name: "events", Provider: "standard-webhooks", Secrets: []string{hStandard}}
	cSvix     = provider.Config{Name: "svixer", Provider: "svix", Secrets: []string{hStandard}}
	cSlack    = provider.Config{Name: "slack", Provider: "slack", Secrets: []string{hSlack}}
	cBilling  = provider.Config{Name: "billing", Provider: "hmac", Secrets: []string{hBilling}, Header: "X-Billing-Signature"}
	cDefault  = provider.Config{Name: "default", Provider: "hookvault", Secrets: []string{hDefault}}
	cDefaultW = provider.Config{Name: "default", Provider: "hookvault", Secrets: []string{hDefaultW}}
)

// hintSecrets are every secret above: no hint may contain any of them, in any form.
var hintSecrets = []string{hGitHub, hStripe, hStripe2, hStandard, hSlack, hBilling, hDefault, hDefaultW}

// signed is a delivery of body signed for c with secret at time at.
func signed(t testing.TB, c provider.Config, secret, body string, at time.Time, kv ...string) provider.Request {
	t.Helper()
	r := request("", body, kv...)
	if err := provider.Sign(c, secret, &r, at); err != nil {
		t.Fatalf("Sign(%s): %v", c.Provider, err)
	}
	return r
}

// decoded is a whsec_ or base64 secret's key bytes, as a string for Sign: signing with it
// "as is" is signing with the decoded key.
func decoded(t testing.TB, secret string) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return string(k)
}

// asStandardRaw is a secret that Standard Webhooks decodes into secret's own bytes: signing
// with it is a Standard Webhooks library keyed with the string as is.
func asStandardRaw(secret string) string { return stdSecret(secret) }

func toSvix(r provider.Request) provider.Request {
	for _, n := range []string{"Id", "Timestamp", "Signature"} {
		r.Header.Set("Svix-"+n, r.Header.Get("Webhook-"+n))
		r.Header.Del("Webhook-" + n)
	}
	return r
}

func newSources(t testing.TB, now time.Time, cs ...provider.Config) []*provider.Source {
	t.Helper()
	out := make([]*provider.Source, len(cs))
	for i, c := range cs {
		out[i] = mustNew(t, c, now)
	}
	return out
}

// allOthers is every source of the tests; Hints skips the source itself.
var allOthers = []provider.Config{cGitHub, cStripe, cStandard, cSlack, cBilling}

type hintCase struct {
	name   string
	cfg    provider.Config
	others []provider.Config // nil: allOthers
	req    func(t *testing.T) provider.Request
	at     time.Time // the server's clock; zero: tNow
	want   []string
}

func runHints(t *testing.T, cases []hintCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tNow
			if !tc.at.IsZero() {
				now = tc.at
			}
			others := tc.others
			if others == nil {
				others = allOthers
			}
			s := mustNew(t, tc.cfg, now)
			r := tc.req(t)
			if s.Verify(r) == nil {
				t.Fatal("the delivery verifies; the case must make a mistake")
			}
			got := s.Hints(r, newSources(t, now, others...))
			checkClean(t, got, r)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Hints:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// checkClean fails if a hint is too long or too many, or leaks (see leak).
func checkClean(t *testing.T, hints []string, r provider.Request) {
	t.Helper()
	if len(hints) > 8 {
		t.Errorf("%d hints, want at most 8", len(hints))
	}
	for _, hint := range hints {
		if len(hint) > 512 {
			t.Errorf("hint of %d bytes, want at most 512: %q", len(hint), hint)
		}
	}
	if what := leak(hints, r); what != "" {
		t.Fatal(what)
	}
}

// leak says which hint holds a secret, its base64, a key, or any 16 characters of a MAC of
// the body (hex or base64, under any secret read either way, any algorithm) or of a header
// value; "" when none does.
func leak(hints []string, r provider.Request) string {
	var forbidden []string
	for _, secret := range hintSecrets {
		forbidden = append(forbidden, secret, base64.StdEncoding.EncodeToString([]byte(secret)))
		keys := [][]byte{[]byte(secret)}
		if k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err == nil {
			keys = append(keys, k)
			forbidden = append(forbidden, hex.EncodeToString(k))
		}
		for _, k := range keys {
			for _, alg := range []func() hash.Hash{sha1.New, sha256.New, sha512.New} {
				m := hmac.New(alg, k)
				m.Write(r.Body)
				sum := m.Sum(nil)
				forbidden = append(forbidden, hex.EncodeToString(sum), base64.StdEncoding.EncodeToString(sum))
			}
		}
	}
	for name, vs := range r.Header {
		if name != "Content-Type" {
			forbidden = append(forbidden, vs...)
		}
	}
	for _, hint := range hints {
		for _, f := range forbidden {
			for i := 0; i+16 <= len(f); i++ {
				if strings.Contains(hint, f[i:i+16]) {
					return fmt.Sprintf("hint %q contains %q, 16 characters of a secret, key, MAC or header value", hint, f[i:i+16])
				}
			}
		}
		for _, secret := range hintSecrets {
			if strings.Contains(hint, secret) {
				return fmt.Sprintf("hint %q contains a secret", hint)
			}
		}
	}
	return ""
}

// TestLeakCatches keeps the leak check honest: it finds a slice of a MAC of the body, a
// secret, and a slice of the signature sent.
func TestLeakCatches(t *testing.T) {
	r := signed(t, cGitHub, hGitHub, hBody, tNow)
	sig := r.Header.Get("X-Hub-Signature-256")
	for _, hint := range []string{
		"expected " + macHex(sha256.New, hGitHub, hBody)[20:36] + "…",
		"expected " + macB64(sha512.New, decoded(t, hStripe), hBody)[3:19],
		"secret " + hSlack,
		"got " + sig[10:26],
	} {
		if leak([]string{hint}, r) == "" {
			t.Errorf("leak(%q) found nothing", hint)
		}
	}
	if what := leak([]string{wantNoNewline}, r); what != "" {
		t.Errorf("leak of a clean hint: %s", what)
	}
}

const (
	wantNoNewline = `the signature matches the body without its trailing newline (\n): the sender signed the body before a newline was added (curl -d @file, echo) — send the exact bytes it signed`
	wantNoCRLF    = `the signature matches the body without its trailing newline (\r\n): the sender signed the body before a newline was added (curl -d @file, echo) — send the exact bytes it signed`
	wantNewline   = `the signature matches the body with a newline (\n) appended: the sender signed its body plus a newline it did not send (echo "$body" | openssl dgst adds one) — sign the exact bytes sent`
)

// TestHintsTrailingNewline: the sender signed the body, then sent it with a newline added
// (curl -d @file of a file that ends in one), or the converse (echo "$body" | openssl).
func TestHintsTrailingNewline(t *testing.T) {
	runHints(t, []hintCase{
		{name: "github", cfg: cGitHub, req: func(t *testing.T) provider.Request {
			r := signed(t, cGitHub, hGitHub, hBody, tNow)
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
		{name: "stripe/crlf", cfg: cStripe, req: func(t *testing.T) provider.Request {
			r := signed(t, cStripe, hStripe, hBody, tNow)
			r.Body = append(r.Body, "\r\n"...)
			return r
		}, want: []string{wantNoCRLF}},
		{name: "standard-webhooks", cfg: cStandard, req: func(t *testing.T) provider.Request {
			r := signed(t, cStandard, hStandard, hBody, tNow)
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
		{name: "svix", cfg: cSvix, req: func(t *testing.T) provider.Request {
			r := toSvix(signed(t, cSvix, hStandard, hBody, tNow))
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
		{name: "slack/appended", cfg: cSlack, req: func(t *testing.T) provider.Request {
			r := signed(t, cSlack, hSlack, hBody+"\n", tNow)
			r.Body = r.Body[:len(r.Body)-1]
			return r
		}, want: []string{wantNewline}},
		{name: "hmac", cfg: cBilling, req: func(t *testing.T) provider.Request {
			r := signed(t, cBilling, hBilling, hBody, tNow)
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
		{name: "hookvault", cfg: cDefault, req: func(t *testing.T) provider.Request {
			r := signed(t, cDefault, hDefault, hBody, tNow)
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
		{name: "hookvault/standard-webhooks", cfg: cDefaultW, req: func(t *testing.T) provider.Request {
			r := standardFor(t, hDefaultW, hBody, tNow)
			r.Body = append(r.Body, '\n')
			return r
		}, want: []string{wantNoNewline}},
	})
}

// standardFor is a Standard Webhooks delivery to POST /webhook, signed by internal/signature.
func standardFor(t *testing.T, secret, body string, at time.Time) provider.Request {
	t.Helper()
	ts := at.Unix()
	sig, err := signature.SignStandard([]byte(secret), "msg_hint", ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return request("", body, "Webhook-Id", "msg_hint", "Webhook-Timestamp", strconv.FormatInt(ts, 10), "Webhook-Signature", sig)
}

// TestHintsKeyRule: the sender read a secret under the other rule: base64-decoded where the
// provider keys with the string (Stripe's whsec_), or as is where it decodes it (Standard
// Webhooks).
func TestHintsKeyRule(t *testing.T) {
	decodedHint := func(n int, whsec bool, provider string) string {
		note := ""
		if whsec {
			note = " (after its whsec_ prefix)"
		}
		return fmt.Sprintf("the signature matches secret #%d of this source base64-decoded%s: the sender decodes the secret (as Standard Webhooks libraries do), but provider %s keys the HMAC with the secret string as is — make the sender use the string as is, or use a provider that decodes it", n, note, provider)
	}
	rawHint := func(n int, provider string) string {
		return fmt.Sprintf("the signature matches secret #%d of this source used as is, not base64-decoded: the sender keys the HMAC with the whole secret string (as Stripe does), but provider %s decodes it — make the sender decode the secret (base64 after whsec_), or use a provider that keys with the string", n, provider)
	}
	runHints(t, []hintCase{
		{name: "stripe/decoded", cfg: cStripe, req: func(t *testing.T) provider.Request {
			return signed(t, cStripe, decoded(t, hStripe), hBody, tNow)
		}, want: []string{decodedHint(2, true, "stripe")}},
		{name: "standard-webhooks/as-is", cfg: cStandard, req: func(t *testing.T) provider.Request {
			return signed(t, cStandard, asStandardRaw(hStandard), hBody, tNow)
		}, want: []string{rawHint(1, "standard-webhooks")}},
		{name: "svix/as-is", cfg: cSvix, req: func(t *testing.T) provider.Request {
			return toSvix(signed(t, cSvix, asStandardRaw(hStandard), hBody, tNow))
		}, want: []string{rawHint(1, "standard-webhooks")}},
		{name: "hmac/decoded", cfg: provider.Config{Name: "billing", Provider: "hmac", Secrets: []string{hDefault}, Header: "X-Billing-Signature", Encoding: "base64"},
			others: []provider.Config{}, req: func(t *testing.T) provider.Request {
				c := provider.Config{Provider: "hmac", Header: "X-Billing-Signature", Encoding: "base64"}
				return signed(t, c, decoded(t, hDefault), hBody, tNow)
			}, want: []string{decodedHint(1, false, "hmac")}},
		{name: "hookvault/decoded", cfg: cDefault, req: func(t *testing.T) provider.Request {
			return request("", hBody, "X-Signature", signature.Sign([]byte(decoded(t, hDefault)), []byte(hBody)))
		}, want: []string{decodedHint(1, false, "hookvault")}},
		{name: "hookvault/standard-as-is", cfg: cDefaultW, req: func(t *testing.T) provider.Request {
			return standardFor(t, asStandardRaw(hDefaultW), hBody, tNow)
		}, want: []string{rawHint(1, "hookvault")}},
	})
}

// TestHintsOtherSource: the sender holds another source's secret, or posts another source's
// deliveries to this one's URL.
func TestHintsOtherSource(t *testing.T) {
	runHints(t, []hintCase{
		{name: "github/billing-secret", cfg: cGitHub, req: func(t *testing.T) provider.Request {
			return signed(t, cGitHub, hBilling, hBody, tNow)
		}, want: []string{`the signature matches the secret of source "billing": the sender may be configured with the wrong secret, or posting to the wrong URL (/webhook/billing)`}},
		{name: "slack/github-secret", cfg: cSlack, req: func(t *testing.T) provider.Request {
			return signed(t, cSlack, hGitHub, hBody, tNow)
		}, want: []string{`the signature matches the secret of source "github": the sender may be configured with the wrong secret, or posting to the wrong URL (/webhook/github)`}},
		{name: "hookvault/default-secret", cfg: cBilling, others: []provider.Config{cDefault, cGitHub}, req: func(t *testing.T) provider.Request {
			return signed(t, cBilling, hDefault, hBody, tNow)
		}, want: []string{`the signature matches the secret of source "default": the sender may be configured with the wrong secret, or posting to the wrong URL (/webhook)`}},
		{name: "hookvault/github-secret", cfg: cDefault, req: func(t *testing.T) provider.Request {
			return signed(t, cDefault, hGitHub, hBody, tNow)
		}, want: []string{`the signature matches the secret of source "github": the sender may be configured with the wrong secret, or posting to the wrong URL (/webhook/github)`}},
		{name: "github/stripe-delivery", cfg: cGitHub, req: func(t *testing.T) provider.Request {
			return signed(t, cStripe, hStripe, hBody, tNow)
		}, want: []string{`the request verifies as a delivery of source "payments" (provider stripe): the sender posts to the wrong URL — its deliveries go to /webhook/payments`}},
		{name: "standard-webhooks/github-delivery", cfg: cStandard, others: []provider.Config{cSvix, cGitHub},
			req: func(t *testing.T) provider.Request {
				return signed(t, cGitHub, hGitHub, hBody, tNow)
			}, want: []string{`the request verifies as a delivery of source "github" (provider github): the sender posts to the wrong URL — its deliveries go to /webhook/github`}},
	})
}

// TestHintsOtherScheme: the request carries another preset's signature headers, made with
// this source's secret: the source is configured with the wrong provider.
func TestHintsOtherScheme(t *testing.T) {
	ghStd := provider.Config{Name: "github", Provider: "github", Secrets: []string{hStandard}}
	runHints(t, []hintCase{
		{name: "standard-webhooks-to-github", cfg: ghStd, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return signed(t, cStandard, hStandard, hBody, tNow)
		}, want: []string{`the request carries Standard Webhooks headers (Webhook-Signature), which verify with this source's secret under provider standard-webhooks: set provider: standard-webhooks`}},
		{name: "svix-to-github", cfg: ghStd, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return toSvix(signed(t, cStandard, hStandard, hBody, tNow))
		}, want: []string{`the request carries Standard Webhooks headers (Svix-Signature), which verify with this source's secret under provider standard-webhooks: set provider: standard-webhooks`}},
		{name: "github-to-stripe", cfg: cStripe, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return signed(t, cGitHub, hStripe, hBody, tNow)
		}, want: []string{`the request carries the header X-Hub-Signature-256, which verifies with this source's secret under provider github: set provider: github`}},
		{name: "slack-to-hmac", cfg: cBilling, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return signed(t, cSlack, hBilling, hBody, tNow)
		}, want: []string{`the request carries the header X-Slack-Signature, which verifies with this source's secret under provider slack: set provider: slack`}},
		{name: "x-signature-to-github", cfg: cGitHub, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return signed(t, cDefault, hGitHub, hBody, tNow)
		}, want: []string{`the request carries the header X-Signature, which verifies with this source's secret under provider hookvault: send it to /webhook, or set provider: hmac with header: X-Signature`}},
		{name: "stripe-to-hookvault", cfg: cDefault, others: []provider.Config{}, req: func(t *testing.T) provider.Request {
			return signed(t, cStripe, hDefault, hBody, tNow)
		}, want: []string{`the request carries the header Stripe-Signature, which verifies with this source's secret under provider stripe: declare a source with provider: stripe for this sender and send its deliveries to /webhook/<that source>`}},
	})
}

// TestHintsStale: a timestamp outside the tolerance, old or new, with a valid signature or
// not, or written in the wrong unit.
func TestHintsStale(t *testing.T) {
	old := tNow.Add(-(7*time.Minute + 12*time.Second))
	ahead := tNow.Add(10 * time.Minute)
	runHints(t, []hintCase{
		{name: "stripe/old-valid", cfg: cStripe, req: func(t *testing.T) provider.Request {
			return signed(t, cStripe, hStripe, hBody, old)
		}, want: []string{`the timestamp is 7m12s old, beyond this source's 5m tolerance, and the signature is otherwise valid: check the sender's clock, or whether the delivery is a replay`}},
		{name: "standard-webhooks/future-forged", cfg: cStandard, req: func(t *testing.T) provider.Request {
			return signed(t, cStandard, stdSecret("forged"), hBody, ahead)
		}, want: []string{`the timestamp is 10m in the future, beyond this source's 5m tolerance: the sender's clock is ahead of this server's: check it`}},
		{name: "slack/old-and-newline", cfg: provider.Config{Name: "slack", Provider: "slack", Secrets: []string{hSlack}, Tolerance: time.Hour},
			at: tNow.Add(90 * time.Minute), req: func(t *testing.T) provider.Request {
				r := signed(t, cSlack, hSlack, hBody, tNow)
				r.Body = append(r.Body, '\n')
				return r
			}, want: []string{`the timestamp is 1h30m old, beyond this source's 1h tolerance: check the sender's clock, or whether the delivery is a replay`, wantNoNewline}},
		{name: "slack/milliseconds", cfg: cSlack, req: func(t *testing.T) provider.Request {
			ms := strconv.FormatInt(tNow.UnixMilli(), 10)
			return request("", hBody, "X-Slack-Request-Timestamp", ms, "X-Slack-Signature", "v0="+macHex(sha256.New, hSlack, "v0:", ms, ":", hBody))
		}, want: []string{`the timestamp "1700000000000" is outside the tolerance read in seconds, as provider slack sends it, but within it read in milliseconds, and the signature is otherwise valid: the sender writes the wrong unit`}},
		{name: "hookvault/standard-old", cfg: cDefaultW, req: func(t *testing.T) provider.Request {
			return standardFor(t, hDefaultW, hBody, tNow.Add(-time.Hour))
		}, want: []string{`the timestamp is 1h old, beyond this source's 5m tolerance, and the signature is otherwise valid: check the sender's clock, or whether the delivery is a replay`}},
	})
}

// TestHintsNone: a delivery signed with a secret nobody configured, the everyday forgery,
// gives no hint at all, whichever mistake-shaped variant is tried.
func TestHintsNone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomSecret := func() string {
		b := make([]byte, 24)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name string
		cfg  provider.Config
		req  func(t *testing.T, secret string) provider.Request
	}{
		{"github", cGitHub, func(t *testing.T, k string) provider.Request { return signed(t, cGitHub, k, hBody, tNow) }},
		{"stripe", cStripe, func(t *testing.T, k string) provider.Request { return signed(t, cStripe, k, hBody, tNow) }},
		{"standard-webhooks", cStandard, func(t *testing.T, k string) provider.Request { return signed(t, cStandard, k, hBody, tNow) }},
		{"svix", cSvix, func(t *testing.T, k string) provider.Request { return toSvix(signed(t, cSvix, k, hBody, tNow)) }},
		{"slack", cSlack, func(t *testing.T, k string) provider.Request { return signed(t, cSlack, k, hBody, tNow) }},
		{"hmac", cBilling, func(t *testing.T, k string) provider.Request { return signed(t, cBilling, k, hBody, tNow) }},
		{"hookvault", cDefault, func(t *testing.T, k string) provider.Request { return signed(t, cDefault, k, hBody, tNow) }},
		{"hookvault/standard-webhooks", cDefaultW, func(t *testing.T, k string) provider.Request { return standardFor(t, k, hBody, tNow) }},
		{"github/newline-body", cGitHub, func(t *testing.T, k string) provider.Request { return signed(t, cGitHub, k, hBody+"\n", tNow) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, tc.cfg, tNow)
			others := newSources(t, tNow, append(slices.Clone(allOthers), cDefault, cSvix)...)
			for range 3 {
				r := tc.req(t, randomSecret())
				checkVerify(t, s, r, signature.ReasonMismatch)
				if got := s.Hints(r, others); len(got) != 0 {
					t.Errorf("Hints = %q, want none", got)
				}
			}
		})
	}
	t.Run("verified", func(t *testing.T) {
		s := mustNew(t, cGitHub, tNow)
		if got := s.Hints(signed(t, cGitHub, hGitHub, hBody, tNow), nil); got != nil {
			t.Errorf("Hints of a delivery that verifies = %q, want nil", got)
		}
	})
}

// TestHintsBounds: the bounds of the doc comment, each hit.
func TestHintsBounds(t *testing.T) {
	t.Run("large-body", func(t *testing.T) {
		s := mustNew(t, cStripe, tNow)
		big := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
		r := signed(t, cStripe, hStripe, big, tNow.Add(-10*time.Minute))
		r.Body = append(r.Body, '\n')
		got := s.Hints(r, newSources(t, tNow, allOthers...))
		want := []string{`the timestamp is 10m old, beyond this source's 5m tolerance: check the sender's clock, or whether the delivery is a replay`}
		if !slices.Equal(got, want) {
			t.Errorf("Hints = %q, want only the timestamp's %q", got, want)
		}
	})
	t.Run("others", func(t *testing.T) {
		// The 17th other source by name is not considered; the 16th is.
		var others []provider.Config
		for i := range 17 {
			others = append(others, provider.Config{Name: fmt.Sprintf("s%02d", i), Provider: "hmac", Header: "X-Other", Secrets: []string{fmt.Sprintf("secret-%02d", i)}})
		}
		s := mustNew(t, cGitHub, tNow)
		srcs := newSources(t, tNow, others...)
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(srcs), func(i, j int) { srcs[i], srcs[j] = srcs[j], srcs[i] })
		if got := s.Hints(signed(t, cGitHub, "secret-16", hBody, tNow), srcs); len(got) != 0 {
			t.Errorf("Hints = %q, want none: s16 is beyond the first 16", got)
		}
		got := s.Hints(signed(t, cGitHub, "secret-15", hBody, tNow), srcs)
		if len(got) != 1 || !strings.Contains(got[0], `"s15"`) {
			t.Errorf("Hints = %q, want the secret of s15", got)
		}
	})
	t.Run("budget", func(t *testing.T) {
		// 16 secrets (none base64, so no other key rule to try): the newline variant costs
		// 16 MACs, and each other source 4, two to verify as itself and one per secret
		// under this scheme: the budget of 64 runs out after 12 of the 16.
		var secrets []string
		for i := range 16 {
			secrets = append(secrets, fmt.Sprintf("rotated-secret-%02d", i))
		}
		c := provider.Config{Name: "many", Provider: "github", Secrets: secrets}
		s := mustNew(t, c, tNow)
		var others []provider.Config
		for i := range 16 {
			others = append(others, provider.Config{Name: fmt.Sprintf("o%02d", i), Provider: "hmac", Header: "X-Other", Secrets: []string{"decoy-secret", fmt.Sprintf("other-%02d", i)}})
		}
		srcs := newSources(t, tNow, others...)
		if got := s.Hints(signed(t, c, "other-00", hBody, tNow), srcs); len(got) != 1 {
			t.Errorf("Hints = %q, want the secret of o00", got)
		}
		if got := s.Hints(signed(t, c, "other-15", hBody, tNow), srcs); len(got) != 0 {
			t.Errorf("Hints = %q, want none: the budget is spent before o15", got)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		s := mustNew(t, cSlack, tNow)
		r := signed(t, cSlack, hGitHub, hBody, tNow)
		srcs := newSources(t, tNow, allOthers...)
		want := s.Hints(r, srcs)
		for i := range 20 {
			rand.New(rand.NewPCG(uint64(i), 5)).Shuffle(len(srcs), func(i, j int) { srcs[i], srcs[j] = srcs[j], srcs[i] })
			if got := s.Hints(r, srcs); !slices.Equal(got, want) {
				t.Fatalf("Hints = %q, want %q whatever the order of others", got, want)
			}
		}
	})
}

// BenchmarkHints is Hints on a 1 KiB mismatch that no hint explains (all variants run),
// for a source with 3 secrets and 5 other sources:
//
//	go test -run '^$' -bench BenchmarkHints -benchmem ./internal/provider
func BenchmarkHints(b *testing.B) {
	body := benchBody()
	c := provider.Config{Name: "github", Provider: "github", Secrets: []string{"old-secret", "bench-secret", stdSecret("next secret")}}
	s := mustNew(b, c, tNow)
	others := newSources(b, tNow, cStripe, cStandard, cSlack, cBilling, cDefault)
	r := request("", string(body)+"\n", "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event", "push")
	if err := provider.Sign(c, "unrelated-secret", &r, tNow); err != nil {
		b.Fatal(err)
	}
	if s.Verify(r) == nil {
		b.Fatal("verifies")
	}
	b.SetBytes(int64(len(r.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if h := s.Hints(r, others); len(h) != 0 {
			b.Fatal(h)
		}
	}
}
