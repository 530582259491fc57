package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/journal"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// journalBodyBytes is REJECTION_BODY_BYTES of the journal tests: small, so that cutting shows.
const journalBodyBytes = 256

// journalServer is the real router on a real SQLite file, receiving from sourcesFile and
// POST /webhook, with a real journal.Recorder recording into the same store.
type journalServer struct {
	*testServer
	rec     *journal.Recorder // nil: no journal
	dropped atomic.Int64
}

// newJournalServer serves with a Recorder made from opts (Store defaults to the server's
// own store, wrapped by wrap when it is set), or with no journal at all when noJournal.
func newJournalServer(t *testing.T, opts journal.Options, wrap func(hookvault.Journal) hookvault.Journal, noJournal bool) *journalServer {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	popts := provider.Options{DefaultTolerance: 5 * time.Minute, Now: time.Now}
	file, err := sources.Parse([]byte(sourcesFile), func(string) string { return "" }, popts)
	if err != nil {
		t.Fatal(err)
	}
	def, err := sources.NewDefault([][]byte{[]byte(secret), []byte(oldSecret)}, popts)
	if err != nil {
		t.Fatal(err)
	}
	set := sources.With(def, file)
	js := &journalServer{testServer: &testServer{store: store, metrics: metrics.New(), logs: &syncBuffer{}}}
	deps := httpapi.Deps{
		APITokens: []string{token}, Sources: func() *sources.Set { return set }, Metrics: js.metrics,
		Logger: slog.New(slog.NewJSONHandler(js.logs, nil)), MaxBodyBytes: maxBody, Rejections: store,
	}
	if !noJournal {
		if opts.Store == nil {
			opts.Store = store
			if wrap != nil {
				opts.Store = wrap(store)
			}
		}
		if opts.BodyBytes == 0 {
			opts.BodyBytes = journalBodyBytes
		}
		opts.Dropped = func() { js.dropped.Add(1) }
		js.rec = journal.New(opts)
		// Before the store closes (cleanups run last first); a test may have closed it.
		t.Cleanup(func() { _ = js.rec.Close(context.Background()) })
		deps.Journal = js.rec
	}
	js.Server = httptest.NewServer(newHandlerOn(t, store, deps))
	t.Cleanup(js.Close)
	return js
}

// flush waits for the writer to store everything recorded so far; nothing is recorded after.
func (js *journalServer) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.rec.Close(ctx); err != nil {
		t.Fatalf("journal close: %v", err)
	}
}

// rejections lists one page of the journal with the query; the answer must be a 200.
func (ts *testServer) rejections(t *testing.T, query string) gen.RejectionList {
	t.Helper()
	resp, body := ts.get(t, "/rejections?"+query, "Bearer "+token)
	var l gen.RejectionList
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &l) != nil {
		t.Fatalf("GET /rejections?%s: %d %s", query, resp.StatusCode, body)
	}
	return l
}

// allRejections walks every page of the query (pages of limit) and returns the entries.
func (ts *testServer) allRejections(t *testing.T, query string, limit int) (all []gen.RejectionSummary, pages int) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("limit", fmt.Sprint(limit))
	for {
		l := ts.rejections(t, q.Encode())
		pages++
		if len(l.Data) > limit {
			t.Fatalf("a page of %d entries, limit %d", len(l.Data), limit)
		}
		all = append(all, l.Data...)
		if l.NextCursor == nil {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		q.Set("cursor", *l.NextCursor)
	}
}

// rejection reads one entry; the answer must be a 200.
func (ts *testServer) rejection(t *testing.T, rid int64) gen.Rejection {
	t.Helper()
	resp, body := ts.get(t, fmt.Sprintf("/rejections/%d", rid), "Bearer "+token)
	var r gen.Rejection
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("GET /rejections/%d: %d %s", rid, resp.StatusCode, body)
	}
	return r
}

// waitRejections polls GET /rejections until it lists n entries: the writer stores them a
// moment after the answers.
func (ts *testServer) waitRejections(t *testing.T, n int) []gen.RejectionSummary {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := ts.rejections(t, "limit=200")
		if len(l.Data) >= n {
			return l.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal lists %d entries, want %d", len(l.Data), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawPost posts body to path with exactly the headers given (Content-Type included).
func (ts *testServer) rawPost(t *testing.T, path string, body []byte, h http.Header, chunked bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if chunked { // no length: the server finds the limit while reading
		req.ContentLength, req.GetBody = -1, nil
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return do(t, req)
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// githubSigned is the headers of a GitHub delivery whose signature is over signed, made with
// secret.
func githubSigned(t *testing.T, secret string, signed []byte, kv ...string) http.Header {
	t.Helper()
	u, _ := url.Parse("http://example/webhook/github")
	pr := &provider.Request{Method: http.MethodPost, URL: u, Header: hdr(kv...), Body: signed}
	pr.Header.Set("X-GitHub-Delivery", "d-1")
	pr.Header.Set("X-GitHub-Event", "push")
	if err := provider.Sign(provider.Config{Name: "github", Provider: "github"}, secret, pr, time.Now()); err != nil {
		t.Fatal(err)
	}
	pr.Header.Set("Content-Type", "application/json")
	return pr.Header
}

func hexSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func val[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// Each kind of refusal, and a conflicting body, is recorded with the fields the contract
// lists: the answered status, the result, the precise reason, the request's id and headers
// (credentials removed, Content-Type as sent), the body's SHA-256 and size and its first
// REJECTION_BODY_BYTES.
func TestRejectionJournalRecordsEachRefusal(t *testing.T) {
	js := newJournalServer(t, journal.Options{}, nil, false)

	big := []byte(`{"id":"big","sender":"a","content":"` + strings.Repeat("b", 5000) + `"}`)
	long := []byte(`{"id":"long","sender":"a","content":"` + strings.Repeat("l", 1000) + `"}`)
	ghBody := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	first := []byte(msg("c1"))
	second := []byte(`{"id":"c1","sender":"bob","content":"a different body"}`)

	type want struct {
		status        int
		source        string
		result        gen.RejectionResult
		reason        string // contained
		sha           []byte // nil: body_sha256 null
		size          int64
		body          []byte
		hint          string // contained in one hint; "" wants none
		secrets       []string
		messageID     string
		header, value string // a header that is kept as sent
	}
	type step struct {
		name    string
		path    string
		body    []byte
		h       http.Header
		chunked bool
		want    want
	}
	sig := func(key string, b []byte) string { return signature.Sign([]byte(key), b) }
	steps := []step{
		{"unknown source", "/webhook/gitlab", []byte(`{"object_kind":"push"}`), hdr("Content-Type", "application/json"), false,
			want{status: 404, source: "gitlab", result: gen.RejectionResultUnknownSource, reason: `no source "gitlab"`, body: []byte{}}},
		{"too large, streamed", "/webhook", big, hdr("Content-Type", "application/json", "X-Signature", sig(secret, big)), true,
			want{status: 413, source: "default", result: gen.RejectionResultTooLarge, reason: "larger than 4096 bytes", size: maxBody, body: big[:journalBodyBytes]}},
		{"too large, declared", "/webhook", big, hdr("Content-Type", "application/json", "X-Signature", sig(secret, big)), false,
			want{status: 413, source: "default", result: gen.RejectionResultTooLarge, reason: "larger than 4096 bytes", size: 0, body: []byte{}}},
		{"not JSON", "/webhook", long, hdr("Content-Type", "text/plain", "X-Signature", sig(secret, long),
			"Authorization", "Basic dXNlcjpwYXNz", "Cookie", "session=s3cr3t", "Proxy-Authorization", "Basic cHJveHk=", "X-Trace", "t-1"), false,
			want{status: 415, source: "default", result: gen.RejectionResultUnsupportedMediaType, reason: `content type "text/plain"`,
				sha: long, size: int64(len(long)), body: long[:journalBodyBytes], header: "X-Trace", value: "t-1"}},
		{"wrong secret", "/webhook", first, hdr("Content-Type", "application/json; charset=utf-8", "X-Signature", sig("not-the-secret", first)), false,
			want{status: 401, source: "default", result: gen.RejectionResultInvalidSignature, reason: "hmac_sha256: mismatch",
				sha: first, size: int64(len(first)), body: first, secrets: []string{secret, oldSecret},
				header: "Content-Type", value: "application/json; charset=utf-8"}},
		{"signed with a newline", "/webhook/github", ghBody, githubSigned(t, "gh-new-secret", append(slices.Clip(ghBody), '\n')), false,
			want{status: 401, source: "github", result: gen.RejectionResultInvalidSignature, reason: "mismatch",
				sha: ghBody, size: int64(len(ghBody)), body: ghBody, hint: "newline", secrets: []string{"gh-new-secret", "gh-old-secret"}}},
		{"schema", "/webhook", []byte(`{"id":"x","sender":"a"}`), hdr("Content-Type", "application/json", "X-Signature", sig(secret, []byte(`{"id":"x","sender":"a"}`))), false,
			want{status: 422, source: "default", result: gen.RejectionResultValidationError, reason: "content",
				sha: []byte(`{"id":"x","sender":"a"}`), size: 23, body: []byte(`{"id":"x","sender":"a"}`)}},
		{"first", "/webhook", first, hdr("Content-Type", "application/json", "X-Signature", sig(secret, first)), false, want{status: 200}},
		{"conflict", "/webhook", second, hdr("Content-Type", "application/json", "X-Signature", sig(secret, second)), false,
			want{status: 200, source: "default", result: gen.RejectionResultConflict, reason: `"c1"`, sha: second, size: int64(len(second)),
				body: second, messageID: "c1"}},
	}
	details := map[string]string{}
	for _, s := range steps {
		s.h.Set("X-Request-Id", "req-"+strings.ReplaceAll(s.name, " ", "-"))
		resp, body := js.rawPost(t, s.path, s.body, s.h, s.chunked)
		if resp.StatusCode != s.want.status {
			t.Fatalf("%s: answered %d %s, want %d", s.name, resp.StatusCode, body, s.want.status)
		}
		if resp.StatusCode != 200 {
			details[s.name] = decodeProblem(t, resp, body).Detail
		}
	}
	js.flush(t)

	list := js.rejections(t, "limit=200")
	if len(list.Data) != len(steps)-1 || list.NextCursor != nil {
		t.Fatalf("the journal lists %d entries (next %v), want %d", len(list.Data), list.NextCursor, len(steps)-1)
	}
	byRequest := map[string]gen.RejectionSummary{}
	for _, r := range list.Data {
		byRequest[r.RequestId] = r
	}
	for _, s := range steps {
		if s.want.result == "" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			sum, ok := byRequest["req-"+strings.ReplaceAll(s.name, " ", "-")]
			if !ok {
				t.Fatal("not recorded")
			}
			r := js.rejection(t, sum.Rid)
			w := s.want
			if r.Status != w.status || r.Source != w.source || r.Result != w.result || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("status %d source %q result %q reason %q, want %d %q %q containing %q",
					r.Status, r.Source, r.Result, r.Reason, w.status, w.source, w.result, w.reason)
			}
			if d, ok := details[s.name]; ok && r.Result != gen.RejectionResultInvalidSignature && !strings.Contains(r.Reason, d) {
				t.Errorf("reason %q, want the answer's detail %q", r.Reason, d)
			}
			if w.sha == nil && r.BodySha256 != nil || w.sha != nil && val(r.BodySha256) != hexSHA(w.sha) {
				t.Errorf("body_sha256 %v, want the SHA-256 of %d bytes (nil: null)", val(r.BodySha256), len(w.sha))
			}
			if r.BodySize != w.size {
				t.Errorf("body_size %d, want %d", r.BodySize, w.size)
			}
			if r.Body == nil || *r.Body != string(w.body) || r.BodyBase64 != nil {
				t.Errorf("body %q (base64 %v), want %q", val(r.Body), r.BodyBase64, w.body)
			}
			if w.hint == "" && len(r.Hints) > 0 {
				t.Errorf("hints %q, want none", r.Hints)
			}
			if w.hint != "" && !slices.ContainsFunc(r.Hints, func(h string) bool { return strings.Contains(h, w.hint) }) {
				t.Errorf("hints %q, want one about %q", r.Hints, w.hint)
			}
			for _, h := range r.Hints {
				for _, sec := range w.secrets {
					if strings.Contains(h, sec) {
						t.Errorf("hint %q contains a secret", h)
					}
					// Nor the signature that would have matched, in either encoding.
					mac := hmac.New(sha256.New, []byte(sec))
					mac.Write(s.body)
					if strings.Contains(h, hex.EncodeToString(mac.Sum(nil))) {
						t.Errorf("hint %q contains the expected signature", h)
					}
				}
			}
			if val(r.MessageId) != w.messageID {
				t.Errorf("message_id %v, want %q", val(r.MessageId), w.messageID)
			}
			if w.messageID != "" {
				_, m, _ := js.getMessage(t, "default", w.messageID)
				if r.FirstReceivedAt == nil || !r.FirstReceivedAt.Equal(m.ReceivedAt) {
					t.Errorf("first_received_at %v, want the first arrival %v", r.FirstReceivedAt, m.ReceivedAt)
				}
				if string(m.Payload) != string(first) {
					t.Errorf("stored payload %s, want the first body kept", m.Payload)
				}
			} else if r.FirstReceivedAt != nil {
				t.Errorf("first_received_at %v, want null", r.FirstReceivedAt)
			}
			for _, name := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
				if _, ok := r.Headers[name]; ok {
					t.Errorf("headers keep %s: %v", name, r.Headers)
				}
			}
			if w.header != "" && !slices.Equal(r.Headers[w.header], []string{w.value}) {
				t.Errorf("header %s = %q, want %q as sent", w.header, r.Headers[w.header], w.value)
			}
			if r.RemoteAddr == "" || !r.ReceivedAt.Equal(sum.ReceivedAt) {
				t.Errorf("remote_addr %q received_at %v (listed %v)", r.RemoteAddr, r.ReceivedAt, sum.ReceivedAt)
			}
		})
	}
}

// Bodies are kept byte for byte: NUL bytes in text stay text, bytes that are not UTF-8 come
// back as body_base64 (body null), and so does a text body cut inside a character.
func TestRejectionBodiesAreByteExact(t *testing.T) {
	js := newJournalServer(t, journal.Options{BodyBytes: 255}, nil, false)
	tests := []struct {
		name   string
		body   []byte
		text   bool
		stored []byte
	}{
		{"NUL bytes", []byte("{\"a\":\"\x00\"}\x00\x00tail"), true, nil},
		{"not UTF-8", []byte("\xff\xfe{\"a\":\x00\"\xc3\"}\x80"), false, nil},
		{"cut inside a character", []byte(strings.Repeat("é", 200)), false, []byte(strings.Repeat("é", 200))[:255]},
		{"empty", []byte{}, true, nil},
	}
	for _, tt := range tests {
		resp, body := js.rawPost(t, "/webhook", tt.body, hdr("Content-Type", "application/json",
			"X-Signature", signature.Sign([]byte("wrong"), tt.body), "X-Request-Id", "bytes-"+strings.ReplaceAll(tt.name, " ", "-")), false)
		if resp.StatusCode != 401 {
			t.Fatalf("%s: %d %s, want 401", tt.name, resp.StatusCode, body)
		}
	}
	js.flush(t)
	byRequest := map[string]int64{}
	for _, r := range js.rejections(t, "limit=200").Data {
		byRequest[r.RequestId] = r.Rid
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rid, ok := byRequest["bytes-"+strings.ReplaceAll(tt.name, " ", "-")]
			if !ok {
				t.Fatal("not recorded")
			}
			r := js.rejection(t, rid)
			want := tt.stored
			if want == nil {
				want = tt.body
			}
			if tt.text {
				if r.Body == nil || *r.Body != string(want) || r.BodyBase64 != nil {
					t.Errorf("body %q base64 %v, want text %q", val(r.Body), r.BodyBase64, want)
				}
			} else if r.Body != nil || r.BodyBase64 == nil || !bytes.Equal(*r.BodyBase64, want) {
				t.Errorf("body %q base64 %q, want body null and base64 of %q", val(r.Body), val(r.BodyBase64), want)
			}
			if r.BodySize != int64(len(tt.body)) || val(r.BodySha256) != hexSHA(tt.body) {
				t.Errorf("body_size %d sha %s, want %d %s", r.BodySize, val(r.BodySha256), len(tt.body), hexSHA(tt.body))
			}
		})
	}
}

// GET /rejections lists newest first, filters by source, result and time, and pages to the
// end with its cursor; bad parameters are 400s that name them, an unknown rid is a 404, and
// both operations need the token.
func TestListRejections(t *testing.T) {
	js := newJournalServer(t, journal.Options{}, nil, false)
	ghBody := []byte(`{"zen":"x"}`)
	post := func(path string, body []byte, h http.Header, status int) {
		t.Helper()
		resp, b := js.rawPost(t, path, body, h, false)
		if resp.StatusCode != status {
			t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, b, status)
		}
	}
	// Interleaved, so that a filter's answer is not one run of the listing.
	for i := range 3 {
		post("/webhook/gitlab", []byte(`{}`), hdr("Content-Type", "application/json"), 404)
		post("/webhook/github", ghBody, githubSigned(t, "wrong", ghBody), 401)
		if i < 2 {
			b := []byte(msg(fmt.Sprint("t", i)))
			post("/webhook", b, hdr("Content-Type", "text/plain", "X-Signature", signature.Sign([]byte(secret), b)), 415)
		}
	}
	const n = 8
	all := js.waitRejections(t, n)
	if len(all) != n {
		t.Fatalf("%d entries, want %d", len(all), n)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Rid >= all[i-1].Rid || all[i].ReceivedAt.After(all[i-1].ReceivedAt) {
			t.Fatalf("not newest first: rid %d (%v) after %d (%v)", all[i].Rid, all[i].ReceivedAt, all[i-1].Rid, all[i-1].ReceivedAt)
		}
	}
	rids := func(rs []gen.RejectionSummary) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.Rid
		}
		return out
	}
	where := func(keep func(gen.RejectionSummary) bool) []int64 {
		var out []int64
		for _, r := range all {
			if keep(r) {
				out = append(out, r.Rid)
			}
		}
		return out
	}

	t.Run("pages", func(t *testing.T) {
		for _, limit := range []int{1, 3, 8, 200} {
			got, pages := js.allRejections(t, "", limit)
			if !slices.Equal(rids(got), rids(all)) || pages != max(1, (n+limit-1)/limit) {
				t.Errorf("limit %d: %v in %d pages, want %v", limit, rids(got), pages, rids(all))
			}
		}
	})
	split := all[4].ReceivedAt.Format(time.RFC3339Nano)
	filters := []struct {
		query string
		keep  func(gen.RejectionSummary) bool
	}{
		{"source=gitlab", func(r gen.RejectionSummary) bool { return r.Source == "gitlab" }},
		{"result=invalid_signature", func(r gen.RejectionSummary) bool { return r.Result == gen.RejectionResultInvalidSignature }},
		{"source=default&result=unsupported_media_type", func(r gen.RejectionSummary) bool { return r.Source == "default" }},
		{"source=default&result=unknown_source", func(gen.RejectionSummary) bool { return false }},
		{"since=" + url.QueryEscape(split), func(r gen.RejectionSummary) bool { return !r.ReceivedAt.Before(all[4].ReceivedAt) }},
		{"until=" + url.QueryEscape(split), func(r gen.RejectionSummary) bool { return r.ReceivedAt.Before(all[4].ReceivedAt) }},
		{"source=github&since=" + url.QueryEscape(all[6].ReceivedAt.Format(time.RFC3339Nano)) + "&until=" + url.QueryEscape(all[0].ReceivedAt.Format(time.RFC3339Nano)),
			func(r gen.RejectionSummary) bool {
				return r.Source == "github" && !r.ReceivedAt.Before(all[6].ReceivedAt) && r.ReceivedAt.Before(all[0].ReceivedAt)
			}},
	}
	for _, f := range filters {
		t.Run(f.query, func(t *testing.T) {
			want := where(f.keep)
			for _, limit := range []int{1, 200} {
				got, _ := js.allRejections(t, f.query, limit)
				if !slices.Equal(rids(got), want) {
					t.Errorf("limit %d: %v, want %v", limit, rids(got), want)
				}
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		js.post(t, delivery{body: msg("m1")})
		js.post(t, delivery{body: msg("m2")})
		resp, body := js.get(t, "/messages?limit=1", "Bearer "+token)
		var page gen.MessageList
		if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == nil {
			t.Fatalf("GET /messages: %d %s", resp.StatusCode, body)
		}
		tests := []struct {
			path   string
			bearer string
			status int
			detail string
		}{
			{"/rejections?cursor=bm90LWEtY3Vyc29y", "Bearer " + token, 400, "cursor"},
			{"/rejections?cursor=" + url.QueryEscape(*page.NextCursor), "Bearer " + token, 400, "cursor"},
			{"/rejections?cursor=" + "cmlkLzA", "Bearer " + token, 400, "cursor"}, // rid/0
			{"/rejections?result=bogus", "Bearer " + token, 400, "result"},
			{"/rejections?limit=0", "Bearer " + token, 400, "limit"},
			{"/rejections?limit=201", "Bearer " + token, 400, "limit"},
			{"/rejections?limit=x", "Bearer " + token, 400, "limit"},
			{"/rejections?since=yesterday", "Bearer " + token, 400, "since"},
			{"/rejections/abc", "Bearer " + token, 400, "rid"},
			{"/rejections/999999", "Bearer " + token, 404, ""},
			{"/rejections", "", 401, ""},
			{"/rejections", "Bearer wrong", 401, ""},
			{fmt.Sprintf("/rejections/%d", all[0].Rid), "", 401, ""},
		}
		for _, tt := range tests {
			resp, body := js.get(t, tt.path, tt.bearer)
			p := decodeProblem(t, resp, body)
			if resp.StatusCode != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("GET %s: %d %q, want %d naming %q", tt.path, resp.StatusCode, p.Detail, tt.status, tt.detail)
			}
		}
	})
}

// blockedJournal is a store whose appends wait until release is closed: the writer is stuck
// on its first batch, so the queue fills.
type blockedJournal struct {
	hookvault.Journal
	release chan struct{}
}

func (b blockedJournal) AppendRejections(ctx context.Context, rs []hookvault.Rejection) error {
	<-b.release
	return b.Journal.AppendRejections(ctx, rs)
}

// The answer to a sender is the same with a journal, without one, and with one whose queue
// is full (whose entries are dropped and counted): recording never changes an answer, and a
// journal whose writer is stuck never holds one up.
func TestJournalDoesNotChangeTheAnswer(t *testing.T) {
	release := make(chan struct{})
	servers := map[string]*journalServer{
		"none":    newJournalServer(t, journal.Options{}, nil, true),
		"journal": newJournalServer(t, journal.Options{}, nil, false),
		"full": newJournalServer(t, journal.Options{QueueEntries: 1}, func(j hookvault.Journal) hookvault.Journal {
			return blockedJournal{j, release}
		}, false),
	}
	defer close(release)
	ghBody := []byte(`{"zen":"x"}`)
	big := []byte(strings.Repeat("x", maxBody+1))
	first, second := []byte(msg("same")), []byte(`{"id":"same","sender":"bob","content":"changed"}`)
	sig := func(b []byte) string { return signature.Sign([]byte(secret), b) }
	requests := []struct {
		path    string
		body    []byte
		h       http.Header
		chunked bool
	}{
		{"/webhook/gitlab", []byte(`{}`), hdr("Content-Type", "application/json"), false},
		{"/webhook", big, hdr("Content-Type", "application/json", "X-Signature", sig(big)), true},
		{"/webhook", big, hdr("Content-Type", "application/json", "X-Signature", sig(big)), false},
		{"/webhook", first, hdr("Content-Type", "text/plain", "X-Signature", sig(first)), false},
		{"/webhook", first, hdr("Content-Type", "application/json"), false},
		{"/webhook", first, hdr("Content-Type", "application/json", "X-Signature", sig([]byte("other"))), false},
		{"/webhook/github", ghBody, githubSigned(t, "gh-new-secret", append(slices.Clip(ghBody), '\n')), false},
		{"/webhook", []byte(`{"id":1}`), hdr("Content-Type", "application/json", "X-Signature", sig([]byte(`{"id":1}`))), false},
		{"/webhook", first, hdr("Content-Type", "application/json", "X-Signature", sig(first)), false},
		{"/webhook", second, hdr("Content-Type", "application/json", "X-Signature", sig(second)), false},
		{"/webhook", second, hdr("Content-Type", "application/json", "X-Signature", sig(second)), false},
	}
	type answer struct {
		Status                                 int
		ContentType, WWWAuthenticate, Location string
		Body                                   string
	}
	answers := map[string][]answer{}
	for name, js := range servers {
		for i, r := range requests {
			h := r.h.Clone()
			h.Set("X-Request-Id", fmt.Sprint("same-", i))
			resp, body := js.rawPost(t, r.path, r.body, h, r.chunked)
			answers[name] = append(answers[name], answer{resp.StatusCode, resp.Header.Get("Content-Type"),
				resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Location"), string(body)})
		}
	}
	for _, name := range []string{"journal", "full"} {
		if !slices.Equal(answers[name], answers["none"]) {
			t.Errorf("answers with %s:\n%v\nwithout a journal:\n%v", name, answers[name], answers["none"])
		}
	}
	// The stuck writer holds one batch and the queue one entry; everything else was dropped.
	if got, want := servers["full"].dropped.Load(), int64(len(requests)-2-2); got < want {
		t.Errorf("full queue: %d dropped, want at least %d", got, want)
	}
	if got := servers["journal"].dropped.Load(); got != 0 {
		t.Errorf("journal: %d dropped, want none", got)
	}
}

// An entry's status is the one the sender was answered: a body cut short by the sender is
// answered 400 (not 422), and recorded so, without a SHA-256 of the part that came.
func TestRejectionStatusIsTheAnswered(t *testing.T) {
	js := newJournalServer(t, journal.Options{}, nil, false)
	conn, err := net.Dial("tcp", js.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /webhook HTTP/1.1\r\nHost: hookvault\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\nX-Request-Id: cut-short\r\n\r\n{\"id\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("answered %d, want 400", resp.StatusCode)
	}
	js.flush(t)
	l := js.rejections(t, "")
	if len(l.Data) != 1 || l.Data[0].Status != http.StatusBadRequest || l.Data[0].RequestId != "cut-short" ||
		l.Data[0].BodySize != 6 || l.Data[0].BodySha256 != nil {
		t.Errorf("journal %+v, want one entry of status 400 with the 6 bytes that came and no SHA-256", l.Data)
	}
}
