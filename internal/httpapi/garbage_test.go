package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/signature"
)

// garbage builds hostile requests from a seeded generator, so a failure replays exactly.
type garbage struct{ r *rand.Rand }

func pick[T any](g garbage, xs ...T) T { return xs[g.r.IntN(len(xs))] }

func (g garbage) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

// header is random bytes that an HTTP client will still send: no control characters.
func (g garbage) header(n int) string {
	b := g.bytes(n)
	for i := range b {
		if b[i] < 0x20 || b[i] == 0x7f {
			b[i] ^= 0x40
		}
	}
	return string(b)
}

func (g garbage) body() []byte {
	valid := msg("g-" + strconv.Itoa(g.r.IntN(50))) // few ids, so duplicates and conflicts occur
	switch g.r.IntN(11) {
	case 0:
		return g.bytes(g.r.IntN(2 * maxBody))
	case 1:
		return []byte(valid[:g.r.IntN(len(valid))]) // truncated
	case 2:
		return []byte(`{"id":` + strings.Repeat("9", 1+g.r.IntN(3000)) + `,"sender":"a","content":"b"}`)
	case 3:
		return []byte(`{"id":"n","sender":"a","content":"b","x":1e999999999}`)
	case 4:
		d := 1 + g.r.IntN(20000)
		return []byte(`{"id":"deep","sender":"a","content":"b","x":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`)
	case 5:
		return []byte(strings.Repeat(`{"a":`, 1+g.r.IntN(5000)))
	case 6:
		return bytes.Repeat([]byte("x"), maxBody+1+g.r.IntN(maxBody)) // over the limit
	case 7:
		return []byte(`{"id":"` + string(g.bytes(8)) + `","sender":"\ud800","content":"\u0000"}`)
	case 8:
		return []byte(fmt.Sprintf(`{"id":"g-%d","sender":"a","content":"other %d"}`, g.r.IntN(50), g.r.IntN(5)))
	case 9:
		return nil
	}
	return []byte(valid)
}

func (g garbage) path() string {
	return pick(g,
		"/webhook", "/webhook", "/webhook", "/webhook/", "/WEBHOOK", "/webhook?x="+url.QueryEscape(string(g.bytes(8))),
		"/messages", "/messages?limit="+pick(g, "-1", "0", "1e99", "99999999999999999999", "abc", ""),
		"/messages?cursor="+url.QueryEscape(string(g.bytes(g.r.IntN(64))))+"&since="+pick(g, "yesterday", "2026-13-40T99:00:00Z", ""),
		"/messages/"+url.PathEscape(string(g.bytes(1+g.r.IntN(300)))), "/messages/%00", "/messages/"+strings.Repeat("a", 5000),
		"/stats", "/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs/", "/docs/../../etc/passwd",
		"/"+url.PathEscape(string(g.bytes(g.r.IntN(40)))), "//webhook", "/webhook%2f..",
	)
}

func (g garbage) request(t *testing.T, base string) (*http.Request, string) {
	t.Helper()
	method := pick(g, http.MethodPost, http.MethodPost, http.MethodPost, http.MethodGet, http.MethodPut,
		http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions, "FOO")
	path := g.path()
	if g.r.IntN(5) < 3 { // most garbage goes where the internet sends it
		method, path = http.MethodPost, "/webhook"
	}
	body := g.body()
	chunked := g.r.IntN(2) == 0
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length: the client streams chunks
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct := pick(g, "application/json", "application/json; charset=utf-8", "application/cloudevents+json",
		"text/plain", "multipart/form-data; boundary=x", "application/json; charset=\"", "application/\x80json", "-"); ct != "-" {
		req.Header.Set("Content-Type", ct)
	}
	switch g.r.IntN(6) {
	case 0, 1:
		req.Header.Set(pick(g, signature.HeaderSignature, signature.HeaderHubSignature), signature.Sign([]byte(secret), body))
	case 2:
		req.Header.Set(signature.HeaderSignature, "sha256="+signature.Sign([]byte(secret), body))
	case 3:
		req.Header.Set(signature.HeaderSignature, pick(g, "", "sha256=", "zz", strings.Repeat("0", 64), g.header(16)))
	case 4:
		// Standard Webhooks headers, well-formed or not, are never a reason for a 5xx.
		req.Header.Set("webhook-id", pick(g, "msg_1", "", g.header(8)))
		req.Header.Set("webhook-timestamp", pick(g, strconv.FormatInt(time.Now().Unix(), 10), "0", "-1", "99999999999999999999", "abc"))
		req.Header.Set("webhook-signature", pick(g, "v1,", "v1,AAAA", "v2,abc", "v1,"+strings.Repeat("A", 2000), "v1,a v1,b v1,c", g.header(20)))
	}
	if g.r.IntN(3) == 0 {
		req.Header.Set("Authorization", pick(g, "Bearer "+token, "Bearer ", "Basic Zm9vOmJhcg==", "Bearer "+strings.Repeat("t", 4000)))
	}
	if g.r.IntN(8) == 0 {
		req.Header.Set("Content-Encoding", pick(g, "gzip", "br", "identity"))
	}
	if g.r.IntN(8) == 0 {
		req.Header.Set("X-Request-Id", g.header(1+g.r.IntN(200)))
	}
	desc := fmt.Sprintf("%s %s chunked=%v body=%.80q headers=%v", method, path, chunked, body, req.Header)
	return req, desc
}

// Hundreds of hostile requests through the real router on a real SQLite file: whatever they
// carry, none may be answered with a 5xx.
func TestGarbageNeverYields5xx(t *testing.T) {
	ts := newServer(t)
	g := garbage{rand.New(rand.NewPCG(5, 2026))}
	statuses := map[int]int{}
	for i := 0; i < 600; i++ {
		req, desc := g.request(t, ts.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v (%s)", i, err, desc)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode >= 500 {
			t.Errorf("request %d: status %d for %s", i, resp.StatusCode, desc)
		}
	}
	t.Logf("statuses: %v", statuses)
	// The mix must reach the store, or the test proves little.
	if statuses[200] == 0 || statuses[401] == 0 || statuses[422] == 0 {
		t.Errorf("garbage reached too few outcomes: %v", statuses)
	}
}
