package provider_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// signedHeaders are the headers each round-trip case signs or checks: a change to any byte
// of them must break verification. (Id and type headers such as X-GitHub-Delivery are not
// signed by their providers, so they are not here.)
var signedHeaders = map[string][]string{
	"hookvault":         {"X-Signature"},
	"standard-webhooks": {"Webhook-Signature", "Webhook-Timestamp", "Webhook-Id"},
	"svix":              {"Webhook-Signature", "Webhook-Timestamp", "Webhook-Id"},
	"stripe":            {"Stripe-Signature"},
	"github":            {"X-Hub-Signature-256"},
	"shopify":           {"X-Shopify-Hmac-Sha256"},
	"slack":             {"X-Slack-Signature", "X-Slack-Request-Timestamp"},
	"twilio":            {"X-Twilio-Signature"},
	"paddle":            {"Paddle-Signature"},
	"square":            {"X-Square-Hmacsha256-Signature"},
	"hubspot":           {"X-Hubspot-Signature-V3", "X-Hubspot-Request-Timestamp"},
	"linear":            {"Linear-Signature"},
	"zoom":              {"X-Zm-Signature", "X-Zm-Request-Timestamp"},
	"twitch":            {"Twitch-Eventsub-Message-Signature", "Twitch-Eventsub-Message-Timestamp", "Twitch-Eventsub-Message-Id"},
	"discord":           {"X-Signature-Ed25519", "X-Signature-Timestamp"},
	"typeform":          {"Typeform-Signature"},
	"intercom":          {"X-Hub-Signature"},
	"mailgun":           nil, // in the body
	"calendly":          {"Calendly-Webhook-Signature"},
	"hmac":              {"X-Billing-Signature", "X-Sig"},
}

var reasons = []signature.Reason{missing, malformed, mismatch, stale, unsupported}

// FuzzVerify signs a delivery for a preset at a fuzzed time, checks that it verifies exactly
// when its timestamp is within the tolerance, then changes one byte — of the body, of a
// signed header, or of the query — and checks that the change is refused: the verifiers
// accept only what the secret signed. The only changes that may still verify are those the
// provider does not sign: a Twilio form that signs the same string (re-encoded, or split
// differently into names and values: Twilio uses no delimiters), a Mailgun body outside
// its signature object. Read must not panic on any of it.
func FuzzVerify(f *testing.F) {
	cases := rtCases()
	for i := range cases {
		f.Add(uint8(i), []byte(""), int64(0), uint8(0), uint16(3), byte('x'))
		f.Add(uint8(i), []byte(""), int64(301e9), uint8(1), uint16(20), byte('0'))
	}
	f.Add(uint8(11), []byte("Body=a+b&To=%2B1&To=%2b1"), int64(0), uint8(0), uint16(6), byte(' '))
	f.Add(uint8(22), []byte(`{"signature":{"token":"t"},"x":1}`), int64(-299e9), uint8(0), uint16(30), byte('2'))
	f.Fuzz(func(t *testing.T, which uint8, body []byte, skew int64, target uint8, pos uint16, b byte) {
		tc := cases[int(which)%len(cases)]
		if len(body) > 0 {
			tc.body = string(body)
		}
		const tol = 5 * time.Minute
		at := tNow.Add(time.Duration(skew % int64(3*tol)))
		r, ok := trySign(tc, at)
		if !ok {
			return
		}
		s := mustNew(t, configFor(tc, tc.secret), tNow)
		timestamped := s.Info().Tolerance != 0 && tc.cfg.Provider != "hookvault"
		sent := sentTime(tc.cfg.Provider, at)
		fresh := !timestamped || (sent.Sub(tNow) <= tol && tNow.Sub(sent) <= tol)
		err := s.Verify(r)
		checkReason(t, err)
		switch {
		case fresh && err != nil:
			t.Fatalf("%s: a fresh signed delivery fails: %v", tc.name, err)
		case !fresh && err == nil:
			t.Fatalf("%s: signed %v from now, accepted", tc.name, at.Sub(tNow))
		case !fresh:
			return
		}
		s.Read(r) //nolint:errcheck // must not panic; its errors are tested elsewhere

		m := clone(r)
		switch target % 3 {
		case 0:
			if !mutate(&m.Body, int(pos), b) {
				return
			}
		case 1:
			names := signedHeaders[tc.cfg.Provider]
			var present []string
			for _, n := range names {
				if m.Header.Get(n) != "" {
					present = append(present, n)
				}
			}
			if len(present) == 0 {
				return
			}
			name := present[int(pos)%len(present)]
			v := []byte(m.Header.Get(name))
			if !mutate(&v, int(pos)/len(present), b) {
				return
			}
			m.Header.Set(name, string(v))
		case 2:
			q := []byte(m.URL.RawQuery)
			if len(q) == 0 || !mutate(&q, int(pos), b) {
				return
			}
			m.URL.RawQuery = string(q)
		}
		err = s.Verify(m)
		checkReason(t, err)
		s.Read(m) //nolint:errcheck
		if err == nil && !unsigned(tc, r, m) {
			t.Fatalf("%s: changed request verifies\nbefore %q %v %q\nafter  %q %v %q", tc.name,
				r.Body, r.Header, r.URL.RawQuery, m.Body, m.Header, m.URL.RawQuery)
		}
	})
}

// sentTime is at as the preset's timestamp carries it: Twitch's RFC 3339 keeps nanoseconds,
// HubSpot's and Linear's milliseconds, the others whole seconds.
func sentTime(provider string, at time.Time) time.Time {
	switch provider {
	case "twitch":
		return at
	case "hubspot", "linear":
		return time.UnixMilli(at.UnixMilli())
	}
	return time.Unix(at.Unix(), 0)
}

// trySign is rtCase.signed without failing the test: a fuzzed body may be one a provider
// cannot send (a Mailgun body that is not an object, a Twilio form that does not parse).
func trySign(tc rtCase, at time.Time) (provider.Request, bool) {
	ct := tc.contentType
	if ct == "" {
		ct = "application/json"
	}
	body := tc.body
	if body == "" {
		body = rtBody
	}
	r := request("", body, "Content-Type", ct)
	return r, provider.Sign(tc.cfg, tc.secret, &r, at) == nil
}

func clone(r provider.Request) provider.Request {
	u := *r.URL
	return provider.Request{Method: r.Method, URL: &u, Header: r.Header.Clone(), Body: slices.Clone(r.Body)}
}

// mutate sets one byte to b, unless that changes nothing or only a letter's case (hex is
// read in either case by the libraries that decode it first: Discord's, Mailgun's, the
// generic scheme's, POST /webhook's).
func mutate(p *[]byte, pos int, b byte) bool {
	if len(*p) == 0 {
		return false
	}
	i := pos % len(*p)
	old := (*p)[i]
	if old == b || lower(old) == lower(b) {
		return false
	}
	*p = slices.Clone(*p)
	(*p)[i] = b
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// unsigned reports whether r and m differ only where the provider signs nothing.
func unsigned(tc rtCase, r, m provider.Request) bool {
	switch {
	case tc.cfg.Provider == "twilio" && tc.contentType != "" && slices.Equal(r.Header.Values("X-Twilio-Signature"), m.Header.Values("X-Twilio-Signature")):
		// Twilio signs the string of sorted names and values, decoded and without
		// delimiters: `a+b` and `a b` are one form, and so are `Sid=SM1` and `Sid&SM1`
		// (both sign "SidSM1"), in every official library too.
		return r.URL.RawQuery == m.URL.RawQuery && twilioString(r.Body) != "" && twilioString(r.Body) == twilioString(m.Body)
	case tc.cfg.Provider == "mailgun":
		return sameMailgunSignature(r.Body, m.Body)
	}
	return false
}

// twilioString is what Twilio signs of a form after the URL, per twilio-python.
func twilioString(body []byte) string {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("form:")
	for _, k := range names {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range slices.Compact(vs) {
			b.WriteString(k + v)
		}
	}
	return b.String()
}

func sameMailgunSignature(a, b []byte) bool {
	type sig struct {
		Signature struct {
			Timestamp json.RawMessage `json:"timestamp"`
			Token     string          `json:"token"`
			Signature string          `json:"signature"`
		} `json:"signature"`
	}
	var x, y sig
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ts := func(m json.RawMessage) string { return strings.Trim(string(m), `"`) }
	return ts(x.Signature.Timestamp) == ts(y.Signature.Timestamp) && x.Signature.Token == y.Signature.Token &&
		strings.EqualFold(x.Signature.Signature, y.Signature.Signature)
}

func checkReason(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) || !slices.Contains(reasons, pe.Reason) || pe.Scheme == "" {
		t.Fatalf("Verify error %#v is not an *Error with a known reason", err)
	}
}

// FuzzVerifyRaw throws arbitrary values into every header a preset reads, and an arbitrary
// body and query: nothing panics, every refusal has a reason, and Read copes with whatever
// passes.
func FuzzVerifyRaw(f *testing.F) {
	f.Add(uint8(5), []byte(stripePayload), "t=1700000000,v1=3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd", "", "", "")
	f.Add(uint8(1), []byte(`{"test": 2432232314}`), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,", "1614265330", "msg_p5jXN8AQM9LWM0D4loKWxJek", "")
	f.Add(uint8(11), []byte("a=1&a=2&b=%zz"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "", "", "bodySHA256=x&foo=1")
	f.Add(uint8(22), []byte(`{"signature":{"timestamp":"-1","token":"\ud800","signature":"zz"}}`), "", "", "", "")
	f.Add(uint8(16), []byte(`{"webhookTimestamp":"1e3"}`), "00", "2023-11-14T22:13:20.1234567891Z", "", "")
	cases := rtCases()
	f.Fuzz(func(t *testing.T, which uint8, body []byte, sig, stamp, id, query string) {
		tc := cases[int(which)%len(cases)]
		s := mustNew(t, configFor(tc, tc.secret), tNow)
		h := http.Header{"Content-Type": {"application/json"}}
		if tc.contentType != "" {
			h.Set("Content-Type", tc.contentType)
		}
		names := signedHeaders[tc.cfg.Provider]
		for i, v := range []string{sig, stamp, id} {
			if i < len(names) && v != "" {
				h.Set(names[i], v)
			}
		}
		if tc.cfg.Provider == "twitch" && id != "" {
			h.Set("Twitch-Eventsub-Message-Type", "webhook_callback_verification")
		}
		r := provider.Request{Method: http.MethodPost, URL: &url.URL{Path: "/webhook/src", RawQuery: query}, Header: h, Body: body}
		err := s.Verify(r)
		checkReason(t, err)
		d, rerr := s.Read(r)
		var re *provider.ReadError
		if rerr != nil && !errors.As(rerr, &re) && tc.cfg.Provider != "zoom" {
			t.Fatalf("Read error %#v is not a *ReadError", rerr)
		}
		if rerr == nil && d.Challenge == nil && d.ID == "" {
			t.Fatalf("Read gave no id and no error: %+v", d)
		}
	})
}
