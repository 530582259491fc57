package provider_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
)

// secretMark is in every secret below, so a test can see that no error quotes one.
const secretMark = "SECRET-MARK"

func TestNewErrors(t *testing.T) {
	ok := []string{secretMark + "-1"}
	tests := []struct {
		name string
		cfg  provider.Config
		want []string // each must appear in the error
	}{
		{"no provider", provider.Config{Name: "a", Secrets: ok}, []string{"provider: required, one of calendly, discord"}},
		{"unknown provider", provider.Config{Name: "a", Provider: "gitlab", Secrets: ok}, []string{`provider: unknown "gitlab"`}},
		{"bad name", provider.Config{Name: "GitHub!", Provider: "github", Secrets: ok}, []string{`name: "GitHub!" does not match`}},
		{"no secrets", provider.Config{Name: "a", Provider: "github"}, []string{"secrets: at least one is required"}},
		{"empty secret", provider.Config{Name: "a", Provider: "github", Secrets: []string{secretMark, ""}}, []string{"secrets[1]: empty"}},
		{"too many secrets", provider.Config{Name: "a", Provider: "github", Secrets: make([]string, 17)}, []string{"secrets: 17 given, at most 16"}},
		{"standard-webhooks whsec not base64", provider.Config{Name: "a", Provider: "standard-webhooks",
			Secrets: []string{stdSecret("one"), stdSecret("two"), "whsec_" + secretMark + "!"}}, []string{"secrets[2]: not base64 after whsec_"}},
		{"svix unprefixed not base64", provider.Config{Name: "a", Provider: "svix", Secrets: []string{secretMark + "!"}},
			[]string{"secrets[0]: not base64: Standard Webhooks keys are the secret base64-decoded"}},
		{"standard-webhooks empty after whsec_", provider.Config{Name: "a", Provider: "standard-webhooks", Secrets: []string{"whsec_"}}, []string{"secrets[0]: empty after whsec_"}},
		{"hookvault whsec not base64", provider.Config{Name: "a", Provider: "hookvault", Secrets: []string{"whsec_" + secretMark + "!"}}, []string{"secrets[0]: not base64 after whsec_"}},
		{"discord without key", provider.Config{Name: "a", Provider: "discord"}, []string{"public_key: required for provider discord"}},
		{"discord key short", provider.Config{Name: "a", Provider: "discord", PublicKey: "abcd"}, []string{"public_key: not 32 bytes of hex"}},
		{"discord key not hex", provider.Config{Name: "a", Provider: "discord", PublicKey: strings.Repeat("zz", 32)}, []string{"public_key: not 32 bytes of hex"}},
		{"discord with secrets", provider.Config{Name: "a", Provider: "discord", PublicKey: publicKey(seedA), Secrets: ok}, []string{"secrets: provider discord verifies with public_key"}},
		{"public key elsewhere", provider.Config{Name: "a", Provider: "github", Secrets: ok, PublicKey: publicKey(seedA)}, []string{"public_key: only for provider discord"}},
		{"twilio without url", provider.Config{Name: "a", Provider: "twilio", Secrets: ok}, []string{"url: required for provider twilio"}},
		{"square without url", provider.Config{Name: "a", Provider: "square", Secrets: ok}, []string{"url: required for provider square"}},
		{"hubspot without url", provider.Config{Name: "a", Provider: "hubspot", Secrets: ok}, []string{"url: required for provider hubspot"}},
		{"url with query", provider.Config{Name: "a", Provider: "twilio", Secrets: ok, URL: "https://h.example/x?a=1"}, []string{"url: leave out the query"}},
		{"url relative", provider.Config{Name: "a", Provider: "twilio", Secrets: ok, URL: "/webhook/sms"}, []string{"url: not an absolute http or https URL"}},
		{"url ftp", provider.Config{Name: "a", Provider: "square", Secrets: ok, URL: "ftp://h.example/x"}, []string{"url: not an absolute http or https URL"}},
		{"url empty port", provider.Config{Name: "a", Provider: "twilio", Secrets: ok, URL: "https://h.example:/x"}, []string{"url: not an absolute http or https URL"}},
		{"url with user", provider.Config{Name: "a", Provider: "hubspot", Secrets: ok, URL: "https://u:p@h.example/x"}, []string{"url: has user information"}},
		{"negative tolerance", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, Tolerance: -time.Second}, []string{"tolerance: -1s is negative"}},
		{"tolerance without timestamp", provider.Config{Name: "a", Provider: "github", Secrets: ok, Tolerance: time.Minute}, []string{"tolerance: provider github signs no timestamp"}},
		{"hmac without header", provider.Config{Name: "a", Provider: "hmac", Secrets: ok}, []string{"header: required for provider hmac"}},
		{"hmac bad header", provider.Config{Name: "a", Provider: "hmac", Secrets: ok, Header: "X Sig"}, []string{`header: "X Sig" is not a valid header name`}},
		{"hmac md5", provider.Config{Name: "a", Provider: "hmac", Secrets: ok, Header: "X-S", Algorithm: "md5"}, []string{`algorithm: "md5" is not one of sha1, sha256, sha512`}},
		{"hmac base32", provider.Config{Name: "a", Provider: "hmac", Secrets: ok, Header: "X-S", Encoding: "base32"}, []string{`encoding: "base32" is not one of hex, base64`}},
		{"hmac fields elsewhere", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, Header: "X-S", Prefix: "v1="}, []string{"header: only for provider hmac", "prefix: only for provider hmac"}},
		{"rule kind", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, ID: "body:/id"}, []string{`id: "body:/id" is not header:NAME, json:/pointer, form:NAME or sha256`}},
		{"pointer without slash", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, ID: "json:id"}, []string{`id: "json:id": "id" is not a JSON pointer`}},
		{"pointer bad escape", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, Type: "json:/a~2"}, []string{"type: \"json:/a~2\": \"/a~2\" is not a JSON pointer: ~ must be followed by 0 or 1"}},
		{"sha256 type", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, Type: "sha256"}, []string{"type: sha256 gives ids only"}},
		{"form rule on a JSON preset", provider.Config{Name: "a", Provider: "stripe", Secrets: ok, ID: "form:id"}, []string{"id: form:id reads a form field, but provider stripe sends only JSON bodies"}},
		{"bad header rule", provider.Config{Name: "a", Provider: "github", Secrets: ok, ID: "header:X Y"}, []string{`id: "header:X Y": "X Y" is not a valid header name`}},
		{"empty form rule", provider.Config{Name: "a", Provider: "twilio", Secrets: ok, URL: "https://h.example/x", ID: "form:"}, []string{"id: \"form:\": give the form field's name"}},
		{"several at once", provider.Config{Name: "a", Provider: "twilio", Secrets: []string{""}, Tolerance: time.Minute}, []string{"secrets[0]: empty", "url: required", "tolerance: provider twilio signs no timestamp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := provider.New(tc.cfg, provider.Options{})
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", s)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secretMark) {
				t.Errorf("New error %q quotes a secret", err)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, tc := range []provider.Config{
		{Name: "a", Provider: "standard-webhooks", Secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, // unprefixed base64
		{Name: "a", Provider: "stripe", Secrets: []string{"whsec_not base64 at all!"}},                    // used as is
		{Name: "a", Provider: "hookvault", Secrets: []string{"raw secret"}},
		{Name: "a", Provider: "twilio", Secrets: []string{"t"}, URL: "https://[::1]:8443/sms"},
		{Name: "a", Provider: "github", Secrets: []string{"g"}, URL: "https://h.example/info-only"},
		{Name: "a", Provider: "hmac", Secrets: []string{"h"}, Header: "X-Sig", Algorithm: "sha1", Encoding: "base64", Prefix: "sha1="},
		{Name: "a", Provider: "slack", Secrets: []string{"s"}, Tolerance: 10 * time.Minute, ID: "sha256", Type: "form:command"},
	} {
		if _, err := provider.New(tc, provider.Options{}); err != nil {
			t.Errorf("New(%s): %v", tc.Provider, err)
		}
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		provider string
		accepts  []string
		refuses  []string
	}{
		{"stripe", []string{"application/json", "application/vnd.stripe+json"}, []string{"application/x-www-form-urlencoded", "text/plain", "application/+json", "+json", "application/jsonx"}},
		{"github", []string{"application/json", "application/x-www-form-urlencoded"}, []string{"multipart/form-data"}},
		{"slack", []string{"application/json", "application/x-www-form-urlencoded"}, []string{"text/plain"}},
		{"twilio", []string{"application/json", "application/x-www-form-urlencoded"}, []string{"text/xml"}},
		{"hmac", []string{"text/plain", "application/octet-stream", "application/json"}, nil},
	}
	for _, tc := range tests {
		c := withSecret(provider.Config{Name: "a", Provider: tc.provider, URL: "https://h.example/x", Header: "X-S"})
		if tc.provider != "hmac" {
			c.Header = ""
		}
		s := mustNew(t, c, tNow)
		for _, mt := range tc.accepts {
			if !s.Accepts(mt) {
				t.Errorf("%s.Accepts(%q) = false", tc.provider, mt)
			}
		}
		for _, mt := range tc.refuses {
			if s.Accepts(mt) {
				t.Errorf("%s.Accepts(%q) = true", tc.provider, mt)
			}
		}
	}
}

func TestInfo(t *testing.T) {
	tests := []struct {
		cfg  provider.Config
		want provider.Info
	}{
		{provider.Config{Name: "gh", Provider: "github", Secrets: []string{secretMark}},
			provider.Info{Name: "gh", Provider: "github", ID: "header:X-GitHub-Delivery", Type: "header:X-GitHub-Event"}},
		{provider.Config{Name: "pay", Provider: "stripe", Secrets: []string{secretMark}, Tolerance: 10 * time.Minute},
			provider.Info{Name: "pay", Provider: "stripe", ID: "json:/id", Type: "json:/type", Tolerance: 10 * time.Minute}},
		{provider.Config{Name: "sv", Provider: "svix", Secrets: []string{stdSecret(secretMark)}},
			provider.Info{Name: "sv", Provider: "svix", ID: "header:webhook-id else header:svix-id", Type: "json:/type", Tolerance: 5 * time.Minute}},
		{provider.Config{Name: "sms", Provider: "twilio", Secrets: []string{secretMark}, URL: "https://hooks.example.com/webhook/sms"},
			provider.Info{Name: "sms", Provider: "twilio", ID: "form:MessageSid else form:CallSid else form:SmsSid else sha256", URL: "https://hooks.example.com/webhook/sms"}},
		{provider.Config{Name: "bot", Provider: "slack", Secrets: []string{secretMark}},
			provider.Info{Name: "bot", Provider: "slack", ID: "json:/event_id else sha256; form bodies: sha256",
				Type: "json:/event/type else json:/type; form bodies: json:/type else form:command", Tolerance: 5 * time.Minute}},
		{provider.Config{Name: "bill", Provider: "hmac", Secrets: []string{secretMark}, Header: "X-Billing-Signature", ID: "header:X-Billing-Delivery", Type: "json:/event"},
			provider.Info{Name: "bill", Provider: "hmac", ID: "header:X-Billing-Delivery", Type: "json:/event"}},
	}
	for _, tc := range tests {
		s, err := provider.New(tc.cfg, provider.Options{DefaultTolerance: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Info(); got != tc.want {
			t.Errorf("Info() = %+v\nwant %+v", got, tc.want)
		}
		if strings.Contains(s.Info().ID+s.Info().Type+s.Info().URL, secretMark) {
			t.Errorf("Info quotes a secret")
		}
	}
}
