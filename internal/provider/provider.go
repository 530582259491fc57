// Package provider receives webhooks from real senders. A source is one sender — GitHub,
// Stripe, your billing app — with its provider preset, its secrets and the rules that give
// each delivery its id and type. The package verifies a delivery exactly as the provider's
// official library does (the vector tests cite each library), reads its id and type,
// answers the providers' handshakes, and signs deliveries as each provider would, for
// hookctl and tests.
//
// Presets are data (presets.go): one verifier runs every HMAC scheme from its description,
// and the schemes that truly differ (Twilio, Discord, Mailgun) add a function. Verification
// works on the raw bytes, compares in constant time, tries every (secret × signature) pair
// without an early exit, and bounds what one request can cost.
package provider

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

// Config is one source as the sources file declares it, after ${VAR} expansion.
type Config struct {
	Name      string
	Provider  string        // a preset name (see Names; "svix" is an alias of "standard-webhooks") or "hmac"
	Secrets   []string      // one or more; any may match (rotation)
	PublicKey string        // discord: Ed25519 public key, hex
	Tolerance time.Duration // timestamped schemes; 0 = Options.DefaultTolerance
	URL       string        // the public URL the provider calls: required for twilio, square, hubspot
	// The generic "hmac" scheme:
	Header, Algorithm, Encoding, Prefix string // algorithm sha1|sha256|sha512, encoding hex|base64
	// Id and type rules, overriding the preset's: "header:NAME", "json:/pointer", "form:NAME"
	// or "sha256" (id only).
	ID, Type string
}

// Options are the server-wide settings a source falls back on.
type Options struct {
	DefaultTolerance time.Duration    // SIGNATURE_TOLERANCE; 0 = signature.DefaultTolerance
	Now              func() time.Time // injected clock; nil = time.Now
}

// Request is what verification and reading may look at.
type Request struct {
	Method string
	URL    *url.URL    // the request's URL as received (path and raw query)
	Header http.Header // as received
	Body   []byte      // the raw bytes, exactly as received
	// CheckJSON, when set, vets each JSON document Read parses (the body, or a form's
	// payload field, named "body" or "form field payload") before anything is read from
	// it; an error it returns is Read's, unchanged. The receiver checks Unicode with it, so
	// JSON found inside a form is held to the rules of a JSON body.
	CheckJSON func(doc []byte, name string) error
}

// Error is a refused signature. Its Reason goes to logs and metrics only; the caller is
// told "missing signature" or "invalid signature".
type Error struct {
	Scheme string // the preset's name: a bounded set, fit for a metric label
	Reason signature.Reason
}

func (e *Error) Error() string {
	return fmt.Sprintf("signature rejected: provider %s: %s", e.Scheme, e.Reason)
}

// Missing reports whether the delivery carried no signature at all.
func (e *Error) Missing() bool { return e.Reason == signature.ReasonMissing }

// ReadError is a verified body the preset cannot read: no id where the rule needs one, not
// JSON where JSON is sent. Detail is for the caller (a 422) and names what is missing.
type ReadError struct {
	Detail string
}

func (e *ReadError) Error() string { return e.Detail }

func readErrorf(format string, args ...any) *ReadError {
	return &ReadError{Detail: fmt.Sprintf(format, args...)}
}

// Delivery is what Read makes of a verified request.
type Delivery struct {
	ID        string
	Type      string // "" when none
	HasType   bool
	Challenge *Challenge // non-nil: answer it at once, store nothing
}

// Challenge is a provider's handshake, answered with 200 and this body.
type Challenge struct {
	ContentType string
	Body        []byte
}

// Info describes a source for GET /sources; it never holds a secret.
type Info struct {
	Name      string
	Provider  string        // as configured ("svix" stays "svix")
	ID        string        // the id rule, e.g. "header:X-GitHub-Delivery" or "json:/event_id else sha256"
	Type      string        // the type rule, "" when the source gives no type
	URL       string        // the configured public URL, "" when none
	Tolerance time.Duration // 0 when the scheme signs no timestamp
}

// Source verifies and reads the deliveries of one configured source. It is safe for
// concurrent use.
type Source struct {
	name, provider string
	p              *preset
	id, typ        rules
	formID         rules
	formTyp        rules
	keys           []macKey
	secrets        []string // as configured, for Hints: tried under other key rules and schemes
	pub            ed25519.PublicKey
	hv             *signature.Verifier
	tolerance      time.Duration
	timestamped    bool
	now            func() time.Time
	url            string   // as configured
	urls           []string // signed URL bases: Twilio's also in the other port form
	read           readPlan
}

// macKey is one secret as an HMAC key, with keyed states to reuse: keying an HMAC costs two
// block hashes, a fifth of the work for a 1 KiB body.
type macKey struct {
	key  []byte
	pool *sync.Pool
}

// macState is a keyed HMAC with a buffer for its sum, pooled together so that a
// verification allocates nothing.
type macState struct {
	h   hash.Hash
	sum [maxMACSize]byte
}

func newMACKey(alg func() hash.Hash, key []byte) macKey {
	return macKey{key: key, pool: &sync.Pool{New: func() any { return &macState{h: newHMAC(alg, key)} }}}
}

// Bounds on configuration: the per-request work is secrets × signatures HMACs.
const (
	maxSecrets   = 16
	maxRuleBytes = 1024
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// New checks c completely and returns a Source, or an error for each field that is wrong,
// each naming the field (`secrets[2]: not base64 after whsec_`). Errors never contain a
// secret.
func New(c Config, opts Options) (*Source, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !namePattern.MatchString(c.Name) {
		bad("name: %q does not match [a-z0-9][a-z0-9_-]{0,63}", clip(c.Name))
	}
	provider := c.Provider
	if a, ok := aliases[provider]; ok {
		provider = a
	}
	p := presets[provider]
	switch {
	case c.Provider == "":
		bad("provider: required, one of %s", strings.Join(Names(), ", "))
		return nil, errors.Join(errs...)
	case provider == "hmac":
		p = checkGeneric(c, bad)
	case p == nil:
		bad("provider: unknown %q, want one of %s", clip(c.Provider), strings.Join(Names(), ", "))
		return nil, errors.Join(errs...)
	default:
		for _, f := range []struct{ name, value string }{
			{"header", c.Header}, {"algorithm", c.Algorithm}, {"encoding", c.Encoding}, {"prefix", c.Prefix},
		} {
			if f.value != "" {
				bad("%s: only for provider hmac", f.name)
			}
		}
	}
	if p == nil {
		return nil, errors.Join(errs...)
	}

	s := &Source{name: c.Name, provider: c.Provider, p: p, now: opts.Now, url: c.URL}
	if s.now == nil {
		s.now = time.Now
	}
	s.timestamped = p.sig.ts.from != tsNone || provider == "hookvault" || provider == "discord" || provider == "mailgun"
	s.tolerance = opts.DefaultTolerance
	if s.tolerance <= 0 {
		s.tolerance = signature.DefaultTolerance
	}
	switch {
	case c.Tolerance < 0:
		bad("tolerance: %s is negative; give a positive duration", c.Tolerance)
	case c.Tolerance > 0 && !s.timestamped:
		bad("tolerance: provider %s signs no timestamp, so there is nothing to hold to it", c.Provider)
	case c.Tolerance > 0:
		s.tolerance = c.Tolerance
	}

	s.checkKeys(c, bad)
	s.checkURL(c, bad)
	s.checkRules(c, bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.read = planRead(s)
	return s, nil
}

// checkGeneric validates the hmac scheme's fields and builds its preset.
func checkGeneric(c Config, bad func(string, ...any)) *preset {
	ok := true
	switch {
	case c.Header == "":
		bad("header: required for provider hmac: the header that carries the signature")
		ok = false
	case !validHeaderName(c.Header):
		bad("header: %q is not a valid header name", clip(c.Header))
		ok = false
	}
	alg := c.Algorithm
	if alg == "" {
		alg = "sha256"
	}
	if _, known := hmacAlgorithms[alg]; !known {
		bad("algorithm: %q is not one of sha1, sha256, sha512", clip(c.Algorithm))
		ok = false
	}
	enc := c.Encoding
	if enc == "" {
		enc = "hex"
	}
	if enc != "hex" && enc != "base64" {
		bad("encoding: %q is not one of hex, base64", clip(c.Encoding))
		ok = false
	}
	if len(c.Prefix) > 64 || strings.ContainsAny(c.Prefix, "\r\n") {
		bad("prefix: longer than 64 bytes or has a line break")
		ok = false
	}
	if !ok {
		return nil
	}
	return genericPreset(c.Header, alg, enc, c.Prefix)
}

func (s *Source) checkKeys(c Config, bad func(string, ...any)) {
	p := s.p
	if p.key == keyPublicKey {
		if len(c.Secrets) > 0 {
			bad("secrets: provider %s verifies with public_key, not secrets", c.Provider)
		}
		key, err := hex.DecodeString(c.PublicKey)
		switch {
		case c.PublicKey == "":
			bad("public_key: required for provider %s: the application's public key, hex", c.Provider)
		case err != nil || len(key) != ed25519.PublicKeySize:
			bad("public_key: not 32 bytes of hex (64 hex digits)")
		default:
			s.pub = ed25519.PublicKey(key)
		}
		return
	}
	if c.PublicKey != "" {
		bad("public_key: only for provider discord")
	}
	switch {
	case len(c.Secrets) == 0:
		bad("secrets: at least one is required")
		return
	case len(c.Secrets) > maxSecrets:
		bad("secrets: %d given, at most %d: each costs an HMAC per delivery", len(c.Secrets), maxSecrets)
		return
	}
	raw := make([][]byte, 0, len(c.Secrets))
	for i, secret := range c.Secrets {
		if secret == "" {
			bad("secrets[%d]: empty", i)
			continue
		}
		key := []byte(secret)
		switch {
		case p.key == keyBase64:
			k, err := standardKey(secret)
			if err != nil {
				bad("secrets[%d]: %v", i, err)
				continue
			}
			key = k
		case p.name == "hookvault" && strings.HasPrefix(secret, "whsec_"):
			// As POST /webhook: a whsec_ secret must decode, or Standard Webhooks deliveries
			// would all fail for a typo that start-up can catch.
			if _, err := signature.StandardKey(key); err != nil {
				bad("secrets[%d]: not base64 after whsec_", i)
				continue
			}
		}
		raw = append(raw, []byte(secret))
		if p.sig.alg != nil {
			s.keys = append(s.keys, newMACKey(p.sig.alg, key))
		}
	}
	if len(raw) == len(c.Secrets) {
		s.secrets = slices.Clone(c.Secrets)
	}
	if p.name == "hookvault" && len(raw) == len(c.Secrets) {
		v, err := signature.NewVerifier(raw, signature.Options{Tolerance: s.tolerance, Now: s.now})
		if err != nil {
			bad("secrets: %v", err) // names a position only; never the secret
			return
		}
		s.hv = v
	}
}

// standardKey is the HMAC key of a Standard Webhooks secret as the official libraries make
// it: base64 after an optional whsec_. The error never quotes the secret.
func standardKey(secret string) ([]byte, error) {
	b64, prefixed := strings.CutPrefix(secret, "whsec_")
	if b64 == "" {
		return nil, errors.New("empty after whsec_")
	}
	key, err := signature.StandardKey([]byte("whsec_" + b64))
	if err != nil {
		if prefixed {
			return nil, errors.New("not base64 after whsec_")
		}
		return nil, errors.New("not base64: Standard Webhooks keys are the secret base64-decoded, with or without whsec_")
	}
	return key, nil
}

func (s *Source) checkURL(c Config, bad func(string, ...any)) {
	if c.URL == "" {
		if s.p.needsURL {
			bad("url: required for provider %s: it signs the public URL it calls, which a proxy may hide from hookvault", c.Provider)
		}
		return
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" || strings.HasSuffix(u.Host, ":"):
		// Not quoted: a mistyped URL may hold credentials.
		bad("url: not an absolute http or https URL with a host")
		return
	case u.User != nil:
		bad("url: has user information; give the URL the provider calls, without credentials")
		return
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.URL, "#"):
		bad("url: leave out the query and fragment: the query is taken from each request, as the provider signs the URL it called")
		return
	}
	s.urls = []string{c.URL}
	if s.p.name == "twilio" {
		s.urls = append(s.urls, otherPortForm(c.URL, u))
	}
}

// otherPortForm is the URL with its port removed, or with the scheme's default port added
// when it has none: Twilio's back end signs either, so twilio-python and twilio-go try both
// (a port that is not the default is removed too, as they remove it).
func otherPortForm(raw string, u *url.URL) string {
	rest := raw[len(u.Scheme)+3:] // after "scheme://"
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	if u.Port() != "" {
		host = host[:strings.LastIndexByte(host, ':')]
	} else {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	return raw[:len(u.Scheme)+3] + host + rest[hostEnd:]
}

func (s *Source) checkRules(c Config, bad func(string, ...any)) {
	s.id, s.typ, s.formID, s.formTyp = s.p.id, s.p.typ, s.p.formID, s.p.formTyp
	if s.formID == nil {
		s.formID = s.id
	}
	if s.formTyp == nil {
		s.formTyp = s.typ
	}
	for _, f := range []struct {
		field, text string
		dst         []*rules
	}{
		{"id", c.ID, []*rules{&s.id, &s.formID}},
		{"type", c.Type, []*rules{&s.typ, &s.formTyp}},
	} {
		if f.text == "" {
			continue
		}
		r, err := parseRule(f.text)
		switch {
		case err != nil:
			bad("%s: %v", f.field, err)
			continue
		case r.kind == ruleSHA256 && f.field == "type":
			bad("type: sha256 gives ids only; a type is a header, json or form field")
			continue
		case r.kind == ruleForm && s.p.media&(mediaForm|mediaAny) == 0:
			bad("%s: %s reads a form field, but provider %s sends only JSON bodies", f.field, clip(f.text), c.Provider)
			continue
		}
		for _, d := range f.dst {
			*d = rules{r}
		}
	}
}

// validHeaderName reports whether name is an HTTP field name (RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// clip keeps a configured value short in a message; only non-secret fields are ever quoted.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Accepts reports whether the source takes a body of this media type (parsed, lower case,
// without parameters); the HTTP layer answers 415 otherwise.
func (s *Source) Accepts(mediaType string) bool {
	m := s.p.media
	switch {
	case m&mediaAny != 0:
		return true
	case isJSONMediaType(mediaType):
		return m&mediaJSON != 0
	case mediaType == "application/x-www-form-urlencoded":
		return m&mediaForm != 0
	}
	return false
}

// isJSONMediaType is application/json or any type with the +json suffix (RFC 6839).
func isJSONMediaType(mt string) bool {
	if mt == "application/json" {
		return true
	}
	slash := strings.IndexByte(mt, '/')
	return slash > 0 && strings.HasSuffix(mt, "+json") && len(mt) > slash+len("+json")+1
}

// Info describes the source; never a secret.
func (s *Source) Info() Info {
	info := Info{Name: s.name, Provider: s.provider, URL: s.url, ID: s.id.String(), Type: s.typ.String()}
	if s.formID.String() != info.ID || s.formTyp.String() != info.Type {
		if s.p.media&mediaForm != 0 {
			info.ID += "; form bodies: " + s.formID.String()
			if t := s.formTyp.String(); t != "" {
				info.Type += "; form bodies: " + t
			}
		}
	}
	if s.timestamped {
		info.Tolerance = s.tolerance
	}
	return info
}

// Name is the source's name.
func (s *Source) Name() string { return s.name }

// Scheme is the preset's name, as Error.Scheme gives it.
func (s *Source) Scheme() string { return s.p.name }
