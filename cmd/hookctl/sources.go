package main

import (
	"context"
	"errors"
	"fmt"
)

type sourcesCmd struct {
	serverFlags
	tokenFlag
	outputFlag
}

func (c *sourcesCmd) Help() string {
	return `The table shows each source the server receives from: NAME, PROVIDER (its preset), PATH
(where it receives), ID and TYPE (where a delivery's id and type come from: a header, a JSON
field, a form field, or the body's sha256) and URL (the public URL that twilio, square and
hubspot sign); "-" where a source has none. default is POST /webhook, listed when
WEBHOOK_SECRET is set. Secrets are never shown: the server does not serve them.
--output json prints the server's answer unchanged.`
}

func (c *sourcesCmd) Validate() error {
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *sourcesCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.ListSourcesWithResponse(ctx)
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	list := resp.JSON200
	if list == nil {
		return answerError(resp.HTTPResponse, shown, nil,
			resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}

	tw := newTable(s.stdout)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tPATH\tID\tTYPE\tURL")
	for _, src := range list.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(src.Name), printable(src.Provider), printable(src.Path),
			printable(src.Id), printable(deref(src.Type, "-")), printable(deref(src.Url, "-")))
	}
	return tw.Flush()
}
