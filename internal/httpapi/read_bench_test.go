package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// tailWriter is a ResponseWriter that keeps only the last bytes of the answer, so that a
// benchmark counts what the server allocates, not a recorder's copy of the answer.
type tailWriter struct {
	header http.Header
	status int
	n      int
	tail   []byte
}

func (w *tailWriter) Header() http.Header { return w.header }
func (w *tailWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	if len(p) >= cap(w.tail) {
		w.tail = append(w.tail[:0], p[len(p)-cap(w.tail):]...)
	} else {
		keep := min(len(w.tail), cap(w.tail)-len(p))
		w.tail = append(w.tail[:copy(w.tail, w.tail[len(w.tail)-keep:])], p...)
	}
	return len(p), nil
}

var nextCursorRE = regexp.MustCompile(`"next_cursor":(null|"([^"]*)")}\n$`)

// bigListHandler is the real router on a real SQLite file holding n messages with
// contentBytes of content each, stored past the HTTP body limit.
func bigListHandler(b *testing.B, n, contentBytes int) http.Handler {
	b.Helper()
	h, store := newHandler(b, sqlite.Options{}, httpapi.Deps{Metrics: metrics.New(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), MaxBodyBytes: 1 << 20, APITokens: []string{token}})
	content := strings.Repeat("x", contentBytes)
	for i := range n {
		m := hookvault.Message{Source: hookvault.DefaultSource, ID: fmt.Sprintf("big-%03d", i), Sender: "alice", Content: content, Payload: []byte(`{}`)}
		if _, err := store.Insert(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	return h
}

// benchList serves one GET /messages and returns the bytes answered and the next cursor.
func benchList(b *testing.B, h http.Handler, query string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, "/messages?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := &tailWriter{header: http.Header{}, tail: make([]byte, 0, 256)}
	h.ServeHTTP(w, req)
	m := nextCursorRE.FindSubmatch(w.tail)
	if w.status != 200 || m == nil {
		b.Fatalf("status %d, answer ends %q", w.status, w.tail)
	}
	return w.n, string(m[2])
}

// BenchmarkListBigMessages is GET /messages?limit=1000 over 64 messages of 1 MB content
// each through the real router: B/op is what the server allocates for one page, and for a
// walk over every page.
func BenchmarkListBigMessages(b *testing.B) {
	h := bigListHandler(b, 64, 1_000_000)
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchList(b, h, "limit=1000")
		}
	})
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			total, pages := 0, 0
			for cursor := ""; ; pages++ {
				q := "limit=1000"
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				n, next := benchList(b, h, q)
				total += n
				if cursor = next; cursor == "" {
					break
				}
			}
			if total < 64_000_000 {
				b.Fatalf("walk answered %d bytes in %d pages, want all 64 messages", total, pages+1)
			}
		}
	})
}

// BenchmarkGetLargeMessage is GET /messages/{id} of a message with a 1 MB payload.
func BenchmarkGetLargeMessage(b *testing.B) {
	h, store := newHandler(b, sqlite.Options{}, httpapi.Deps{Metrics: metrics.New(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), MaxBodyBytes: 1 << 20, APITokens: []string{token}})
	payload := fmt.Appendf(nil, `{"id":"large","sender":"alice","content":%q}`, strings.Repeat("x", 1_000_000))
	if _, err := store.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: "large", Sender: "alice", Content: "x", Payload: payload}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/messages/large", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := &tailWriter{header: http.Header{}, tail: make([]byte, 0, 16)}
		h.ServeHTTP(w, req)
		if w.status != 200 || w.n < len(payload) {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}
