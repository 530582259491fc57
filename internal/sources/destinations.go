package sources

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/signature"
)

// Defaults of a destination: timeout and max_attempts as SPEC's example shows them; a
// concurrency of 4, where the example shows 8, since more in flight per destination cost
// ingest its share of this machine while a backlog drains (README, "Forwarding").
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 15
	DefaultConcurrency = 4
	// MaxConcurrency bounds one destination's attempts in flight (and so its goroutines and
	// connections).
	MaxConcurrency = 64
	// maxMaxAttempts keeps a delivery from being retried for weeks at the 1 h cap.
	maxMaxAttempts = 100
	maxTimeout     = 5 * time.Minute
)

type destinationSpec struct {
	Name        string   `yaml:"name"`
	URL         string   `yaml:"url"`
	NATSSubject string   `yaml:"nats_subject"`
	Sources     []string `yaml:"sources"`
	Types       []string `yaml:"types"`
	Secret      string   `yaml:"secret"`
	Timeout     string   `yaml:"timeout"`
	MaxAttempts int      `yaml:"max_attempts"`
	Concurrency int      `yaml:"concurrency"`
}

// Destination is where messages are forwarded: an HTTP endpoint of the user's app (URL) or a
// NATS JetStream subject (NATSSubject). Exactly one of the two is set.
type Destination struct {
	Name        string
	URL         string
	NATSSubject string
	// Key is the Standard Webhooks signing key of an HTTP destination (the decoded whsec_).
	Key         []byte
	Timeout     time.Duration
	MaxAttempts int
	Concurrency int

	sources []string         // nil: every source
	types   []*regexp.Regexp // nil: every message, with a type or not
}

// Matches reports whether a message of source with the event type typ goes to d. A types
// filter never matches a message without a type.
func (d *Destination) Matches(source, typ string) bool {
	if d.sources != nil && !slices.Contains(d.sources, source) {
		return false
	}
	if d.types == nil {
		return true
	}
	if typ == "" {
		return false
	}
	for _, re := range d.types {
		if re.MatchString(typ) {
			return true
		}
	}
	return false
}

// Subject fills in a NATS destination's subject for a message: a type's dots make further
// tokens; characters NATS gives a meaning to (wildcards, whitespace) become _, as does a
// missing type or an empty token.
func (d *Destination) Subject(source, typ string) string {
	return strings.NewReplacer("{source}", subjectPart(source), "{type}", subjectPart(typ)).Replace(d.NATSSubject)
}

func subjectPart(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for _, tok := range strings.Split(s, ".") {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if tok == "" {
			b.WriteByte('_')
			continue
		}
		for _, r := range tok {
			if r == '*' || r == '>' || r <= ' ' || r == 0x7f || r == '\u00a0' || r == '\ufeff' || r == '\u2028' || r == '\u2029' || r == '\u0085' {
				r = '_'
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Destinations returns the destinations in the file's order.
func (s *Set) Destinations() []*Destination {
	if s == nil {
		return nil
	}
	return s.destinations
}

// DestinationsFor returns the names of the destinations a message of source with type typ
// goes to; nil when none (the common case costs no allocation).
func (s *Set) DestinationsFor(source, typ string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, d := range s.destinations {
		if d.Matches(source, typ) {
			out = append(out, d.Name)
		}
	}
	return out
}

// subjectTemplate is a NATS subject with {source} and {type} placeholders: dot-separated
// tokens of visible characters, no wildcards.
var subjectTemplate = regexp.MustCompile(`^[^.\s*>]+(\.[^.\s*>]+)*$`)

func buildDestinations(specs []destinationSpec, sourceNames []string, getenv func(string) string) ([]*Destination, error) {
	if len(specs) > hookvault.MaxDestinations {
		return nil, fmt.Errorf("destinations: %d listed, at most %d", len(specs), hookvault.MaxDestinations)
	}
	var out []*Destination
	var errs []error
	for i, sp := range specs {
		where := fmt.Sprintf("destinations[%d]", i)
		if sp.Name != "" {
			where = fmt.Sprintf("destination %q", sp.Name)
		}
		d, err := buildDestination(sp, sourceNames, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if slices.ContainsFunc(out, func(o *Destination) bool { return o.Name == d.Name }) {
			errs = append(errs, fmt.Errorf("%s: name: used twice", where))
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

func buildDestination(sp destinationSpec, sourceNames []string, getenv func(string) string) (*Destination, error) {
	d := &Destination{Name: sp.Name, Timeout: DefaultTimeout, MaxAttempts: DefaultMaxAttempts, Concurrency: DefaultConcurrency}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case sp.Name == "":
		return nil, errors.New("name: missing")
	case !namePattern.MatchString(sp.Name):
		return nil, fmt.Errorf("name: %q must be lower-case letters, digits, - and _ (at most 64, starting with a letter or digit)", sp.Name)
	}
	switch {
	case sp.URL != "" && sp.NATSSubject != "":
		bad("url and nats_subject: a destination is one or the other; declare two destinations")
	case sp.URL == "" && sp.NATSSubject == "":
		bad("url or nats_subject: missing")
	case sp.URL != "":
		raw, err := expandVars(sp.URL, getenv)
		if err != nil {
			bad("url: %w", err)
			break
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url: must be an absolute http:// or https:// URL")
			break
		}
		d.URL = raw
		if sp.Secret == "" {
			bad("secret: missing: hookvault signs what it forwards (Standard Webhooks); generate one with `echo whsec_$(openssl rand -base64 32)`")
			break
		}
		secret, err := expandVars(sp.Secret, getenv)
		if err != nil {
			bad("secret: %w", err)
			break
		}
		key, err := signature.StandardKey([]byte(secret))
		if err != nil {
			bad("secret: %w", err)
			break
		}
		if len(key) < 16 {
			bad("secret: the key is %d bytes; use at least 16 (whsec_ with 24+ base64 characters)", len(key))
			break
		}
		d.Key = key
	default:
		if !subjectTemplate.MatchString(sp.NATSSubject) {
			bad("nats_subject: %q must be dot-separated tokens without spaces, * or >, e.g. hookvault.{source}.{type}", sp.NATSSubject)
		}
		d.NATSSubject = sp.NATSSubject
		if sp.Secret != "" {
			bad("secret: a NATS destination is not signed; leave it out")
		}
	}
	if sp.Timeout != "" {
		t, err := time.ParseDuration(sp.Timeout)
		if err != nil || t <= 0 || t > maxTimeout {
			bad("timeout: %q is not a duration between 1ms and %s", sp.Timeout, maxTimeout)
		}
		d.Timeout = t
	}
	switch {
	case sp.MaxAttempts < 0 || sp.MaxAttempts > maxMaxAttempts:
		bad("max_attempts: %d is not between 1 and %d", sp.MaxAttempts, maxMaxAttempts)
	case sp.MaxAttempts > 0:
		d.MaxAttempts = sp.MaxAttempts
	}
	switch {
	case sp.Concurrency < 0 || sp.Concurrency > MaxConcurrency:
		bad("concurrency: %d is not between 1 and %d", sp.Concurrency, MaxConcurrency)
	case sp.Concurrency > 0:
		d.Concurrency = sp.Concurrency
	}
	if sp.Sources != nil {
		if len(sp.Sources) == 0 {
			bad("sources: empty; leave it out to take every source")
		}
		d.sources = []string{}
		for _, s := range sp.Sources {
			if s != Default && !slices.Contains(sourceNames, s) {
				bad("sources: %q is not a source of this file (nor %q, the source of POST /webhook)", s, Default)
			}
			d.sources = append(d.sources, s)
		}
	}
	if sp.Types != nil {
		if len(sp.Types) == 0 {
			bad("types: empty; leave it out to take every type")
		}
		for _, t := range sp.Types {
			if t == "" || len(t) > hookvault.MaxKeyBytes {
				bad("types: %q is empty or too long", t)
				continue
			}
			d.types = append(d.types, typePattern(t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// typePattern compiles a types: entry, where * matches any run of characters (dots too:
// "invoice.*" takes invoice.paid and invoice.payment.failed) and everything else is literal.
func typePattern(t string) *regexp.Regexp {
	parts := strings.Split(t, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^(?s:` + strings.Join(parts, ".*") + `)$`)
}
