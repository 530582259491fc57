package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
)

func (ts *testServer) list(t *testing.T, query url.Values) gen.MessageList {
	t.Helper()
	resp, body := ts.get(t, "/messages?"+query.Encode(), "Bearer "+token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /messages?%s = %d %s", query.Encode(), resp.StatusCode, body)
	}
	var l gen.MessageList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// walkHTTP follows next_cursor with the same filters and returns the ids in order.
func (ts *testServer) walkHTTP(t *testing.T, query url.Values) []string {
	t.Helper()
	var ids []string
	for pages := 0; pages < 10000; pages++ {
		l := ts.list(t, query)
		for _, m := range l.Data {
			ids = append(ids, m.Id)
		}
		if l.NextCursor == nil {
			return ids
		}
		query.Set("cursor", *l.NextCursor)
	}
	t.Fatal("walk does not end")
	return nil
}

func (ts *testServer) deliver(t *testing.T, body string) {
	t.Helper()
	if resp, b := ts.post(t, delivery{body: body}); resp.StatusCode != 200 {
		t.Fatalf("deliver %s: %d %s", body, resp.StatusCode, b)
	}
}

func TestListWalksEveryMessageOnceInOrder(t *testing.T) {
	ts := newServer(t)
	var want []string
	for i := range 23 {
		id := fmt.Sprintf("w-%02d", i)
		ts.deliver(t, msg(id))
		want = append(want, id)
	}
	for _, limit := range []string{"1", "5", "23", "1000"} {
		got := ts.walkHTTP(t, url.Values{"limit": {limit}})
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("limit %s: %v", limit, got)
		}
	}
	l := ts.list(t, url.Values{})
	if len(l.Data) != 23 || l.NextCursor != nil {
		t.Errorf("default page: %d messages, next %v; want all 23 (default limit 50) and no cursor", len(l.Data), l.NextCursor)
	}
	if m := l.Data[0]; m.Sender == nil || *m.Sender != "alice" || m.Content == nil || *m.Content != "hello" || m.Source != "default" ||
		m.Type != nil || m.ReceivedAt.IsZero() || m.ReceivedAt.Location() != time.UTC {
		t.Errorf("first message = %+v", m)
	}
}

func TestListWhileDeliveriesArrive(t *testing.T) {
	ts := newServer(t)
	for i := range 30 {
		ts.deliver(t, msg(fmt.Sprintf("old-%02d", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ts.deliver(t, msg(fmt.Sprintf("new-%d", i)))
		}
	})
	got := ts.walkHTTP(t, url.Values{"limit": {"4"}})
	close(stop)
	wg.Wait()
	seen := map[string]bool{}
	old := 0
	for _, id := range got {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
		if strings.HasPrefix(id, "old-") {
			old++
		}
	}
	if old != 30 {
		t.Fatalf("walk saw %d of 30 messages stored before it began", old)
	}
}

func TestListFiltersThroughHTTP(t *testing.T) {
	ts := newServer(t)
	send := func(id, sender, content string) time.Time {
		b, _ := json.Marshal(map[string]string{"id": id, "sender": sender, "content": content})
		ts.deliver(t, string(b))
		r, body := ts.get(t, "/messages/"+id, "Bearer "+token)
		var m gen.MessageDetail
		if r.StatusCode != 200 || json.Unmarshal(body, &m) != nil {
			t.Fatalf("get %s: %d %s", id, r.StatusCode, body)
		}
		return m.ReceivedAt
	}
	send("a1", "alice", "50% off_today")
	t2 := send("b1", "bob", "50 percent off")
	send("a2", "alice", `say "hi" it's me`)
	t4 := send("c1", "carol", "5_0")

	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	tests := []struct {
		query url.Values
		want  string
	}{
		{url.Values{"sender": {"alice"}}, "a1,a2"},
		{url.Values{"since": {rfc(t2)}}, "b1,a2,c1"},
		{url.Values{"until": {rfc(t4)}}, "a1,b1,a2"},
		{url.Values{"since": {rfc(t2)}, "until": {rfc(t4)}}, "b1,a2"},
		{url.Values{"q": {"%"}}, "a1"},
		{url.Values{"q": {"_"}}, "a1,c1"},
		{url.Values{"q": {"50%"}}, "a1"},
		{url.Values{"q": {`"hi" it's`}}, "a2"},
		{url.Values{"q": {"5%0"}}, ""},
		{url.Values{"sender": {"alice"}, "q": {"off"}, "since": {rfc(t2)}}, ""},
		{url.Values{"sender": {"alice"}, "q": {"me"}, "until": {rfc(t4)}, "limit": {"1"}}, "a2"},
		// Times beyond what int64 nanoseconds hold keep their meaning.
		{url.Values{"since": {"2999-01-01T00:00:00Z"}}, ""},
		{url.Values{"until": {"2999-01-01T00:00:00Z"}}, "a1,b1,a2,c1"},
		{url.Values{"since": {"1600-01-01T00:00:00Z"}}, "a1,b1,a2,c1"},
		{url.Values{"until": {"0001-01-01T00:00:00Z"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query.Encode(), func(t *testing.T) {
			q := url.Values{}
			for k, v := range tt.query {
				q[k] = v
			}
			if got := strings.Join(ts.walkHTTP(t, q), ","); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadAPIBadParametersAre400NamingThem(t *testing.T) {
	ts := newServer(t)
	tests := []struct {
		query, param string
	}{
		{"since=2026-11-29", "since"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"cursor=not-a-cursor!", "cursor"},
		{"cursor=" + url.QueryEscape("bm9wZQ"), "cursor"}, // base64 of "nope"
		{"sender=" + strings.Repeat("s", 257), "sender"},
		{"q=" + strings.Repeat("q", 257), "q"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
			resp, body := ts.get(t, "/messages?"+tt.query, "Bearer "+token)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d %s, want 400", resp.StatusCode, body)
			}
			p := decodeProblem(t, resp, body)
			if !strings.Contains(p.Detail, `"`+tt.param+`"`) {
				t.Fatalf("detail %q does not name %s", p.Detail, tt.param)
			}
			if strings.Contains(p.Detail, "^") || len(p.Detail) > 120 {
				t.Errorf("detail %q should say what to send, briefly", p.Detail)
			}
		})
	}
}

func TestReadAPITokens(t *testing.T) {
	ts := newServer(t)
	ts.deliver(t, msg("tok-1"))
	for _, path := range []string{"/messages", "/messages/tok-1", "/stats"} {
		for _, tt := range []struct {
			name, auth string
			status     int
			detail     string
		}{
			{"token", "Bearer " + token, 200, ""},
			{"rotated token", "Bearer " + oldToken, 200, ""},
			{"scheme is case-insensitive", "bearer " + token, 200, ""},
			{"missing", "", 401, "missing bearer token"},
			{"basic", "Basic " + token, 401, "missing bearer token"},
			{"wrong", "Bearer " + token + "x", 401, "invalid bearer token"},
			{"prefix of a token", "Bearer " + token[:5], 401, "invalid bearer token"},
		} {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				resp, body := ts.get(t, path, tt.auth)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.status)
				}
				if tt.status == 401 {
					if p := decodeProblem(t, resp, body); p.Detail != tt.detail {
						t.Errorf("detail %q, want %q", p.Detail, tt.detail)
					}
					if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
					}
					if strings.Contains(string(body), token) {
						t.Error("the answer echoes the token")
					}
				}
			})
		}
	}
	if strings.Contains(ts.logs.String(), token) {
		t.Error("a token reached the log")
	}
}

func TestReadAPIDisabledWithoutTokens(t *testing.T) {
	ts := newServerWith(t, httpapi.Deps{})
	resp, body := ts.get(t, "/messages", "Bearer anything")
	if p := decodeProblem(t, resp, body); resp.StatusCode != 401 || !strings.Contains(p.Detail, "set API_TOKEN") {
		t.Fatalf("%d %s: want 401 saying how to enable the read API", resp.StatusCode, body)
	}
}

func TestGetMessageReturnsPayloadByteForByte(t *testing.T) {
	ts := newServer(t)
	bodies := map[string]string{
		"spaced":  "{ \"id\" : \"spaced\",\n  \"sender\":\"a\", \"content\":\"\" , \"n\": 1.50 }",
		"escaped": `{"id":"escaped","sender":"a","content":"<b>&</b> \u00e9 \ud83d\ude00","html":"</script>"}`,
		"a b/ü":   `{"id":"a b/ü","sender":"a","content":"path-unsafe id"}`,
	}
	for id, body := range bodies {
		ts.deliver(t, body)
		resp, got := ts.get(t, "/messages/"+url.PathEscape(id), "Bearer "+token)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", id, resp.StatusCode, got)
		}
		var m struct {
			ID      string          `json:"id"`
			Sender  string          `json:"sender"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(got, &m); err != nil {
			t.Fatalf("%s: answer is not JSON: %v\n%s", id, err, got)
		}
		if m.ID != id || m.Sender != "a" || string(m.Payload) != body {
			t.Errorf("%s: payload %q, want the bytes sent %q", id, m.Payload, body)
		}
	}
	resp, body := ts.get(t, "/messages/unknown-id", "Bearer "+token)
	if p := decodeProblem(t, resp, body); resp.StatusCode != 404 || !strings.Contains(p.Detail, `"unknown-id"`) {
		t.Fatalf("unknown id: %d %s", resp.StatusCode, body)
	}
}

func TestStatsAfterAKnownLoad(t *testing.T) {
	ts := newServer(t)
	resp, body := ts.get(t, "/stats", "Bearer "+token)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) !=
		`{"first_received_at":null,"last_received_at":null,"senders_count":0,"sources":[],"top_senders":[],"total_messages":0}` {
		t.Fatalf("empty stats: %d %s", resp.StatusCode, body)
	}
	load := map[string]int{"alice": 4, "bob": 2, "carol": 2, "dave": 1}
	n := 0
	for sender, count := range load {
		for range count {
			n++
			ts.deliver(t, fmt.Sprintf(`{"id":"s-%d","sender":%q,"content":""}`, n, sender))
		}
	}
	ts.deliver(t, `{"id":"s-1","sender":"zed","content":"conflict, not counted"}`)
	var st gen.Stats
	resp, body = ts.get(t, "/stats", "Bearer "+token)
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s %v", resp.StatusCode, body, err)
	}
	var top []string
	for _, s := range st.TopSenders {
		top = append(top, fmt.Sprintf("%s=%d", s.Sender, s.Count))
	}
	if st.TotalMessages != 9 || st.SendersCount != 4 || strings.Join(top, ",") != "alice=4,bob=2,carol=2,dave=1" {
		t.Fatalf("stats = %+v, top %v", st, top)
	}
	if st.FirstReceivedAt == nil || st.LastReceivedAt == nil || st.LastReceivedAt.Before(*st.FirstReceivedAt) {
		t.Fatalf("arrival range %v – %v", st.FirstReceivedAt, st.LastReceivedAt)
	}
}

// storeBig stores messages past the HTTP body limit, sender alice, one second apart in
// arrival order; contents are the given sizes of one letter each, a, b, c…
func (ts *testServer) storeBig(t *testing.T, sizes ...int) []string {
	t.Helper()
	ids := make([]string, len(sizes))
	for i, size := range sizes {
		ids[i] = fmt.Sprintf("big-%02d", i)
		m := hookvault.Message{Source: hookvault.DefaultSource, ID: ids[i], Sender: "alice", Content: strings.Repeat(string(rune('a'+i)), size), Payload: []byte(`{}`)}
		if _, err := ts.store.Insert(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// The streamed answer is byte for byte what encoding/json writes for the generated
// gen.MessageList (what this operation answered before it streamed), so every client that
// parsed it still does; and the generated SDK reads it.
func TestListAnswerIsTheGeneratedEncoding(t *testing.T) {
	ts := newServer(t)
	bodies := []string{
		msg("plain"),
		`{"id":"html","sender":"<b>bob</b>","content":"a < b && c > d"}`,
		`{"id":"escapes","sender":"é","content":"line\nbreak \"quoted\" \\ tab\t \u2028 \ud83d\ude00 \u0000"}`,
	}
	for _, b := range bodies {
		ts.deliver(t, b)
	}
	for _, query := range []string{"limit=2", "limit=1000", "sender=nobody"} {
		t.Run(query, func(t *testing.T) {
			resp, body := ts.get(t, "/messages?"+query, "Bearer "+token)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var page gen.MessageList
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatalf("answer is not JSON: %v\n%s", err, body)
			}
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(page); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want.Bytes()) {
				t.Fatalf("answer\n%s\nwant the generated encoding\n%s", body, want.Bytes())
			}
			if page.Data == nil {
				t.Fatal(`an empty page must say "data":[], not null`)
			}
		})
	}

	client, err := gen.NewClientWithResponses(ts.URL, gen.WithBearerToken(token))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.ListMessagesWithResponse(context.Background(), &gen.ListMessagesParams{Limit: new(2)})
	if err != nil || resp.JSON200 == nil {
		t.Fatalf("SDK: %v, %+v", err, resp)
	}
	got := resp.JSON200
	if len(got.Data) != 2 || got.Data[1].Id != "html" || deref(got.Data[1].Sender) != "<b>bob</b>" || got.NextCursor == nil {
		t.Fatalf("SDK page = %+v", got)
	}
	resp, err = client.ListMessagesWithResponse(context.Background(), &gen.ListMessagesParams{Limit: new(2), Cursor: got.NextCursor})
	if err != nil || resp.JSON200 == nil || len(resp.JSON200.Data) != 1 || resp.JSON200.NextCursor != nil {
		t.Fatalf("SDK second page: %v, %+v", err, resp.JSON200)
	}
	if m := resp.JSON200.Data[0]; m.Id != "escapes" || deref(m.Content) != "line\nbreak \"quoted\" \\ tab\t \u2028 \U0001F600 \x00" {
		t.Fatalf("SDK message = %+v", m)
	}
}

// A page ends at MaxPageBytes of messages as well as at limit, and a walk over large
// messages through the API still sees each exactly once, in order.
func TestListPagesAreCutByBytes(t *testing.T) {
	ts := newServer(t)
	const mib, large = 1 << 20, 1_300_000
	// Pages at limit 1000: three of 1.3 MB fit in 4 MiB, a fourth does not; the 5 MiB
	// message is listed alone, and still with a cursor, since more follow.
	ids := ts.storeBig(t, large, large, large, large, 5*mib, 10, 20)
	want := []string{"big-00 big-01 big-02", "big-03", "big-04", "big-05 big-06"}

	var pages []string
	var walked []string
	query := url.Values{"limit": {"1000"}}
	for len(pages) < 20 {
		resp, body := ts.get(t, "/messages?"+query.Encode(), "Bearer "+token)
		var page gen.MessageList
		if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("%d, %d bytes", resp.StatusCode, len(body))
		}
		var pageIDs []string
		size := 0
		for i, m := range page.Data {
			content, sender := deref(m.Content), deref(m.Sender)
			if want := strings.Repeat(string(rune('a'+len(walked))), len(content)); content != want || sender != "alice" {
				t.Fatalf("%s: content of %d bytes is not the one stored", m.Id, len(content))
			}
			pageIDs = append(pageIDs, m.Id)
			walked = append(walked, m.Id)
			size += len(m.Id) + len(sender) + len(content)
			if i > 0 && size > hookvault.MaxPageBytes {
				t.Fatalf("page %v holds %d bytes, over %d", pageIDs, size, hookvault.MaxPageBytes)
			}
		}
		pages = append(pages, strings.Join(pageIDs, " "))
		if page.NextCursor == nil {
			break
		}
		query.Set("cursor", *page.NextCursor)
	}
	if strings.Join(walked, ",") != strings.Join(ids, ",") {
		t.Fatalf("walked %v, want every message once in order %v", walked, ids)
	}
	if strings.Join(pages, " | ") != strings.Join(want, " | ") {
		t.Fatalf("pages %q, want %q", pages, want)
	}
}

// failAfter is a store whose listings break after n messages, as a database connection
// lost in the middle of a page would.
type failAfter struct {
	hookvault.Store
	n int
}

func (s failAfter) List(ctx context.Context, f hookvault.ListFilter, emit func(hookvault.Message) error) (*hookvault.Cursor, error) {
	sent := 0
	return s.Store.List(ctx, f, func(m hookvault.Message) error {
		if sent == s.n {
			return hookvault.Unavailable(errors.New("read: connection reset by peer"))
		}
		sent++
		return emit(m)
	})
}

// A store that fails before the first message is answered like any store failure: a 503
// problem with Retry-After. One that fails after the page started going out cannot be
// answered any more; the answer is cut off, so that no client takes the part it got for a
// whole page, and the log says so.
func TestListStoreFailures(t *testing.T) {
	t.Run("store closed", func(t *testing.T) {
		ts := newServer(t)
		if err := ts.store.Close(); err != nil {
			t.Fatal(err)
		}
		resp, body := ts.get(t, "/messages", "Bearer "+token)
		if p := decodeProblem(t, resp, body); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || !strings.Contains(p.Detail, "unavailable") {
			t.Fatalf("%d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	})
	t.Run("before the first message", func(t *testing.T) {
		ts := newServerWrapped(t, httpapi.Deps{APITokens: []string{token}}, func(s hookvault.Store) hookvault.Store { return failAfter{s, 0} })
		ts.storeBig(t, 10, 10)
		resp, body := ts.get(t, "/messages", "Bearer "+token)
		if p := decodeProblem(t, resp, body); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || strings.Contains(p.Detail, "reset by peer") {
			t.Fatalf("%d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	})
	for _, tt := range []struct {
		name       string
		sizes      []int
		fail       int
		statusSent bool
	}{
		// The first message is still in the write buffer: not even the status went out.
		{"after a message still buffered", []int{10, 10, 10}, 1, false},
		// Three of 20 KB fill the 32 KiB buffer: the status and part of the page went out.
		{"after part of the page went out", []int{20_000, 20_000, 20_000, 20_000}, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServerWrapped(t, httpapi.Deps{APITokens: []string{token}}, func(s hookvault.Store) hookvault.Store { return failAfter{s, tt.fail} })
			ts.storeBig(t, tt.sizes...)
			req, err := http.NewRequest(http.MethodGet, ts.URL+"/messages?limit=1000", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if (err == nil) != tt.statusSent {
				t.Fatalf("response error %v, want one only if the status was not sent", err)
			}
			if err == nil {
				body, readErr := io.ReadAll(resp.Body)
				resp.Body.Close()
				var page gen.MessageList
				if readErr == nil || json.Unmarshal(body, &page) == nil {
					t.Fatalf("status %d, %d bytes (read error %v): a broken page must not arrive whole", resp.StatusCode, len(body), readErr)
				}
				if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `{"data":[{`) {
					t.Fatalf("status %d, body starts %.40q", resp.StatusCode, body)
				}
			}
			client, err := gen.NewClientWithResponses(ts.URL, gen.WithBearerToken(token))
			if err != nil {
				t.Fatal(err)
			}
			if resp, err := client.ListMessagesWithResponse(context.Background(), nil); err == nil {
				t.Fatalf("the SDK took a broken answer for a page: %d %+v", resp.StatusCode(), resp.JSON200)
			}

			lines := ts.logs.lines(t, "request")
			if len(lines) != 2 {
				t.Fatalf("%d access log lines, want 2:\n%s", len(lines), ts.logs.String())
			}
			for _, l := range lines {
				if l["level"] != "ERROR" || l["aborted"] != true || l["route"] != "/messages" ||
					!strings.Contains(fmt.Sprint(l["error"]), "reset by peer") {
					t.Errorf("log line = %v, want an aborted /messages at ERROR with the cause", l)
				}
			}
			// The server keeps serving.
			if resp, body := ts.get(t, "/stats", "Bearer "+token); resp.StatusCode != 200 {
				t.Fatalf("after an aborted answer: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// The spec, and so the Swagger UI and the SDK's docs, states the byte bound of a page.
func TestSpecStatesThePageByteBound(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	op := doc.Paths.Find("/messages").Get
	want := fmt.Sprintf("%d MiB", hookvault.MaxPageBytes>>20)
	if !strings.Contains(op.Description, want) {
		t.Fatalf("listMessages description does not state %q:\n%s", want, op.Description)
	}
}

// deref is the string a pointer in an answer holds, "" for none.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
