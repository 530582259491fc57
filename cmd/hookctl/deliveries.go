package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hookvault/hookvault/gen"
)

// errorWidth is how many runes of an attempt's error a table row shows; --json shows all.
const errorWidth = 60

type deliveriesCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	// Pointers tell an unset flag from an empty one, which the server rejects with a 400
	// that names it rather than silently listing everything.
	Destination *string `placeholder:"NAME" help:"Only deliveries to the destination NAME (as in the sources file)."`
	Status      *string `placeholder:"STATUS" help:"Only deliveries in STATUS: pending, delivered or failed."`
	Source      *string `placeholder:"NAME" help:"Only deliveries of messages of the source NAME (default for POST /webhook)."`
	Limit       *int    `placeholder:"N" help:"At most N deliveries per page, 1 to 1000 (default: the server's 50; with --all, 1000)."`
	Cursor      *string `placeholder:"CURSOR" help:"Start after the page that answered this next_cursor."`
	All         bool    `help:"Follow next_cursor to the last page and print every delivery."`
}

func (c *deliveriesCmd) Help() string {
	return `A delivery is one stored message on its way to one destination of the sources file.
Deliveries come newest first, one page per call. The table shows DID (the delivery's id, for
"hookctl redeliver DID"), CREATED_AT (UTC), DESTINATION, SOURCE and MESSAGE_ID (the message:
"hookctl get MESSAGE_ID --source SOURCE" shows it), STATUS (pending, delivered or failed),
TRIES (attempts since it was created or last retried) and LAST_ERROR, what went wrong in the
newest attempt when it did not succeed: the destination's HTTP status, or the error when it
did not answer (its first 60 characters). When more pages exist, a line on standard error
gives the command for the next one; --all follows them instead.

--output json prints the server's page unchanged: {"data":[…],"next_cursor":…}, with every
attempt of each delivery and when a pending one is next attempted. With --all it prints one
JSON array of every delivery instead, one per line, written as the pages arrive; if a page
fails, the array is left unclosed (and hookctl exits 1). --timeout applies to each page.`
}

func (c *deliveriesCmd) Validate() error {
	switch {
	case c.Status != nil && !gen.DeliveryStatus(*c.Status).Valid():
		return fmt.Errorf("--status must be pending, delivered or failed, not %q", *c.Status)
	case c.Limit != nil && (*c.Limit < 1 || *c.Limit > maxLimit):
		return fmt.Errorf("--limit must be between 1 and %d", maxLimit)
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *deliveriesCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	params := &gen.ListDeliveriesParams{
		Destination: c.Destination, Source: c.Source, Limit: c.Limit, Cursor: c.Cursor,
	}
	if c.Status != nil {
		params.Status = new(gen.DeliveryStatus(*c.Status))
	}
	if c.All && params.Limit == nil {
		params.Limit = new(maxLimit)
	}

	out := newListing(s.stdout, c.json(), c.All,
		"DID\tCREATED_AT\tDESTINATION\tSOURCE\tMESSAGE_ID\tSTATUS\tTRIES\tLAST_ERROR")
	return out.walk(s.stderr, shown, &params.Cursor, c.nextCommand, func() ([]byte, func(io.Writer), *string, error) {
		page, err := c.page(client, params, shown)
		if err != nil {
			return nil, nil, nil, err
		}
		return page.Body, func(tw io.Writer) {
			for _, d := range page.JSON200.Data {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Did, d.CreatedAt.UTC().Format(timeLayout),
					printable(d.Destination), printable(d.Source), printable(d.MessageId), d.Status, d.Tries,
					truncate(printable(lastError(d)), errorWidth))
			}
		}, page.JSON200.NextCursor, nil
	})
}

// page fetches one page, within the timeout.
func (c *deliveriesCmd) page(client *gen.ClientWithResponses, params *gen.ListDeliveriesParams, shown string) (*gen.ListDeliveriesResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.ListDeliveriesWithResponse(ctx, params)
	if err != nil {
		return nil, transportError(err, shown, c.Timeout)
	}
	if resp.JSON200 == nil {
		return nil, answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
			resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401,
			resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	return resp, nil
}

// nextCommand is the command line that lists the page after this one.
func (c *deliveriesCmd) nextCommand(cursor string) string {
	return nextPageCommand("deliveries", cursor, "--destination", deref(c.Destination, ""), "--status", deref(c.Status, ""),
		"--source", deref(c.Source, ""), "--limit", limitFlag(c.Limit))
}

// lastError says what went wrong in the newest attempt, "" when it succeeded or there is
// none. A delivery retried after it was delivered shows nothing until it is attempted again.
func lastError(d gen.Delivery) string {
	if len(d.Attempts) == 0 {
		return ""
	}
	a := d.Attempts[len(d.Attempts)-1]
	switch {
	case a.Error != nil:
		return *a.Error
	case a.StatusCode != nil && (*a.StatusCode < 200 || *a.StatusCode > 299):
		return fmt.Sprintf("HTTP %d %s", *a.StatusCode, http.StatusText(*a.StatusCode))
	}
	return ""
}

type redeliverCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	DID int64 `arg:"" name:"did" placeholder:"DID" help:"Id of the delivery, the DID column of hookctl deliveries."`
}

func (c *redeliverCmd) Help() string {
	return `Makes a failed or delivered delivery pending again, due at once, and prints it; the
server's relay sends it to its destination as soon as a worker is free. Its past attempts are
kept and TRIES starts again from 0. A pending delivery is refused (409): it is attempted again
without being asked. --output json prints the server's answer unchanged.`
}

func (c *redeliverCmd) Validate() error {
	switch {
	case c.DID < 1:
		return fmt.Errorf("the delivery id must be a positive integer, not %d", c.DID)
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *redeliverCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.RedeliverWithResponse(ctx, c.DID)
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	d := resp.JSON202
	if d == nil {
		return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
			resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
			resp.ApplicationproblemJSON409, resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}
	_, err = fmt.Fprintf(s.stdout, "delivery %d of %s/%s to %s is %s again\n",
		d.Did, printable(d.Source), printable(d.MessageId), printable(d.Destination), d.Status)
	return err
}
