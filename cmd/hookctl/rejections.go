package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/hookvault/hookvault/gen"
)

const (
	// maxRejectionLimit is the server's largest page of the journal.
	maxRejectionLimit = 200
	// reasonWidth is how many runes of a reason a table row shows; RID shows all of it.
	reasonWidth = 60
	// followEvery is how often --follow asks for new entries.
	followEvery = time.Second
	// followCatchUp bounds the entries one poll of --follow reads when more arrived since the
	// last than a page holds: a flood of refusals must not grow hookctl's memory.
	followCatchUp = 1000
)

// interrupted is the context that ends --follow: Ctrl-C. Tests replace it.
var interrupted = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

type rejectionsCmd struct {
	serverFlags
	tokenFlag
	outputFlag

	RID *int64 `arg:"" optional:"" name:"rid" placeholder:"RID" help:"Show this one entry whole: every field, its hints, headers and body."`

	// Pointers tell an unset flag from an empty one, which the server rejects with a 400
	// that names it rather than silently listing everything.
	Source *string `placeholder:"NAME" help:"Only entries of the source NAME (default for POST /webhook; for an unknown source, the name in the path)."`
	Result *string `placeholder:"RESULT" help:"Only entries with RESULT: unknown_source, too_large, unsupported_media_type, invalid_signature, validation_error or conflict."`
	Since  string  `placeholder:"TIME" help:"Only entries received at or after TIME (RFC 3339, e.g. 2026-11-29T00:00:00Z)."`
	Until  string  `placeholder:"TIME" help:"Only entries received before TIME (RFC 3339)."`
	Limit  *int    `placeholder:"N" help:"At most N entries per page, 1 to 200 (default: the server's 50; with --all, 200; with --follow, the first page)."`
	Cursor *string `placeholder:"CURSOR" help:"Start after the page that answered this next_cursor."`
	All    bool    `help:"Follow next_cursor to the last page and print every entry."`
	Follow bool    `short:"f" help:"Print the newest entries, then each new one as it is recorded, oldest first, until Ctrl-C."`

	since, until *time.Time // parsed by Validate
}

func (c *rejectionsCmd) Help() string {
	return `The rejection journal: every delivery hookvault refused (unknown source 404, too large
413, wrong media type 415, signature 401, unreadable body 422) and every body that conflicted
with a stored message of the same id (answered 200; the first body was kept). Entries come
newest first, one page per call. The table shows RID (the entry's id: "hookctl rejections RID"
shows it whole), RECEIVED_AT (UTC), SOURCE, STATUS (as answered), RESULT, the first 60
characters of REASON (the precise reason: the signature scheme and failure, the 422's detail,
the conflicting id) and HINTS, how many hints the entry has about what would have matched a
signature. When more pages exist, a line on standard error gives the command for the next one;
--all follows them instead.

--follow prints the newest page oldest first, then polls every second and prints each entry
recorded since, until Ctrl-C. With --output json it prints one entry per line.

--output json prints the server's page unchanged: {"data":[…],"next_cursor":…}; with --all,
one JSON array of every entry, written as the pages arrive (left unclosed, and exit 1, if a
page fails); with RID, the server's entry unchanged, headers and body included.
--timeout applies to each request.`
}

func (c *rejectionsCmd) Validate() error {
	var err error
	if c.since, err = parseTimeFlag("--since", c.Since); err != nil {
		return err
	}
	if c.until, err = parseTimeFlag("--until", c.Until); err != nil {
		return err
	}
	listing := c.Source != nil || c.Result != nil || c.since != nil || c.until != nil || c.Limit != nil ||
		c.Cursor != nil || c.All || c.Follow
	switch {
	case c.RID != nil && *c.RID < 1:
		return fmt.Errorf("the rejection id must be a positive integer, not %d", *c.RID)
	case c.RID != nil && listing:
		return errors.New("RID shows one entry: give it without --source, --result, --since, --until, --limit, --cursor, --all or --follow")
	case c.Result != nil && !gen.RejectionResult(*c.Result).Valid():
		return fmt.Errorf("--result must be unknown_source, too_large, unsupported_media_type, invalid_signature, validation_error or conflict, not %q", *c.Result)
	case c.since != nil && c.until != nil && !c.since.Before(*c.until):
		return errors.New("--until must be later than --since")
	case c.Limit != nil && (*c.Limit < 1 || *c.Limit > maxRejectionLimit):
		return fmt.Errorf("--limit must be between 1 and %d", maxRejectionLimit)
	case c.Follow && (c.All || c.Cursor != nil || c.until != nil):
		return errors.New("--follow prints new entries as they come: give it without --all, --cursor or --until")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return c.check()
}

func (c *rejectionsCmd) Run(s *streams) error {
	client, shown, err := readClient(c.serverFlags, c.tokenFlag)
	if err != nil {
		return err
	}
	switch {
	case c.RID != nil:
		return c.show(s, client, shown)
	case c.Follow:
		ctx, stop := interrupted()
		defer stop()
		return c.follow(ctx, s, client, shown)
	}
	params := c.params()
	if c.All && params.Limit == nil {
		params.Limit = new(maxRejectionLimit)
	}
	out := newListing(s.stdout, c.json(), c.All, rejectionsHeader)
	return out.walk(s.stderr, shown, &params.Cursor, c.nextCommand, func() ([]byte, func(io.Writer), *string, error) {
		page, err := c.page(context.Background(), client, params, shown)
		if err != nil {
			return nil, nil, nil, err
		}
		return page.Body, func(tw io.Writer) {
			for _, r := range page.JSON200.Data {
				fmt.Fprintln(tw, rejectionRow(r))
			}
		}, page.JSON200.NextCursor, nil
	})
}

const rejectionsHeader = "RID\tRECEIVED_AT\tSOURCE\tSTATUS\tRESULT\tREASON\tHINTS"

// rejectionRow is one entry as a table row, cells separated by tabs.
func rejectionRow(r gen.RejectionSummary) string {
	return fmt.Sprintf("%d\t%s\t%s\t%d\t%s\t%s\t%d", r.Rid, r.ReceivedAt.UTC().Format(timeLayout),
		printable(r.Source), r.Status, r.Result, truncate(printable(r.Reason), reasonWidth), len(r.Hints))
}

func (c *rejectionsCmd) params() *gen.ListRejectionsParams {
	p := &gen.ListRejectionsParams{Source: c.Source, Since: c.since, Until: c.until, Limit: c.Limit, Cursor: c.Cursor}
	if c.Result != nil {
		p.Result = new(gen.RejectionResult(*c.Result))
	}
	return p
}

// page fetches one page, within the timeout.
func (c *rejectionsCmd) page(ctx context.Context, client *gen.ClientWithResponses, params *gen.ListRejectionsParams, shown string) (*gen.ListRejectionsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	resp, err := client.ListRejectionsWithResponse(ctx, params)
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
func (c *rejectionsCmd) nextCommand(cursor string) string {
	return nextPageCommand("rejections", cursor, "--source", deref(c.Source, ""), "--result", deref(c.Result, ""),
		"--since", c.Since, "--until", c.Until, "--limit", limitFlag(c.Limit))
}

// follow prints the newest page oldest first, then every entry recorded since, a poll at a
// time, until ctx ends. It holds at most one poll's entries: those with a rid above the last
// printed, read newest first until an old one (or followCatchUp of them) is seen.
func (c *rejectionsCmd) follow(ctx context.Context, s *streams, client *gen.ClientWithResponses, shown string) error {
	params := c.params()
	var last int64 // the newest rid printed; 0 before the first poll
	header := false
	tick := time.NewTicker(followEvery)
	defer tick.Stop()
	for {
		fresh, skipped, err := c.newSince(ctx, client, params, shown, last)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && last == 0:
			return err // the first poll: a bad token or URL is the caller's to fix
		case err != nil:
			// The server may be restarting: say so, and keep polling.
			fmt.Fprintf(s.stderr, "hookctl: %v (retrying)\n", err)
		}
		if skipped {
			fmt.Fprintf(s.stderr, "hookctl: more than %d entries arrived since the last poll; older ones were skipped (hookctl rejections --since lists them)\n", followCatchUp)
		}
		if len(fresh) > 0 {
			if !header && !c.json() {
				fmt.Fprintln(s.stdout, followRow(strings.Split(rejectionsHeader, "\t")))
				header = true
			}
			if err := c.printFollowed(s.stdout, fresh); err != nil {
				return err
			}
			last = fresh[0].Rid
		} else if last == 0 && err == nil {
			last = -1 // an empty journal: every entry from now on is new
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// newSince returns the entries with a rid above last, newest first: on the first poll
// (last 0), the newest page only.
func (c *rejectionsCmd) newSince(ctx context.Context, client *gen.ClientWithResponses, params *gen.ListRejectionsParams, shown string, last int64) (fresh []gen.RejectionSummary, skipped bool, err error) {
	p := *params
	p.Cursor = nil
	for {
		page, err := c.page(ctx, client, &p, shown)
		if err != nil {
			return fresh, false, err
		}
		for _, r := range page.JSON200.Data {
			if r.Rid <= last {
				return fresh, false, nil
			}
			fresh = append(fresh, r)
		}
		next := page.JSON200.NextCursor
		if last == 0 || next == nil {
			return fresh, false, nil
		}
		if len(fresh) >= followCatchUp {
			return fresh, true, nil
		}
		p.Cursor = next
	}
}

// printFollowed prints fresh (newest first) oldest first, as rows of fixed width (a table
// that grows cannot be aligned after the fact) or as one JSON object per line.
func (c *rejectionsCmd) printFollowed(w io.Writer, fresh []gen.RejectionSummary) error {
	var buf bytes.Buffer
	for _, r := range slices.Backward(fresh) {
		if c.json() {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			buf.Write(b)
			buf.WriteByte('\n')
			continue
		}
		buf.WriteString(followRow(strings.Split(rejectionRow(r), "\t")))
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// followWidths are the widths of --follow's columns but the last two (REASON is cut to
// reasonWidth).
var followWidths = []int{8, len(timeLayout), 16, 6, 22, reasonWidth}

func followRow(cells []string) string {
	var b strings.Builder
	for i, cell := range cells {
		b.WriteString(cell)
		if i < len(followWidths) && i+1 < len(cells) {
			b.WriteString(strings.Repeat(" ", max(0, followWidths[i]-len([]rune(cell)))+2))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// show prints one entry whole.
func (c *rejectionsCmd) show(s *streams, client *gen.ClientWithResponses, shown string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	resp, err := client.GetRejectionWithResponse(ctx, *c.RID)
	if err != nil {
		return transportError(err, shown, c.Timeout)
	}
	r := resp.JSON200
	if r == nil {
		return answerError(resp.HTTPResponse, shown, retryAfter(resp.HTTPResponse),
			resp.ApplicationproblemJSON400, resp.ApplicationproblemJSON401, resp.ApplicationproblemJSON404,
			resp.ApplicationproblemJSON500, resp.ApplicationproblemJSON503)
	}
	if c.json() {
		return writeBody(s.stdout, resp.Body)
	}
	var out bytes.Buffer
	tw := newTable(&out)
	fmt.Fprintf(tw, "RID\t%d\n", r.Rid)
	fmt.Fprintf(tw, "RECEIVED_AT\t%s\n", r.ReceivedAt.UTC().Format(timeLayout))
	fmt.Fprintf(tw, "SOURCE\t%s\n", printable(r.Source))
	fmt.Fprintf(tw, "STATUS\t%d\n", r.Status)
	fmt.Fprintf(tw, "RESULT\t%s\n", r.Result)
	fmt.Fprintf(tw, "REASON\t%s\n", printable(r.Reason))
	if r.MessageId != nil {
		fmt.Fprintf(tw, "MESSAGE_ID\t%s\n", printable(*r.MessageId))
	}
	if r.FirstReceivedAt != nil {
		fmt.Fprintf(tw, "FIRST_RECEIVED_AT\t%s\n", r.FirstReceivedAt.UTC().Format(timeLayout))
	}
	fmt.Fprintf(tw, "REQUEST_ID\t%s\n", printable(r.RequestId))
	fmt.Fprintf(tw, "REMOTE_ADDR\t%s\n", printable(r.RemoteAddr))
	fmt.Fprintf(tw, "BODY_SIZE\t%d\n", r.BodySize)
	fmt.Fprintf(tw, "BODY_SHA256\t%s\n", deref(r.BodySha256, "- (the body was not read whole)"))
	if err := tw.Flush(); err != nil {
		return err
	}
	out.WriteString("HINTS\n")
	if len(r.Hints) == 0 {
		out.WriteString("  (none)\n")
	}
	for _, h := range r.Hints {
		fmt.Fprintf(&out, "  - %s\n", printable(h))
	}
	out.WriteString("HEADERS\n")
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		for _, v := range r.Headers[name] {
			fmt.Fprintf(&out, "%s: %s\n", printable(name), printable(v))
		}
	}
	out.Write(showRejectionBody(r))
	_, err = s.stdout.Write(out.Bytes())
	return err
}

// showRejectionBody is the BODY section: text as text (control characters but newlines and
// tabs made spaces, so nothing of it drives the terminal), other bytes in base64, said so,
// and a note when the journal kept only the body's start.
func showRejectionBody(r *gen.Rejection) []byte {
	var out bytes.Buffer
	kept := 0
	switch {
	case r.BodyBase64 != nil:
		kept = len(*r.BodyBase64)
	case r.Body != nil:
		kept = len(*r.Body)
	}
	note := ""
	if int64(kept) < r.BodySize {
		note = fmt.Sprintf(", the first %d of %d bytes (REJECTION_BODY_BYTES)", kept, r.BodySize)
	}
	switch {
	case r.BodyBase64 != nil:
		b64 := base64.StdEncoding.EncodeToString(*r.BodyBase64)
		fmt.Fprintf(&out, "BODY (%d bytes that are not text, in base64%s)\n", kept, note)
		for len(b64) > 76 {
			out.WriteString(b64[:76] + "\n")
			b64 = b64[76:]
		}
		out.WriteString(b64 + "\n")
	case r.BodySize == 0:
		out.WriteString("BODY (empty, or not read)\n")
	case kept == 0:
		fmt.Fprintf(&out, "BODY (%d bytes, none kept: REJECTION_BODY_BYTES is 0)\n", r.BodySize)
	default:
		if note != "" {
			note = " (" + strings.TrimPrefix(note, ", ") + ")"
		}
		fmt.Fprintf(&out, "BODY%s\n", note)
		out.WriteString(printableText(*r.Body))
		if !strings.HasSuffix(*r.Body, "\n") {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}
