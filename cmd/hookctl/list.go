package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookvault/hookvault/gen"
)

const (
	maxLimit = 1000 // the server's largest page
	// contentWidth is how many runes of content a table row shows; `get` shows all of it.
	contentWidth = 60
)

type listCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	// Pointers tell an unset flag from an empty one, which the server rejects with a 400
	// that names it rather than silently listing everything.
	Source *string `placeholder:"NAME" help:"Only messages of the source NAME (default for POST /webhook; hookctl sources lists them)."`
	Type   *string `placeholder:"TYPE" help:"Only messages of this type (exact match), e.g. push or invoice.paid."`
	Sender *string `placeholder:"SENDER" help:"Only messages from SENDER (exact match; POST /webhook's format only)."`
	Since  string  `placeholder:"TIME" help:"Only messages that arrived at or after TIME (RFC 3339, e.g. 2026-11-29T00:00:00Z)."`
	Until  string  `placeholder:"TIME" help:"Only messages that arrived before TIME (RFC 3339)."`
	Q      *string `name:"q" placeholder:"TEXT" help:"Only messages whose content contains TEXT, literally and case-sensitively."`
	Limit  *int    `placeholder:"N" help:"At most N messages per page, 1 to 1000 (default: the server's 50; with --all, 1000); a page also ends at 4 MiB of messages."`
	Cursor *string `placeholder:"CURSOR" help:"Start after the page that answered this next_cursor."`
	All    bool    `help:"Follow next_cursor to the last page and print every message."`

	since, until *time.Time // parsed by Validate
}

func (c *listCmd) Help() string {
	return `Messages come oldest first (by arrival, then id), one page per call. The table shows
RECEIVED_AT (UTC), SOURCE, ID, TYPE, SENDER and the first 60 characters of CONTENT; TYPE is
blank when the source gives none, SENDER and CONTENT are blank for providers' deliveries
(GitHub, Stripe, …), which have neither. "hookctl get ID --source NAME" shows a whole message. When more pages exist, a line on standard error gives the command for the
next one; --all follows them instead.

--output json prints the server's page unchanged: {"data":[…],"next_cursor":…}. With --all
it prints one JSON array of every message instead, one message per line, written as the
pages arrive; if a page fails, the array is left unclosed (and hookctl exits 1), so a
truncated listing cannot pass for a whole one. --timeout applies to each page.`
}

func (c *listCmd) Validate() error {
	var err error
	if c.since, err = parseTimeFlag("--since", c.Since); err != nil {
		return err
	}
	if c.until, err = parseTimeFlag("--until", c.Until); err != nil {
		return err
	}
	switch {
	case c.since != nil && c.until != nil && !c.since.Before(*c.until):
		return errors.New("--until must be later than --since")
	case c.Limit != nil && (*c.Limit < 1 || *c.Limit > maxLimit):
		return fmt.Errorf("--limit must be between 1 and %d", maxLimit)
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

// parseTimeFlag parses an RFC 3339 time; empty means unset.
func parseTimeFlag(name, value string) (*time.Time, error) {
	if value == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not an RFC 3339 time such as 2026-11-29T00:00:00Z or 2026-11-29T01:00:00+01:00", name, value)
	}
	return &t, nil
}

func (c *listCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	params := &gen.ListMessagesParams{
		Limit: c.Limit, Cursor: c.Cursor, Source: c.Source, Type: c.Type, Sender: c.Sender,
		Since: c.since, Until: c.until, Q: c.Q,
	}
	if c.All && params.Limit == nil {
		params.Limit = new(maxLimit)
	}

	out := newListing(s.stdout, c.json(), c.All, "RECEIVED_AT\tSOURCE\tID\tTYPE\tSENDER\tCONTENT")
	return out.walk(s.stderr, shown, &params.Cursor, c.nextCommand, func() ([]byte, func(io.Writer), *string, error) {
		page, err := c.page(client, params, shown)
		if err != nil {
			return nil, nil, nil, err
		}
		return page.Body, func(tw io.Writer) {
			for _, m := range page.JSON200.Data {
				// Ids are unique per source, so SOURCE and ID together name a message; types,
				// senders and content are left blank where the message has none.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ReceivedAt.UTC().Format(timeLayout),
					printable(m.Source), printable(m.Id), printable(deref(m.Type, "")),
					printable(deref(m.Sender, "")), truncate(printable(deref(m.Content, "")), contentWidth))
			}
		}, page.JSON200.NextCursor, nil
	})
}

// page fetches one page, within the timeout.
func (c *listCmd) page(client *gen.ClientWithResponses, params *gen.ListMessagesParams, shown string) (*gen.ListMessagesResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.ListMessagesWithResponse(ctx, params)
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

// nextCommand is the command line that lists the page after this one: the same filters
// and limit, and the cursor. --url and --token are left out: the token must not reach the
// terminal, and both usually come from the environment.
func (c *listCmd) nextCommand(cursor string) string {
	return nextPageCommand("list", cursor, "--source", deref(c.Source, ""), "--type", deref(c.Type, ""),
		"--sender", deref(c.Sender, ""), "--since", c.Since, "--until", c.Until, "--q", deref(c.Q, ""),
		"--limit", limitFlag(c.Limit))
}

// nextPageCommand is the command line that lists the page after this one: hookctl command,
// the flags (name, value pairs) that are set, and the cursor. --url and --token are left out:
// the token must not reach the terminal, and both usually come from the environment.
func nextPageCommand(command, cursor string, flags ...string) string {
	args := []string{"hookctl", command}
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i+1] != "" {
			args = append(args, flags[i], shellQuote(flags[i+1]))
		}
	}
	return strings.Join(append(args, "--cursor", shellQuote(cursor)), " ")
}

// limitFlag is --limit's value, "" when it is not set.
func limitFlag(limit *int) string {
	if limit == nil {
		return ""
	}
	return strconv.Itoa(*limit)
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell, unless it needs no quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// listing writes pages of a keyset listing (list, deliveries) as they arrive: a table, the
// page as the server sent it, or (with --all and --output json) one JSON array.
type listing struct {
	w       io.Writer
	json    bool
	all     bool
	header  string            // the table's header row, cells separated by tabs
	table   *tabwriter.Writer // nil until the first page arrives
	written int               // items in the JSON array so far
}

func newListing(w io.Writer, asJSON, all bool, header string) *listing {
	return &listing{w: w, json: asJSON, all: all, header: header}
}

// page writes one page: body is the server's answer, {"data":[…],"next_cursor":…}, and rows
// writes its items as table rows.
func (l *listing) page(body []byte, rows func(tw io.Writer)) error {
	switch {
	case !l.json:
		if l.table == nil {
			// One table for all pages, aligned when it is flushed at the end; no header
			// when the first page already fails.
			l.table = newTable(l.w)
			fmt.Fprintln(l.table, l.header)
		}
		rows(l.table)
		return nil
	case !l.all:
		return writeBody(l.w, body)
	}
	// The items as the server wrote them, not re-encoded through the SDK's types.
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, m := range page.Data {
		if l.written == 0 {
			buf.WriteString("[\n")
		} else {
			buf.WriteString(",\n")
		}
		if err := json.Compact(&buf, m); err != nil {
			return err
		}
		l.written++
	}
	_, err := l.w.Write(buf.Bytes())
	return err
}

// walk lists page after page: fetch gets the page at *cursor (the server's body, the rows of
// its table, its next_cursor). With --all it follows next_cursor, moving *cursor; otherwise
// it says on stderr how to list the next page (nextCommand).
func (l *listing) walk(stderr io.Writer, shown string, cursor **string, nextCommand func(cursor string) string,
	fetch func() (body []byte, rows func(tw io.Writer), next *string, err error)) error {
	for {
		body, rows, next, err := fetch()
		if err != nil {
			return errors.Join(err, l.abort())
		}
		if err := l.page(body, rows); err != nil {
			return err
		}
		if next == nil {
			break
		}
		if !l.all {
			if !l.json {
				fmt.Fprintf(stderr, "next: %s\n", nextCommand(*next))
			}
			break
		}
		if *cursor != nil && **cursor == *next {
			return errors.Join(fmt.Errorf("%s answered the same next_cursor twice; stopping", shown), l.abort())
		}
		*cursor = next
	}
	return l.close()
}

// close ends the output of a complete listing.
func (l *listing) close() error {
	switch {
	case !l.json:
		return l.table.Flush()
	case !l.all:
		return nil
	case l.written == 0:
		_, err := io.WriteString(l.w, "[]\n")
		return err
	}
	_, err := io.WriteString(l.w, "\n]\n")
	return err
}

// abort ends the output of a listing that failed part way: the rows so far stay visible, but
// a JSON array stays unclosed.
func (l *listing) abort() error {
	if l.table != nil {
		return l.table.Flush()
	}
	return nil
}
