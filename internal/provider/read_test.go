package provider_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/provider"
)

func sha256ID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(sum[:])
}

const formCT = "application/x-www-form-urlencoded"

// TestRead gives each preset's delivery its id and type, and names what is missing.
func TestRead(t *testing.T) {
	u := "https://hooks.example.com/webhook/src"
	slackForm := "command=%2Fwebhook-collect&text=&trigger_id=398738663015.47445629121"
	slackAction := "payload=" + url.QueryEscape(`{"type":"block_actions","trigger_id":"1.2.3","actions":[]}`)
	tests := []struct {
		name     string
		cfg      provider.Config
		body     string
		kv       []string
		wantID   string
		wantType string // "-" for no type
		wantErr  string
	}{
		{name: "hookvault", cfg: provider.Config{Provider: "hookvault"}, body: `{"id":"1","sender":"a","content":"c"}`, wantID: "1", wantType: "-"},
		{name: "hookvault no id", cfg: provider.Config{Provider: "hookvault"}, body: `{"sender":"a"}`, wantErr: "body field /id is missing"},
		{name: "standard-webhooks", cfg: provider.Config{Provider: "standard-webhooks"}, body: `{"type":"user.created"}`, kv: []string{"webhook-id", "msg_1"}, wantID: "msg_1", wantType: "user.created"},
		{name: "svix id header", cfg: provider.Config{Provider: "svix"}, body: `{"type":"user.created"}`, kv: []string{"svix-id", "msg_2"}, wantID: "msg_2", wantType: "user.created"},
		{name: "standard-webhooks no id", cfg: provider.Config{Provider: "standard-webhooks"}, body: `{}`, wantErr: "header webhook-id is missing"},
		{name: "stripe", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"evt_1","object":"event","type":"invoice.paid"}`, wantID: "evt_1", wantType: "invoice.paid"},
		{name: "stripe no id", cfg: provider.Config{Provider: "stripe"}, body: `{"type":"x"}`, wantErr: "body field /id is missing"},
		{name: "github", cfg: provider.Config{Provider: "github"}, body: `{"zen":"x"}`, kv: []string{"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event", "ping"},
			wantID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", wantType: "ping"},
		{name: "github no delivery", cfg: provider.Config{Provider: "github"}, body: `{}`, kv: []string{"X-GitHub-Event", "ping"}, wantErr: "header X-GitHub-Delivery is missing"},
		{name: "github empty delivery", cfg: provider.Config{Provider: "github"}, body: `{}`, kv: []string{"X-GitHub-Delivery", ""}, wantErr: "header X-GitHub-Delivery is empty"},
		{name: "github two deliveries", cfg: provider.Config{Provider: "github"}, body: `{}`, kv: []string{"X-GitHub-Delivery", "a", "X-GitHub-Delivery", "b"}, wantErr: "header X-GitHub-Delivery is repeated"},
		{name: "github delivery not UTF-8", cfg: provider.Config{Provider: "github"}, body: `{}`, kv: []string{"X-GitHub-Delivery", "a\xff"}, wantErr: "header X-GitHub-Delivery is not valid UTF-8"},
		{name: "github not JSON", cfg: provider.Config{Provider: "github"}, body: `{`, kv: []string{"X-GitHub-Delivery", "a"}, wantErr: "body is not JSON"},
		{name: "github form", cfg: provider.Config{Provider: "github"}, body: "payload=" + url.QueryEscape(`{"zen":"x"}`), kv: []string{"Content-Type", formCT, "X-GitHub-Delivery", "d1", "X-GitHub-Event", "push"}, wantID: "d1", wantType: "push"},
		{name: "github form without payload", cfg: provider.Config{Provider: "github"}, body: "zen=x", kv: []string{"Content-Type", formCT, "X-GitHub-Delivery", "d1"}, wantErr: "form field payload is missing"},
		{name: "github form payload not JSON", cfg: provider.Config{Provider: "github"}, body: "payload=%7B", kv: []string{"Content-Type", formCT, "X-GitHub-Delivery", "d1"}, wantErr: "form field payload is not JSON"},
		{name: "github form not a form", cfg: provider.Config{Provider: "github"}, body: "payload=%zz", kv: []string{"Content-Type", formCT + "; charset=utf-8", "X-GitHub-Delivery", "d1"}, wantErr: "body is not a valid application/x-www-form-urlencoded form"},
		{name: "shopify", cfg: provider.Config{Provider: "shopify"}, body: `{}`, kv: []string{"X-Shopify-Webhook-Id", "b54557e4", "X-Shopify-Topic", "orders/create"}, wantID: "b54557e4", wantType: "orders/create"},
		{name: "shopify events", cfg: provider.Config{Provider: "shopify"}, body: `{}`, kv: []string{"shopify-webhook-id", "e1", "shopify-topic", "Product"}, wantID: "e1", wantType: "Product"},
		{name: "slack event", cfg: provider.Config{Provider: "slack"}, body: `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`, wantID: "Ev1", wantType: "app_mention"},
		{name: "slack event with an empty event_id", cfg: provider.Config{Provider: "slack"}, body: `{"type":"x","event_id":""}`, wantID: sha256ID(`{"type":"x","event_id":""}`), wantType: "x"},
		{name: "slack event without event_id", cfg: provider.Config{Provider: "slack"}, body: `{"type":"app_rate_limited"}`, wantID: sha256ID(`{"type":"app_rate_limited"}`), wantType: "app_rate_limited"},
		{name: "slack slash command", cfg: provider.Config{Provider: "slack"}, body: slackForm, kv: []string{"Content-Type", formCT}, wantID: sha256ID(slackForm), wantType: "/webhook-collect"},
		{name: "slack interactivity", cfg: provider.Config{Provider: "slack"}, body: slackAction, kv: []string{"Content-Type", formCT}, wantID: sha256ID(slackAction), wantType: "block_actions"},
		{name: "twilio message", cfg: provider.Config{Provider: "twilio", URL: u}, body: "MessageSid=SM1&SmsSid=SM1&Body=hi", kv: []string{"Content-Type", formCT}, wantID: "SM1", wantType: "-"},
		{name: "twilio call", cfg: provider.Config{Provider: "twilio", URL: u}, body: "CallSid=CA1&CallStatus=ringing", kv: []string{"Content-Type", formCT}, wantID: "CA1", wantType: "-"},
		{name: "twilio neither", cfg: provider.Config{Provider: "twilio", URL: u}, body: "Foo=1", kv: []string{"Content-Type", formCT}, wantID: sha256ID("Foo=1"), wantType: "-"},
		{name: "twilio json", cfg: provider.Config{Provider: "twilio", URL: u}, body: `{"a":1}`, wantID: sha256ID(`{"a":1}`), wantType: "-"},
		{name: "twilio repeated sid", cfg: provider.Config{Provider: "twilio", URL: u}, body: "MessageSid=a&MessageSid=b", kv: []string{"Content-Type", formCT}, wantErr: "form field MessageSid is repeated"},
		{name: "paddle", cfg: provider.Config{Provider: "paddle"}, body: `{"event_id":"evt_01","event_type":"transaction.completed"}`, wantID: "evt_01", wantType: "transaction.completed"},
		{name: "square", cfg: provider.Config{Provider: "square", URL: u}, body: `{"event_id":"ac3a","type":"payment.created"}`, wantID: "ac3a", wantType: "payment.created"},
		{name: "hubspot", cfg: provider.Config{Provider: "hubspot", URL: u}, body: `[{"eventId":1}]`, wantID: sha256ID(`[{"eventId":1}]`), wantType: "-"},
		{name: "linear", cfg: provider.Config{Provider: "linear"}, body: `{}`, kv: []string{"Linear-Delivery", "234d1a4e", "Linear-Event", "Issue"}, wantID: "234d1a4e", wantType: "Issue"},
		{name: "zoom", cfg: provider.Config{Provider: "zoom"}, body: `{"event":"meeting.started"}`, wantID: sha256ID(`{"event":"meeting.started"}`), wantType: "meeting.started"},
		{name: "twitch", cfg: provider.Config{Provider: "twitch"}, body: `{}`, kv: []string{"Twitch-Eventsub-Message-Id", "befa7b53", "Twitch-Eventsub-Subscription-Type", "channel.follow", "Twitch-Eventsub-Message-Type", "notification"}, wantID: "befa7b53", wantType: "channel.follow"},
		{name: "discord command", cfg: provider.Config{Provider: "discord"}, body: `{"id":"787053080478613556","type":2}`, wantID: "787053080478613556", wantType: "2"},
		{name: "typeform", cfg: provider.Config{Provider: "typeform"}, body: `{"event_id":"01HB","event_type":"form_response"}`, wantID: "01HB", wantType: "form_response"},
		{name: "intercom", cfg: provider.Config{Provider: "intercom"}, body: `{"id":"notif_1","topic":"conversation.user.created"}`, wantID: "notif_1", wantType: "conversation.user.created"},
		{name: "mailgun", cfg: provider.Config{Provider: "mailgun"}, body: `{"signature":{"token":"tok"},"event-data":{"event":"delivered"}}`, wantID: "tok", wantType: "delivered"},
		{name: "calendly", cfg: provider.Config{Provider: "calendly"}, body: `{"event":"invitee.created"}`, wantID: sha256ID(`{"event":"invitee.created"}`), wantType: "invitee.created"},
		{name: "hmac any body", cfg: provider.Config{Provider: "hmac", Header: "X-S"}, body: "plain text", kv: []string{"Content-Type", "text/plain"}, wantID: sha256ID("plain text"), wantType: "-"},
		{name: "hmac header id", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "header:X-Billing-Delivery", Type: "json:/event"}, body: `{"event":"paid"}`, kv: []string{"X-Billing-Delivery", "b1"}, wantID: "b1", wantType: "paid"},
		{name: "hmac form id", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "form:ref"}, body: "ref=r1", kv: []string{"Content-Type", formCT}, wantID: "r1", wantType: "-"},
		{name: "hmac form id, json body", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "form:ref"}, body: `{}`, wantErr: "body is not a form, so it has no field ref"},
		{name: "hmac json id, form body without payload", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "json:/id"}, body: "a=1", kv: []string{"Content-Type", formCT}, wantErr: "form field payload is missing, so there is no field /id"},
		{name: "hmac json id, not JSON", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "json:/id"}, body: "x", kv: []string{"Content-Type", "text/plain"}, wantErr: "body is not JSON"},
		// The generic scheme reads a form's payload as JSON only for a json: rule.
		{name: "hmac sha256 id, form with a text payload", cfg: provider.Config{Provider: "hmac", Header: "X-S"}, body: "payload=not+json&a=1", kv: []string{"Content-Type", formCT},
			wantID: sha256ID("payload=not+json&a=1"), wantType: "-"},
		{name: "hmac json type, form payload", cfg: provider.Config{Provider: "hmac", Header: "X-S", Type: "json:/event"}, body: "payload=" + url.QueryEscape(`{"event":"paid"}`), kv: []string{"Content-Type", formCT},
			wantID: sha256ID("payload=" + url.QueryEscape(`{"event":"paid"}`)), wantType: "paid"},
		{name: "hmac json type, form payload not JSON", cfg: provider.Config{Provider: "hmac", Header: "X-S", Type: "json:/event"}, body: "payload=not+json", kv: []string{"Content-Type", formCT},
			wantErr: "form field payload is not JSON"},

		// Overrides and the JSON reader's cases.
		{name: "override id", cfg: provider.Config{Provider: "stripe", ID: "json:/data/object/id"}, body: `{"id":"evt","data":{"object":{"id":"in_1"}}}`, wantID: "in_1", wantType: "-"},
		{name: "number id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":12345678901234567890.5e3,"type":"t"}`, wantID: "12345678901234567890.5e3", wantType: "t"},
		{name: "object id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":{"a":1}}`, wantErr: "body field /id is an object, not a string or a number"},
		{name: "array id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":[1]}`, wantErr: "body field /id is an array, not a string or a number"},
		{name: "boolean id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":true}`, wantErr: "body field /id is a boolean, not a string or a number"},
		{name: "null id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":null}`, wantErr: "body field /id is null"},
		{name: "empty id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":""}`, wantErr: "body field /id is empty"},
		{name: "object type", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"1","type":{}}`, wantErr: "body field /type is an object, not a string or a number"},
		{name: "null type", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"1","type":null}`, wantID: "1", wantType: "-"},
		{name: "escaped id", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"a\"b\\c\u00e9\ud83d\ude00\n"}`, wantID: "a\"b\\cé😀\n", wantType: "-"},
		{name: "escaped member name", cfg: provider.Config{Provider: "stripe"}, body: `{"\u0069d":"esc"}`, wantID: "esc", wantType: "-"},
		{name: "last of a repeated member", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"first","id":"last"}`, wantID: "last", wantType: "-"},
		{name: "nested lookalike ignored", cfg: provider.Config{Provider: "stripe"}, body: `{"data":{"id":"inner"},"id":"outer"}`, wantID: "outer", wantType: "-"},
		{name: "lone surrogate", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"sur-\ud800"}`, wantErr: "body field /id has a lone surrogate escape"},
		{name: "reversed surrogates", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"\ude00\ud83d"}`, wantErr: "lone surrogate"},
		{name: "invalid UTF-8", cfg: provider.Config{Provider: "stripe"}, body: "{\"id\":\"a\xffb\"}", wantErr: "body field /id is not valid UTF-8"},
		{name: "invalid UTF-8 with an escape", cfg: provider.Config{Provider: "stripe"}, body: "{\"id\":\"\\n\xff\"}", wantErr: "body field /id is not valid UTF-8"},
		{name: "256 characters", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"` + strings.Repeat("é", 256) + `"}`, wantID: strings.Repeat("é", 256), wantType: "-"},
		{name: "257 characters", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"` + strings.Repeat("é", 257) + `"}`, wantErr: "body field /id is longer than 256 characters"},
		{name: "array index pointer", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "json:/events/1/id"}, body: `{"events":[{"id":"a"},{"id":"b"}]}`, wantID: "b", wantType: "-"},
		{name: "pointer escapes", cfg: provider.Config{Provider: "hmac", Header: "X-S", ID: "json:/a~1b/c~0d"}, body: `{"a/b":{"c~d":"x"}}`, wantID: "x", wantType: "-"},
		{name: "trailing garbage", cfg: provider.Config{Provider: "stripe"}, body: `{"id":"1"} x`, wantErr: "body is not JSON"},
		{name: "empty body", cfg: provider.Config{Provider: "stripe"}, body: ``, wantErr: "body is not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, withSecret(tc.cfg), tNow)
			d, err := s.Read(request("", tc.body, tc.kv...))
			if tc.wantErr != "" {
				var re *provider.ReadError
				if !errors.As(err, &re) || !strings.Contains(re.Detail, tc.wantErr) {
					t.Fatalf("Read = %+v, %v; want a *ReadError with %q", d, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			wantType, hasType := tc.wantType, true
			if wantType == "-" {
				wantType, hasType = "", false
			}
			if d.ID != tc.wantID || d.Type != wantType || d.HasType != hasType || d.Challenge != nil {
				t.Fatalf("Read = %+v, want id %q type %q", d, tc.wantID, tc.wantType)
			}
		})
	}
}

// CheckJSON sees every JSON document Read parses, named, and nothing else; its error is
// Read's, unchanged.
func TestReadCheckJSON(t *testing.T) {
	ghForm := "payload=" + url.QueryEscape(`{"zen":"x"}`)
	gh := []string{"X-GitHub-Delivery", "d1", "X-GitHub-Event", "push"}
	tests := []struct {
		name string
		cfg  provider.Config
		body string
		kv   []string
		want string // "name: document" of each call, joined by "|"
	}{
		{"github json", provider.Config{Provider: "github"}, `{"zen":"x"}`, gh, `body: {"zen":"x"}`},
		{"github form", provider.Config{Provider: "github"}, ghForm, append([]string{"Content-Type", formCT}, gh...), `form field payload: {"zen":"x"}`},
		{"slack interactivity", provider.Config{Provider: "slack"}, "payload=" + url.QueryEscape(`{"type":"t"}`), []string{"Content-Type", formCT}, `form field payload: {"type":"t"}`},
		{"slack slash command", provider.Config{Provider: "slack"}, "command=%2Fx", []string{"Content-Type", formCT}, ""},
		{"hmac sha256, text", provider.Config{Provider: "hmac", Header: "X-S"}, "text", []string{"Content-Type", "text/plain"}, ""},
		{"hmac sha256, form", provider.Config{Provider: "hmac", Header: "X-S"}, ghForm, []string{"Content-Type", formCT}, ""},
		{"hmac json type, text", provider.Config{Provider: "hmac", Header: "X-S", Type: "json:/e"}, `{"e":"x"}`, []string{"Content-Type", "text/plain"}, `body: {"e":"x"}`},
		{"hmac json type, form", provider.Config{Provider: "hmac", Header: "X-S", Type: "json:/zen"}, ghForm, []string{"Content-Type", formCT}, `form field payload: {"zen":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, withSecret(tc.cfg), tNow)
			var seen []string
			r := request("", tc.body, tc.kv...)
			r.CheckJSON = func(doc []byte, name string) error {
				seen = append(seen, name+": "+string(doc))
				return nil
			}
			if _, err := s.Read(r); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := strings.Join(seen, "|"); got != tc.want {
				t.Errorf("CheckJSON saw %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				return
			}
			refuse := errors.New("refused")
			r.CheckJSON = func([]byte, string) error { return refuse }
			if _, err := s.Read(r); err != refuse {
				t.Errorf("Read with a refusing CheckJSON = %v, want its error unchanged", err)
			}
		})
	}
}

// withSecret gives a config the credential its preset needs, for tests that only read.
func withSecret(c provider.Config) provider.Config {
	switch c.Provider {
	case "discord":
		c.PublicKey = publicKey(seedA)
	case "standard-webhooks", "svix":
		c.Secrets = []string{stdSecret("k")}
	default:
		c.Secrets = []string{"s"}
	}
	return c
}

// TestChallenges: each handshake is answered once signed, and a handshake with a bad
// signature fails Verify, the step before Read.
func TestChallenges(t *testing.T) {
	tests := []struct {
		name      string
		cfg       provider.Config
		secret    string
		body      string
		kv        []string
		wantCT    string
		wantBody  string
		otherCred provider.Config
	}{
		{name: "slack url_verification", cfg: provider.Config{Provider: "slack"}, secret: "sl",
			body:   `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`,
			wantCT: "text/plain; charset=utf-8", wantBody: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{name: "zoom endpoint.url_validation", cfg: provider.Config{Provider: "zoom"}, secret: "zoom-secret",
			body:   `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`,
			wantCT: "application/json", wantBody: `{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"` + macHex(sha256.New, "zoom-secret", "qgg8vlvZRS6UYooatFL8Aw") + `"}`},
		{name: "twitch webhook_callback_verification", cfg: provider.Config{Provider: "twitch"}, secret: "tw1234567890",
			body:   `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387","type":"channel.follow"}}`,
			kv:     []string{"Twitch-Eventsub-Message-Type", "webhook_callback_verification", "Twitch-Eventsub-Subscription-Type", "channel.follow"},
			wantCT: "text/plain; charset=utf-8", wantBody: "pogchamp-kappa-360noscope-vohiyo"},
		{name: "discord ping", cfg: provider.Config{Provider: "discord"}, secret: seedA,
			body: `{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}`, wantCT: "application/json", wantBody: `{"type":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request("", tc.body, tc.kv...)
			if err := provider.Sign(tc.cfg, tc.secret, &r, tNow); err != nil {
				t.Fatal(err)
			}
			rc := rtCase{cfg: tc.cfg}
			s := mustNew(t, configFor(rc, tc.secret), tNow)
			checkVerify(t, s, r, "")
			d, err := s.Read(r)
			if err != nil || d.Challenge == nil {
				t.Fatalf("Read = %+v, %v; want a challenge", d, err)
			}
			if d.Challenge.ContentType != tc.wantCT || string(d.Challenge.Body) != tc.wantBody {
				t.Fatalf("challenge = %s %q, want %s %q", d.Challenge.ContentType, d.Challenge.Body, tc.wantCT, tc.wantBody)
			}
			other := seedB
			if tc.cfg.Provider != "discord" {
				other = "another secret"
			}
			checkVerify(t, mustNew(t, configFor(rc, other), tNow), r, mismatch)
		})
	}
}

// TestZoomAnswersUnderTheSecretThatVerified: with two secrets, the encryptedToken is made
// with the one that signed the request.
func TestZoomAnswersUnderTheSecretThatVerified(t *testing.T) {
	body := `{"payload":{"plainToken":"tok"},"event":"endpoint.url_validation"}`
	r := request("", body)
	if err := provider.Sign(provider.Config{Provider: "zoom"}, "second", &r, tNow); err != nil {
		t.Fatal(err)
	}
	s := mustNew(t, provider.Config{Provider: "zoom", Secrets: []string{"first", "second"}}, tNow)
	checkVerify(t, s, r, "")
	d, err := s.Read(r)
	if err != nil || d.Challenge == nil {
		t.Fatalf("Read = %+v, %v", d, err)
	}
	var got struct{ PlainToken, EncryptedToken string }
	if err := json.Unmarshal(d.Challenge.Body, &got); err != nil {
		t.Fatal(err)
	}
	if want := macHex(sha256.New, "second", "tok"); got.EncryptedToken != want || got.PlainToken != "tok" {
		t.Fatalf("answer %s, want encryptedToken %s", d.Challenge.Body, want)
	}
	// Read on a request that does not verify cannot choose a secret: a plain error, not a 422.
	r.Header.Set("x-zm-signature", "v0="+strings.Repeat("0", 64))
	_, err = s.Read(r)
	var re *provider.ReadError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Read of an unverified handshake = %v, want a plain error", err)
	}
}

// TestChallengeLookalikes: what only resembles a handshake is stored as a delivery, and a
// handshake missing its token is a 422.
func TestChallengeLookalikes(t *testing.T) {
	tests := []struct {
		name, provider, body string
		kv                   []string
		wantErr              string
	}{
		{"slack type in a form payload", "slack", "payload=" + url.QueryEscape(`{"type":"url_verification","challenge":"x"}`), []string{"Content-Type", formCT}, ""},
		{"slack nested type", "slack", `{"event":{"type":"url_verification"},"type":"event_callback","event_id":"E1"}`, nil, ""},
		{"slack without challenge", "slack", `{"type":"url_verification"}`, nil, "body field /challenge is missing or not a string"},
		{"slack numeric challenge", "slack", `{"type":"url_verification","challenge":5}`, nil, "body field /challenge is missing or not a string"},
		{"twitch notification with challenge field", "twitch", `{"challenge":"x"}`, []string{"Twitch-Eventsub-Message-Type", "notification", "Twitch-Eventsub-Message-Id", "m1"}, ""},
		{"twitch verification without challenge", "twitch", `{}`, []string{"Twitch-Eventsub-Message-Type", "webhook_callback_verification"}, "body field /challenge is missing"},
		{"discord type 1 as a string", "discord", `{"id":"1","type":"1"}`, nil, ""},
		{"discord type 2", "discord", `{"id":"1","type":2}`, nil, ""},
		{"zoom without plainToken", "zoom", `{"event":"endpoint.url_validation","payload":{}}`, nil, "body field /payload/plainToken is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, withSecret(provider.Config{Provider: tc.provider}), tNow)
			d, err := s.Read(request("", tc.body, tc.kv...))
			if tc.wantErr != "" {
				var re *provider.ReadError
				if !errors.As(err, &re) || !strings.Contains(re.Detail, tc.wantErr) {
					t.Fatalf("Read = %+v, %v; want %q", d, err, tc.wantErr)
				}
				return
			}
			if err != nil || d.Challenge != nil || d.ID == "" {
				t.Fatalf("Read = %+v, %v; want a delivery", d, err)
			}
		})
	}
}

// TestReadBigBody reads the id of a body of many members at the end, without decoding
// the rest: the value comes out exactly.
func TestReadBigBody(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range 20000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"x","n":[1,2,{"deep":"\u00e9"}],"s":"\"quoted\""}`)
	}
	b.WriteString(`],"type":"big","id":"evt_last"}`)
	s := mustNew(t, withSecret(provider.Config{Provider: "stripe"}), tNow)
	d, err := s.Read(request("", b.String()))
	if err != nil || d.ID != "evt_last" || d.Type != "big" {
		t.Fatalf("Read = %+v, %v", d, err)
	}
}
