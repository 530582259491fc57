package sources_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/sources"
)

const withDestinations = `
sources:
  - name: github
    provider: github
    secrets: ["gh"]
  - name: payments
    provider: stripe
    secrets: ["whsec_c3RyaXBl"]
destinations:
  - name: app
    url: "${APP_URL}/hooks"
    sources: [github, payments]
    types: ["push", "invoice.*"]
    secret: "${APP_FORWARD_SECRET}"
    timeout: 3s
    max_attempts: 5
    concurrency: 8
  - name: everything
    url: http://127.0.0.1:9/all
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
  - name: stream
    nats_subject: "hookvault.{source}.{type}"
  - name: direct
    url: http://127.0.0.1:9/direct
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sources: [default]
`

func TestDestinationsParsed(t *testing.T) {
	set, err := sources.Parse([]byte(withDestinations), env(map[string]string{
		"APP_URL": "https://app.internal", "APP_FORWARD_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}), opts)
	if err != nil {
		t.Fatal(err)
	}
	ds := set.Destinations()
	if len(ds) != 4 {
		t.Fatalf("%d destinations, want 4", len(ds))
	}
	app := ds[0]
	if app.URL != "https://app.internal/hooks" || app.Timeout != 3*time.Second || app.MaxAttempts != 5 || app.Concurrency != 8 || len(app.Key) != 24 {
		t.Errorf("app = %+v", app)
	}
	every := ds[1]
	if every.Timeout != sources.DefaultTimeout || every.MaxAttempts != sources.DefaultMaxAttempts || every.Concurrency != sources.DefaultConcurrency {
		t.Errorf("defaults not applied: %+v", every)
	}
	// With keeps them when the default source is added.
	if got := len(sources.With(nil, set).Destinations()); got != 4 {
		t.Errorf("With kept %d destinations", got)
	}

	for _, c := range []struct {
		source, typ, want string
	}{
		{"github", "push", "app,everything,stream"},
		{"github", "pull_request", "everything,stream"},
		{"payments", "invoice.paid", "app,everything,stream"},
		{"payments", "invoice.payment.failed", "app,everything,stream"},
		{"payments", "invoices", "everything,stream"},
		{"payments", "", "everything,stream"}, // a types filter never takes a message without a type
		{"default", "", "everything,stream,direct"},
		{"other", "push", "everything,stream"},
	} {
		if got := strings.Join(set.DestinationsFor(c.source, c.typ), ","); got != c.want {
			t.Errorf("DestinationsFor(%q, %q) = %s, want %s", c.source, c.typ, got, c.want)
		}
	}
}

func TestSubject(t *testing.T) {
	d := &sources.Destination{NATSSubject: "hookvault.{source}.{type}"}
	for _, c := range []struct{ source, typ, want string }{
		{"payments", "invoice.paid", "hookvault.payments.invoice.paid"},
		{"github", "push", "hookvault.github.push"},
		{"github", "", "hookvault.github._"},
		{"x", "a b*c>d", "hookvault.x.a_b_c_d"},
		{"x", "a..b.", "hookvault.x.a._.b._"},
		{"x", "tab\there", "hookvault.x.tab_here"},
	} {
		if got := d.Subject(c.source, c.typ); got != c.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", c.source, c.typ, got, c.want)
		}
	}
}

func TestDestinationMistakes(t *testing.T) {
	head := "sources:\n  - name: github\n    provider: github\n    secrets: [gh]\ndestinations:\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"no name", "  - url: http://x/\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", "destinations[0]: name: missing"},
		{"both kinds", "  - name: a\n    url: http://x/\n    nats_subject: a.b\n", `destination "a": url and nats_subject`},
		{"neither", "  - name: a\n", `destination "a": url or nats_subject: missing`},
		{"relative url", "  - name: a\n    url: /hooks\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", `destination "a": url: must be an absolute`},
		{"ftp url", "  - name: a\n    url: ftp://x/\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", `destination "a": url: must be an absolute`},
		{"no secret", "  - name: a\n    url: http://x/\n", `destination "a": secret: missing`},
		{"bad whsec", "  - name: a\n    url: http://x/\n    secret: whsec_%%%\n", `destination "a": secret: the part after whsec_`},
		{"short key", "  - name: a\n    url: http://x/\n    secret: short\n", `destination "a": secret: the key is 5 bytes`},
		{"unknown source", "  - name: a\n    nats_subject: a.b\n    sources: [gitlab]\n", `destination "a": sources: "gitlab" is not a source`},
		{"wildcard subject", "  - name: a\n    nats_subject: a.*\n", `destination "a": nats_subject`},
		{"signed nats", "  - name: a\n    nats_subject: a.b\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", `destination "a": secret: a NATS destination`},
		{"bad timeout", "  - name: a\n    nats_subject: a.b\n    timeout: soon\n", `destination "a": timeout`},
		{"attempts", "  - name: a\n    nats_subject: a.b\n    max_attempts: 1000\n", `destination "a": max_attempts`},
		{"concurrency", "  - name: a\n    nats_subject: a.b\n    concurrency: -1\n", `destination "a": concurrency`},
		{"empty types", "  - name: a\n    nats_subject: a.b\n    types: []\n", `destination "a": types: empty`},
		{"twice", "  - name: a\n    nats_subject: a.b\n  - name: a\n    nats_subject: a.c\n", `destination "a": name: used twice`},
		{"misspelt field", "  - name: a\n    nats_subjct: a.b\n", "nats_subjct"},
		{"unset variable", "  - name: a\n    url: ${NOPE}/x\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", `destination "a": url: ${NOPE} is not set`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sources.Parse([]byte(head+c.yaml), env(nil), opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "MfKQ9r8G") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestOnlyDestinations(t *testing.T) {
	set, err := sources.Parse([]byte("destinations:\n  - name: s\n    nats_subject: hookvault.{source}\n"), env(nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.DestinationsFor("default", ""), ","); got != "s" {
		t.Errorf("DestinationsFor = %q", got)
	}
}
