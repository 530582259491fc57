package provider

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/hookvault/hookvault/internal/signature"
)

// Bounds on one request, as in internal/signature: a request may carry up to the server's
// 64 KiB of headers, and these keep it from buying more than a few HMACs with them.
const (
	maxHeaderLen  = 4 << 10 // bytes over all values of a signature header, or of a signed id
	maxSignatures = 20      // signatures examined per request
	maxMACSize    = sha512.Size
)

const (
	reasonOK        = signature.Reason("")
	reasonMissing   = signature.ReasonMissing
	reasonMalformed = signature.ReasonMalformed
	reasonMismatch  = signature.ReasonMismatch
	reasonStale     = signature.ReasonStale
	reasonVersion   = signature.ReasonUnsupportedVersion
)

// Verify checks the signature on the raw bytes, before anything parses the body (Mailgun
// signs fields of the body, and Linear's timestamp is in it: those two read the body). It
// returns nil or an *Error. Timestamps are checked at receipt, in both directions.
func (s *Source) Verify(r Request) error {
	if reason := s.reason(r); reason != reasonOK {
		return &Error{Scheme: s.p.name, Reason: reason}
	}
	return nil
}

// reason is Verify's verdict as a Reason, reasonOK when the signature passes.
func (s *Source) reason(r Request) signature.Reason {
	if s.p.special != nil {
		return s.p.special(s, r)
	}
	reason, _ := s.verifyMAC(r)
	return reason
}

func newHMAC(alg func() hash.Hash, key []byte) hash.Hash { return hmac.New(alg, key) }

// wantSet holds the decoded signatures of a request, on the stack.
type wantSet struct {
	n int
	b [maxSignatures][maxMACSize]byte
}

// add decodes one signature. Hex in lower case is compared as the libraries that compare
// strings compare it; base64 must be canonical and padded, for the same reason (a lenient
// decoder would take two spellings of one MAC).
func (w *wantSet) add(enc encoding, size int, s string) bool {
	if w.n == maxSignatures {
		return false
	}
	dst := w.b[w.n][:size]
	switch enc {
	case encHexLower:
		if len(s) != 2*size {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		fallthrough
	case encHexAny:
		if len(s) != 2*size {
			return false
		}
		if _, err := hex.Decode(dst, stringBytes(s)); err != nil {
			return false
		}
	case encBase64:
		if len(s) != base64.StdEncoding.EncodedLen(size) {
			return false
		}
		// DecodedLen bytes: an unpadded 44 characters decode to 33, past a 32-byte MAC.
		var buf [maxMACSize + 2]byte
		n, err := strictBase64.Decode(buf[:], stringBytes(s))
		if err != nil || n != size {
			return false
		}
		copy(dst, buf[:size])
	}
	w.n++
	return true
}

var strictBase64 = base64.StdEncoding.Strict()

// stringBytes views s as bytes for a function that only reads them (a hash, a decoder), so
// that verifying allocates nothing for header values.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// verifyMAC runs a preset's sigSpec. It returns the reason, and on success the index of the
// secret that verified (Zoom's handshake answers under that secret). Checks run cheapest
// first: no HMAC is computed for a malformed or stale request.
func (s *Source) verifyMAC(r Request) (signature.Reason, int) {
	sp := &s.p.sig
	set, values := pickSet(sp.sets, r.Header)
	if values == nil {
		return reasonMissing, -1
	}
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > maxHeaderLen || len(values) > maxSignatures || s.p.needsBody && len(r.Body) == 0 {
		return reasonMalformed, -1
	}

	var w wantSet
	var c content
	c.parts, c.body = sp.content, r.Body
	switch sp.layout {
	case layoutPlain:
		for _, v := range values {
			if rest, ok := strings.CutPrefix(v, sp.prefix); ok {
				w.add(sp.enc, sp.size, rest)
			}
		}
		if w.n == 0 {
			return reasonMalformed, -1
		}
	case layoutPairs:
		if reason := parsePairs(sp, values, &w, &c.ts); reason != reasonOK {
			return reason, -1
		}
	case layoutList:
		if reason := parseList(sp, values, &w); reason != reasonOK {
			return reason, -1
		}
	}

	switch sp.ts.from {
	case tsHeader:
		v, ok := single(r.Header, set.ts)
		if !ok {
			return reasonMalformed, -1
		}
		c.ts = v
	case tsBody:
		v, ok := bodyTimestamp(sp.ts, r)
		if !ok {
			return reasonMalformed, -1
		}
		c.ts = v
	}
	if sp.ts.from != tsNone {
		t, ok := parseTime(c.ts, sp.ts.unit)
		if !ok {
			return reasonMalformed, -1
		}
		if !s.fresh(t) {
			return reasonStale, -1
		}
	}
	if set.id != "" {
		v, ok := single(r.Header, set.id)
		if !ok || v == "" || len(v) > maxHeaderLen {
			return reasonMalformed, -1
		}
		c.id = v
	}
	if s.p.needsURL {
		c.urls, c.query = s.urls, rawQuery(r)
		c.method = r.Method
		if c.method == "" {
			c.method = http.MethodPost
		}
	}
	if k := s.match(&w, &c); k >= 0 {
		return reasonOK, k
	}
	return reasonMismatch, -1
}

// pickSet returns the first header set whose signature header is present, and its values.
func pickSet(sets []headerSet, h http.Header) (headerSet, []string) {
	for _, set := range sets {
		if vs := h.Values(set.sig); len(vs) > 0 {
			return set, vs
		}
	}
	return headerSet{}, nil
}

// single returns a header's value when it is sent exactly once: two timestamps or ids leave
// it open which one was signed.
func single(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	if len(vs) != 1 {
		return "", false
	}
	return vs[0], true
}

// parsePairs reads `t=…,v1=…,v1=…` (or Paddle's `ts=…;h1=…`). As stripe-go's
// parseSignatureHeader does, every part must split on `=` into exactly two (so an empty
// part, from a trailing or doubled separator, or a part such as `x=a=b` makes the header
// invalid), a signature that does not decode is skipped, and other keys (Stripe's test v0)
// are ignored; a timestamp that is not a number, or a second one (it would be unclear
// which was signed), makes it invalid too. Paddle and Calendly are held to the same rule:
// their senders write no other form.
func parsePairs(sp *sigSpec, values []string, w *wantSet, ts *string) signature.Reason {
	sigs, seenTS := 0, false
	for _, v := range values {
		for pair := range strings.SplitSeq(v, string(sp.pairSep)) {
			key, val, ok := strings.Cut(pair, "=")
			if !ok || strings.IndexByte(val, '=') >= 0 {
				return reasonMalformed
			}
			switch key {
			case sp.tsKey:
				if seenTS || !allDigits(val) {
					return reasonMalformed
				}
				seenTS, *ts = true, val
			case sp.sigKey:
				if sigs++; sigs > maxSignatures {
					return reasonMalformed
				}
				w.add(sp.enc, sp.size, val)
			}
		}
	}
	switch {
	case !seenTS:
		return reasonMalformed
	case sigs == 0:
		return reasonVersion
	case w.n == 0:
		return reasonMalformed
	}
	return reasonOK
}

// parseList reads Standard Webhooks' space-separated `v1,<base64>` entries. Other versions
// (v1a is Ed25519) are skipped, as the specification asks, so a sender can add them first.
func parseList(sp *sigSpec, values []string, w *wantSet) signature.Reason {
	reason, entries := reasonVersion, 0
	for _, v := range values {
		for entry := range strings.FieldsSeq(v) {
			if entries++; entries > maxSignatures {
				return reasonMalformed
			}
			version, sig, ok := strings.Cut(entry, ",")
			switch {
			case !ok:
				reason = reasonMalformed
			case version != sp.version:
			case !w.add(sp.enc, sp.size, sig):
				reason = reasonMalformed
			}
		}
	}
	switch {
	case entries == 0:
		return reasonMalformed
	case w.n == 0:
		return reason
	}
	return reasonOK
}

// bodyTimestamp reads a timestamp from the body, or from the fallback header when the body
// has no such field (Linear's webhookTimestamp, then linear-timestamp).
func bodyTimestamp(spec tsSpec, r Request) (string, bool) {
	var found [1]span
	if !scanJSON(r.Body, spec.field, found[:]) {
		return "", false
	}
	if found[0].to != 0 {
		return digitsValue(r.Body, found[0])
	}
	v, ok := single(r.Header, spec.fallback)
	return v, ok && allDigits(v)
}

// parseTime reads a timestamp in its unit. Seconds and milliseconds are digits only: a sign
// or a space would be signed as sent yet read as the same number.
func parseTime(s string, unit tsUnit) (time.Time, bool) {
	switch unit {
	case unitSeconds:
		n, ok := parseDigits(s)
		return time.Unix(n, 0), ok
	case unitMillis:
		n, ok := parseDigits(s)
		return time.UnixMilli(n), ok
	}
	if len(s) > 64 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// fresh reports whether t is within the tolerance of now, either way: a sender's clock may
// be ahead of ours as well as behind, and a future timestamp would let a capture be
// replayed for longer than the window.
func (s *Source) fresh(t time.Time) bool {
	d := s.now().Sub(t)
	return d <= s.tolerance && d >= -s.tolerance
}

// rawQuery is the request's query as received: the bytes the provider signed.
func rawQuery(r Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

// content is what one request signs, written piece by piece into each secret's HMAC.
type content struct {
	parts  []part
	body   []byte
	ts, id string
	method string
	urls   []string // URL forms to try; each is one HMAC per secret
	query  string
	params []string // Twilio: name, value, name, value… in signing order
}

var questionMark = []byte{'?'}

func (c *content) writeTo(h hash.Hash, variant int) {
	for _, p := range c.parts {
		switch p.kind {
		case partLit:
			h.Write(p.lit)
		case partBody:
			h.Write(c.body)
		case partTS:
			h.Write(stringBytes(c.ts))
		case partID:
			h.Write(stringBytes(c.id))
		case partMethod:
			h.Write(stringBytes(c.method))
		case partURL:
			h.Write(stringBytes(c.urls[variant]))
			if c.query != "" {
				h.Write(questionMark)
				h.Write(stringBytes(c.query))
			}
		case partParams:
			for _, s := range c.params {
				h.Write(stringBytes(s))
			}
		}
	}
}

// match computes each secret's MAC of the content (of each URL form) and compares it with
// every signature, in constant time and with no early exit, so the time taken says nothing
// of which secret or which signature matched. It returns the first secret that verified,
// or -1.
func (s *Source) match(w *wantSet, c *content) int {
	size := s.p.sig.size
	variants := max(1, len(c.urls))
	matched := -1
	for k := range s.keys {
		st := s.keys[k].pool.Get().(*macState)
		for v := 0; v < variants; v++ {
			st.h.Reset()
			c.writeTo(st.h, v)
			got := st.h.Sum(st.sum[:0])
			eq := 0
			for i := 0; i < w.n; i++ {
				eq |= subtle.ConstantTimeCompare(got, w.b[i][:size])
			}
			if eq == 1 && matched < 0 {
				matched = k
			}
		}
		s.keys[k].pool.Put(st)
	}
	return matched
}

// verifyHookvault is POST /webhook's scheme, through internal/signature unchanged.
func verifyHookvault(s *Source, r Request) signature.Reason {
	_, err := s.hv.Verify(r.Header, r.Body)
	if err == nil {
		return reasonOK
	}
	var se *signature.Error
	if errors.As(err, &se) {
		return se.Reason
	}
	return reasonMalformed
}

// verifyTwilio checks X-Twilio-Signature: base64 HMAC-SHA1 of the public URL (with the
// request's query) followed by the form parameters sorted by name, each name then value.
// A repeated name contributes each of its distinct values, sorted, as twilio-python and
// twilio-node sign it (twilio-go keeps only the first value; TestTwilioRepeatedKeys). A
// JSON body is not in the signature: Twilio puts bodySHA256 in the URL instead, and the
// body must hash to it.
func verifyTwilio(s *Source, r Request) signature.Reason {
	values := r.Header.Values(hTwilioSig)
	switch {
	case len(values) == 0:
		return reasonMissing
	case len(values) > 1 || len(values[0]) > maxHeaderLen:
		return reasonMalformed
	}
	var w wantSet
	if !w.add(encBase64, sha1.Size, values[0]) {
		return reasonMalformed
	}
	c := content{parts: twilioParts, urls: s.urls, query: rawQuery(r)}
	// As twilio-go's URL.Query, a query that does not fully parse still gives its good pairs.
	query, _ := url.ParseQuery(c.query)
	if hashes, ok := query["bodySHA256"]; ok {
		sum := sha256.Sum256(r.Body)
		var want [2 * sha256.Size]byte
		hex.Encode(want[:], sum[:])
		bodyOK := subtle.ConstantTimeCompare(stringBytes(hashes[0]), want[:]) == 1
		if s.match(&w, &c) >= 0 && bodyOK {
			return reasonOK
		}
		return reasonMismatch
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return reasonMalformed
	}
	c.params = twilioParams(form)
	if s.match(&w, &c) >= 0 {
		return reasonOK
	}
	return reasonMismatch
}

var twilioParts = []part{pubURL, {kind: partParams}}

// twilioParams orders form parameters as Twilio signs them: names in byte order (Unix
// sort, `Reason` before `ReasonConferenceEnded`), each name's distinct values sorted.
func twilioParams(form url.Values) []string {
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	slices.Sort(names)
	params := make([]string, 0, 2*len(form))
	for _, name := range names {
		vals := slices.Clone(form[name])
		slices.Sort(vals)
		for _, v := range slices.Compact(vals) {
			params = append(params, name, v)
		}
	}
	return params
}

// verifyDiscord checks X-Signature-Ed25519, hex, over X-Signature-Timestamp followed by the
// body, with the application's public key.
func verifyDiscord(s *Source, r Request) signature.Reason {
	sigs, stamps := r.Header.Values(hDiscordSig), r.Header.Values(hDiscordTS)
	switch {
	case len(sigs) == 0:
		return reasonMissing
	case len(sigs) != 1 || len(stamps) != 1:
		return reasonMalformed
	}
	var sig [ed25519.SignatureSize]byte
	if len(sigs[0]) != hex.EncodedLen(len(sig)) {
		return reasonMalformed
	}
	if _, err := hex.Decode(sig[:], stringBytes(sigs[0])); err != nil {
		return reasonMalformed
	}
	t, ok := parseTime(stamps[0], unitSeconds)
	if !ok {
		return reasonMalformed
	}
	if !s.fresh(t) {
		return reasonStale
	}
	msg := make([]byte, 0, len(stamps[0])+len(r.Body))
	msg = append(append(msg, stamps[0]...), r.Body...)
	if ed25519.Verify(s.pub, msg, sig[:]) {
		return reasonOK
	}
	return reasonMismatch
}

// mailgunFields are where Mailgun puts its signature: inside the JSON body.
var mailgunFields = []pointer{
	mustPointer("/signature/timestamp"), mustPointer("/signature/token"), mustPointer("/signature/signature"),
}

// verifyMailgun checks the body's signature object: hex HMAC-SHA256 of timestamp followed
// by token under the webhook signing key. A body that is not JSON, or has no signature
// object, carries no signature.
func verifyMailgun(s *Source, r Request) signature.Reason {
	var found [3]span
	if !scanJSON(r.Body, mailgunFields, found[:]) || found[2].to == 0 {
		return reasonMissing
	}
	stamp, ok := digitsValue(r.Body, found[0])
	if !ok {
		return reasonMalformed
	}
	token := valueAt(r.Body, found[1])
	sig := valueAt(r.Body, found[2])
	if !token.present || token.problem != "" || len(token.text) > maxHeaderLen || r.Body[found[1].from] != '"' ||
		!sig.present || r.Body[found[2].from] != '"' {
		return reasonMalformed
	}
	var w wantSet
	if !w.add(encHexAny, sha256.Size, sig.text) {
		return reasonMalformed
	}
	t, _ := parseTime(stamp, unitSeconds)
	if !s.fresh(t) {
		return reasonStale
	}
	c := content{parts: mailgunParts, ts: stamp, id: token.text}
	if s.match(&w, &c) >= 0 {
		return reasonOK
	}
	return reasonMismatch
}

var mailgunParts = []part{ts, id}

func mustPointer(s string) pointer {
	p, err := parsePointer(s)
	if err != nil {
		panic(err)
	}
	return p
}
