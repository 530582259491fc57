package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/contracttest"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/sources"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// sourcesFile is the sources the tests receive from, one of each shape of preset.
const sourcesFile = `
sources:
  - name: github
    provider: github
    secrets: ["gh-new-secret", "gh-old-secret"]
  - name: payments
    provider: stripe
    secrets: ["whsec_stripeSecret1234"]
  - name: slack
    provider: slack
    secrets: ["slack-signing-secret"]
  - name: sms
    provider: twilio
    secrets: ["twilio-auth-token"]
    url: https://hooks.example.com/webhook/sms
  - name: zoom
    provider: zoom
    secrets: ["zoom-secret-token"]
  - name: billing
    provider: hmac
    secrets: ["billing-secret"]
    header: X-Billing-Signature
    algorithm: sha256
    encoding: hex
    prefix: "sha256="
    id: header:X-Billing-Delivery
    type: json:/event
    max_body_bytes: 1024
  - name: mine
    provider: hookvault
    secrets: ["mine-secret"]
  - name: stream
    provider: twitch
    secrets: ["twitch-secret-0123"]
  - name: bot
    provider: discord
    public_key: "e8da63a40ca687c87cfce05cb24a786c7e75cc49c70db5573f026f1c6a86ceaa"
  - name: vault
    provider: hmac
    secrets: ["vault-secret"]
    header: X-Vault-Signature
    algorithm: sha256
    encoding: hex
`

// Discord signs with an Ed25519 private key: botSeed is the seed of bot's public_key, and
// otherSeed one of another application.
const (
	botSeed   = "1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d"
	otherSeed = "2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e"
)

// sourceConfigs are the files' sources by name, to sign deliveries as each provider would.
func sourceConfigs() map[string]provider.Config {
	return map[string]provider.Config{
		"github":   {Name: "github", Provider: "github"},
		"payments": {Name: "payments", Provider: "stripe"},
		"slack":    {Name: "slack", Provider: "slack"},
		"sms":      {Name: "sms", Provider: "twilio", URL: "https://hooks.example.com/webhook/sms"},
		"zoom":     {Name: "zoom", Provider: "zoom"},
		"billing": {Name: "billing", Provider: "hmac", Header: "X-Billing-Signature", Algorithm: "sha256",
			Encoding: "hex", Prefix: "sha256=", ID: "header:X-Billing-Delivery", Type: "json:/event"},
		"mine":   {Name: "mine", Provider: "hookvault"},
		"stream": {Name: "stream", Provider: "twitch"},
		"bot":    {Name: "bot", Provider: "discord"},
		"vault":  {Name: "vault", Provider: "hmac", Header: "X-Vault-Signature", Algorithm: "sha256", Encoding: "hex"},
	}
}

// newSourcesServer is the real router on a real SQLite file, receiving from sourcesFile and
// from POST /webhook with secret and oldSecret.
func newSourcesServer(t *testing.T) *testServer {
	t.Helper()
	opts := provider.Options{DefaultTolerance: 5 * time.Minute, Now: time.Now}
	file, err := sources.Parse([]byte(sourcesFile), func(string) string { return "" }, opts)
	if err != nil {
		t.Fatal(err)
	}
	def, err := sources.NewDefault([][]byte{[]byte(secret), []byte(oldSecret)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	set := sources.With(def, file)
	ts := &testServer{metrics: metrics.New(), logs: &syncBuffer{}}
	ts.metrics.Sources(set.Names()...)
	var h http.Handler
	h, ts.store = newHandler(t, sqlite.Options{Observer: ts.metrics}, httpapi.Deps{
		APITokens: []string{token}, Sources: func() *sources.Set { return set },
		Metrics: ts.metrics, Logger: slog.New(slog.NewJSONHandler(ts.logs, nil)), MaxBodyBytes: maxBody,
	})
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// sourceDelivery is one delivery to POST /webhook/{source}.
type sourceDelivery struct {
	source      string
	secret      string // "" sends it unsigned
	body        string
	contentType string            // "" sends application/json
	noType      bool              // send no Content-Type at all
	headers     map[string]string // set before signing, e.g. the id header
	drop        []string          // headers removed after signing
	query       string            // the request URL's query
}

// send signs d as its source's provider would and posts it.
func (ts *testServer) send(t *testing.T, d sourceDelivery) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(ts.URL + "/webhook/" + d.source + d.query)
	if err != nil {
		t.Fatal(err)
	}
	pr := &provider.Request{Method: http.MethodPost, URL: u, Header: http.Header{}, Body: []byte(d.body)}
	for k, v := range d.headers {
		pr.Header.Set(k, v)
	}
	if d.secret != "" {
		c, ok := sourceConfigs()[d.source]
		if !ok {
			c = provider.Config{Name: d.source, Provider: "github"}
		}
		if err := provider.Sign(c, d.secret, pr, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range d.drop {
		pr.Header.Del(h)
	}
	req, err := http.NewRequest(http.MethodPost, pr.URL.String(), bytes.NewReader(pr.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = pr.Header
	if d.contentType == "" {
		d.contentType = "application/json"
	}
	if !d.noType {
		req.Header.Set("Content-Type", d.contentType)
	}
	return do(t, req)
}

// getMessage reads one stored message of source through the API.
func (ts *testServer) getMessage(t *testing.T, source, id string) (int, gen.MessageDetail, []byte) {
	t.Helper()
	resp, body := ts.get(t, "/messages/"+url.PathEscape(id)+"?source="+source, "Bearer "+token)
	var m gen.MessageDetail
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET message: %v\n%s", err, body)
		}
	}
	return resp.StatusCode, m, body
}

func acceptedAnswer(t *testing.T, resp *http.Response, body []byte) gen.WebhookAccepted {
	t.Helper()
	var a gen.WebhookAccepted
	if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil || a.Status != gen.WebhookAcceptedStatusOk {
		t.Fatalf("answer %d %s, want 200 ok", resp.StatusCode, body)
	}
	return a
}

// Every shape of source stores its deliveries byte for byte, under the id and type its
// preset reads, with the content type and the headers as received (credentials removed);
// a redelivery is a duplicate.
func TestSourceDeliveriesAreStored(t *testing.T) {
	ts := newSourcesServer(t)
	slash := "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&command=%2Fweather&text=94070&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678"
	tests := []struct {
		name     string
		d        sourceDelivery
		id, typ  string
		payload  string // as GET /messages/{id} shows it
		noHeader string // a header that must not be stored
	}{
		{"github json", sourceDelivery{source: "github", secret: "gh-old-secret", body: `{"zen":"Keep it logically awesome.","hook_id":1}`,
			headers: map[string]string{"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "ping", "Authorization": "Bearer proxy-credential"}},
			"72d3162e-cc78-11e3-81ab-4c9367dc0958", "ping", `{"zen":"Keep it logically awesome.","hook_id":1}`, "Authorization"},
		{"github form", sourceDelivery{source: "github", secret: "gh-new-secret", body: "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D",
			contentType: "application/x-www-form-urlencoded", headers: map[string]string{"X-GitHub-Delivery": "form-1", "X-GitHub-Event": "push"}},
			"form-1", "push", `"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D"`, ""},
		{"stripe", sourceDelivery{source: "payments", secret: "whsec_stripeSecret1234",
			body: `{"id":"evt_1NrZ2q","object":"event","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}`},
			"evt_1NrZ2q", "invoice.paid", `{"id":"evt_1NrZ2q","object":"event","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}`, ""},
		{"slack slash command", sourceDelivery{source: "slack", secret: "slack-signing-secret", body: slash, contentType: "application/x-www-form-urlencoded"},
			"", "/weather", `"` + slash + `"`, ""},
		{"twilio sms", sourceDelivery{source: "sms", secret: "twilio-auth-token", body: "MessageSid=SM1234&From=%2B14155550100&Body=Hello+there",
			contentType: "application/x-www-form-urlencoded"},
			"SM1234", "", `"MessageSid=SM1234&From=%2B14155550100&Body=Hello+there"`, ""},
		{"generic hmac", sourceDelivery{source: "billing", secret: "billing-secret", body: `{"event":"invoice.created","n":1}`,
			headers: map[string]string{"X-Billing-Delivery": "bill-1"}},
			"bill-1", "invoice.created", `{"event":"invoice.created","n":1}`, ""},
		{"hookvault preset", sourceDelivery{source: "mine", secret: "mine-secret", body: `{"id":"m-1","sender":"app","content":"hi"}`},
			"m-1", "", `{"id":"m-1","sender":"app","content":"hi"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.send(t, tt.d)
			a := acceptedAnswer(t, resp, body)
			if tt.id != "" && a.Id != tt.id {
				t.Errorf("id %q, want %q", a.Id, tt.id)
			}
			if a.Duplicate {
				t.Error("first delivery answered as a duplicate")
			}
			code, m, raw := ts.getMessage(t, tt.d.source, a.Id)
			if code != 200 {
				t.Fatalf("GET %s/%s = %d %s", tt.d.source, a.Id, code, raw)
			}
			if !bytes.Contains(raw, []byte(`"payload":`+tt.payload)) {
				t.Errorf("payload not stored byte for byte:\n got %s\nwant …\"payload\":%s…", raw, tt.payload)
			}
			gotType := ""
			if m.Type != nil {
				gotType = *m.Type
			}
			ct := tt.d.contentType
			if ct == "" {
				ct = "application/json"
			}
			if m.Source != tt.d.source || gotType != tt.typ || m.ContentType != ct {
				t.Errorf("source %q type %q content type %q, want %q %q %q", m.Source, gotType, m.ContentType, tt.d.source, tt.typ, ct)
			}
			if tt.d.source != "mine" && (m.Sender != nil || m.Content != nil) {
				t.Errorf("a provider's message has sender %v content %v, want none", m.Sender, m.Content)
			}
			if len(m.Headers) == 0 || m.Headers["Content-Type"][0] != ct {
				t.Errorf("headers %v, want those received", m.Headers)
			}
			if _, kept := m.Headers[tt.noHeader]; tt.noHeader != "" && kept {
				t.Errorf("stored header %s: credentials must not be kept", tt.noHeader)
			}
			resp, body = ts.send(t, tt.d)
			if again := acceptedAnswer(t, resp, body); !again.Duplicate || again.Id != a.Id {
				t.Errorf("redelivery = %+v, want a duplicate of %q", again, a.Id)
			}
		})
	}
	_, m, _ := ts.getMessage(t, "mine", "m-1")
	if m.Sender == nil || *m.Sender != "app" || m.Content == nil || *m.Content != "hi" {
		t.Errorf("a hookvault-format message keeps sender and content: %+v", m)
	}
	if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues("github", "created")); got != 2 {
		t.Errorf("webhook_requests_total{source=github,result=created} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(ts.metrics.MessagesReceived.WithLabelValues("payments")); got != 1 {
		t.Errorf("webhook_messages_received_total{source=payments} = %v, want 1", got)
	}
}

// The order of the checks (404 → 413 → 415 → 401 → 422): the first that fails answers,
// also when a request breaks two rules, and nothing refused is stored.
func TestSourceOrderOfChecks(t *testing.T) {
	ts := newSourcesServer(t)
	big := `{"event":"x","pad":"` + strings.Repeat("x", 2000) + `"}`
	gh := map[string]string{"X-GitHub-Delivery": "d-1", "X-GitHub-Event": "push"}
	tests := []struct {
		name   string
		d      sourceDelivery
		status int
		detail string
	}{
		{"unknown source", sourceDelivery{source: "gitlab", secret: "x", body: `{}`}, 404, `no source "gitlab"`},
		{"a name that is not one", sourceDelivery{source: "GitHub", body: `{}`}, 404, `no source "GitHub"`},
		{"over the source's limit", sourceDelivery{source: "billing", secret: "billing-secret", body: big,
			headers: map[string]string{"X-Billing-Delivery": "b-big"}}, 413, "larger than 1024 bytes"},
		{"a media type the preset does not take", sourceDelivery{source: "github", secret: "gh-new-secret", body: `{}`,
			contentType: "text/plain", headers: gh}, 415, `content type "text/plain"`},
		{"no signature", sourceDelivery{source: "github", body: `{}`, headers: gh}, 401, "missing signature"},
		{"wrong secret", sourceDelivery{source: "github", secret: "not-the-secret", body: `{}`, headers: gh}, 401, "invalid signature"},
		{"signed, no id header", sourceDelivery{source: "github", secret: "gh-new-secret", body: `{}`,
			headers: gh, drop: []string{"X-GitHub-Delivery"}}, 422, "header X-GitHub-Delivery is missing"},
		{"signed, not Unicode", sourceDelivery{source: "payments", secret: "whsec_stripeSecret1234", body: `{"id":"evt_\ud800","type":"x"}`},
			422, `body field /id: \ud800`},
		{"signed, no id in the body", sourceDelivery{source: "payments", secret: "whsec_stripeSecret1234", body: `{"type":"x"}`}, 422, "/id"},
		{"hookvault preset, bad schema", sourceDelivery{source: "mine", secret: "mine-secret", body: `{"id":"m","sender":""}`},
			422, "body field /"},
		{"unknown and unsigned", sourceDelivery{source: "nope", body: `{}`}, 404, `no source "nope"`},
		{"too large and unsigned", sourceDelivery{source: "billing", body: big}, 413, "larger than"},
		{"wrong type and unsigned", sourceDelivery{source: "github", body: `{}`, contentType: "text/plain"}, 415, "content type"},
		{"unsigned and no id", sourceDelivery{source: "github", body: `{}`}, 401, "missing signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.send(t, tt.d)
			p := decodeProblem(t, resp, body)
			if resp.StatusCode != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, p.Detail, tt.status, tt.detail)
			}
		})
	}
	resp, raw := ts.get(t, "/stats", "Bearer "+token)
	var st gen.Stats
	if err := json.Unmarshal(raw, &st); err != nil || resp.StatusCode != 200 || st.TotalMessages != 0 {
		t.Errorf("after refusals only: %d %s, want nothing stored", resp.StatusCode, raw)
	}
	if got := testutil.ToFloat64(ts.metrics.SignatureFailures.WithLabelValues("github", "github", "mismatch")); got != 1 {
		t.Errorf("signature failures{github,mismatch} = %v, want 1", got)
	}
}

// The generic hmac scheme takes any body: one with no Content-Type, a text body, a form
// whose payload field is text. JSON is parsed only where a json: rule reads it (billing's
// type), and JSON that is parsed, in the body or in a form's payload field, is held to the
// Unicode rules of a JSON body. GitHub's form payload is JSON and held to them too.
func TestBodiesOfAnyTypeAndFormPayloads(t *testing.T) {
	ts := newSourcesServer(t)
	form := func(payload string) string { return "payload=" + url.QueryEscape(payload) + "&x=1" }
	const formType = "application/x-www-form-urlencoded"
	bill := func(id string) map[string]string { return map[string]string{"X-Billing-Delivery": id} }
	gh := func(id string) map[string]string {
		return map[string]string{"X-GitHub-Delivery": id, "X-GitHub-Event": "push"}
	}
	tests := []struct {
		name   string
		d      sourceDelivery
		status int
		detail string // of a refusal
		typ    string // of a stored message
	}{
		{name: "hmac, no content type", d: sourceDelivery{source: "vault", secret: "vault-secret", body: "plain words", noType: true}, status: 200},
		{name: "hmac, text", d: sourceDelivery{source: "vault", secret: "vault-secret", body: "more words", contentType: "text/plain"}, status: 200},
		{name: "hmac, form with a text payload", d: sourceDelivery{source: "vault", secret: "vault-secret", body: form("not json"),
			contentType: formType}, status: 200},
		{name: "hmac, bytes that are not UTF-8", d: sourceDelivery{source: "vault", secret: "vault-secret", body: "\xff\xfe raw \x00",
			contentType: "application/octet-stream"}, status: 200},
		{name: "hmac, unsigned, no content type", d: sourceDelivery{source: "vault", body: "plain words", noType: true},
			status: 401, detail: "missing signature"},
		{name: "hmac json rule, no content type", d: sourceDelivery{source: "billing", secret: "billing-secret", body: `{"event":"paid"}`,
			noType: true, headers: bill("b-none")}, status: 200, typ: "paid"},
		{name: "hmac json rule, form payload", d: sourceDelivery{source: "billing", secret: "billing-secret", body: form(`{"event":"sent"}`),
			contentType: formType, headers: bill("b-form")}, status: 200, typ: "sent"},
		{name: "hmac json rule, form payload not JSON", d: sourceDelivery{source: "billing", secret: "billing-secret", body: form("not json"),
			contentType: formType, headers: bill("b-text")}, status: 422, detail: "form field payload is not JSON"},
		{name: "hmac json rule, lone surrogate in a text body", d: sourceDelivery{source: "billing", secret: "billing-secret",
			body: `{"event":"x","note":"\ud800"}`, contentType: "text/plain", headers: bill("b-sur")},
			status: 422, detail: `body field /note: \ud800 at byte 21 is a lone surrogate`},
		{name: "hmac json rule, lone surrogate in a form payload", d: sourceDelivery{source: "billing", secret: "billing-secret",
			body: form(`{"event":"x","note":"\udc00"}`), contentType: formType, headers: bill("b-fsur")},
			status: 422, detail: `form field payload field /note: \udc00 at byte 21 of form field payload is a lone surrogate`},
		{name: "github form, lone surrogate", d: sourceDelivery{source: "github", secret: "gh-new-secret", body: form(`{"zen":"\ud800"}`),
			contentType: formType, headers: gh("g-sur")},
			status: 422, detail: `form field payload field /zen: \ud800 at byte 8 of form field payload is a lone surrogate`},
		{name: "github form, byte that is not UTF-8", d: sourceDelivery{source: "github", secret: "gh-new-secret",
			body: "payload=%7B%22zen%22%3A%22%FF%22%7D", contentType: formType, headers: gh("g-ff")},
			status: 422, detail: `form field payload field /zen: byte 8 of form field payload is not valid UTF-8`},
		{name: "github form, a member name that is not UTF-8", d: sourceDelivery{source: "github", secret: "gh-new-secret",
			body: "payload=%7B%22%FF%22%3A1%7D", contentType: formType, headers: gh("g-key")},
			status: 422, detail: `a member name of the form field payload: byte 2 of form field payload is not valid UTF-8`},
		{name: "github form, Unicode payload", d: sourceDelivery{source: "github", secret: "gh-new-secret", body: form(`{"zen":"\ud83d\ude00 ☃"}`),
			contentType: formType, headers: gh("g-ok")}, status: 200, typ: "push"},
	}
	stored := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.send(t, tt.d)
			if tt.status != 200 {
				p := decodeProblem(t, resp, body)
				if resp.StatusCode != tt.status || !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("%d %q, want %d containing %q", resp.StatusCode, p.Detail, tt.status, tt.detail)
				}
				return
			}
			a := acceptedAnswer(t, resp, body)
			stored++
			code, m, raw := ts.getMessage(t, tt.d.source, a.Id)
			if code != 200 {
				t.Fatalf("GET %s/%s = %d %s", tt.d.source, a.Id, code, raw)
			}
			gotType := ""
			if m.Type != nil {
				gotType = *m.Type
			}
			wantCT := tt.d.contentType
			if wantCT == "" && !tt.d.noType {
				wantCT = "application/json"
			}
			if gotType != tt.typ || m.ContentType != wantCT {
				t.Errorf("type %q content type %q, want %q %q", gotType, m.ContentType, tt.typ, wantCT)
			}
			if _, sent := m.Headers["Content-Type"]; sent == tt.d.noType {
				t.Errorf("stored headers %v: Content-Type kept %v, want %v", m.Headers, sent, !tt.d.noType)
			}
			// A body that is not UTF-8 text is null in payload and whole in payload_base64
			// (the response is checked against api/openapi.yaml, which says so).
			if !utf8.ValidString(tt.d.body) {
				if string(m.Payload) != "null" || m.PayloadBase64 == nil || string(*m.PayloadBase64) != tt.d.body {
					t.Errorf("payload %s, payload_base64 %v; want null and the bytes sent", m.Payload, m.PayloadBase64)
				}
			}
		})
	}
	if list := ts.list(t, nil); len(list.Data) != stored {
		t.Errorf("%d messages stored, want %d (the deliveries answered 200)", len(list.Data), stored)
	}
}

// GitHub's delivery "abc" and the billing app's "abc" are two messages: ids are unique per
// source, and each is read back by its source.
func TestIDsAreUniquePerSource(t *testing.T) {
	ts := newSourcesServer(t)
	ghBody, billBody := `{"from":"github"}`, `{"event":"paid","from":"billing"}`
	resp, body := ts.send(t, sourceDelivery{source: "github", secret: "gh-new-secret", body: ghBody,
		headers: map[string]string{"X-GitHub-Delivery": "abc", "X-GitHub-Event": "push"}})
	a1 := acceptedAnswer(t, resp, body)
	resp, body = ts.send(t, sourceDelivery{source: "billing", secret: "billing-secret", body: billBody,
		headers: map[string]string{"X-Billing-Delivery": "abc"}})
	a2 := acceptedAnswer(t, resp, body)
	if a1.Duplicate || a2.Duplicate {
		t.Fatalf("answers %+v %+v, want two new messages", a1, a2)
	}
	for source, want := range map[string]string{"github": ghBody, "billing": billBody} {
		if code, _, raw := ts.getMessage(t, source, "abc"); code != 200 || !bytes.Contains(raw, []byte(want)) {
			t.Errorf("GET abc?source=%s = %d %s, want %s", source, code, raw, want)
		}
	}
	if code, _, _ := ts.getMessage(t, "default", "abc"); code != 404 {
		t.Errorf("GET abc of the default source = %d, want 404", code)
	}
	list := ts.list(t, url.Values{"source": {"github"}, "type": {"push"}})
	if len(list.Data) != 1 || list.Data[0].Source != "github" || list.Data[0].Id != "abc" {
		t.Errorf("list source=github type=push = %+v", list.Data)
	}
	resp, raw := ts.get(t, "/stats", "Bearer "+token)
	var st gen.Stats
	if err := json.Unmarshal(raw, &st); err != nil || resp.StatusCode != 200 {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", st.Sources); got != "[{Count:1 Source:billing} {Count:1 Source:github}]" {
		t.Errorf("stats sources %s, want billing and github with 1 each", got)
	}
}

// A provider's handshake is answered as it expects once its signature verifies, and is not
// stored; one that is unsigned or signed with the wrong secret (or key) is a 401 like any
// delivery, and its challenge is not echoed.
func TestChallengesAreAnsweredNotStored(t *testing.T) {
	ts := newSourcesServer(t)
	slack := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	zoom := `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
	// Twitch's documented verification request (dev.twitch.tv/docs/eventsub/handling-webhook-events).
	twitch := `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4",` +
		`"status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,` +
		`"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},` +
		`"created_at":"2019-11-16T10:11:12.634234626Z"}}`
	twitchHeaders := map[string]string{"Twitch-Eventsub-Message-Type": "webhook_callback_verification",
		"Twitch-Eventsub-Subscription-Type": "channel.follow"}
	discord := `{"application_id":"123456789012345678","id":"987654321098765432","token":"aW50ZXJhY3Rpb24","type":1,"version":1}`
	zoomAnswer := func(t *testing.T, body []byte) {
		var z struct{ PlainToken, EncryptedToken string }
		if json.Unmarshal(body, &z) != nil || z.PlainToken != "qgg8vlvZRS6UYooatFL8Aw" || len(z.EncryptedToken) != 64 {
			t.Errorf("zoom answer %s, want the plainToken and its encryptedToken", body)
		}
	}
	tests := []struct {
		name        string
		d           sourceDelivery
		status      int
		contentType string // of a 200
		answer      string // a 200's body, exactly ("" when check says)
		check       func(*testing.T, []byte)
		echo        string // what a refused one must not echo
	}{
		{name: "slack", d: sourceDelivery{source: "slack", secret: "slack-signing-secret", body: slack},
			status: 200, contentType: "text/plain", answer: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{name: "zoom", d: sourceDelivery{source: "zoom", secret: "zoom-secret-token", body: zoom},
			status: 200, contentType: "application/json", check: zoomAnswer},
		{name: "twitch", d: sourceDelivery{source: "stream", secret: "twitch-secret-0123", body: twitch, headers: twitchHeaders},
			status: 200, contentType: "text/plain", answer: "pogchamp-kappa-360noscope-vohiyo"},
		{name: "discord", d: sourceDelivery{source: "bot", secret: botSeed, body: discord},
			status: 200, contentType: "application/json", answer: `{"type":1}`},
		{name: "slack unsigned", d: sourceDelivery{source: "slack", body: slack}, status: 401, echo: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{name: "slack wrong secret", d: sourceDelivery{source: "slack", secret: "not-slack", body: slack},
			status: 401, echo: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{name: "zoom wrong secret", d: sourceDelivery{source: "zoom", secret: "not-zoom", body: zoom}, status: 401, echo: "qgg8vlvZRS6UYooatFL8Aw"},
		{name: "twitch wrong secret", d: sourceDelivery{source: "stream", secret: "not-twitch-secret", body: twitch, headers: twitchHeaders},
			status: 401, echo: "pogchamp-kappa-360noscope-vohiyo"},
		{name: "discord wrong key", d: sourceDelivery{source: "bot", secret: otherSeed, body: discord}, status: 401, echo: `{"type":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.send(t, tt.d)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != 200 {
				if p := decodeProblem(t, resp, body); p.Detail != "invalid signature" && p.Detail != "missing signature" {
					t.Errorf("detail %q, want a signature refusal", p.Detail)
				}
				if strings.Contains(string(body), tt.echo) {
					t.Errorf("a refused handshake is answered: %s", body)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("content type %q, want %s", ct, tt.contentType)
			}
			if tt.check != nil {
				tt.check(t, body)
			} else if string(body) != tt.answer {
				t.Errorf("answer %s, want %s", body, tt.answer)
			}
		})
	}
	for source, want := range map[string]float64{"slack": 1, "zoom": 1, "stream": 1, "bot": 1} {
		if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues(source, "challenge")); got != want {
			t.Errorf("%s challenges counted %v, want %v", source, got, want)
		}
		if got := testutil.ToFloat64(ts.metrics.WebhookRequests.WithLabelValues(source, "invalid_signature")); got < 1 {
			t.Errorf("%s refused handshakes counted %v, want at least 1", source, got)
		}
	}
	if list := ts.list(t, nil); len(list.Data) != 0 {
		t.Errorf("handshakes stored: %+v", list.Data)
	}
}

// GET /sources names every source with its rules, default first, and never a secret.
func TestListSources(t *testing.T) {
	ts := newSourcesServer(t)
	resp, raw := ts.get(t, "/sources", "Bearer "+token)
	var got gen.SourceList
	if err := json.Unmarshal(raw, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /sources = %d %s", resp.StatusCode, raw)
	}
	var names []string
	for _, s := range got.Data {
		names = append(names, s.Name+":"+s.Provider+":"+s.Path)
	}
	want := "default:hookvault:/webhook github:github:/webhook/github payments:stripe:/webhook/payments slack:slack:/webhook/slack " +
		"sms:twilio:/webhook/sms zoom:zoom:/webhook/zoom billing:hmac:/webhook/billing mine:hookvault:/webhook/mine " +
		"stream:twitch:/webhook/stream bot:discord:/webhook/bot vault:hmac:/webhook/vault"
	if strings.Join(names, " ") != want {
		t.Errorf("sources\n got %s\nwant %s", strings.Join(names, " "), want)
	}
	for _, s := range []string{"gh-new-secret", "gh-old-secret", "whsec_stripeSecret1234", "slack-signing-secret", "twilio-auth-token", "billing-secret",
		"twitch-secret-0123", "vault-secret", secret} {
		if strings.Contains(string(raw), s) {
			t.Errorf("GET /sources shows a secret: %s", raw)
		}
	}
	if resp, _ := ts.get(t, "/sources", ""); resp.StatusCode != 401 {
		t.Errorf("GET /sources without a token = %d, want 401", resp.StatusCode)
	}
}

// Without WEBHOOK_SECRET (only a sources file), POST /webhook has no source and answers 404.
func TestWebhookWithoutSecretIs404(t *testing.T) {
	h, err := httpapi.New(httpapi.Deps{Store: backends(t)["sqlite"](t), Metrics: metrics.New(),
		Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(msg("1")))
	req.Header.Set("Content-Type", "application/json")
	contracttest.Handler(t, h).ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 404 || !strings.Contains(string(body), "WEBHOOK_SECRET") {
		t.Errorf("POST /webhook without a secret = %d %s, want 404 saying how to configure it", rec.Code, body)
	}
}
