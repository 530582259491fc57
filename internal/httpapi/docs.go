package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// inlineScript matches the script elements of Swagger UI's page that have no src.
var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// docsPolicy is the Content-Security-Policy of /docs: the page's scripts run only from this
// origin, plus its one inline script, allowed by its hash (the page is built from constant
// configuration, so the hash is known at start); it talks only to this origin and cannot be
// framed. Swagger UI sets style attributes from its script, so styles stay 'unsafe-inline'.
func docsPolicy(docs http.HandlerFunc) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "/docs/index.html", nil)
	if err != nil {
		return "", err
	}
	req.RequestURI = req.URL.Path // what http-swagger routes on, as a server sets it
	page := &pageRecorder{header: http.Header{}}
	docs(page, req)
	scripts := inlineScript.FindAllStringSubmatch(page.body.String(), -1)
	if page.status > http.StatusOK || len(scripts) == 0 {
		return "", errors.New("swagger UI's page has no inline script to allow: the CSP of /docs needs a look")
	}
	hashes := make([]string, len(scripts))
	for i, m := range scripts {
		sum := sha256.Sum256([]byte(m[1]))
		hashes[i] = fmt.Sprintf("'sha256-%s'", base64.StdEncoding.EncodeToString(sum[:]))
	}
	return "default-src 'none'; script-src 'self' " + strings.Join(hashes, " ") +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'" +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'none'", nil
}

// pageRecorder keeps what a handler writes.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (p *pageRecorder) Header() http.Header         { return p.header }
func (p *pageRecorder) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *pageRecorder) WriteHeader(status int)      { p.status = status }

// signingInterceptor is Swagger UI's requestInterceptor (http-swagger's UIConfig values are raw
// JavaScript). It lets a person enter the webhook secret once, as the value of the
// webhookSignature scheme under "Authorize", and "Try it out" then sends correctly signed
// requests: Swagger UI puts the authorized value into the X-Signature header, and this
// function replaces it by the lower-case hex HMAC-SHA256 of the exact body string under that
// secret, computed with WebCrypto. The secret itself never leaves the browser: when the
// request cannot be signed (no crypto.subtle outside a secure context, a body that is not
// text, a WebCrypto error) the header is removed, the reason goes to the console, and the
// server answers 401 "missing signature". Requests without X-Signature (the spec, the read
// API with its bearer token) pass unchanged.
//
// Swagger UI awaits the returned Promise and shows the mutated request, so the curl line it
// prints carries the signature, not the secret. The function must not end in a line comment:
// the template puts a comma right after it.
const signingInterceptor = `async function hookvaultSignWebhook(req) {
  var headers = req.headers || {};
  var name = Object.keys(headers).find(function (k) { return k.toLowerCase() === "x-signature"; });
  if (name === undefined) {
    return req;
  }
  var secret = String(headers[name]);
  delete headers[name];
  var subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) {
    console.warn("hookvault: cannot sign: crypto.subtle is unavailable outside a secure context " +
      "(open /docs on https, localhost or 127.0.0.1); sending the request without X-Signature");
    return req;
  }
  if (typeof req.body !== "string") {
    console.warn("hookvault: cannot sign a request body that is not text; sending it without X-Signature");
    return req;
  }
  try {
    var enc = new TextEncoder();
    var key = await subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    var mac = new Uint8Array(await subtle.sign("HMAC", key, enc.encode(req.body)));
    headers[name] = Array.from(mac, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  } catch (err) {
    console.warn("hookvault: signing failed, sending the request without X-Signature: " + err);
  }
  return req;
}`
