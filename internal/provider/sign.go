package provider

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

// Sign adds to r what provider c.Provider would send for r.Body signed with secret at time
// now: the signature headers (for Twilio over c.URL, r.URL's query and the form parameters,
// or bodySHA256 added to r.URL for a JSON body; for Discord the secret is the Ed25519 private
// key seed in hex; Mailgun's signature object goes into the JSON body and Linear's
// webhookTimestamp too, so Sign may rewrite r.Body), and the id and type headers the preset
// reads when r has none, so that `hookctl send --provider github` makes a delivery the
// server stores. c is checked as New checks it, with secret as its only secret.
func Sign(c Config, secret string, r *Request, now time.Time) error {
	if r == nil {
		return errors.New("sign: no request")
	}
	sc := c
	if sc.Name == "" {
		sc.Name = "sign"
	}
	var priv ed25519.PrivateKey
	if presetOf(c.Provider) == "discord" {
		seed, err := hex.DecodeString(secret)
		if err != nil || len(seed) != ed25519.SeedSize {
			return errors.New("sign: for discord the secret is the Ed25519 private key seed, 32 bytes of hex")
		}
		priv = ed25519.NewKeyFromSeed(seed)
		sc.Secrets, sc.PublicKey = nil, hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	} else {
		sc.Secrets, sc.PublicKey = []string{secret}, ""
	}
	s, err := New(sc, Options{Now: func() time.Time { return now }})
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if r.URL == nil {
		r.URL = &url.URL{}
	}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	s.setIDHeaders(r)

	switch s.p.name {
	case "hookvault":
		r.Header.Set(signature.HeaderSignature, signature.Sign([]byte(secret), r.Body))
	case "twilio":
		err = s.signTwilio(r)
	case "discord":
		stamp := strconv.FormatInt(now.Unix(), 10)
		sig := ed25519.Sign(priv, append([]byte(stamp), r.Body...))
		r.Header.Set(hDiscordSig, hex.EncodeToString(sig))
		r.Header.Set(hDiscordTS, stamp)
	case "mailgun":
		err = s.signMailgun(r, now)
	default:
		err = s.signMAC(r, now)
	}
	if err != nil {
		return fmt.Errorf("sign for %s: %w", s.p.name, err)
	}
	return nil
}

func presetOf(provider string) string {
	if a, ok := aliases[provider]; ok {
		return a
	}
	return provider
}

// setIDHeaders sets the id header the id rule reads, and the type headers the provider
// sends, when the request has none.
func (s *Source) setIDHeaders(r *Request) {
	if len(s.id) > 0 && s.id[0].kind == ruleHeader {
		present := false
		for _, rl := range s.id {
			present = present || rl.kind == ruleHeader && r.Header.Get(rl.name) != ""
		}
		if !present {
			gen := s.p.signID
			if gen == nil {
				gen = randomText
			}
			r.Header.Set(s.id[0].name, gen())
		}
	}
	for i := 0; i+1 < len(s.p.signType); i += 2 {
		if r.Header.Get(s.p.signType[i]) == "" {
			r.Header.Set(s.p.signType[i], s.p.signType[i+1])
		}
	}
}

func stampOf(unit tsUnit, now time.Time) string {
	switch unit {
	case unitMillis:
		return strconv.FormatInt(now.UnixMilli(), 10)
	case unitRFC3339:
		return now.UTC().Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(now.Unix(), 10)
}

func encode(enc encoding, mac []byte) string {
	if enc == encBase64 {
		return base64.StdEncoding.EncodeToString(mac)
	}
	return hex.EncodeToString(mac)
}

// signMAC signs with a preset's sigSpec: the same content the verifier computes.
func (s *Source) signMAC(r *Request, now time.Time) error {
	sp := &s.p.sig
	set := sp.sets[s.p.signSet]
	for _, st := range sp.sets {
		if st.id != "" && r.Header.Get(st.id) != "" {
			set = st
			break
		}
	}
	c := content{parts: sp.content}
	if sp.ts.from != tsNone {
		c.ts = stampOf(sp.ts.unit, now)
	}
	if sp.ts.from == tsBody {
		b, err := setMember(r.Body, sp.ts.field[0].tokens[0], []byte(c.ts))
		if err != nil {
			return err
		}
		r.Body = b
	}
	c.body = r.Body
	if set.id != "" {
		c.id = r.Header.Get(set.id)
	}
	if s.p.needsURL {
		c.urls, c.query, c.method = s.urls[:1], r.URL.RawQuery, r.Method
	}
	h := newHMAC(sp.alg, s.keys[0].key)
	c.writeTo(h, 0)
	mac := encode(sp.enc, h.Sum(nil))
	var value string
	switch sp.layout {
	case layoutPlain:
		value = sp.prefix + mac
	case layoutPairs:
		value = sp.tsKey + "=" + c.ts + string(sp.pairSep) + sp.sigKey + "=" + mac
	case layoutList:
		value = sp.version + "," + mac
	}
	r.Header.Set(set.sig, value)
	if sp.ts.from == tsHeader {
		r.Header.Set(set.ts, c.ts)
	}
	return nil
}

// signTwilio signs a form body's parameters, or for a JSON body adds bodySHA256 to the
// query and signs the URL alone, as Twilio does.
func (s *Source) signTwilio(r *Request) error {
	c := content{parts: twilioParts, urls: s.urls[:1]}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if isJSONMediaType(strings.ToLower(strings.TrimSpace(ct))) {
		sum := sha256.Sum256(r.Body)
		var kept []string
		for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if pair != "" && !strings.HasPrefix(pair, "bodySHA256=") {
				kept = append(kept, pair)
			}
		}
		r.URL.RawQuery = strings.Join(append(kept, "bodySHA256="+hex.EncodeToString(sum[:])), "&")
	} else {
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return errors.New("the body is not a form; Twilio sends application/x-www-form-urlencoded or JSON")
		}
		c.params = twilioParams(form)
	}
	c.query = r.URL.RawQuery
	h := newHMAC(s.p.sig.alg, s.keys[0].key)
	c.writeTo(h, 0)
	r.Header.Set(hTwilioSig, base64.StdEncoding.EncodeToString(h.Sum(nil)))
	return nil
}

// signMailgun puts Mailgun's signature object into the body, keeping a token the body
// already has (the id), else making one of Mailgun's 50 characters.
func (s *Source) signMailgun(r *Request, now time.Time) error {
	var found [3]span
	if !scanJSON(r.Body, mailgunFields, found[:]) {
		return errors.New("the body is not JSON")
	}
	token := valueAt(r.Body, found[1])
	if !token.present || token.problem != "" || token.text == "" {
		b := make([]byte, 25)
		rand.Read(b)
		token.text = hex.EncodeToString(b)
	}
	stamp := strconv.FormatInt(now.Unix(), 10)
	h := newHMAC(s.p.sig.alg, s.keys[0].key)
	h.Write([]byte(stamp + token.text))
	obj, err := json.Marshal(struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	}{stamp, token.text, hex.EncodeToString(h.Sum(nil))})
	if err != nil {
		return err
	}
	b, err := setMember(r.Body, "signature", obj)
	if err != nil {
		return err
	}
	r.Body = b
	return nil
}

// setMember sets a top-level member of a JSON object body to value, replacing its value if
// it is there (its last occurrence, the one decoders keep) and otherwise adding it first;
// every other byte of the body stays as it was.
func setMember(body []byte, name string, value []byte) ([]byte, error) {
	p, err := parsePointer("/" + strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1"))
	if err != nil {
		return nil, err
	}
	var found [1]span
	if !scanJSON(body, []pointer{p}, found[:]) {
		return nil, errors.New("the body is not JSON")
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	out := make([]byte, 0, len(body)+len(name)+len(value)+4)
	if sp := found[0]; sp.to != 0 {
		out = append(append(append(out, body[:sp.from]...), value...), body[sp.to:]...)
		return out, nil
	}
	key, _ := json.Marshal(name)
	out = append(append(append(append(out, body[:i+1]...), key...), ':'), value...)
	if body[skipSpace(body, i+1)] != '}' {
		out = append(out, ',')
	}
	return append(out, body[i+1:]...), nil
}

func randomText() string { return rand.Text() }

// randomUUID is a version 4 UUID, the form of GitHub's and Shopify's delivery ids.
func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
