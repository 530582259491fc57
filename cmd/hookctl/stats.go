package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

type statsCmd struct {
	serverFlags
	tokenFlag
	outputFlag
}

func (c *statsCmd) Help() string {
	return `The table shows the number of messages and senders, the first and last arrival (UTC),
the number of messages of each source that has any, and the ten senders with the most
messages (senders are those of POST /webhook's format). --output json prints the server's
answer unchanged.`
}

func (c *statsCmd) Validate() error {
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *statsCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.GetStatsWithResponse(ctx)
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	st := resp.JSON200
	if st == nil {
		return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
			resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}

	tw := newTable(s.stdout)
	fmt.Fprintf(tw, "MESSAGES\t%d\n", st.TotalMessages)
	fmt.Fprintf(tw, "SENDERS\t%d\n", st.SendersCount)
	fmt.Fprintf(tw, "FIRST_RECEIVED_AT\t%s\n", optionalTime(st.FirstReceivedAt))
	fmt.Fprintf(tw, "LAST_RECEIVED_AT\t%s\n", optionalTime(st.LastReceivedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	// Each section is a table of its own, aligned on its own widths.
	if len(st.Sources) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "SOURCE\tMESSAGES")
		for _, sc := range st.Sources {
			fmt.Fprintf(tw, "%s\t%d\n", printable(sc.Source), sc.Count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.TopSenders) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "TOP_SENDER\tMESSAGES")
		for _, sc := range st.TopSenders {
			fmt.Fprintf(tw, "%s\t%d\n", printable(sc.Sender), sc.Count)
		}
	}
	return tw.Flush()
}

// optionalTime shows an arrival time, or "-" when nothing is stored.
func optionalTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}
