package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxIDChars bounds ids and types: POST /webhook's id is 1–256 characters, so an id from any
// source fits where a POST /webhook id fits, and the hookvault preset accepts exactly the ids
// POST /webhook accepts. A sha256 id is 71.
const maxIDChars = 256

type ruleKind uint8

const (
	ruleHeader ruleKind = iota + 1
	ruleJSON
	ruleForm
	ruleSHA256
)

// rule says where an id or a type is: a header, a JSON field, a form field, or (ids only)
// the hash of the body.
type rule struct {
	kind  ruleKind
	text  string // as written, for Info and messages
	name  string // header: canonical name; form: field name
	ptr   pointer
	where string // where the value comes from, for messages: "header X-GitHub-Delivery"
}

// rules are alternatives: the first that finds a value gives it.
type rules []rule

func (rs rules) String() string {
	texts := make([]string, len(rs))
	for i, r := range rs {
		texts[i] = r.text
	}
	return strings.Join(texts, " else ")
}

func parseRule(s string) (rule, error) {
	if len(s) > maxRuleBytes {
		return rule{}, fmt.Errorf("longer than %d bytes", maxRuleBytes)
	}
	if s == "sha256" {
		return rule{kind: ruleSHA256, text: s}, nil
	}
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "header":
		if !validHeaderName(arg) {
			return rule{}, fmt.Errorf("%q: %q is not a valid header name", clip(s), clip(arg))
		}
		return rule{kind: ruleHeader, text: s, name: http.CanonicalHeaderKey(arg), where: "header " + arg}, nil
	case "json":
		p, err := parsePointer(arg)
		if err != nil {
			return rule{}, fmt.Errorf("%q: %w", clip(s), err)
		}
		return rule{kind: ruleJSON, text: s, ptr: p, where: "body field " + p.text}, nil
	case "form":
		if arg == "" || strings.ContainsFunc(arg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return rule{}, fmt.Errorf("%q: give the form field's name after form:", clip(s))
		}
		return rule{kind: ruleForm, text: s, name: arg, where: "form field " + arg}, nil
	}
	return rule{}, fmt.Errorf("%q is not header:NAME, json:/pointer, form:NAME or sha256", clip(s))
}

func mustRules(texts ...string) rules {
	rs := make(rules, len(texts))
	for i, t := range texts {
		r, err := parseRule(t)
		if err != nil {
			panic(err)
		}
		rs[i] = r
	}
	return rs
}

// readPlan is what Read looks for, worked out once at New: every JSON pointer of the id and
// type rules and of the handshake, so that one scan of the body finds them all.
type readPlan struct {
	ptrs  []pointer
	index map[string]int // pointer text → position in ptrs
	// formDoc: a form body's payload field is read as JSON. The presets whose senders put
	// JSON there always read it; the generic scheme takes any body, so it reads it only
	// when a json: rule for form bodies needs it, and a form whose payload is text is
	// stored like any other body.
	formDoc bool
}

const maxReadPtrs = 16

// Pointers the handshakes read.
var (
	ptrType       = mustPointer("/type")
	ptrChallenge  = mustPointer("/challenge")
	ptrEvent      = mustPointer("/event")
	ptrPlainToken = mustPointer("/payload/plainToken")
)

func planRead(s *Source) readPlan {
	pl := readPlan{index: map[string]int{}}
	add := func(p pointer) {
		if _, ok := pl.index[p.text]; !ok {
			pl.index[p.text] = len(pl.ptrs)
			pl.ptrs = append(pl.ptrs, p)
		}
	}
	for _, rs := range []rules{s.id, s.typ, s.formID, s.formTyp} {
		for _, r := range rs {
			if r.kind == ruleJSON {
				add(r.ptr)
			}
		}
	}
	switch s.p.challenge {
	case challengeSlack:
		add(ptrType)
		add(ptrChallenge)
	case challengeZoom:
		add(ptrEvent)
		add(ptrPlainToken)
	case challengeTwitch:
		add(ptrChallenge)
	case challengeDiscord:
		add(ptrType)
	}
	if len(pl.ptrs) > maxReadPtrs {
		panic("provider: too many pointers for one read")
	}
	pl.formDoc = s.p.formPayload
	if s.p.media&mediaAny != 0 {
		for _, r := range slices.Concat(s.formID, s.formTyp) {
			pl.formDoc = pl.formDoc || r.kind == ruleJSON
		}
	}
	return pl
}

// reader holds one Read: the body's form fields or JSON document and what the scan found.
type reader struct {
	s       *Source
	r       *Request
	form    url.Values // nil unless the body is a form
	doc     []byte     // the JSON document: the body, or a form's payload field
	hasDoc  bool
	docName string // "body", or "form field payload"
	found   []span
}

// Read gives a verified delivery its id and type, or says that it is a handshake to answer
// at once (not stored). An error is a *ReadError whose Detail tells the sender what is
// missing, or, for a Zoom handshake, a plain error when the request did not verify (Read
// runs only after Verify). The body is read in one pass, decoding only the strings kept.
func (s *Source) Read(r Request) (Delivery, error) {
	var found [maxReadPtrs]span
	d := reader{s: s, r: &r, found: found[:len(s.read.ptrs)]}
	idRules, typRules := s.id, s.typ
	form := s.p.media&(mediaForm|mediaAny) != 0 && isForm(r.Header)
	switch {
	case form:
		values, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return Delivery{}, readErrorf("body is not a valid application/x-www-form-urlencoded form")
		}
		d.form = values
		idRules, typRules = s.formID, s.formTyp
		if s.read.formDoc {
			payload := values["payload"]
			switch {
			case len(payload) > 1:
				return Delivery{}, readErrorf("form field payload is repeated")
			case len(payload) == 1:
				d.doc, d.hasDoc, d.docName = []byte(payload[0]), true, "form field payload"
				if err := r.checkJSON(d.doc, d.docName); err != nil {
					return Delivery{}, err
				}
				if !scanJSON(d.doc, s.read.ptrs, d.found) {
					return Delivery{}, readErrorf("form field payload is not JSON")
				}
			case s.p.name == "github":
				return Delivery{}, readErrorf("form field payload is missing: GitHub sends its JSON there")
			}
		}
	case s.p.jsonBody || len(s.read.ptrs) > 0:
		d.doc, d.hasDoc, d.docName = r.Body, true, "body"
		if err := r.checkJSON(d.doc, d.docName); err != nil {
			return Delivery{}, err
		}
		if !scanJSON(d.doc, s.read.ptrs, d.found) {
			return Delivery{}, readErrorf("body is not JSON")
		}
	}

	if ch, err := d.challenge(); ch != nil || err != nil {
		return Delivery{Challenge: ch}, err
	}

	id, where, err := d.first(idRules)
	if err != nil {
		return Delivery{}, err
	}
	if where == "" {
		return Delivery{}, readErrorf("%s", d.missing(idRules[0]))
	}
	if utf8.RuneCountInString(id) > maxIDChars {
		return Delivery{}, readErrorf("%s is longer than %d characters, the id limit", where, maxIDChars)
	}
	del := Delivery{ID: id}
	typ, where, err := d.first(typRules)
	switch {
	case err != nil:
		return Delivery{}, err
	case utf8.RuneCountInString(typ) > maxIDChars:
		return Delivery{}, readErrorf("%s is longer than %d characters, the type limit", where, maxIDChars)
	case typ != "":
		del.Type, del.HasType = typ, true
	}
	return del, nil
}

// checkJSON runs the caller's CheckJSON on a document Read is about to parse, if it set one.
func (r *Request) checkJSON(doc []byte, name string) error {
	if r.CheckJSON == nil {
		return nil
	}
	return r.CheckJSON(doc, name)
}

// isForm reports whether the Content-Type is application/x-www-form-urlencoded, whatever its
// parameters and case, without allocating.
func isForm(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// first returns the value of the first rule that finds one, with where it came from ("" if
// none did); an empty value counts as none, so the next rule is tried. A value that is there
// but unusable (an object where an id should be, bytes
// that are not UTF-8) is an error at once, not a reason to look further.
func (d *reader) first(rs rules) (value, where string, err error) {
	for _, r := range rs {
		v, w, err := d.value(r)
		if err != nil || w != "" {
			return v, w, err
		}
	}
	return "", "", nil
}

// value reads one rule: the value and where it came from, or where == "" when there is none.
func (d *reader) value(r rule) (string, string, error) {
	switch r.kind {
	case ruleHeader:
		vs := d.r.Header.Values(r.name)
		where := r.where
		switch {
		case len(vs) == 0 || vs[0] == "" && len(vs) == 1:
			return "", "", nil
		case len(vs) > 1:
			return "", "", readErrorf("%s is repeated", where)
		case !utf8.ValidString(vs[0]):
			return "", "", readErrorf("%s is not valid UTF-8", where)
		}
		return vs[0], where, nil
	case ruleJSON:
		if !d.hasDoc {
			return "", "", nil
		}
		v := valueAt(d.doc, d.found[d.s.read.index[r.ptr.text]])
		where := r.where
		if d.docName != "body" {
			where = d.docName + " field " + r.ptr.text
		}
		switch {
		case !v.present || v.text == "" && v.problem == "":
			return "", "", nil
		case v.problem != "":
			return "", "", readErrorf("%s %s", where, v.problem)
		}
		return v.text, where, nil
	case ruleForm:
		if d.form == nil {
			return "", "", nil
		}
		vs := d.form[r.name]
		where := r.where
		switch {
		case len(vs) == 0 || vs[0] == "" && len(vs) == 1:
			return "", "", nil
		case len(vs) > 1:
			return "", "", readErrorf("%s is repeated", where)
		case !utf8.ValidString(vs[0]):
			return "", "", readErrorf("%s is not valid UTF-8", where)
		}
		return vs[0], where, nil
	}
	sum := sha256.Sum256(d.r.Body)
	return "sha256:" + hex.EncodeToString(sum[:]), "sha256", nil
}

// missing says why a rule found no id, for the 422.
func (d *reader) missing(r rule) string {
	switch r.kind {
	case ruleHeader:
		if vs := d.r.Header.Values(r.name); len(vs) > 0 {
			return r.where + " is empty"
		}
		return r.where + " is missing"
	case ruleForm:
		if d.form == nil {
			return "body is not a form, so it has no field " + r.name
		}
		if len(d.form[r.name]) > 0 {
			return "form field " + r.name + " is empty"
		}
		return "form field " + r.name + " is missing"
	}
	if !d.hasDoc {
		if d.form != nil {
			return "form field payload is missing, so there is no field " + r.ptr.text
		}
		return "body is not JSON"
	}
	if sp := d.found[d.s.read.index[r.ptr.text]]; sp.to != 0 {
		if d.doc[sp.from] == '"' {
			return d.docName + " field " + r.ptr.text + " is empty"
		}
		return d.docName + " field " + r.ptr.text + " is null"
	}
	return d.docName + " field " + r.ptr.text + " is missing"
}

// challenge recognises a provider's handshake. It runs after Verify, so only a signed
// handshake is ever answered.
func (d *reader) challenge() (*Challenge, error) {
	if !d.hasDoc || d.form != nil {
		return nil, nil
	}
	switch d.s.p.challenge {
	case challengeSlack:
		if t, _, _ := d.str(ptrType); t != "url_verification" {
			return nil, nil
		}
		c, err := d.need(ptrChallenge)
		if err != nil {
			return nil, err
		}
		return &Challenge{ContentType: "text/plain; charset=utf-8", Body: []byte(c)}, nil
	case challengeTwitch:
		if v, _ := single(d.r.Header, hTwitchType); v != "webhook_callback_verification" {
			return nil, nil
		}
		c, err := d.need(ptrChallenge)
		if err != nil {
			return nil, err
		}
		return &Challenge{ContentType: "text/plain; charset=utf-8", Body: []byte(c)}, nil
	case challengeDiscord:
		sp := d.found[d.s.read.index[ptrType.text]]
		if sp.to == 0 || string(d.doc[sp.from:sp.to]) != "1" { // the number 1, PING
			return nil, nil
		}
		return &Challenge{ContentType: "application/json", Body: []byte(`{"type":1}`)}, nil
	case challengeZoom:
		if e, _, _ := d.str(ptrEvent); e != "endpoint.url_validation" {
			return nil, nil
		}
		plain, err := d.need(ptrPlainToken)
		if err != nil {
			return nil, err
		}
		return d.s.zoomAnswer(*d.r, plain)
	}
	return nil, nil
}

// str is the string at p, and whether there is one.
func (d *reader) str(p pointer) (string, bool, error) {
	sp := d.found[d.s.read.index[p.text]]
	v := valueAt(d.doc, sp)
	if v.problem != "" {
		// Concatenated, not formatted: boxing d's fields for fmt would move the whole
		// reader, and the scan's spans with it, to the heap on every Read.
		return "", false, &ReadError{Detail: d.docName + " field " + p.text + " " + v.problem}
	}
	return v.text, v.present && d.doc[sp.from] == '"', nil
}

// need is the string at p, which a handshake cannot do without.
func (d *reader) need(p pointer) (string, error) {
	v, ok, err := d.str(p)
	if err == nil && !ok {
		err = &ReadError{Detail: d.docName + " field " + p.text + " is missing or not a string"}
	}
	return v, err
}

// zoomAnswer is Zoom's URL validation answer: the plainToken and its hex HMAC-SHA256 under
// the secret that verified the request (Zoom Rivet's hashUrlValidationEvent).
func (s *Source) zoomAnswer(r Request, plain string) (*Challenge, error) {
	reason, k := s.verifyMAC(r)
	if reason != reasonOK {
		return nil, errors.New("zoom url validation: the request does not verify; Read runs after Verify")
	}
	mac := hmac.New(sha256.New, s.keys[k].key)
	mac.Write([]byte(plain))
	b, err := json.Marshal(struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}{plain, hex.EncodeToString(mac.Sum(nil))})
	if err != nil {
		return nil, fmt.Errorf("zoom url validation answer: %w", err)
	}
	return &Challenge{ContentType: "application/json", Body: b}, nil
}
