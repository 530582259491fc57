package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/hookvault/hookvault/gen"
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
	ID      *string `name:"id" placeholder:"ID" help:"Idempotency key (default: hookctl-<16 random hex>, new on every call)."`
	Sender  *string `placeholder:"SENDER" help:"Sender of the message (default: hookctl)."`
	Content *string `placeholder:"TEXT" help:"Message text (default: empty)."`
	Data    *string `placeholder:"JSON" help:"Send these bytes as the body, unchanged, instead of building it from --id, --sender, --content."`
	File    string  `placeholder:"FILE" help:"Send the bytes of FILE (- for standard input) as the body, unchanged."`
}

func (c *sendCmd) Help() string {
	return `Builds {"id":…,"sender":…,"content":…} from the flags, or sends --data / --file exactly
as given (extra members are allowed and stored), signs it with X-Signature and posts it to
URL/webhook. On success prints the server's JSON answer, e.g.
{"status":"ok","id":"…","duplicate":false}; sending the same id again answers "duplicate":true.`
}

func (c *sendCmd) Validate() error {
	raw := c.Data != nil || c.File != ""
	switch {
	case c.Data != nil && c.File != "":
		return errors.New("give --data or --file, not both")
	case raw && (c.ID != nil || c.Sender != nil || c.Content != nil):
		return errors.New("--id, --sender and --content build the body; they cannot be combined with --data or --file")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
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

	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	// The WithBody variant sends these exact bytes; the typed variant would re-marshal
	// them, and the server would check the signature against different bytes.
	resp, err := client.PostWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body),
		gen.RequestEditorFn(signature.RequestSigner(key)))
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	return report(resp, shown, s)
}

// body returns the bytes to sign and send.
func (c *sendCmd) body(s *streams) ([]byte, error) {
	switch {
	case c.Data != nil:
		return []byte(*c.Data), nil
	case c.File != "":
		return readInput(c.File, s.stdin)
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
	var retryAfter *int
	if h := resp.Headers503; h != nil {
		retryAfter = h.RetryAfter
	}
	return answerError(resp.HTTPResponse, shown, retryAfter,
		resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON413, resp.ApplicationproblemJSON415,
		resp.ApplicationproblemJSON422, resp.ApplicationproblemJSON503, resp.ApplicationproblemJSONDefault)
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
