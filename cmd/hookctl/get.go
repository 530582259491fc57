package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
	"unicode"

	"github.com/hookvault/hookvault/gen"
)

type getCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	ID     string `arg:"" name:"id" placeholder:"ID" help:"Id of the message (the sender's idempotency key, or the provider's delivery id)."`
	Source string `placeholder:"NAME" default:"default" help:"The message's source, default for POST /webhook: ids are unique per source (default: default)."`
}

func (c *getCmd) Help() string {
	return `The table shows the message's fields — its source, type, sender and content where it has
them, the request's content type — then its headers as received, then its payload, the body
exactly as received: JSON indented for reading, a form or other text as text, and a body that
is not text in base64, said so. --output json prints the server's answer unchanged, payload
included byte for byte.`
}

func (c *getCmd) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("the message id is empty")
	case !sourceName.MatchString(c.Source):
		return fmt.Errorf("--source %q is not a source name: lower-case letters, digits, - and _, at most 64, starting with a letter or digit", c.Source)
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *getCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.GetMessageWithResponse(ctx, c.ID, &gen.GetMessageParams{Source: &c.Source})
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	m := resp.JSON200
	if m == nil {
		return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
			resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
			resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}
	payload, err := showPayload(m)
	if err != nil {
		return fmt.Errorf("unreadable payload from %s: %v", shown, err)
	}

	var out bytes.Buffer
	tw := newTable(&out)
	fmt.Fprintf(tw, "ID\t%s\n", printable(m.Id))
	fmt.Fprintf(tw, "SOURCE\t%s\n", printable(m.Source))
	fmt.Fprintf(tw, "TYPE\t%s\n", printable(deref(m.Type, "-")))
	// Only messages of POST /webhook's format have a sender and content.
	if m.Sender != nil {
		fmt.Fprintf(tw, "SENDER\t%s\n", printable(*m.Sender))
	}
	fmt.Fprintf(tw, "RECEIVED_AT\t%s\n", m.ReceivedAt.UTC().Format(timeLayout))
	if m.Content != nil {
		fmt.Fprintf(tw, "CONTENT\t%s\n", printable(*m.Content))
	}
	fmt.Fprintf(tw, "CONTENT_TYPE\t%s\n", printable(m.ContentType))
	if err := tw.Flush(); err != nil {
		return err
	}
	out.WriteString("HEADERS\n")
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		for _, v := range m.Headers[name] {
			fmt.Fprintf(&out, "%s: %s\n", printable(name), printable(v))
		}
	}
	out.Write(payload)
	_, err = s.stdout.Write(out.Bytes())
	return err
}

// showPayload is the PAYLOAD section of a message: JSON indented, text as text, other bytes
// in base64. Nothing of it can drive the terminal: json.Indent keeps the escapes of JSON
// strings, and text loses its control characters but for newlines and tabs.
func showPayload(m *gen.MessageDetail) ([]byte, error) {
	var out bytes.Buffer
	switch {
	case m.PayloadBase64 != nil:
		b64 := base64.StdEncoding.EncodeToString(*m.PayloadBase64)
		fmt.Fprintf(&out, "PAYLOAD (%d bytes that are not text, in base64)\n", len(*m.PayloadBase64))
		for len(b64) > 76 {
			out.WriteString(b64[:76] + "\n")
			b64 = b64[76:]
		}
		out.WriteString(b64 + "\n")
		return out.Bytes(), nil
	case len(m.Payload) == 0 || string(m.Payload) == "null":
		return nil, errors.New("neither payload nor payload_base64")
	}
	raw := bytes.TrimSpace(m.Payload)
	// The server sends a body that is not JSON as a JSON string of its text. A JSON body that
	// is itself a string is told apart by its content type.
	var text string
	if len(raw) > 0 && raw[0] == '"' && !isJSONType(m.ContentType) && json.Unmarshal(raw, &text) == nil {
		out.WriteString("PAYLOAD\n")
		out.WriteString(printableText(text))
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
		return out.Bytes(), nil
	}
	out.WriteString("PAYLOAD\n")
	// json.Indent keeps the members in their order and every number as written.
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// isJSONType reports whether a Content-Type is JSON: application/json or any +json type.
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// printableText is printable for a text of several lines: newlines and tabs stay.
func printableText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
}
