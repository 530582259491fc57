package provider

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookvault/hookvault/internal/signature"
)

// Bounds on Hints. A flood of forged deliveries calls it once per refusal, so one call costs
// at most maxHintMACs keyed hashes of the body (a few hundred microseconds for 1 KiB), and
// nothing but header and timestamp arithmetic for a body over maxHintBody.
const (
	maxHints      = 8        // hints per delivery (hookvault.MaxRejectionHints)
	maxHintBytes  = 512      // bytes per hint (hookvault.MaxRejectionHintBytes)
	maxHintOthers = 16       // other sources considered, in name order
	maxHintMACs   = 64       // MACs (or Ed25519 checks) of the body over all variants
	maxHintBody   = 64 << 10 // larger bodies get only the hints that need no MAC
)

// defaultSource is the name under which POST /webhook's source is configured
// (sources.Default); it receives on /webhook rather than /webhook/default.
const defaultSource = "default"

// Hints says what would have made a refused delivery verify, when the server can tell. It is
// meant for the operator-only rejection journal, after the request was answered: never on
// the request path, and never for the caller. Each hint is one sentence of at most 512
// bytes, at most 8 of them, and none contains a signature, a secret or anything derived
// from one (no MAC, no prefix of one, no key length): secrets are named by position and
// sources by name.
//
// Every hint comes from re-verifying a variant of the request with the verification code
// itself, constant-time comparisons included:
//   - stale: how far the timestamp is from the clock, which way, and whether the
//     signature is otherwise valid (it is then re-verified at the timestamp's own time, and
//     the hints below are looked for as if it were a mismatch);
//   - mismatch: the body without its trailing newline (or with one added); each secret
//     under the other key rule (base64-decoded, or used as is); the secrets of the other
//     sources under this source's scheme;
//   - any refusal: the request verifying as a delivery of another source (the wrong URL);
//     another preset's signature headers, present in the request, verifying with this
//     source's secrets (the wrong provider). Presets that sign the public URL (twilio,
//     square, hubspot) or verify with a key (discord) are not tried as other schemes.
//
// Bounds: the first 16 other sources by name, except s; at most 64 MACs of the body in all,
// spent in the order above, so a source with many secrets or many others gets the earlier
// hints only; bodies over 64 KiB get only the timestamp hint. The result depends only on
// the request, the sources and the clock: others may come in any order.
func (s *Source) Hints(r Request, others []*Source) []string {
	h := &hinter{s: s, r: r, budget: maxHintMACs}
	if len(r.Body) > maxHintBody {
		h.budget = 0
	}
	reason := s.reason(r)
	switch reason {
	case reasonOK:
		return nil
	case reasonStale:
		if !h.stale() {
			return h.done()
		}
		reason = reasonMismatch
	}
	if reason == reasonMismatch {
		h.body()
		h.keyRules()
	}
	h.otherSources(others, reason == reasonMismatch)
	h.otherSchemes()
	return h.done()
}

// hinter collects the hints of one request.
type hinter struct {
	s      *Source // the source; after a stale timestamp, a copy whose clock reads that time
	r      Request
	budget int // MACs left
	hints  []string
}

func (h *hinter) add(format string, args ...any) {
	if len(h.hints) >= maxHints {
		return
	}
	hint := fmt.Sprintf(format, args...)
	if len(hint) > maxHintBytes {
		cut := maxHintBytes - len("…")
		for cut > 0 && !utf8.RuneStart(hint[cut]) {
			cut--
		}
		hint = hint[:cut] + "…"
	}
	if !slices.Contains(h.hints, hint) {
		h.hints = append(h.hints, hint)
	}
}

func (h *hinter) done() []string { return h.hints }

// spend takes the cost of one re-verification from the budget, or says it is spent.
func (h *hinter) spend(cost int) bool {
	if cost > h.budget || len(h.hints) >= maxHints {
		return false
	}
	h.budget -= cost
	return true
}

// cost is the MACs one verification by s of a request takes with n keys.
func (s *Source) cost(n int) int {
	switch {
	case s.p.key == keyPublicKey:
		return 1
	case s.p.name == "twilio":
		return n * max(1, len(s.urls))
	}
	return n
}

// verifies re-verifies r with h.s, keyed with keys instead of the source's own when keys is
// not nil (raw HMAC keys, for the scheme r carries), within the budget.
func (h *hinter) verifies(r Request, keys [][]byte) bool {
	s := h.s
	n := len(s.secrets)
	if keys != nil {
		n = len(keys)
	}
	if !h.spend(s.cost(n)) {
		return false
	}
	if keys != nil {
		var ok bool
		if s, ok = s.withKeys(keys, r); !ok {
			return false
		}
	}
	return s.reason(r) == reasonOK
}

// withKeys is a copy of s that verifies with keys: HMAC keys as they are, never derived from
// a secret again. POST /webhook's verifier takes secrets, so each key is handed to it in the
// form that it turns back into exactly that key for the scheme r uses: as is for
// X-Signature, and "whsec_"+base64(key) for Standard Webhooks.
func (s *Source) withKeys(keys [][]byte, r Request) (*Source, bool) {
	c := *s
	c.keys = nil
	if s.p.sig.alg != nil {
		for _, k := range keys {
			c.keys = append(c.keys, newMACKey(s.p.sig.alg, k))
		}
	}
	if s.p.name == "hookvault" {
		secrets := make([][]byte, len(keys))
		for i, k := range keys {
			secrets[i] = k
			if hasStandardHeaders(r.Header) {
				secrets[i] = []byte("whsec_" + base64.StdEncoding.EncodeToString(k))
			}
		}
		v, err := signature.NewVerifier(secrets, signature.Options{Tolerance: s.tolerance, Now: s.now})
		if err != nil {
			return nil, false
		}
		c.hv = v
	}
	return &c, true
}

// at is a copy of s whose clock reads t, to see whether a stale request is otherwise valid.
func (s *Source) at(t time.Time) *Source {
	c := *s
	c.now = func() time.Time { return t }
	if s.hv != nil {
		raw := make([][]byte, len(s.secrets))
		for i, secret := range s.secrets {
			raw[i] = []byte(secret)
		}
		v, err := signature.NewVerifier(raw, signature.Options{Tolerance: s.tolerance, Now: c.now})
		if err != nil {
			return s // cannot be: New built the same verifier
		}
		c.hv = v
	}
	return &c
}

// stale explains a timestamp outside the tolerance. It reports whether the signature
// remains to be explained: then h.s reads the request's own time, so the mismatch hints
// can be looked for.
func (h *hinter) stale() bool {
	s := h.s
	sent, stamp, unit, ok := s.sentAt(h.r)
	if !ok {
		return false
	}
	now := s.now()
	h.s = s.at(sent)
	valid := h.verifies(h.r, nil)
	otherwise := ""
	if valid {
		otherwise = ", and the signature is otherwise valid"
	}
	if alt, ok := otherUnit(stamp, unit, now, s.tolerance); ok {
		// Its age read in the wrong unit is centuries, which says nothing useful.
		h.add("the timestamp %s is outside the tolerance read in %s, as provider %s sends it, but within it read in %s%s: the sender writes the wrong unit",
			quoteShort(stamp), unitName(unit), s.p.name, unitName(alt), otherwise)
		return !valid
	}
	age := now.Sub(sent)
	when := fmtDuration(age) + " old"
	fix := "check the sender's clock, or whether the delivery is a replay"
	if age < 0 {
		when = fmtDuration(-age) + " in the future"
		fix = "the sender's clock is ahead of this server's: check it"
	}
	h.add("the timestamp is %s, beyond this source's %s tolerance%s: %s", when, fmtDuration(s.tolerance), otherwise, fix)
	return !valid
}

// sentAt reads the timestamp a request signs, as the source's verification reads it.
func (s *Source) sentAt(r Request) (time.Time, string, tsUnit, bool) {
	var stamp string
	unit := s.p.sig.ts.unit
	switch s.p.name {
	case "hookvault":
		if !hasStandardHeaders(r.Header) {
			return time.Time{}, "", 0, false
		}
		var ok bool
		stamp, ok = single(r.Header, hWebhookTS)
		if !ok {
			stamp, ok = single(r.Header, hSvixTS)
		}
		if !ok {
			return time.Time{}, "", 0, false
		}
		unit = unitSeconds
	case "discord":
		stamp, _ = single(r.Header, hDiscordTS)
		unit = unitSeconds
	case "mailgun":
		var found [1]span
		if !scanJSON(r.Body, mailgunFields[:1], found[:]) || found[0].to == 0 {
			return time.Time{}, "", 0, false
		}
		stamp, _ = digitsValue(r.Body, found[0])
		unit = unitSeconds
	default:
		sp := &s.p.sig
		set, values := pickSet(sp.sets, r.Header)
		switch sp.ts.from {
		case tsHeader:
			stamp, _ = single(r.Header, set.ts)
		case tsPair:
			var w wantSet
			parsePairs(sp, values, &w, &stamp)
		case tsBody:
			stamp, _ = bodyTimestamp(sp.ts, r)
		}
	}
	if stamp == "" {
		return time.Time{}, "", 0, false
	}
	t, ok := parseTime(stamp, unit)
	return t, stamp, unit, ok
}

// otherUnit reports the unit, seconds or milliseconds, in which a stale timestamp would
// have been within the tolerance.
func otherUnit(stamp string, unit tsUnit, now time.Time, tolerance time.Duration) (tsUnit, bool) {
	n, ok := parseDigits(stamp)
	if !ok {
		return 0, false
	}
	var t time.Time
	var alt tsUnit
	switch unit {
	case unitSeconds:
		t, alt = time.UnixMilli(n), unitMillis
	case unitMillis:
		if n > (1<<62)/1000 {
			return 0, false
		}
		t, alt = time.Unix(n, 0), unitSeconds
	default:
		return 0, false
	}
	d := now.Sub(t)
	return alt, d <= tolerance && d >= -tolerance
}

func unitName(u tsUnit) string {
	if u == unitMillis {
		return "milliseconds"
	}
	return "seconds"
}

// quoteShort quotes a header value only when it is short; a timestamp is not a secret.
func quoteShort(v string) string {
	if len(v) > 24 {
		return "value"
	}
	return fmt.Sprintf("%q", v)
}

// fmtDuration writes 7m12s, 5m, 1h: whole seconds, no zero tails.
func fmtDuration(d time.Duration) string {
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

// body tries the body without its trailing newline, or with one added: what curl -d @file,
// echo and editors do to the bytes between signing and sending.
func (h *hinter) body() {
	if h.s.p.name == "mailgun" { // signs fields inside the body, not its bytes
		return
	}
	b := h.r.Body
	var trimmed []byte
	var nl string
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		trimmed, nl = b[:len(b)-2], `\r\n`
	case bytes.HasSuffix(b, []byte("\n")):
		trimmed, nl = b[:len(b)-1], `\n`
	}
	if trimmed != nil {
		if h.verifies(h.withBody(trimmed), nil) {
			h.add("the signature matches the body without its trailing newline (%s): the sender signed the body before a newline was added (curl -d @file, echo) — send the exact bytes it signed", nl)
		}
		return
	}
	if len(b) > 0 && h.verifies(h.withBody(append(slices.Clip(b), '\n')), nil) {
		h.add(`the signature matches the body with a newline (\n) appended: the sender signed its body plus a newline it did not send (echo "$body" | openssl dgst adds one) — sign the exact bytes sent`)
	}
}

func (h *hinter) withBody(b []byte) Request {
	r := h.r
	r.Body = b
	return r
}

// decodesSecret reports whether s keys the HMAC for r with secret base64-decoded rather
// than with its bytes.
func (s *Source) decodesSecret(secret string, r Request) bool {
	switch {
	case s.p.key == keyBase64:
		return true
	case s.p.name == "hookvault":
		// POST /webhook decodes a whsec_ secret for Standard Webhooks only.
		return strings.HasPrefix(secret, "whsec_") && hasStandardHeaders(r.Header)
	}
	return false
}

// keyOf is secret as an HMAC key: base64 after an optional whsec_ when decoded, else its
// bytes.
func keyOf(secret string, decoded bool) ([]byte, bool) {
	if !decoded {
		return []byte(secret), true
	}
	k, err := standardKey(secret)
	return k, err == nil
}

// keyRules tries each secret under the other key rule: Stripe keys with the whsec_ string
// as is, Standard Webhooks decodes it (PROVIDERS.md, "whsec_ means two opposite things").
func (h *hinter) keyRules() {
	s := h.s
	for i, secret := range s.secrets {
		decoded := s.decodesSecret(secret, h.r)
		real, _ := keyOf(secret, decoded)
		alt, ok := keyOf(secret, !decoded)
		if !ok || bytes.Equal(alt, real) || !h.verifies(h.r, [][]byte{alt}) {
			continue
		}
		if decoded {
			h.add("the signature matches secret #%d of this source used as is, not base64-decoded: the sender keys the HMAC with the whole secret string (as Stripe does), but provider %s decodes it — make the sender decode the secret (base64 after whsec_), or use a provider that keys with the string",
				i+1, s.p.name)
			continue
		}
		h.add("the signature matches secret #%d of this source base64-decoded%s: the sender decodes the secret (as Standard Webhooks libraries do), but provider %s keys the HMAC with the secret string as is — make the sender use the string as is, or use a provider that decodes it",
			i+1, whsecNote(secret), s.p.name)
	}
}

func whsecNote(secret string) string {
	if strings.HasPrefix(secret, "whsec_") {
		return " (after its whsec_ prefix)"
	}
	return ""
}

// otherSources tries the request as each other source would verify it (posted to the wrong
// URL), and, for a mismatch, each other source's secrets under this source's scheme (the
// sender configured with the wrong secret).
func (h *hinter) otherSources(others []*Source, mismatch bool) {
	s := h.s
	list := make([]*Source, 0, min(len(others), maxHintOthers))
	for _, o := range others {
		if o != nil && o.name != s.name {
			list = append(list, o)
		}
	}
	slices.SortFunc(list, func(a, b *Source) int { return strings.Compare(a.name, b.name) })
	list = slices.CompactFunc(list, func(a, b *Source) bool { return a.name == b.name })
	if len(list) > maxHintOthers {
		list = list[:maxHintOthers]
	}
	own := make([][]byte, 0, len(s.secrets))
	for _, secret := range s.secrets {
		if k, ok := keyOf(secret, s.decodesSecret(secret, h.r)); ok {
			own = append(own, k)
		}
	}
	for _, o := range list {
		if !h.spend(o.cost(len(o.secrets))) {
			continue
		}
		if o.reason(h.r) == reasonOK {
			h.add("the request verifies as a delivery of source %q (provider %s): the sender posts to the wrong URL — its deliveries go to %s", o.name, o.p.name, pathOf(o.name))
			continue
		}
		if !mismatch || s.p.key == keyPublicKey {
			continue
		}
		for _, secret := range o.secrets {
			k, ok := keyOf(secret, s.decodesSecret(secret, h.r))
			if !ok || containsKey(own, k) {
				continue
			}
			if h.verifies(h.r, [][]byte{k}) {
				h.add("the signature matches the secret of source %q: the sender may be configured with the wrong secret, or posting to the wrong URL (%s)", o.name, pathOf(o.name))
				break
			}
		}
	}
}

// containsKey compares in constant time: keys are secrets.
func containsKey(keys [][]byte, k []byte) bool {
	found := 0
	for _, own := range keys {
		found |= subtle.ConstantTimeCompare(own, k)
	}
	return found == 1
}

func pathOf(name string) string {
	if name == defaultSource {
		return "/webhook"
	}
	return "/webhook/" + name
}

// presetOrder is the presets by name, for a deterministic order of the scheme hints.
var presetOrder = func() []*preset {
	out := make([]*preset, 0, len(presets))
	for _, p := range presets {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *preset) int { return strings.Compare(a.name, b.name) })
	return out
}()

// otherSchemes tries the signature headers of other presets, present in the request, with
// this source's secrets keyed as each preset keys them.
func (h *hinter) otherSchemes() {
	s := h.s
	if len(s.secrets) == 0 {
		return
	}
	mine := s.signatureHeaders()
	for _, p := range presetOrder {
		if p == s.p || p.needsURL || p.key == keyPublicKey || (p.special != nil && p.name != "hookvault") {
			continue
		}
		what, ok := carried(p, h.r.Header, mine)
		if !ok {
			continue
		}
		keys := make([][]byte, 0, len(s.secrets))
		for _, secret := range s.secrets {
			if k, ok := keyOf(secret, p.key == keyBase64); ok {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 || !h.spend(len(keys)) {
			continue
		}
		t := &Source{name: s.name, provider: p.name, p: p, tolerance: s.tolerance, now: s.now, timestamped: true}
		r := h.r
		if p.name == "hookvault" {
			// Only the header this source does not read: X-Hub-Signature-256 is GitHub's too.
			r.Header = http.Header{signature.HeaderSignature: h.r.Header.Values(signature.HeaderSignature)}
		}
		t, ok = t.withKeys(keys, r)
		if !ok || t.reason(r) != reasonOK {
			continue
		}
		fix := "set provider: " + p.name
		switch {
		case s.p.name == "hookvault":
			fix = "declare a source with provider: " + p.name + " for this sender and send its deliveries to /webhook/<that source>"
		case p.name == "hookvault":
			fix = "send it to /webhook, or set provider: hmac with header: X-Signature"
		}
		h.add("the request carries %s with this source's secret under provider %s: %s", what, p.name, fix)
	}
}

// signatureHeaders are the headers the source reads its signatures from.
func (s *Source) signatureHeaders() []string {
	if s.p.name == "hookvault" {
		return []string{signature.HeaderSignature, signature.HeaderHubSignature, hWebhookSig, hSvixSig}
	}
	var out []string
	for _, set := range s.p.sig.sets {
		out = append(out, set.sig)
	}
	return out
}

// carried describes p's signature header, with its verb, when the request has it and the source does not
// read it itself.
func carried(p *preset, h http.Header, mine []string) (string, bool) {
	sets := p.sig.sets
	if p.name == "hookvault" {
		sets = []headerSet{{sig: signature.HeaderSignature}}
	}
	for _, set := range sets {
		if len(h.Values(set.sig)) == 0 || slices.Contains(mine, set.sig) {
			continue
		}
		if p.sig.layout == layoutList {
			return "Standard Webhooks headers (" + set.sig + "), which verify", true
		}
		return "the header " + set.sig + ", which verifies", true
	}
	return "", false
}

// hasStandardHeaders is POST /webhook's choice of scheme (internal/signature): any
// Standard Webhooks or Svix header selects Standard Webhooks.
func hasStandardHeaders(h http.Header) bool {
	for _, name := range [...]string{hWebhookID, hWebhookTS, hWebhookSig, hSvixID, hSvixTS, hSvixSig} {
		if len(h.Values(name)) > 0 {
			return true
		}
	}
	return false
}
