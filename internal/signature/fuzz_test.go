package signature_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

const fuzzSecret = "fuzz-secret"

var fuzzNow = time.Unix(1_764_400_000, 0)

// FuzzVerify feeds arbitrary header values of both schemes to the verifier. It must never
// panic, every rejection must carry a reason, and — the property that matters — it may
// accept only what the secret signed: an accepted X-Signature delivery carries the body's
// HMAC, and an accepted Standard Webhooks delivery carries the HMAC of id.timestamp.body with
// a timestamp inside the tolerance.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"1","sender":"alice","content":"hello"}`)
	good := signature.Sign([]byte(fuzzSecret), body)
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	std, err := signature.SignStandard([]byte(fuzzSecret), "msg_1", fuzzNow.Unix(), body)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, good, "", "", "", "")
	f.Add(body, "sha256="+strings.ToUpper(good), "", "", "", "")
	f.Add(body, "sha256=", "", "", "", "")
	f.Add(body, "", "msg_1", ts, std, "")
	f.Add(body, "", "msg_1", ts, "v2,abc "+std, "")
	f.Add(body, "", "msg_1", ts+"0", std, "")
	f.Add(body, "", "", "", "v1,", "svix")
	f.Add([]byte{}, good, "msg_1", "-1", "v1,====", "svix")

	v, err := signature.NewVerifier([][]byte{[]byte(fuzzSecret)}, signature.Options{
		Tolerance: 5 * time.Minute, Now: func() time.Time { return fuzzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, xsig, id, ts, sig, style string) {
		h := http.Header{}
		set := func(name, value string) {
			if value != "" {
				h.Set(name, value)
			}
		}
		set(signature.HeaderSignature, xsig)
		if style == "svix" {
			set(signature.HeaderSvixID, id)
			set(signature.HeaderSvixTimestamp, ts)
			set(signature.HeaderSvixSignature, sig)
		} else {
			set(signature.HeaderWebhookID, id)
			set(signature.HeaderWebhookTimestamp, ts)
			set(signature.HeaderWebhookSignature, sig)
		}

		scheme, err := v.Verify(h, body)
		if err != nil {
			se, ok := err.(*signature.Error)
			if !ok || se.Reason == "" {
				t.Fatalf("rejection without a reason: %v", err)
			}
			return
		}
		switch scheme {
		case signature.SchemeHMAC:
			want := signature.Sign([]byte(fuzzSecret), body)
			got := strings.ToLower(strings.TrimSpace(xsig))
			got = strings.TrimPrefix(got, "sha256=")
			if got != want {
				t.Fatalf("accepted X-Signature %q for a body whose HMAC is %s", xsig, want)
			}
		case signature.SchemeStandard:
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				t.Fatalf("accepted timestamp %q that is not an integer", ts)
			}
			if d := fuzzNow.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
				t.Fatalf("accepted timestamp %q, %v away", ts, d)
			}
			want, err := signature.SignStandard([]byte(fuzzSecret), id, sec, body)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(strings.Fields(sig), want) {
				t.Fatalf("accepted %q, which does not hold %s", sig, want)
			}
		default:
			t.Fatalf("accepted with scheme %q", scheme)
		}
	})
}
