// Package signature signs webhook bodies and verifies their signatures. The server and
// hookctl share it, so what the CLI signs is exactly what the server checks.
//
// The X-Signature scheme is a hex HMAC-SHA256 of the raw body under the secret's bytes, bare
// or in GitHub's `sha256=<hex>` form; X-Hub-Signature-256 is an alias of X-Signature. Every
// comparison is constant-time, and several secrets may be active at once for rotation.
package signature

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Header names of the X-Signature scheme.
const (
	HeaderSignature    = "X-Signature"
	HeaderHubSignature = "X-Hub-Signature-256"
)

// Scheme names the signature scheme of a delivery, as used in metric labels and logs.
type Scheme string

const (
	// SchemeNone is the scheme of a delivery that carries no signature header at all.
	SchemeNone Scheme = "none"
	// SchemeHMAC is the X-Signature / X-Hub-Signature-256 scheme.
	SchemeHMAC Scheme = "hmac_sha256"
)

// Reason says precisely why a signature was rejected. It goes to logs and metrics only:
// callers learn just "missing" or "invalid".
type Reason string

const (
	ReasonMissing   Reason = "missing"   // no signature header
	ReasonMalformed Reason = "malformed" // a header that cannot be a signature
	ReasonMismatch  Reason = "mismatch"  // well formed, but no secret produces it
)

// Error is a rejected signature.
type Error struct {
	Scheme Scheme
	Reason Reason
}

func (e *Error) Error() string {
	return fmt.Sprintf("signature rejected: scheme %s: %s", e.Scheme, e.Reason)
}

// Missing reports whether the request carried no signature at all, the one distinction a
// caller is told.
func (e *Error) Missing() bool { return e.Reason == ReasonMissing }

// Verifier checks signatures against one or more secrets. It is safe for concurrent use.
type Verifier struct {
	macs []*sync.Pool // one pool of keyed HMAC states per secret
}

// NewVerifier returns a Verifier that accepts a signature made with any of the secrets.
func NewVerifier(secrets [][]byte) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("at least one secret is required")
	}
	v := &Verifier{}
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("secret %d is empty", i+1)
		}
		key := bytes.Clone(s)
		v.macs = append(v.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return v, nil
}

// Verify checks the signature headers of a delivery against body, the raw request bytes.
// It returns the scheme that passed, or an *Error.
func (v *Verifier) Verify(h http.Header, body []byte) (Scheme, error) {
	reason := ReasonMissing
	for _, name := range [...]string{HeaderSignature, HeaderHubSignature} {
		for _, value := range h.Values(name) {
			if reason == ReasonMissing {
				reason = ReasonMalformed
			}
			var want [sha256.Size]byte
			if !parseHex(value, want[:]) {
				continue
			}
			reason = ReasonMismatch
			if v.matches(body, want[:]) {
				return SchemeHMAC, nil
			}
		}
	}
	if reason == ReasonMissing {
		return SchemeNone, &Error{Scheme: SchemeNone, Reason: reason}
	}
	return SchemeHMAC, &Error{Scheme: SchemeHMAC, Reason: reason}
}

// matches reports whether any secret's HMAC of body equals want, in constant time per secret.
func (v *Verifier) matches(body, want []byte) bool {
	var sum [sha256.Size]byte
	for _, pool := range v.macs {
		mac := pool.Get().(hash.Hash)
		mac.Reset()
		mac.Write(body)
		ok := hmac.Equal(mac.Sum(sum[:0]), want)
		pool.Put(mac)
		if ok {
			return true
		}
	}
	return false
}

// parseHex decodes `<hex>` or `sha256=<hex>` (hex in either case) into dst, which must be
// exactly as long as the decoded value.
func parseHex(value string, dst []byte) bool {
	value = strings.TrimSpace(value)
	if len(value) > 7 && strings.EqualFold(value[:7], "sha256=") {
		value = value[7:]
	}
	if len(value) != hex.EncodedLen(len(dst)) {
		return false
	}
	_, err := hex.Decode(dst, []byte(value))
	return err == nil
}

// Sign returns the hex HMAC-SHA256 of body under secret: the X-Signature value.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// RequestSigner returns a function that sets X-Signature on a request from its body. Its
// signature matches the generated client's RequestEditorFn, so signing a call through the
// SDK is one option: gen.WithRequestEditorFn(signature.RequestSigner(secret)).
func RequestSigner(secret []byte) func(ctx context.Context, req *http.Request) error {
	secret = bytes.Clone(secret)
	return func(_ context.Context, req *http.Request) error {
		body, err := requestBody(req)
		if err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
		req.Header.Set(HeaderSignature, Sign(secret, body))
		return nil
	}
}

// requestBody returns the body of an outgoing request without consuming it.
func requestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}
