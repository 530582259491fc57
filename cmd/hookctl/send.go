package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// serverFlags locate the server; later subcommands (list, get, stats) share them.
type serverFlags struct {
	URL     string        `envvar:"HOOKVAULT_URL" default:"http://127.0.0.1:8000" help:"Base URL of the hookvault server."`
	Timeout time.Duration `default:"10s" help:"Give up when the whole exchange takes longer than this."`
}

// client returns a generated SDK client for the base URL, with opts added, and the URL as
// it may be shown.
func (f serverFlags) client(opts ...gen.ClientOption) (*gen.ClientWithResponses, string, error) {
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("bad URL %q: want http://host:port or https://host:port", f.URL)
	}
	shown := u.Redacted() // a password in the URL stays off the terminal
	hc := &http.Client{
		// A redirected POST is replayed as a GET, or resent elsewhere with its signature;
		// real webhook senders do not follow redirects either, so the 3xx is reported.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c, err := gen.NewClientWithResponses(f.URL, append([]gen.ClientOption{gen.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		return nil, "", fmt.Errorf("bad URL %s: %w", shown, err)
	}
	return c, shown, nil
}

type sendCmd struct {
	serverFlags
	secretFlag

	// Pointers tell an unset flag from an empty one, so that mixing them with --data or
	// --file is an error rather than silently ignored.
	Source   *string `placeholder:"NAME" help:"Post to URL/webhook/NAME, the source NAME of the server's SOURCES_FILE (hookctl sources lists them), instead of URL/webhook."`
	Provider string  `placeholder:"PROVIDER" help:"Sign as PROVIDER does (github, stripe, slack, twilio, …, hmac; see below); needs --source."`
	ID       *string `name:"id" placeholder:"ID" help:"Idempotency key (default: hookctl-<16 random hex>, new on every call)."`
	Sender   *string `placeholder:"SENDER" help:"Sender of the message (default: hookctl)."`
	Content  *string `placeholder:"TEXT" help:"Message text (default: empty)."`
	Data     *string `placeholder:"BODY" help:"Send these bytes as the body, unchanged, instead of building it from --id, --sender, --content (or, with --provider, instead of the provider's sample)."`
	File     string  `placeholder:"FILE" help:"Send the bytes of FILE (- for standard input) as the body, unchanged."`

	ContentType string   `placeholder:"TYPE" help:"Content-Type of the body (default: application/json; with --provider and a body that is not JSON, a form for github, slack and twilio, application/octet-stream for hmac)."`
	Headers     []string `name:"header" short:"H" sep:"none" placeholder:"'NAME: VALUE'" help:"Send this header too; repeatable. A header the provider's id or type comes from is kept, e.g. -H 'X-GitHub-Event: push'."`
	PublicURL   string   `name:"public-url" placeholder:"URL" help:"twilio, square, hubspot: the URL the provider calls, which they sign; it must be the source's url (default: URL/webhook/NAME)."`

	// The generic scheme's settings, named after the source's fields in SOURCES_FILE.
	HMACHeader    string `name:"hmac-header" placeholder:"NAME" help:"--provider hmac: the header that carries the signature (the source's header)."`
	HMACAlgorithm string `name:"hmac-algorithm" placeholder:"ALG" help:"--provider hmac: sha1, sha256 or sha512 (the source's algorithm; default sha256)."`
	HMACEncoding  string `name:"hmac-encoding" placeholder:"ENC" help:"--provider hmac: hex or base64 (the source's encoding; default hex)."`
	HMACPrefix    string `name:"hmac-prefix" placeholder:"PREFIX" help:"--provider hmac: what precedes the signature, e.g. sha256= (the source's prefix)."`

	headers http.Header // parsed from Headers by Validate
}

func (c *sendCmd) Help() string {
	return `Without --source: builds {"id":…,"sender":…,"content":…} from the flags, or sends
--data / --file exactly as given (extra members are allowed and stored), signs it with
X-Signature and posts it to URL/webhook. On success prints the server's JSON answer, e.g.
{"status":"ok","id":"…","duplicate":false}; sending the same id again answers "duplicate":true.

--source NAME posts to URL/webhook/NAME instead, signed with X-Signature as above (a source
of the hookvault preset), or with --provider exactly as that provider signs, so that an
integration can be tried without the provider:

  hookctl send --source github --provider github        # a GitHub ping
  hookctl send --source payments --provider stripe --file event.json
  hookctl send --source sms --provider twilio --public-url https://hooks.example.com/webhook/sms

--secret is then the source's secret (discord: the Ed25519 private key seed in hex, whose
public key is the source's public_key). Without --data or --file each provider sends a small
sample of its own (a GitHub ping, a Stripe event, a Slack event_callback, a Twilio SMS, …)
with fresh ids. Providers: ` + strings.Join(provider.Names(), ", ") + `.

A provider's endpoint check (Slack's url_verification, Zoom's endpoint.url_validation,
Twitch's webhook_callback_verification, Discord's PING) is answered, not stored; the answer
is printed as it comes.`
}

// sourceName is what a source may be called (SOURCES_FILE's rule); checked here so that a
// mistyped name is a usage error rather than a 404 or 400 from the server.
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// signsURL are the presets whose signature covers the public URL the provider calls.
// TestSignsURLMatchesProviders holds it to internal/provider.
var signsURL = map[string]bool{"twilio": true, "square": true, "hubspot": true}

func (c *sendCmd) Validate() error {
	raw := c.Data != nil || c.File != ""
	built := c.builtBy()
	hmacFlag := ""
	for _, f := range []struct{ name, value string }{
		{"--hmac-header", c.HMACHeader}, {"--hmac-algorithm", c.HMACAlgorithm},
		{"--hmac-encoding", c.HMACEncoding}, {"--hmac-prefix", c.HMACPrefix},
	} {
		if f.value != "" && hmacFlag == "" {
			hmacFlag = f.name
		}
	}
	switch {
	case c.Data != nil && c.File != "":
		return errors.New("give --data or --file, not both")
	case raw && built != "":
		return errors.New("--id, --sender and --content build the body; they cannot be combined with --data or --file")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	case c.Source != nil && !sourceName.MatchString(*c.Source):
		return fmt.Errorf("--source %q is not a source name: lower-case letters, digits, - and _, at most 64, starting with a letter or digit", *c.Source)
	case c.Provider != "" && !slices.Contains(provider.Names(), c.Provider):
		return fmt.Errorf("--provider %q is not one of %s", c.Provider, strings.Join(provider.Names(), ", "))
	case c.Provider != "" && c.Source == nil:
		return fmt.Errorf("--provider needs --source: the name of the source of provider %s in the server's SOURCES_FILE", c.Provider)
	case built != "" && c.scheme() != "hookvault":
		return fmt.Errorf("%s builds a message of POST /webhook's format; with --provider %s give the body with --data or --file, or neither for a sample %[2]s delivery", built, c.Provider)
	case c.PublicURL != "" && !signsURL[c.scheme()]:
		return fmt.Errorf("--public-url is for the providers that sign the URL they call (twilio, square, hubspot), not %s", c.schemeName())
	case hmacFlag != "" && c.Provider != "hmac":
		return fmt.Errorf("%s is for --provider hmac only", hmacFlag)
	case c.ContentType != "" && !validMediaType(c.ContentType):
		return fmt.Errorf("--content-type %q is not a media type such as application/json", c.ContentType)
	}
	c.headers = http.Header{}
	for _, h := range c.Headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || !validHeaderName(name) || strings.ContainsFunc(value, isControl):
			return fmt.Errorf("--header %q is not NAME: VALUE", h)
		case strings.EqualFold(name, "Content-Type"):
			return errors.New("--header Content-Type: give it with --content-type")
		}
		c.headers.Add(name, value)
	}
	return nil
}

// validMediaType reports whether a Content-Type value is type/subtype with parameters that
// parse, and can be sent in a header.
func validMediaType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && strings.Count(mt, "/") == 1 && !strings.HasPrefix(mt, "/") && !strings.HasSuffix(mt, "/") &&
		!strings.ContainsFunc(v, isControl)
}

// validHeaderName reports whether name is an HTTP field name (an RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// isControl reports a character that cannot be in a header value (tab aside).
func isControl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// builtBy names the first flag that builds the body of POST /webhook's format, or "".
func (c *sendCmd) builtBy() string {
	switch {
	case c.ID != nil:
		return "--id"
	case c.Sender != nil:
		return "--sender"
	case c.Content != nil:
		return "--content"
	}
	return ""
}

// scheme is the provider whose scheme signs: hookvault's own without --provider.
func (c *sendCmd) scheme() string {
	if c.Provider == "" {
		return "hookvault"
	}
	return c.Provider
}

// schemeName names the scheme in messages.
func (c *sendCmd) schemeName() string {
	if c.Provider == "" {
		return "POST /webhook's X-Signature"
	}
	return "provider " + c.Provider
}

func (c *sendCmd) Run(s *streams) error {
	key, err := c.key()
	if err != nil {
		return err
	}
	client, shown, err := c.client()
	if err != nil {
		return err
	}
	body, err := c.body(s)
	if err != nil {
		return err
	}
	if c.Source != nil {
		return c.sendToSource(client, shown, string(key), body, s)
	}

	contentType := c.ContentType
	if contentType == "" {
		contentType = jsonType
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	// The WithBody variant sends these exact bytes; the typed variant would re-marshal
	// them, and the server would check the signature against different bytes.
	resp, err := client.PostWebhookWithBodyWithResponse(ctx, nil, contentType, bytes.NewReader(body),
		setHeaders(c.headers), gen.RequestEditorFn(signature.RequestSigner(key)))
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	return report(resp, shown, s)
}

// sendToSource signs body as the source's provider would and posts it to /webhook/NAME.
func (c *sendCmd) sendToSource(client *gen.ClientWithResponses, shown, secret string, body []byte, s *streams) error {
	name := *c.Source
	cfg := provider.Config{
		Name: name, Provider: c.scheme(),
		Header: c.HMACHeader, Algorithm: c.HMACAlgorithm, Encoding: c.HMACEncoding, Prefix: c.HMACPrefix,
	}
	if signsURL[cfg.Provider] {
		cfg.URL = c.PublicURL
		if cfg.URL == "" {
			u, err := c.sourceURL(name)
			if err != nil {
				return err
			}
			cfg.URL = u
		}
	}
	src, err := checkSource(cfg, secret)
	if err != nil {
		return err
	}

	contentType := c.ContentType
	if contentType == "" {
		contentType = defaultContentType(cfg.Provider, src, body)
	}
	r := &provider.Request{Method: http.MethodPost, URL: &url.URL{}, Header: c.headers.Clone(), Body: body}
	r.Header.Set("Content-Type", contentType)
	// Sign may add to the body (Mailgun's signature object, Linear's webhookTimestamp) and
	// to the query (Twilio's bodySHA256), so what is sent is what it leaves in r.
	if err := provider.Sign(cfg, secret, r, time.Now()); err != nil {
		return usagef("%v", err) // the configuration checked out: the body is what cannot be signed
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.PostWebhookSourceWithBodyWithResponse(ctx, name, contentType, bytes.NewReader(r.Body),
		func(_ context.Context, req *http.Request) error {
			maps.Copy(req.Header, r.Header)
			req.URL.RawQuery = r.URL.RawQuery
			return nil
		})
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	err = reportSource(resp, shown, s)
	if resp.StatusCode() == http.StatusUnauthorized && signsURL[cfg.Provider] {
		// The one cause of a 401 that is not the secret, and that the server cannot see.
		err = fmt.Errorf("%w (%s signs the URL it calls: the source's url must be %s; else give it with --public-url)", err, cfg.Provider, cfg.URL)
	}
	return err
}

// sourceURL is the URL hookctl posts to for source name, without credentials: the URL a
// provider calling hookvault directly would sign.
func (c *sendCmd) sourceURL(name string) (string, error) {
	req, err := gen.NewPostWebhookSourceRequestWithBody(c.URL, name, jsonType, http.NoBody)
	if err != nil {
		return "", fmt.Errorf("bad URL: %w", err)
	}
	u := *req.URL
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String(), nil
}

// checkSource checks the source's configuration as the server does when it loads
// SOURCES_FILE, with the signing secret as its only secret, and reports a mistake as the
// flag to fix.
func checkSource(cfg provider.Config, secret string) (*provider.Source, error) {
	if cfg.Provider == "discord" {
		seed, err := hex.DecodeString(secret)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, usagef("--secret: for provider discord, the Ed25519 private key seed: 32 bytes in hex (64 digits), whose public key is the source's public_key")
		}
		cfg.PublicKey = hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	} else {
		cfg.Secrets = []string{secret}
	}
	src, err := provider.New(cfg, provider.Options{})
	if err != nil {
		return nil, flagErrors(err)
	}
	return src, nil
}

// configFlags maps the fields that provider.New names in its errors to the flags that set them.
var configFlags = map[string]string{
	"name": "--source", "provider": "--provider", "secrets": "--secret", "public_key": "--secret", "url": "--public-url",
	"header": "--hmac-header", "algorithm": "--hmac-algorithm", "encoding": "--hmac-encoding", "prefix": "--hmac-prefix",
}

// flagErrors turns provider.New's errors, one "field: what is wrong" a line, into one line
// that names the flags. New never quotes a secret.
func flagErrors(err error) error {
	var msgs []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		field, rest, ok := strings.Cut(line, ": ")
		field, _, _ = strings.Cut(field, "[") // secrets[0]
		if flag, known := configFlags[field]; ok && known {
			line = flag + ": " + rest
		}
		msgs = append(msgs, line)
	}
	return usagef("%s", strings.Join(msgs, "; "))
}

// defaultContentType is JSON, except for a body that is not JSON to a provider that also
// takes forms (GitHub's payload=, Slack's slash commands, Twilio): then a form. The
// generic scheme takes anything, so a body that is not JSON goes as bytes.
func defaultContentType(providerName string, src *provider.Source, body []byte) string {
	switch {
	case json.Valid(body):
		return jsonType
	case providerName == "hmac":
		return "application/octet-stream"
	case src.Accepts(formType):
		return formType
	}
	return jsonType
}

// setHeaders adds the headers given with --header to a request.
func setHeaders(h http.Header) gen.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		maps.Copy(req.Header, h)
		return nil
	}
}

// body returns the bytes to sign and send.
func (c *sendCmd) body(s *streams) ([]byte, error) {
	switch {
	case c.Data != nil:
		return []byte(*c.Data), nil
	case c.File != "":
		return readInput(c.File, s.stdin)
	case c.scheme() != "hookvault":
		return []byte(samples[c.Provider].body(time.Now())), nil
	}
	// Not gen.WebhookMessage: its fields are in alphabetical order, and people reading a
	// stored payload expect the order of the documented example.
	msg := struct {
		ID      string `json:"id"`
		Sender  string `json:"sender"`
		Content string `json:"content"`
	}{deref(c.ID, ""), deref(c.Sender, "hookctl"), deref(c.Content, "")}
	if c.ID == nil {
		msg.ID = randomID()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The raw body is stored byte for byte; escaping <, > and & would store "\u003c" where
	// the user typed "<".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// deref is what p points at, or def when it is nil.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// randomID makes a fresh idempotency key, so that two sends without --id are two messages.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return "hookctl-" + hex.EncodeToString(b[:])
}

// transportError turns a failed exchange into one line that names the server and the cause,
// without the Go error chain ("Post \"…\": dial tcp …: connect: …").
func transportError(err error, shown string, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from %s within %s", shown, timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach %s: connection refused", shown)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot reach %s: cannot resolve host %q", shown, dnsErr.Name)
	case errors.As(err, &urlErr):
		return fmt.Errorf("cannot reach %s: %v", shown, urlErr.Err)
	}
	// Not a transport failure: the SDK could not decode a JSON answer.
	return fmt.Errorf("unreadable answer from %s: %v", shown, err)
}

// report prints the outcome of a delivery: the accepted answer on stdout, anything else as
// an error.
func report(resp *gen.PostWebhookResponse, shown string, s *streams) error {
	if resp.JSON200 != nil {
		var line bytes.Buffer
		if err := json.Compact(&line, resp.Body); err != nil {
			return fmt.Errorf("unreadable answer from %s: %v", shown, err)
		}
		line.WriteByte('\n')
		_, err := s.stdout.Write(line.Bytes())
		return err
	}
	return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
		resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
		resp.ApplicationproblemJSON408, resp.ApplicationproblemJSON413, resp.ApplicationproblemJSON415,
		resp.ApplicationproblemJSON422, resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
}

// reportSource prints the outcome of a delivery to a source: the accepted answer, or the
// answer to a provider's endpoint check as it came (JSON compacted to one line, like the
// accepted answer; Twitch's challenge is text), on stdout; anything else as an error.
func reportSource(resp *gen.PostWebhookSourceResponse, shown string, s *streams) error {
	if resp.StatusCode() == http.StatusOK {
		if resp.JSON200 == nil {
			return writeBody(s.stdout, resp.Body)
		}
		var line bytes.Buffer
		if err := json.Compact(&line, resp.Body); err != nil {
			return fmt.Errorf("unreadable answer from %s: %v", shown, err)
		}
		line.WriteByte('\n')
		_, err := s.stdout.Write(line.Bytes())
		return err
	}
	return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
		resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
		resp.ApplicationproblemJSON408, resp.ApplicationproblemJSON413, resp.ApplicationproblemJSON415,
		resp.ApplicationproblemJSON422, resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
}

// retryAfter is the Retry-After of a 503, which the SDK parses into a type of its own for
// every operation.
func retryAfter(resp *http.Response) *int {
	if resp.StatusCode != http.StatusServiceUnavailable {
		return nil
	}
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil {
		return nil
	}
	return &n
}

// answerError turns an answer other than the expected success into one line: "<status>
// <title>: <detail>" from the first problem the SDK decoded, or, when there is none, a note
// that the answer did not come from hookvault.
func answerError(resp *http.Response, shown string, retryAfter *int, problems ...*gen.Problem) error {
	status := resp.StatusCode
	for _, p := range problems {
		if p == nil {
			continue
		}
		title := p.Title
		if title == "" {
			title = http.StatusText(status)
		}
		msg := fmt.Sprintf("%d %s", status, title)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		if retryAfter != nil {
			msg += fmt.Sprintf(" (retry after %ds)", *retryAfter)
		}
		return errors.New(msg)
	}
	msg := fmt.Sprintf("%d %s from %s: not a hookvault answer", status, http.StatusText(status), shown)
	if loc := resp.Header.Get("Location"); loc != "" {
		msg += fmt.Sprintf(" (redirect to %s; is --url right?)", loc)
	}
	return errors.New(msg)
}
