package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// The cases about sources: messages received from providers on POST /webhook/{source}, each
// with a type and the request's headers, and ids unique per source only.

// delivery is a provider's delivery as the HTTP layer hands it to the store: a type, the
// headers, and neither sender nor content.
func delivery(source, id, typ, body string) hookvault.Message {
	return hookvault.Message{Source: source, ID: id, Type: typ, ContentType: "application/json",
		Headers: []byte(`{"X-Delivery":["` + id + `"]}`), Payload: []byte(body)}
}

// stored is m as a store keeps it: a message without a sender has no content, and empty
// headers are none.
func stored(m hookvault.Message) hookvault.Message {
	if m.Sender == "" {
		m.Content = ""
	}
	if len(m.Headers) == 0 {
		m.Headers = nil
	}
	return m
}

// sameMessage reports how got differs from want in any field Get returns, or "".
func sameMessage(got, want hookvault.Message) string {
	want = stored(want)
	var diffs []string
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"source", got.Source, want.Source}, {"id", got.ID, want.ID}, {"type", got.Type, want.Type},
		{"sender", got.Sender, want.Sender}, {"content", got.Content, want.Content},
		{"content type", got.ContentType, want.ContentType},
		{"headers", got.Headers, want.Headers}, {"payload", string(got.Payload), string(want.Payload)},
	} {
		if fmt.Sprintf("%q", f.got) != fmt.Sprintf("%q", f.want) {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", f.name, f.got, f.want))
		}
	}
	if want.Headers == nil && got.Headers != nil {
		diffs = append(diffs, fmt.Sprintf("headers %q, want nil", got.Headers))
	}
	if !want.ReceivedAt.IsZero() && !got.ReceivedAt.Equal(want.ReceivedAt) {
		diffs = append(diffs, fmt.Sprintf("received at %v, want %v", got.ReceivedAt, want.ReceivedAt))
	}
	return strings.Join(diffs, "; ")
}

// GitHub's delivery "abc", Stripe's event "abc" and POST /webhook's message "abc" are three
// messages; a redelivery to one source is a duplicate of that source's message only, judged
// by its payload alone (headers and what they give, such as the type, may differ).
func testSameIDInTwoSources(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	msgs := []hookvault.Message{
		delivery("github", "abc", "push", `{"gh":1}`),
		delivery("stripe", "abc", "invoice.paid", `{"st":1}`),
		message("abc", `{"id":"abc"}`),
	}
	for i := range msgs {
		msgs[i].ReceivedAt = epoch.Add(time.Duration(i) * time.Second)
		clock.Set(msgs[i].ReceivedAt)
		if r := mustInsert(t, s, msgs[i]); r.Outcome != hookvault.Created || !r.ReceivedAt.Equal(msgs[i].ReceivedAt) {
			t.Fatalf("insert %s/%s: %+v, want Created at %v", msgs[i].Source, msgs[i].ID, r, msgs[i].ReceivedAt)
		}
	}
	clock.Set(epoch.Add(time.Hour))
	redelivered := msgs[0]
	redelivered.Headers, redelivered.Type = []byte(`{"X-Delivery":["abc"],"X-Retry":["1"]}`), "ping"
	if r := mustInsert(t, s, redelivered); r.Outcome != hookvault.Duplicate || !r.ReceivedAt.Equal(msgs[0].ReceivedAt) {
		t.Errorf("redelivery to github with other headers: %+v, want Duplicate of the first at %v", r, msgs[0].ReceivedAt)
	}
	conflicting := msgs[1]
	conflicting.Payload = []byte(`{"st":2}`)
	if r := mustInsert(t, s, conflicting); r.Outcome != hookvault.Conflict || !r.ReceivedAt.Equal(msgs[1].ReceivedAt) {
		t.Errorf("other body to stripe: %+v, want Conflict with the first at %v", r, msgs[1].ReceivedAt)
	}
	for _, m := range msgs {
		if d := sameMessage(mustGet(t, s, m.Source, m.ID), m); d != "" {
			t.Errorf("Get(%s, %s): %s", m.Source, m.ID, d)
		}
	}
	var got []string
	for _, page := range walkPages(t, s, hookvault.ListFilter{Limit: 2}) {
		for _, m := range page {
			got = append(got, m.Source+"/"+m.ID+":"+m.Type)
		}
	}
	if want := "github/abc:push,stripe/abc:invoice.paid,default/abc:"; strings.Join(got, ",") != want {
		t.Errorf("listed %v, want %s", got, want)
	}
}

// One (source, id) delivered from many goroutines at once, in several sources at once, is
// one row per source: exactly one Created in each.
func testConcurrentSameIDAcrossSources(t *testing.T, open Opener) {
	s := open(t, NewClock(epoch).Now)
	sources := []string{hookvault.DefaultSource, "github", "stripe"}
	const each = 12
	receipts := make([]hookvault.Receipt, len(sources)*each)
	errs := make([]error, len(receipts))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range receipts {
		wg.Go(func() {
			<-start
			source := sources[i%len(sources)]
			receipts[i], errs[i] = s.Insert(context.Background(), delivery(source, "race", "t", `{"in":"`+source+`"}`))
		})
	}
	close(start)
	wg.Wait()
	created := map[string]int{}
	for i, r := range receipts {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		switch r.Outcome {
		case hookvault.Created:
			created[sources[i%len(sources)]]++
		case hookvault.Duplicate:
		default:
			t.Fatalf("insert %d into %s: %v, want created or duplicate", i, sources[i%len(sources)], r.Outcome)
		}
	}
	for _, source := range sources {
		if created[source] != 1 {
			t.Errorf("%s: %d inserts Created, want exactly 1", source, created[source])
		}
		if got := mustGet(t, s, source, "race"); string(got.Payload) != `{"in":"`+source+`"}` {
			t.Errorf("%s: stored %s", source, got.Payload)
		}
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := sourceCounts(st); got != "default:1,github:1,stripe:1" || st.TotalMessages != 3 {
		t.Errorf("stats: %d messages, sources %s; want 3, one per source", st.TotalMessages, got)
	}
}

// noise returns n bytes that look random and do not compress, the worst case for an index
// entry's size: PostgreSQL compresses a large one when it can.
func noise(seed string, n int) string {
	var b []byte
	for sum := sha256.Sum256([]byte(seed)); len(b) < n; sum = sha256.Sum256(sum[:]) {
		b = append(b, sum[:]...)
	}
	return string(b[:n])
}

// Every field is kept byte for byte: a type from a header or a JSON string may hold any
// byte, the headers object is what the HTTP layer encoded, and a message without a sender
// is stored without sender and content (NULL) and read back with "". Ids, types and senders
// as long as hookvault.MaxKeyBytes are stored and found (PostgreSQL bounds an index entry),
// one byte longer are refused with EINVALID, and a message without a source with EINTERNAL.
func testSourceFieldsBytesExact(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	msgs := []hookvault.Message{
		{Source: "github", ID: "\xff\xfe\x00id", Type: "nul\x00type\xff", ContentType: "application/json; charset=\xe9\x00",
			Headers: []byte("{\"X-Bin\":[\"\xff\x00\"],\"X-Dup\":[\"a\",\"b\"]} \n"), Payload: []byte("\x00\xff raw")},
		{Source: "github", ID: "no-headers", ContentType: "", Headers: nil, Payload: []byte{}},
		{Source: "github", ID: "empty-headers", Type: "t", Headers: []byte{}, Payload: []byte(`{}`)},
		{Source: "forms", ID: "content-without-sender", Content: "dropped", ContentType: "application/x-www-form-urlencoded",
			Payload: []byte("content=dropped&b=2")},
		{Source: "app", ID: "typed-with-sender", Type: "order.created", Sender: "alice", Content: "",
			ContentType: "application/json", Headers: []byte(`{}`), Payload: []byte(`{"id":"typed-with-sender"}`)},
		{Source: noise("source", hookvault.MaxSourceBytes), ID: noise("id", hookvault.MaxKeyBytes), Type: noise("type", hookvault.MaxKeyBytes),
			Sender: noise("sender", hookvault.MaxKeyBytes), Content: noise("content", 3000), ContentType: "application/json",
			Headers: []byte(noise("headers", 5000)), Payload: []byte(noise("payload", 5000))},
	}
	for i := range msgs {
		msgs[i].ReceivedAt = epoch.Add(time.Duration(i) * time.Second)
		clock.Set(msgs[i].ReceivedAt)
		if r := mustInsert(t, s, msgs[i]); r.Outcome != hookvault.Created {
			t.Fatalf("insert %q: %v", msgs[i].ID, r.Outcome)
		}
	}
	for _, m := range msgs {
		if d := sameMessage(mustGet(t, s, m.Source, m.ID), m); d != "" {
			t.Errorf("Get(%q, %q): %s", m.Source, m.ID, d)
		}
	}
	page, _ := list(t, s, hookvault.ListFilter{Limit: 100})
	if len(page) != len(msgs) {
		t.Fatalf("listed %d messages, want %d", len(page), len(msgs))
	}
	for i, got := range page {
		want := stored(msgs[i])
		want.ContentType, want.Headers, want.Payload = "", nil, nil // for Get only
		if d := sameMessage(got, want); d != "" || got.Payload != nil {
			t.Errorf("listed %q: %s (payload %d bytes)", want.ID, d, len(got.Payload))
		}
	}
	ids := func(ms ...hookvault.Message) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		f    hookvault.ListFilter
		want string
	}{
		{hookvault.ListFilter{Type: "nul\x00type\xff"}, ids(msgs[0])},
		{hookvault.ListFilter{Type: "nul"}, ""},
		{hookvault.ListFilter{Type: "nul\x00type"}, ""},
		{hookvault.ListFilter{Source: "github"}, ids(msgs[0:3]...)},
		{hookvault.ListFilter{Source: "github", Type: "t"}, ids(msgs[2])},
		{hookvault.ListFilter{Source: "\xff"}, ""},
		{hookvault.ListFilter{Q: "dropped"}, ""},              // no content without a sender
		{hookvault.ListFilter{Sender: "alice"}, ids(msgs[4])}, // a typed message may have a sender
		{hookvault.ListFilter{Source: msgs[5].Source, Type: msgs[5].Type, Sender: msgs[5].Sender}, ids(msgs[5])},
	} {
		tt.f.Limit = 1
		if got := strings.Join(walk(t, s, tt.f), ","); got != tt.want {
			t.Errorf("List(source %q, type %q, sender %q, q %q) = %q, want %q", tt.f.Source, tt.f.Type, tt.f.Sender, tt.f.Q, got, tt.want)
		}
	}

	over := func(edit func(*hookvault.Message)) hookvault.Message {
		m := delivery("github", "refused", "push", `{}`)
		edit(&m)
		return m
	}
	for _, tt := range []struct {
		name string
		m    hookvault.Message
		code string
	}{
		{"no source", over(func(m *hookvault.Message) { m.Source = "" }), hookvault.EINTERNAL},
		{"no id", over(func(m *hookvault.Message) { m.ID = "" }), hookvault.EINVALID},
		{"long source", over(func(m *hookvault.Message) { m.Source = noise("s", hookvault.MaxSourceBytes+1) }), hookvault.EINVALID},
		{"long id", over(func(m *hookvault.Message) { m.ID = noise("i", hookvault.MaxKeyBytes+1) }), hookvault.EINVALID},
		{"long type", over(func(m *hookvault.Message) { m.Type = noise("t", hookvault.MaxKeyBytes+1) }), hookvault.EINVALID},
		{"long sender", over(func(m *hookvault.Message) { m.Sender = noise("s", hookvault.MaxKeyBytes+1) }), hookvault.EINVALID},
	} {
		if _, err := s.Insert(context.Background(), tt.m); hookvault.ErrorCode(err) != tt.code {
			t.Errorf("%s: Insert = %v, want code %s", tt.name, err, tt.code)
		}
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalMessages != int64(len(msgs)) || st.SendersCount != 2 {
		t.Errorf("stats after refusals: %d messages from %d senders, want %d from 2", st.TotalMessages, st.SendersCount, len(msgs))
	}
}

// listed is one message of the model that testListBySourceAndType checks the stores against.
type listed struct {
	source, id, typ, sender, content string
	at                               time.Time
}

func (m listed) before(o listed) bool {
	if !m.at.Equal(o.at) {
		return m.at.Before(o.at)
	}
	if m.source != o.source {
		return m.source < o.source
	}
	return m.id < o.id
}

func (m listed) matches(f hookvault.ListFilter) bool {
	return (f.Source == "" || m.source == f.Source) && (f.Type == "" || m.typ == f.Type) &&
		(f.Sender == "" || m.sender == f.Sender) && (f.Since.IsZero() || !m.at.Before(f.Since)) &&
		(f.Until.IsZero() || m.at.Before(f.Until)) && (f.Q == "" || (m.sender != "" && strings.Contains(m.content, f.Q))) &&
		(f.After == nil || (listed{source: f.After.Source, id: f.After.ID, at: f.After.ReceivedAt}).before(m))
}

func (m listed) String() string { return m.source + "/" + m.id }

// Every combination of the filters (source, type, sender, a window, q), walked page by page
// with the cursors, lists exactly the messages that match, each once, in (received_at,
// source, id) order, which a model computes here from what was stored. Several messages
// share each arrival time, in one source and across sources, with ids that run against the
// sources' order, so every part of the order is exercised. A cursor taken from another
// listing (a position in the whole order) continues any filtered one correctly.
func testListBySourceAndType(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	kinds := []listed{
		{source: "default", sender: "alice", content: "invoice paid"},
		{source: "github", typ: "push"},
		{source: "stripe", typ: "invoice.paid"},
		{source: "github", typ: "issues"},
		{source: "default", sender: "bob", content: "order shipped"},
		{source: "app", typ: "order.created", sender: "alice", content: "order for bob"},
		{source: "stripe", typ: "push"}, // the same type name in another source
		{source: "github", typ: "push"},
	}
	var model []listed
	for i := range 48 {
		m := kinds[(i*3)%len(kinds)]
		m.id = fmt.Sprintf("e%02d", 47-i)
		clock.Set(epoch.Add(time.Duration(i/4) * time.Second)) // four messages at each instant
		r := mustInsert(t, s, hookvault.Message{Source: m.source, ID: m.id, Type: m.typ, Sender: m.sender,
			Content: m.content, Payload: []byte(`{}`)})
		m.at = r.ReceivedAt
		model = append(model, m)
	}
	slices.SortFunc(model, func(a, b listed) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	expect := func(f hookvault.ListFilter) string {
		var out []string
		for _, m := range model {
			if m.matches(f) {
				out = append(out, m.String())
			}
		}
		return strings.Join(out, ",")
	}
	names := func(page []hookvault.Message) string {
		var out []string
		for _, m := range page {
			out = append(out, m.Source+"/"+m.ID)
		}
		return strings.Join(out, ",")
	}
	at := func(sec int) time.Time { return epoch.Add(time.Duration(sec) * time.Second) }
	windows := []struct{ since, until time.Time }{{}, {since: at(3)}, {until: at(9)}, {since: at(2), until: at(10)}}
	for _, source := range []string{"", "default", "github", "stripe", "app", "nope"} {
		for _, typ := range []string{"", "push", "order.created", "nope"} {
			for _, sender := range []string{"", "alice"} {
				for wi, w := range windows {
					for _, q := range []string{"", "order"} {
						f := hookvault.ListFilter{Source: source, Type: typ, Sender: sender, Since: w.since, Until: w.until, Q: q}
						want := expect(f)
						for _, limit := range []int{2, 1000} {
							f.Limit = limit
							var got []string
							for _, page := range walkPages(t, s, f) {
								for _, m := range page {
									got = append(got, m.Source+"/"+m.ID)
									i := slices.IndexFunc(model, func(l listed) bool { return l.source == m.Source && l.id == m.ID })
									if i < 0 || m.Type != model[i].typ || m.Sender != model[i].sender || m.Content != model[i].content || !m.ReceivedAt.Equal(model[i].at) {
										t.Fatalf("listed %+v, stored as %+v", m, model[i])
									}
								}
							}
							if strings.Join(got, ",") != want {
								t.Errorf("source %q type %q sender %q window %d q %q limit %d:\n got %s\nwant %s",
									source, typ, sender, wi, q, limit, strings.Join(got, ","), want)
							}
						}
					}
				}
			}
		}
	}
	for _, f := range []hookvault.ListFilter{
		{Source: "default"}, {Source: "github"}, {Source: "stripe"}, {Source: "app"},
		{Source: "github", Type: "push"}, {Type: "push"}, {Sender: "alice"}, {Source: "app", Sender: "alice"},
	} {
		for _, c := range model {
			f.After, f.Limit = &hookvault.Cursor{ReceivedAt: c.at, Source: c.source, ID: c.id}, 1000
			page, _ := list(t, s, f)
			if got, want := names(page), expect(f); got != want {
				t.Errorf("source %q type %q sender %q after %s:\n got %s\nwant %s", f.Source, f.Type, f.Sender, c, got, want)
			}
		}
	}
}

// sourceCounts is st.Sources as "name:count,…".
func sourceCounts(st hookvault.Stats) string {
	var out []string
	for _, sc := range st.Sources {
		out = append(out, fmt.Sprintf("%s:%d", sc.Source, sc.Count))
	}
	return strings.Join(out, ",")
}

// /stats counts every source with messages, by name, and the senders of the messages that
// have one; duplicates and conflicts count nothing.
func testStatsPerSource(t *testing.T, open Opener) {
	clock := NewClock(epoch)
	s := open(t, clock.Now)
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 0 {
		t.Fatalf("empty store: sources %s, want none", sourceCounts(st))
	}
	msgs := []hookvault.Message{
		message("d1", `{}`), message("d2", `{}`),
		{Source: hookvault.DefaultSource, ID: "d3", Sender: "bob", Content: "c", Payload: []byte(`{}`)},
		delivery("github", "g1", "push", `{}`), delivery("github", "g2", "issues", `{}`), delivery("github", "d1", "push", `{}`),
		delivery("stripe", "s1", "invoice.paid", `{}`),
		{Source: "app", ID: "a1", Type: "order.created", Sender: "alice", Content: "c", Payload: []byte(`{}`)},
	}
	for i, m := range msgs {
		clock.Set(epoch.Add(time.Duration(i) * time.Second))
		mustInsert(t, s, m)
	}
	mustInsert(t, s, delivery("github", "g1", "push", `{}`))      // duplicate
	mustInsert(t, s, delivery("stripe", "s1", "push", `{"x":1}`)) // conflict
	st, err = s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sourceCounts(st), "app:1,default:3,github:3,stripe:1"; got != want {
		t.Errorf("sources %s, want %s", got, want)
	}
	var top []string
	for _, sc := range st.TopSenders {
		top = append(top, fmt.Sprintf("%s:%d", sc.Sender, sc.Count))
	}
	if st.TotalMessages != 8 || st.SendersCount != 2 || strings.Join(top, ",") != "alice:3,bob:1" {
		t.Errorf("%d messages, %d senders, top %v; want 8, 2, alice:3,bob:1", st.TotalMessages, st.SendersCount, top)
	}
	if !st.FirstReceivedAt.Equal(epoch) || !st.LastReceivedAt.Equal(epoch.Add(7*time.Second)) {
		t.Errorf("first %v last %v", st.FirstReceivedAt, st.LastReceivedAt)
	}
}

// Every (source, id) sent to all replicas at once is stored once per source, with the same
// id in two sources: exactly one caller per (source, id) is told Created, and every replica
// counts each source's messages.
func testSameSourceAndIDAcrossReplicas(t *testing.T, open ReplicaOpener) {
	stores := open(t, 3)
	sources := []string{"github", "stripe"}
	const ids, each = 20, 2
	type key struct {
		source string
		id     int
	}
	outcomes := map[key][]hookvault.Outcome{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id := range ids {
		start := make(chan struct{})
		for _, s := range stores {
			for _, source := range sources {
				for range each {
					wg.Go(func() {
						<-start
						r, err := s.Insert(context.Background(), delivery(source, fmt.Sprintf("shared-%02d", id), "t", `{"n":1}`))
						if err != nil {
							t.Errorf("%s/shared-%02d: %v", source, id, err)
							return
						}
						mu.Lock()
						outcomes[key{source, id}] = append(outcomes[key{source, id}], r.Outcome)
						mu.Unlock()
					})
				}
			}
		}
		close(start)
	}
	wg.Wait()
	for k, got := range outcomes {
		created := 0
		for _, o := range got {
			switch o {
			case hookvault.Created:
				created++
			case hookvault.Duplicate:
			default:
				t.Errorf("%s/shared-%02d: outcome %v", k.source, k.id, o)
			}
		}
		if created != 1 || len(got) != len(stores)*each {
			t.Errorf("%s/shared-%02d: %d of %d answers Created, want exactly 1", k.source, k.id, created, len(got))
		}
	}
	if len(outcomes) != ids*len(sources) {
		t.Errorf("%d (source, id) answered, want %d", len(outcomes), ids*len(sources))
	}
	for i, s := range stores {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sourceCounts(st), fmt.Sprintf("github:%d,stripe:%d", ids, ids); got != want || st.TotalMessages != 2*ids || st.SendersCount != 0 {
			t.Errorf("replica %d stats: %d messages, %d senders, sources %s; want %d, 0, %s", i, st.TotalMessages, st.SendersCount, got, 2*ids, want)
		}
		for _, source := range sources {
			if got := walk(t, s, hookvault.ListFilter{Source: source, Limit: 7}); len(got) != ids {
				t.Errorf("replica %d lists %d messages of %s, want %d", i, len(got), source, ids)
			}
		}
	}
}
