// Package signature signs webhook bodies and verifies their signatures. The server and
// hookctl share it, so what the CLI signs is exactly what the server checks.
//
// Two schemes are accepted. X-Signature is a hex HMAC-SHA256 of the raw body under the
// secret's bytes, bare or in GitHub's `sha256=<hex>` form; X-Hub-Signature-256 is an alias.
// Standard Webhooks (https://www.standardwebhooks.com) signs `{id}.{timestamp}.{body}` and
// sends `v1,<base64>` entries in webhook-signature, with svix-* header names as aliases; its
// timestamp bounds replays. Every comparison is constant-time, and several secrets may be
// active at once for rotation.
package signature

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names of the X-Signature scheme.
const (
	HeaderSignature    = "X-Signature"
	HeaderHubSignature = "X-Hub-Signature-256"
)

// Header names of the Standard Webhooks scheme, and the Svix names that senders built on
// Svix's libraries still use.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	HeaderSvixID           = "Svix-Id"
	HeaderSvixTimestamp    = "Svix-Timestamp"
	HeaderSvixSignature    = "Svix-Signature"
)

// DefaultTolerance is how far a Standard Webhooks timestamp may be from the verifier's clock,
// either way, when Options leaves it unset: the value the specification recommends.
const DefaultTolerance = 5 * time.Minute

// Parsing bounds. A request header may be up to the server's MaxHeaderBytes (64 KiB); these
// keep one request from costing more than a few HMACs however it is built.
const (
	maxHeaderLen  = 4 << 10 // bytes over all values of one signature header
	maxSignatures = 20      // signature values or `v1,` entries examined per request
)

// whsecPrefix marks a secret in the Standard Webhooks form `whsec_<base64>`.
const whsecPrefix = "whsec_"

// Scheme names the signature scheme of a delivery, as used in metric labels and logs.
type Scheme string

const (
	// SchemeNone is the scheme of a delivery that carries no signature header at all.
	SchemeNone Scheme = "none"
	// SchemeHMAC is the X-Signature / X-Hub-Signature-256 scheme.
	SchemeHMAC Scheme = "hmac_sha256"
	// SchemeStandard is Standard Webhooks (webhook-* or svix-* headers).
	SchemeStandard Scheme = "standard_webhooks"
)

// Reason says precisely why a signature was rejected. It goes to logs and metrics only:
// callers learn just "missing" or "invalid".
type Reason string

const (
	ReasonMissing            Reason = "missing"             // no signature header
	ReasonMalformed          Reason = "malformed"           // a header that cannot be a signature
	ReasonMismatch           Reason = "mismatch"            // well formed, but no secret produces it
	ReasonStale              Reason = "stale"               // timestamp outside the tolerance: a replay or a bad clock
	ReasonUnsupportedVersion Reason = "unsupported_version" // only signature versions other than v1
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

// Options tune a Verifier. The zero value means the defaults.
type Options struct {
	// Tolerance bounds the Standard Webhooks timestamp in both directions; a sender's clock
	// may be ahead of ours as well as behind. Zero means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock, injected so tests can sit exactly on the tolerance edges. Nil means
	// time.Now.
	Now func() time.Time
}

// Verifier checks signatures of both schemes against one or more secrets. It is safe for
// concurrent use.
type Verifier struct {
	hmacs     []*sync.Pool // X-Signature: keyed HMAC states, one pool per secret's bytes
	standard  []*sync.Pool // Standard Webhooks: one pool per decoded secret
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a Verifier that accepts a signature made with any of the secrets. A
// `whsec_` secret that is not valid base64 is an error, so a typo fails at start-up rather
// than as 401s for every Standard Webhooks delivery.
func NewVerifier(secrets [][]byte, opts Options) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("at least one secret is required")
	}
	if opts.Tolerance < 0 {
		return nil, fmt.Errorf("signature tolerance %s is negative", opts.Tolerance)
	}
	v := &Verifier{tolerance: opts.Tolerance, now: opts.Now}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("secret %d is empty", i+1)
		}
		// The error names the position only: the secret must never reach a log.
		key, err := StandardKey(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		v.hmacs = append(v.hmacs, macPool(bytes.Clone(s)))
		v.standard = append(v.standard, macPool(key))
	}
	return v, nil
}

func macPool(key []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
}

// StandardKey returns the HMAC key Standard Webhooks uses for secret: the decoded base64 of a
// `whsec_` secret, or a fresh copy of any other secret's bytes.
func StandardKey(secret []byte) ([]byte, error) {
	b64, ok := bytes.CutPrefix(secret, []byte(whsecPrefix))
	if !ok {
		return bytes.Clone(secret), nil
	}
	// The reference libraries write padded base64; accept unpadded too, as some senders strip it.
	enc := base64.StdEncoding
	if len(b64)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key := make([]byte, enc.DecodedLen(len(b64)))
	n, err := enc.Decode(key, b64)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not valid base64")
	}
	if n == 0 {
		return nil, errors.New("the part after whsec_ is empty")
	}
	return key[:n], nil
}

// Verify checks the signature headers of a delivery against body, the raw request bytes.
// Any Standard Webhooks header selects that scheme, so that a sender who sets both kinds is
// held to the one with replay protection. It returns the scheme that was checked, and an
// *Error unless the signature passed.
func (v *Verifier) Verify(h http.Header, body []byte) (Scheme, error) {
	if hasStandardHeaders(h) {
		if reason := v.verifyStandard(h, body); reason != "" {
			return SchemeStandard, &Error{Scheme: SchemeStandard, Reason: reason}
		}
		return SchemeStandard, nil
	}
	reason := v.verifyHMAC(h, body)
	switch reason {
	case "":
		return SchemeHMAC, nil
	case ReasonMissing:
		return SchemeNone, &Error{Scheme: SchemeNone, Reason: reason}
	}
	return SchemeHMAC, &Error{Scheme: SchemeHMAC, Reason: reason}
}

// verifyHMAC checks X-Signature and X-Hub-Signature-256. It returns "" when a value passes.
func (v *Verifier) verifyHMAC(h http.Header, body []byte) Reason {
	reason := ReasonMissing
	var wants [][sha256.Size]byte
	for _, name := range [...]string{HeaderSignature, HeaderHubSignature} {
		values := h.Values(name)
		if len(values) == 0 {
			continue
		}
		reason = ReasonMalformed
		// Each value costs an HMAC of the body per secret unless they are collected first;
		// a cap keeps a request with thousands of headers from buying that work.
		if len(wants)+len(values) > maxSignatures {
			return ReasonMalformed
		}
		for _, value := range values {
			var want [sha256.Size]byte
			if parseHex(value, want[:]) {
				wants = append(wants, want)
			}
		}
	}
	if len(wants) == 0 {
		return reason
	}
	if v.anyMatch(v.hmacs, wants, body) {
		return ""
	}
	return ReasonMismatch
}

// anyMatch reports whether any secret's HMAC of the concatenated parts equals any of wants.
// Each secret's MAC is computed once, and every comparison is constant-time. Every (secret ×
// signature) pair is compared, with no early exit, so the time taken says neither which
// secret nor which signature matched.
func (v *Verifier) anyMatch(pools []*sync.Pool, wants [][sha256.Size]byte, parts ...[]byte) bool {
	var sum [sha256.Size]byte
	ok := false
	for _, pool := range pools {
		mac := pool.Get().(hash.Hash)
		mac.Reset()
		for _, p := range parts {
			mac.Write(p)
		}
		got := mac.Sum(sum[:0])
		pool.Put(mac)
		for i := range wants {
			ok = hmac.Equal(got, wants[i][:]) || ok
		}
	}
	return ok
}

// hasStandardHeaders reports whether any Standard Webhooks or Svix header is present, even
// empty: an attempt at that scheme, to be judged by its rules.
func hasStandardHeaders(h http.Header) bool {
	for _, name := range [...]string{
		HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature,
		HeaderSvixID, HeaderSvixTimestamp, HeaderSvixSignature,
	} {
		if len(h.Values(name)) > 0 {
			return true
		}
	}
	return false
}

// standardValues returns the values of a Standard Webhooks header, or of its Svix alias
// when the standard name is absent.
func standardValues(h http.Header, name, alias string) []string {
	if vs := h.Values(name); len(vs) > 0 {
		return vs
	}
	return h.Values(alias)
}

// verifyStandard checks the Standard Webhooks headers. It returns "" when a signature passes.
// The checks run cheapest first, and no HMAC is computed for a stale or malformed request.
func (v *Verifier) verifyStandard(h http.Header, body []byte) Reason {
	ids := standardValues(h, HeaderWebhookID, HeaderSvixID)
	stamps := standardValues(h, HeaderWebhookTimestamp, HeaderSvixTimestamp)
	sigs := standardValues(h, HeaderWebhookSignature, HeaderSvixSignature)
	if len(sigs) == 0 {
		return ReasonMissing
	}
	// Two ids or timestamps leave it open which one was signed.
	if len(ids) != 1 || len(stamps) != 1 {
		return ReasonMalformed
	}
	id, stamp := ids[0], stamps[0]
	if id == "" || len(id) > maxHeaderLen {
		return ReasonMalformed
	}
	unix, ok := parseUnix(stamp)
	if !ok {
		return ReasonMalformed
	}
	total := 0
	for _, s := range sigs {
		total += len(s)
	}
	if total > maxHeaderLen {
		return ReasonMalformed
	}

	reason := ReasonUnsupportedVersion
	var wants [][sha256.Size]byte
	entries := 0
	for _, value := range sigs {
		for entry := range strings.FieldsSeq(value) {
			if entries++; entries > maxSignatures {
				return ReasonMalformed
			}
			version, sig, ok := strings.Cut(entry, ",")
			if !ok {
				reason = ReasonMalformed
				continue
			}
			// Other versions (v1a is asymmetric ed25519) are skipped, as the specification
			// asks, so a sender can add them ahead of us.
			if version != "v1" {
				continue
			}
			if len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
				reason = ReasonMalformed
				continue
			}
			// Decode into DecodedLen bytes: 44 characters without padding decode to 33, and
			// base64 writes past a 32-byte buffer (a panic FuzzVerify found). Strict, because
			// the lenient decoder ignores the last character's spare bits, so "…R=" and "…Q="
			// would both pass for one signature (FuzzVerify again); the reference libraries
			// compare the encoded strings.
			var buf [sha256.Size + 1]byte
			if n, err := strictBase64.Decode(buf[:], []byte(sig)); err != nil || n != sha256.Size {
				reason = ReasonMalformed
				continue
			}
			wants = append(wants, [sha256.Size]byte(buf[:sha256.Size]))
		}
	}
	if entries == 0 {
		return ReasonMalformed
	}
	if len(wants) == 0 {
		return reason
	}

	sent := time.Unix(unix, 0)
	now := v.now()
	if now.Sub(sent) > v.tolerance || sent.Sub(now) > v.tolerance {
		return ReasonStale
	}
	if v.anyMatch(v.standard, wants, []byte(id), []byte{'.'}, []byte(stamp), []byte{'.'}, body) {
		return ""
	}
	return ReasonMismatch
}

// strictBase64 refuses non-canonical encodings; Strict returns a new Encoding, so once.
var strictBase64 = base64.StdEncoding.Strict()

// parseUnix parses a webhook-timestamp: decimal seconds since the epoch, digits only. A sign
// or spaces would be signed as sent yet read as the same number, so they are refused.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
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

// SignStandard returns the Standard Webhooks signature `v1,<base64>` of body sent with id at
// the Unix time ts, under secret (a `whsec_` secret is base64-decoded, any other used as is).
// The caller sends strconv.FormatInt(ts, 10) as webhook-timestamp.
func SignStandard(secret []byte, id string, ts int64, body []byte) (string, error) {
	key, err := StandardKey(secret)
	if err != nil {
		return "", err
	}
	if len(key) == 0 {
		return "", errors.New("secret is empty")
	}
	return SignStandardKey(key, id, ts, body), nil
}

// SignStandardKey is SignStandard with the key already decoded (StandardKey): for a sender
// that signs many messages with one secret, as the relay does.
func SignStandardKey(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
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
