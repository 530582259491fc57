package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookvault/hookvault/gen"
)

type message struct{ id, sender, content string }

// seed sends the messages in order through hookctl send, so they are listed in that order.
func seed(t *testing.T, url string, msgs ...message) {
	t.Helper()
	env := map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": testSecret}
	for _, m := range msgs {
		r := hookctl(t, env, "", "send", "--id="+m.id, "--sender="+m.sender, "--content="+m.content)
		if r.code != 0 {
			t.Fatalf("send %s: exit %d: %s", m.id, r.code, r.stderr)
		}
	}
}

// readEnv is the environment of a read command against url with the right token.
func readEnv(url string) map[string]string {
	return map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": testToken}
}

// succeeded fails the test unless r exited 0 with nothing on stderr.
func succeeded(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
}

// listColumns are the columns of the list table, in order.
var listColumns = []string{"RECEIVED_AT", "SOURCE", "ID", "TYPE", "SENDER", "CONTENT"}

// tableRows splits a table into its rows, each a map from column to cell, after checking
// the header and that every cell starts where its column does in the header. Columns are
// found by rune, as tabwriter aligns them.
func tableRows(t *testing.T, stdout string, columns []string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	header := []rune(lines[0])
	if got := strings.Fields(lines[0]); !slices.Equal(got, columns) {
		t.Fatalf("header = %q, want the columns %q", lines[0], columns)
	}
	starts := make([]int, len(columns))
	from := 0 // each column after the one before: "PROVIDER" holds "ID"
	for i, col := range columns {
		at := from + strings.Index(string(header[from:]), col)
		starts[i], from = at, at+len([]rune(col))
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		row := []rune(line)
		cells := map[string]string{}
		for i, col := range columns {
			from := starts[i]
			if from >= len(row) {
				cells[col] = "" // a row ends after its last cell that is not blank
				continue
			}
			if from >= 2 && (row[from-1] != ' ' || row[from-2] != ' ') {
				t.Errorf("column %s is not aligned with the header:\n%s\n%s", col, lines[0], line)
			}
			to := len(row)
			if i+1 < len(columns) && starts[i+1] < to {
				to = starts[i+1]
			}
			cells[col] = strings.TrimRight(string(row[from:to]), " ")
		}
		rows = append(rows, cells)
	}
	return rows
}

// tableIDs returns the ID column of a list table.
func tableIDs(t *testing.T, stdout string) []string {
	t.Helper()
	var ids []string
	for _, row := range tableRows(t, stdout, listColumns) {
		ids = append(ids, row["ID"])
	}
	return ids
}

// listed decodes list --output json without --all: the server's page.
func listed(t *testing.T, r result) gen.MessageList {
	t.Helper()
	succeeded(t, r)
	var page gen.MessageList
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatalf("stdout is not a page: %v: %q", err, r.stdout)
	}
	return page
}

func ids(msgs []gen.MessageSummary) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Id)
	}
	return out
}

func TestListTable(t *testing.T) {
	url := startServer(t)
	long := strings.Repeat("é", 80)
	seed(t, url,
		message{"m-1", "alice", "hello"},
		message{"m-2", "alice", long},
		message{"m-3", "bob", "line one\nline\ttwo \x1b[31mred\x1b[0m"},
	)

	r := hookctl(t, readEnv(url), "", "list")
	succeeded(t, r)
	if got := tableIDs(t, r.stdout); !slices.Equal(got, []string{"m-1", "m-2", "m-3"}) {
		t.Errorf("ids = %q, want m-1 m-2 m-3 in arrival order", got)
	}
	if strings.ContainsFunc(strings.ReplaceAll(r.stdout, "\n", ""), unicode.IsControl) {
		t.Errorf("the table carries control characters from the content:\n%q", r.stdout)
	}
	lines := strings.Split(r.stdout, "\n")
	if want := strings.Repeat("é", contentWidth-1) + "…"; !strings.HasSuffix(lines[2], "  "+want) {
		t.Errorf("long content not cut to %d runes:\n%s", contentWidth, lines[2])
	}
	if !strings.Contains(lines[1], "alice") || !strings.HasSuffix(lines[1], "  hello") {
		t.Errorf("row 1 = %q", lines[1])
	}
	at := strings.Fields(lines[1])[0]
	if _, err := time.Parse(time.RFC3339, at); err != nil || !strings.HasSuffix(at, "Z") {
		t.Errorf("RECEIVED_AT %q is not an RFC 3339 UTC time: %v", at, err)
	}

	// An empty result is a header, not an error.
	r = hookctl(t, readEnv(url), "", "list", "--sender=nobody")
	succeeded(t, r)
	if got := tableIDs(t, r.stdout); len(got) != 0 {
		t.Errorf("ids = %q, want none", got)
	}
}

func TestListJSON(t *testing.T) {
	url := startServer(t)
	seed(t, url, message{"j-1", "alice", "a <b> & c"}, message{"j-2", "bob", ""})

	page := listed(t, hookctl(t, readEnv(url), "", "list", "--output=json"))
	if page.NextCursor != nil {
		t.Errorf("next_cursor = %q on the only page", *page.NextCursor)
	}
	want := []struct{ id, sender, content string }{{"j-1", "alice", "a <b> & c"}, {"j-2", "bob", ""}}
	if len(page.Data) != len(want) {
		t.Fatalf("data = %+v, want %+v", page.Data, want)
	}
	for i, m := range page.Data {
		// A message of POST /webhook's format has sender and content, an empty content
		// included, and no type.
		if m.Id != want[i].id || m.Source != "default" || m.Type != nil || m.Sender == nil || *m.Sender != want[i].sender ||
			m.Content == nil || *m.Content != want[i].content || m.ReceivedAt.IsZero() {
			t.Errorf("data[%d] = %+v, want %+v", i, m, want[i])
		}
	}
}

func TestListFilters(t *testing.T) {
	url := startServer(t)
	seed(t, url,
		message{"f-1", "alice", "invoice 100%"},
		message{"f-2", "bob", "INVOICE"},
		message{"f-3", "alice", "receipt"},
		message{"f-4", "carol", "an invoice_again"},
	)
	all := listed(t, hookctl(t, readEnv(url), "", "list", "-o", "json")).Data
	if got := ids(all); !slices.Equal(got, []string{"f-1", "f-2", "f-3", "f-4"}) {
		t.Fatalf("unfiltered ids = %q", got)
	}
	// The arrival times the server reports, with their full precision: since is inclusive,
	// until exclusive.
	at := func(i int) string { return all[i].ReceivedAt.Format(time.RFC3339Nano) }
	// The same instant, written in another zone.
	atInZone := func(i int) string {
		return all[i].ReceivedAt.In(time.FixedZone("", 5*3600+30*60)).Format(time.RFC3339Nano)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"sender", []string{"--sender=alice"}, []string{"f-1", "f-3"}},
		{"q is literal and case-sensitive", []string{"--q=invoice"}, []string{"f-1", "f-4"}},
		{"q with wildcard characters", []string{"--q=%"}, []string{"f-1"}},
		{"q with an underscore", []string{"--q=e_a"}, []string{"f-4"}},
		{"sender and q", []string{"--sender=alice", "--q=invoice"}, []string{"f-1"}},
		{"since is inclusive", []string{"--since=" + at(1)}, []string{"f-2", "f-3", "f-4"}},
		{"until is exclusive", []string{"--until=" + at(2)}, []string{"f-1", "f-2"}},
		{"since and until", []string{"--since=" + at(1), "--until=" + at(3)}, []string{"f-2", "f-3"}},
		{"times with an offset", []string{"--since=" + atInZone(1), "--until=" + atInZone(3)}, []string{"f-2", "f-3"}},
		{"since in the future", []string{"--since=2200-01-01T00:00:00Z"}, nil},
		{"no match", []string{"--sender=nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := listed(t, hookctl(t, readEnv(url), "", append([]string{"list", "-o", "json"}, tt.args...)...))
			if got := ids(page.Data); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	url := startServer(t)
	var msgs []message
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("p-%d", i)
		msgs = append(msgs, message{id, []string{"alice", "bob"}[i%2], "page test"})
		want = append(want, id)
	}
	seed(t, url, msgs...)
	env := readEnv(url)

	t.Run("all as a table", func(t *testing.T) {
		r := hookctl(t, env, "", "list", "--all", "--limit=2")
		succeeded(t, r)
		if got := tableIDs(t, r.stdout); !slices.Equal(got, want) {
			t.Errorf("ids = %q, want each of %q once", got, want)
		}
	})

	t.Run("all as one JSON array", func(t *testing.T) {
		r := hookctl(t, env, "", "list", "--all", "--limit=2", "--output=json")
		succeeded(t, r)
		var got []gen.MessageSummary
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not a JSON array: %v:\n%s", err, r.stdout)
		}
		if !slices.Equal(ids(got), want) {
			t.Errorf("ids = %q, want each of %q once", ids(got), want)
		}
		if lines := strings.Count(r.stdout, "\n"); lines != len(want)+2 {
			t.Errorf("%d lines, want one per message between [ and ]:\n%s", lines, r.stdout)
		}
	})

	t.Run("all with a filter", func(t *testing.T) {
		r := hookctl(t, env, "", "list", "--all", "--limit=1", "--sender=bob", "-o", "json")
		succeeded(t, r)
		var got []gen.MessageSummary
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if want := []string{"p-1", "p-3", "p-5"}; !slices.Equal(ids(got), want) {
			t.Errorf("ids = %q, want %q", ids(got), want)
		}
	})

	t.Run("all of nothing", func(t *testing.T) {
		r := hookctl(t, env, "", "list", "--all", "--sender=nobody", "-o", "json")
		succeeded(t, r)
		if r.stdout != "[]\n" {
			t.Errorf("stdout = %q, want an empty array", r.stdout)
		}
	})

	t.Run("page by page with the hinted command", func(t *testing.T) {
		var got []string
		args := []string{"list", "--limit=3"}
		for range len(want) {
			r := hookctl(t, env, "", args...)
			if r.code != 0 {
				t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
			}
			got = append(got, tableIDs(t, r.stdout)...)
			if r.stderr == "" {
				break
			}
			// "next: hookctl list --limit 3 --cursor <c>": cursors need no shell quoting.
			hint, ok := strings.CutPrefix(strings.TrimSuffix(r.stderr, "\n"), "next: hookctl ")
			if !ok || strings.Contains(hint, "\n") || !strings.Contains(hint, "--limit 3 --cursor ") {
				t.Fatalf("stderr = %q, want one next: line", r.stderr)
			}
			args = strings.Fields(hint)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ids = %q, want each of %q once", got, want)
		}
	})

	t.Run("JSON page keeps the cursor and prints no hint", func(t *testing.T) {
		page := listed(t, hookctl(t, env, "", "list", "--limit=2", "-o", "json"))
		if page.NextCursor == nil || !slices.Equal(ids(page.Data), want[:2]) {
			t.Fatalf("page = %+v, want the first two and a cursor", page)
		}
		next := listed(t, hookctl(t, env, "", "list", "--limit=2", "-o", "json", "--cursor", *page.NextCursor))
		if !slices.Equal(ids(next.Data), want[2:4]) {
			t.Errorf("second page = %q, want %q", ids(next.Data), want[2:4])
		}
	})
}

// Pages of large messages end at the server's 4 MiB before they reach --limit; --all
// still prints every message once, and one page still hints at the next.
func TestListLargeMessages(t *testing.T) {
	url := startServer(t)
	env := map[string]string{"HOOKVAULT_URL": url, "WEBHOOK_SECRET": testSecret}
	content := strings.Repeat("x", 1_000_000) // four fit in 4 MiB, five do not
	var want []string
	for i := range 6 {
		id := fmt.Sprintf("large-%d", i)
		body := fmt.Sprintf(`{"id":%q,"sender":"alice","content":%q}`, id, content)
		if r := hookctl(t, env, body, "send", "--file=-"); r.code != 0 {
			t.Fatalf("send %s: exit %d: %s", id, r.code, r.stderr)
		}
		want = append(want, id)
	}
	env = readEnv(url)

	r := hookctl(t, env, "", "list", "--all", "-o", "json")
	succeeded(t, r)
	var got []gen.MessageSummary
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not a JSON array: %v", err)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("ids = %q, want each of %q once", ids(got), want)
	}
	for _, m := range got {
		if got := deref(m.Content, ""); got != content {
			t.Fatalf("%s: %d bytes of content, want %d", m.Id, len(got), len(content))
		}
	}

	r = hookctl(t, env, "", "list", "--limit=1000")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "next: hookctl list --limit 1000 --cursor ") {
		t.Fatalf("exit %d, stderr %q: want a hint at the next page", r.code, r.stderr)
	}
	if got := tableIDs(t, r.stdout); !slices.Equal(got, want[:4]) {
		t.Fatalf("first page = %q, want %q", got, want[:4])
	}
}

func str(s string) *string { return &s }

func TestNextCommandQuotes(t *testing.T) {
	limit := 5
	c := listCmd{Source: str("github"), Type: str("pull request"), Sender: str("o'neil x"), Since: "2026-11-29T00:00:00+01:00",
		Q: str("a b"), Limit: &limit}
	want := `hookctl list --source github --type 'pull request' --sender 'o'\''neil x' --since 2026-11-29T00:00:00+01:00 --q 'a b' --limit 5 --cursor abc_-9`
	if got := c.nextCommand("abc_-9"); got != want {
		t.Errorf("nextCommand =\n%s\nwant\n%s", got, want)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ééé", 3, "ééé"},
		{"éééé", 3, "éé…"},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want || utf8.RuneCountInString(got) > tt.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestListUsage(t *testing.T) {
	url := startServer(t)
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantStderr []string
	}{
		{"since not RFC 3339", readEnv(url), []string{"--since=yesterday"}, []string{`--since "yesterday" is not an RFC 3339 time`}},
		{"until without zone", readEnv(url), []string{"--until=2026-11-29T00:00:00"}, []string{"--until", "RFC 3339"}},
		{"until before since", readEnv(url), []string{"--since=2026-11-29T00:00:00Z", "--until=2026-11-28T00:00:00Z"}, []string{"--until must be later than --since"}},
		{"limit zero", readEnv(url), []string{"--limit=0"}, []string{"--limit must be between 1 and 1000"}},
		{"limit too large", readEnv(url), []string{"--limit=1001"}, []string{"--limit must be between 1 and 1000"}},
		{"unknown output", readEnv(url), []string{"--output=yaml"}, []string{"--output", "table", "json"}},
		{"no token", map[string]string{"HOOKVAULT_URL": url}, nil, []string{"API_TOKEN", "--token"}},
		{"empty first token", map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": "," + testToken}, nil, []string{"first token", "empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"list"}, tt.args...)...)
			r.wantFailure(t, 2, tt.wantStderr...)
		})
	}
}

// TestReadFailures covers the answers every read command shares.
func TestReadFailures(t *testing.T) {
	live := startServer(t)
	disabled := startServerWith(t) // no API token configured
	down := closedURL(t)
	silent := silentURL(t)

	tests := []exitCase{
		{"wrong token", map[string]string{"HOOKVAULT_URL": live, "API_TOKEN": "wrong-token"}, nil, 1,
			[]string{"hookctl: 401 Unauthorized: invalid bearer token"}},
		{"only a later token is right", map[string]string{"HOOKVAULT_URL": live, "API_TOKEN": "retired," + testToken}, nil, 1,
			[]string{"hookctl: 401 Unauthorized: "}},
		{"read API disabled", readEnv(disabled), nil, 1,
			[]string{"hookctl: 401 Unauthorized: ", "set API_TOKEN on the server"}},
		{"server down", readEnv(down), nil, 1, []string{"hookctl: cannot reach " + down + ": connection refused"}},
		{"no answer within the timeout", readEnv(silent), []string{"--timeout=200ms"}, 1,
			[]string{"no answer from " + silent + " within 200ms"}},
		{"URL with a wrong path", readEnv(live + "/nope"), nil, 1, []string{"hookctl: 404 "}},
		{"token from the flag", map[string]string{"HOOKVAULT_URL": live, "API_TOKEN": "wrong-token"}, []string{"--token=" + testToken}, 0, nil},
		{"first of several tokens", map[string]string{"HOOKVAULT_URL": live, "API_TOKEN": testToken + ",retired"}, nil, 0, nil},
	}
	for _, cmd := range [][]string{{"list"}, {"list", "--all"}, {"stats"}, {"deliveries"}, {"deliveries", "--all"}} {
		for _, tt := range tests {
			t.Run(strings.Join(cmd, " ")+"/"+tt.name, func(t *testing.T) {
				r := hookctl(t, tt.env, "", append(slices.Clone(cmd), tt.args...)...)
				if r.code != tt.wantCode {
					t.Fatalf("exit %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
				}
				if tt.wantCode == 0 {
					return
				}
				r.wantFailure(t, tt.wantCode, tt.wantStderr...)
				if strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("stderr is not one line: %q", r.stderr)
				}
			})
		}
	}

	r := hookctl(t, readEnv(live), "", "list", "--cursor=not-a-cursor")
	if r.code != 1 || !strings.Contains(r.stderr, "hookctl: 400 Bad Request: ") || !strings.Contains(r.stderr, "cursor") {
		t.Errorf("bad cursor: exit %d, stderr %q; want 1 and a 400 naming the cursor", r.code, r.stderr)
	}
}

// TestListSourcesAndTypes: providers' messages are listed with their source and type and
// without sender or content, and --source and --type filter.
func TestListSourcesAndTypes(t *testing.T) {
	url := startSourcesServer(t)
	seed(t, url, message{"d-1", "alice", "hello"})
	push := sendTo(t, url, "github", "", "-H", "X-GitHub-Event: push", "-H", "X-GitHub-Delivery: gh-push",
		"--data", `{"ref":"refs/heads/main"}`)
	ping := sendTo(t, url, "github", "")
	paid := sendTo(t, url, "stripe", "", "--data", `{"id":"evt_1","type":"invoice.paid"}`)
	sms := sendTo(t, url, "twilio", "")

	r := hookctl(t, readEnv(url), "", "list")
	succeeded(t, r)
	rows := tableRows(t, r.stdout, listColumns)
	want := []map[string]string{
		{"SOURCE": "default", "ID": "d-1", "TYPE": "", "SENDER": "alice", "CONTENT": "hello"},
		{"SOURCE": "github", "ID": "gh-push", "TYPE": "push", "SENDER": "", "CONTENT": ""},
		{"SOURCE": "github", "ID": ping.Id, "TYPE": "ping", "SENDER": "", "CONTENT": ""},
		{"SOURCE": "stripe", "ID": "evt_1", "TYPE": "invoice.paid", "SENDER": "", "CONTENT": ""},
		{"SOURCE": "twilio", "ID": sms.Id, "TYPE": "", "SENDER": "", "CONTENT": ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), r.stdout)
	}
	for i, w := range want {
		delete(rows[i], "RECEIVED_AT")
		if !maps.Equal(rows[i], w) {
			t.Errorf("row %d = %q, want %q", i+1, rows[i], w)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("row ends in spaces: %q", line)
		}
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"source", []string{"--source=github"}, []string{push.Id, ping.Id}},
		{"default source", []string{"--source=default"}, []string{"d-1"}},
		{"type", []string{"--type=ping"}, []string{ping.Id}},
		{"source and type", []string{"--source=stripe", "--type=invoice.paid"}, []string{paid.Id}},
		{"type of another source", []string{"--source=default", "--type=push"}, nil},
		{"source without messages", []string{"--source=zoom"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := listed(t, hookctl(t, readEnv(url), "", append([]string{"list", "--json"}, tt.args...)...))
			if got := ids(page.Data); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("next page keeps the filters", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "list", "--source=github", "--type=push", "--limit=1")
		succeeded(t, r)
		if got := tableIDs(t, r.stdout); !slices.Equal(got, []string{"gh-push"}) {
			t.Errorf("ids = %q", got)
		}
		// One message matches, so there is no next page, and no hint.
		if r.stderr != "" {
			t.Errorf("stderr = %q, want no hint", r.stderr)
		}
		r = hookctl(t, readEnv(url), "", "list", "--source=github", "--limit=1")
		if !strings.HasPrefix(r.stderr, "next: hookctl list --source github --limit 1 --cursor ") {
			t.Errorf("stderr = %q, want a hint that keeps --source", r.stderr)
		}
	})

	t.Run("bad filters are the server's 400", func(t *testing.T) {
		for _, args := range [][]string{{"--source=Git Hub"}, {"--type="}} {
			r := hookctl(t, readEnv(url), "", append([]string{"list"}, args...)...)
			r.wantFailure(t, 1, "hookctl: 400 Bad Request: ", strings.TrimPrefix(strings.Split(args[0], "=")[0], "--"))
		}
	})
}

// A server that answers every page with the same next_cursor would keep --all going for
// ever: each listing stops at the second time, says why, and exits 1 (what the pages before
// held, here an empty table, is still printed).
func TestAllStopsOnARepeatedCursor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":[],"next_cursor":"same"}`)
	}))
	t.Cleanup(srv.Close)
	for _, cmd := range []string{"list", "deliveries", "rejections"} {
		t.Run(cmd, func(t *testing.T) {
			r := hookctl(t, readEnv(srv.URL), "", cmd, "--all")
			if r.code != 1 || !strings.Contains(r.stderr, srv.URL+" answered the same next_cursor twice; stopping") {
				t.Errorf("exit %d, stderr %q; want 1 and the repeated cursor named", r.code, r.stderr)
			}
		})
	}
}
