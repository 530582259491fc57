package sources_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/sources"
)

var opts = provider.Options{DefaultTolerance: 5 * time.Minute, Now: time.Now}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

const example = `
sources:
  - name: github
    provider: github
    secrets: ["${GITHUB_WEBHOOK_SECRET}"]
  - name: payments
    provider: stripe
    secrets: ["${STRIPE_SECRET_OLD}", "${STRIPE_SECRET_NEW}"]
    tolerance: 10m
  - name: billing
    provider: hmac
    secrets: ["literal-$$-secret"]
    header: X-Billing-Signature
    algorithm: sha256
    encoding: hex
    prefix: "sha256="
    id: header:X-Billing-Delivery
    type: json:/event
    max_body_bytes: 262144
`

func TestParseTheExample(t *testing.T) {
	set, err := sources.Parse([]byte(example), env(map[string]string{
		"GITHUB_WEBHOOK_SECRET": "gh", "STRIPE_SECRET_OLD": "whsec_old", "STRIPE_SECRET_NEW": "whsec_new",
	}), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "github,payments,billing" {
		t.Errorf("names %s, want the file's order", got)
	}
	billing, ok := set.Get("billing")
	if !ok || billing.Provider != "hmac" || billing.MaxBodyBytes != 262144 {
		t.Errorf("billing = %+v", billing)
	}
	if _, ok := set.Get("default"); ok {
		t.Error("default is not a source of the file")
	}
}

// Every mistake names the source and the field, and no secret appears in any message.
func TestBadFilesNameSourceAndField(t *testing.T) {
	vars := map[string]string{"SECRET": "s3cr3t-value"}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"not yaml", "sources: [", []string{"not a valid sources file"}},
		{"empty", "", []string{"empty"}},
		{"no sources", "sources: []", []string{"no sources"}},
		{"unknown top-level", "sauces: []\n", []string{`unknown field "sauces" (line 1)`}},
		{"missing name", "sources:\n  - provider: github\n    secrets: [x]\n", []string{"sources[0]", "name: missing"}},
		{"bad name", "sources:\n  - name: GitHub\n    provider: github\n    secrets: [x]\n", []string{`source "GitHub"`, "name:"}},
		{"reserved name", "sources:\n  - name: default\n    provider: github\n    secrets: [x]\n", []string{`source "default"`, "WEBHOOK_SECRET"}},
		{"twice", "sources:\n  - name: a\n    provider: github\n    secrets: [x]\n  - name: a\n    provider: github\n    secrets: [y]\n", []string{`source "a"`, "used twice"}},
		{"no provider", "sources:\n  - name: a\n    secrets: [x]\n", []string{`source "a"`, "provider: missing"}},
		{"unset variable", "sources:\n  - name: a\n    provider: github\n    secrets: [\"${NOPE}\"]\n", []string{`source "a"`, "secrets[0]", "${NOPE} is not set"}},
		{"malformed reference", "sources:\n  - name: a\n    provider: github\n    secrets: [\"${SECRET\"]\n", []string{`source "a"`, "secrets[0]", "not a ${NAME} reference"}},
		{"bad tolerance", "sources:\n  - name: a\n    provider: stripe\n    secrets: [x]\n    tolerance: soon\n", []string{`source "a"`, "tolerance"}},
		{"negative body limit", "sources:\n  - name: a\n    provider: github\n    secrets: [x]\n    max_body_bytes: -1\n", []string{`source "a"`, "max_body_bytes"}},
		{"unknown provider", "sources:\n  - name: a\n    provider: gitlab\n    secrets: [\"${SECRET}\"]\n", []string{`source "a"`, "provider"}},
		{"all errors at once", "sources:\n  - name: a\n    secrets: [x]\n  - name: b\n    secrets: [x]\n", []string{`source "a"`, `source "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sources.Parse([]byte(tt.file), env(vars), opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), vars["SECRET"]) {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// An unknown field is named with the source or destination it is in, and its line; every
// one is reported at once.
func TestUnknownFieldsNameTheirSource(t *testing.T) {
	const gh = "sources:\n  - name: github\n    provider: github\n    secrets: [x]\n"
	tests := []struct {
		name, file string
		want       string // the whole error
	}{
		{"in a source", gh + "    colour: blue\n", `source "github": unknown field "colour" (line 5)`},
		{"before the name", "sources:\n  - colour: blue\n    name: github\n    provider: github\n    secrets: [x]\n",
			`source "github": unknown field "colour" (line 2)`},
		{"in a source without a name", "sources:\n  - provider: github\n    secret: x\n", `sources[0]: unknown field "secret" (line 3)`},
		{"in the second source", gh + "  - name: payments\n    provider: stripe\n    secrets: [x]\n    tolerence: 1m\n",
			`source "payments": unknown field "tolerence" (line 8)`},
		{"two at once", gh + "    colour: blue\n  - name: b\n    provider: github\n    secrets: [x]\n    size: 2\n",
			"source \"github\": unknown field \"colour\" (line 5)\nsource \"b\": unknown field \"size\" (line 9)"},
		{"in a destination", gh + "destinations:\n  - name: app\n    url: https://app.example/hooks\n    retries: 3\n",
			`destination "app": unknown field "retries" (line 8)`},
		{"in a destination without a name", gh + "destinations:\n  - url: https://app.example/hooks\n    retries: 3\n",
			`destinations[0]: unknown field "retries" (line 7)`},
		{"at the top", gh + "sauces: []\n", `unknown field "sauces" (line 5); the file has sources: and destinations:`},
		{"through a merge key", "common: &c\n  colour: blue\n" + gh + "    <<: *c\n",
			"unknown field \"common\" (line 1); the file has sources: and destinations:\nsource \"github\": unknown field \"colour\" (line 2)"},
		{"with a type error too", gh + "    colour: blue\n    max_body_bytes: lots\n",
			"source \"github\": unknown field \"colour\" (line 5)\nnot a valid sources file: line 6: cannot unmarshal !!str … into int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sources.Parse([]byte(tt.file), env(nil), opts)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestVariablesAreExpandedAfterParsing(t *testing.T) {
	// A value with YAML's special characters stays one string: it is not pasted into the file.
	secret := `a"b: c # d, [e]`
	file := "sources:\n  - name: a\n    provider: github\n    secrets: [\"${S}\", \"cost-$$5\"]\n"
	if _, err := sources.Parse([]byte(file), env(map[string]string{"S": secret}), opts); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBoundsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sources.yaml")
	if err := os.WriteFile(path, []byte(strings.Repeat("#", 2<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sources.Load(path, env(nil), opts); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 2 MiB file: %v, want refused", err)
	}
	if _, err := sources.Load(filepath.Join(t.TempDir(), "none.yaml"), env(nil), opts); err == nil {
		t.Fatal("a missing file loads")
	}
}
