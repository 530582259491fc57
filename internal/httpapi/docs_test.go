package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/signature"
)

// docsInterceptor returns the requestInterceptor function as /docs/index.html serves it.
func docsInterceptor(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, b := ts.get(t, "/docs/index.html", "")
	page := string(b)
	const key = "requestInterceptor: "
	i := strings.Index(page, key)
	if resp.StatusCode != 200 || i < 0 {
		t.Fatalf("/docs/index.html = %d without %q:\n%s", resp.StatusCode, key, page)
	}
	fn := page[i+len(key):]
	end := strings.Index(fn, "\n},")
	if !strings.HasPrefix(fn, "async function hookvaultSignWebhook(req) {") || end < 0 {
		t.Fatalf("the requestInterceptor is not the signing function:\n%.300s", fn)
	}
	for _, want := range []string{"persistAuthorization", "deepLinking"} {
		if !regexp.MustCompile(want + `:\s*true\s*,`).MatchString(page) {
			t.Errorf("/docs/index.html does not set %s: true", want)
		}
	}
	return fn[:end+2]
}

// interceptorCase is one request handed to the interceptor under node.
type interceptorCase struct {
	Name     string            `json:"name"`
	Headers  map[string]string `json:"headers"`
	Body     any               `json:"body"`
	NoSubtle bool              `json:"noSubtle"` // as outside a secure context
}

type interceptorResult struct {
	Name     string            `json:"name"`
	Same     bool              `json:"same"` // returned the request it was given
	Headers  map[string]string `json:"headers"`
	Body     any               `json:"body"`
	Warnings []string          `json:"warnings"`
}

// The interceptor that Swagger UI runs on "Try it out", executed by node (whose WebCrypto is
// the browser's API): it replaces the secret in X-Signature by the signature the server
// verifies, leaves other requests alone, and never lets the secret through.
// TestBrowserSwaggerUI in cmd/hookvault runs it in Chromium.
func TestDocsSignWebhooksInTheBrowser(t *testing.T) {
	ts := newServer(t)
	fn := docsInterceptor(t, ts)

	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is needed to run the Swagger UI interceptor (CI is set): install nodejs")
		}
		t.Skip("node not found: the Swagger UI interceptor is only checked for presence")
	}

	body := `{"id":"docs-1","sender":"zoë","content":"héllo ✓",  "extra": [1, 2]}`
	cases := []interceptorCase{
		{Name: "signs", Headers: map[string]string{"Content-Type": "application/json", "X-Signature": secret}, Body: body},
		{Name: "lower-case name", Headers: map[string]string{"x-signature": secret}, Body: "{}"},
		{Name: "bearer untouched", Headers: map[string]string{"Authorization": "Bearer " + token}},
		{Name: "no headers untouched"},
		{Name: "no crypto.subtle", Headers: map[string]string{"X-Signature": secret}, Body: body, NoSubtle: true},
		{Name: "body not text", Headers: map[string]string{"X-Signature": secret}, Body: map[string]string{"id": "x"}},
	}
	harness := `const sign = ` + fn + `;
(async () => {
  const realCrypto = globalThis.crypto;
  const out = [];
  for (const c of JSON.parse(process.env.CASES)) {
    const warnings = [];
    console.warn = (...a) => warnings.push(a.join(" "));
    Object.defineProperty(globalThis, "crypto", { value: c.noSubtle ? {} : realCrypto, configurable: true });
    const req = { url: "http://127.0.0.1/webhook", method: "POST", body: c.body };
    if (c.headers) req.headers = c.headers;
    const got = await sign(req);
    out.push({ name: c.name, same: got === req, headers: got.headers, body: got.body, warnings });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
`
	script := filepath.Join(t.TempDir(), "interceptor.js")
	if err := os.WriteFile(script, []byte(harness), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", script).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s\n%s", err, out, harness)
	}
	casesJSON, _ := json.Marshal(cases)
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "CASES="+string(casesJSON))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []interceptorResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node printed %s (%v)", out, err)
	}
	got := map[string]interceptorResult{}
	for _, r := range results {
		got[r.Name] = r
		if !r.Same {
			t.Errorf("%s: the interceptor returned a new request", r.Name)
		}
		for k, v := range r.Headers {
			if strings.Contains(v, secret) {
				t.Errorf("%s: header %s carries the secret", r.Name, k)
			}
		}
	}

	signed := got["signs"]
	want := signature.Sign([]byte(secret), []byte(body))
	if signed.Headers["X-Signature"] != want || signed.Headers["Content-Type"] != "application/json" ||
		signed.Body != body || len(signed.Warnings) != 0 {
		t.Errorf("signs: headers %v, body %q, warnings %q; want X-Signature %s", signed.Headers, signed.Body, signed.Warnings, want)
	}
	// The server accepts what the browser computed.
	resp, answer := ts.post(t, delivery{body: body, headers: map[string]string{"X-Signature": signed.Headers["X-Signature"]}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /webhook signed by the interceptor = %d %s", resp.StatusCode, answer)
	}
	if lc := got["lower-case name"]; lc.Headers["x-signature"] != signature.Sign([]byte(secret), []byte("{}")) {
		t.Errorf("lower-case name: headers %v", lc.Headers)
	}
	if b := got["bearer untouched"]; len(b.Headers) != 1 || b.Headers["Authorization"] != "Bearer "+token || len(b.Warnings) != 0 {
		t.Errorf("bearer untouched: headers %v, warnings %q", b.Headers, b.Warnings)
	}
	if n := got["no headers untouched"]; n.Headers != nil || len(n.Warnings) != 0 {
		t.Errorf("no headers untouched: headers %v, warnings %q", n.Headers, n.Warnings)
	}
	for name, reason := range map[string]string{"no crypto.subtle": "secure context", "body not text": "not text"} {
		r := got[name]
		if _, ok := r.Headers["X-Signature"]; ok || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], reason) {
			t.Errorf("%s: headers %v, warnings %q; want X-Signature removed and one warning about %q", name, r.Headers, r.Warnings, reason)
		}
	}
}
