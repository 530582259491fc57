package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
)

type getCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	ID string `arg:"" name:"id" placeholder:"ID" help:"Id of the message (the sender's idempotency key)."`
}

func (c *getCmd) Help() string {
	return `The table shows the message's fields and its payload, the body exactly as received,
indented for reading. --output json prints the server's answer unchanged, payload included
byte for byte.`
}

func (c *getCmd) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("the message id is empty")
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
	resp, err := client.GetMessageWithResponse(ctx, c.ID, nil)
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	m := resp.JSON200
	if m == nil {
		var retryAfter *int
		if h := resp.Headers503; h != nil {
			retryAfter = h.RetryAfter
		}
		return answerError(resp.HTTPResponse, shown, retryAfter,
			resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
			resp.ApplicationproblemJSON503, resp.ApplicationproblemJSONDefault)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}

	tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", printable(m.Id))
	fmt.Fprintf(tw, "SENDER\t%s\n", printable(deref(m.Sender, "")))
	fmt.Fprintf(tw, "RECEIVED_AT\t%s\n", m.ReceivedAt.UTC().Format(timeLayout))
	fmt.Fprintf(tw, "CONTENT\t%s\n", printable(deref(m.Content, "")))
	if err := tw.Flush(); err != nil {
		return err
	}
	// json.Indent keeps the members in their order and every number as written; strings
	// keep their escapes, so the payload cannot put control characters on the terminal.
	var payload bytes.Buffer
	payload.WriteString("PAYLOAD\n")
	if err := json.Indent(&payload, bytes.TrimSpace(deref(m.Payload, nil)), "", "  "); err != nil {
		return fmt.Errorf("unreadable payload from %s: %v", shown, err)
	}
	payload.WriteByte('\n')
	_, err = s.stdout.Write(payload.Bytes())
	return err
}
