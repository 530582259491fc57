package signature_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/signature"
)

// A published HMAC-SHA256 vector, so Sign is checked against more than itself.
const (
	vectorKey  = "key"
	vectorBody = "The quick brown fox jumps over the lazy dog"
	vectorMAC  = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
)

func TestSignKnownVector(t *testing.T) {
	if got := signature.Sign([]byte(vectorKey), []byte(vectorBody)); got != vectorMAC {
		t.Fatalf("Sign = %s, want %s", got, vectorMAC)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"1","sender":"alice","content":"hello"}`)
	good := signature.Sign([]byte("current"), body)
	old := signature.Sign([]byte("previous"), body)
	wrong := signature.Sign([]byte("attacker"), body)
	v, err := signature.NewVerifier([][]byte{[]byte("current"), []byte("previous")}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		headers    map[string][]string
		body       []byte
		wantScheme signature.Scheme
		wantReason signature.Reason // "" means accepted
	}{
		{"bare hex", map[string][]string{"X-Signature": {good}}, body, signature.SchemeHMAC, ""},
		{"upper-case hex", map[string][]string{"X-Signature": {strings.ToUpper(good)}}, body, signature.SchemeHMAC, ""},
		{"github form", map[string][]string{"X-Signature": {"sha256=" + good}}, body, signature.SchemeHMAC, ""},
		{"github form upper prefix", map[string][]string{"X-Signature": {"SHA256=" + good}}, body, signature.SchemeHMAC, ""},
		{"surrounding spaces", map[string][]string{"X-Signature": {"  " + good + " "}}, body, signature.SchemeHMAC, ""},
		{"hub alias", map[string][]string{"X-Hub-Signature-256": {"sha256=" + good}}, body, signature.SchemeHMAC, ""},
		{"rotated secret", map[string][]string{"X-Signature": {old}}, body, signature.SchemeHMAC, ""},
		{"one of two headers valid", map[string][]string{"X-Signature": {wrong}, "X-Hub-Signature-256": {good}}, body, signature.SchemeHMAC, ""},
		{"missing", nil, body, signature.SchemeNone, signature.ReasonMissing},
		{"empty value", map[string][]string{"X-Signature": {""}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
		{"wrong secret", map[string][]string{"X-Signature": {wrong}}, body, signature.SchemeHMAC, signature.ReasonMismatch},
		{"tampered body", map[string][]string{"X-Signature": {good}}, append(bytes.Clone(body), ' '), signature.SchemeHMAC, signature.ReasonMismatch},
		{"not hex", map[string][]string{"X-Signature": {strings.Repeat("zz", 32)}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
		{"too short", map[string][]string{"X-Signature": {good[:62]}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
		{"too long", map[string][]string{"X-Signature": {good + "00"}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
		{"other algorithm prefix", map[string][]string{"X-Signature": {"sha1=" + good}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
		{"sha1-length github header", map[string][]string{"X-Hub-Signature-256": {"sha256=" + good[:40]}}, body, signature.SchemeHMAC, signature.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, vs := range tt.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			scheme, err := v.Verify(h, tt.body)
			checkResult(t, scheme, err, tt.wantScheme, tt.wantReason)
			var se *signature.Error
			if errors.As(err, &se) && se.Missing() != (tt.wantReason == signature.ReasonMissing) {
				t.Errorf("Missing() = %v for reason %q", se.Missing(), se.Reason)
			}
		})
	}
}

func TestNewVerifierRejectsNoOrEmptySecrets(t *testing.T) {
	if _, err := signature.NewVerifier(nil, signature.Options{}); err == nil {
		t.Error("NewVerifier(nil, signature.Options{}) succeeded, want an error")
	}
	if _, err := signature.NewVerifier([][]byte{[]byte("a"), {}}, signature.Options{}); err == nil {
		t.Error("NewVerifier with an empty secret succeeded, want an error")
	}
}

// The verifier must not depend on its caller keeping the secret slices unchanged.
func TestVerifierCopiesSecrets(t *testing.T) {
	secret := []byte("current")
	v, err := signature.NewVerifier([][]byte{secret}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	copy(secret, "XXXXXXX")
	body := []byte(`{}`)
	h := http.Header{"X-Signature": {signature.Sign([]byte("current"), body)}}
	if _, err := v.Verify(h, body); err != nil {
		t.Fatalf("Verify after the caller changed its slice: %v", err)
	}
}

func TestRequestSignerSignsTheBytesSent(t *testing.T) {
	body := []byte(`{"id":"1",  "sender":"alice","content":"hello"}`)
	for _, tt := range []struct {
		name   string
		reader io.Reader
	}{
		{"replayable body", bytes.NewReader(body)},               // NewRequest sets GetBody
		{"one-shot body", io.MultiReader(bytes.NewReader(body))}, // no GetBody
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://example.invalid/webhook", tt.reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := signature.RequestSigner([]byte("s3cret"))(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			sent, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sent, body) {
				t.Fatalf("body after signing = %q, want %q", sent, body)
			}
			if got, want := req.Header.Get("X-Signature"), signature.Sign([]byte("s3cret"), body); got != want {
				t.Fatalf("X-Signature = %s, want %s", got, want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 512)
	v, _ := signature.NewVerifier([][]byte{[]byte("s3cret")}, signature.Options{})
	h := http.Header{"X-Signature": {signature.Sign([]byte("s3cret"), body)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
