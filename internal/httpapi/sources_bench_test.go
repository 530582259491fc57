//go:build unix

package httpapi_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
	"github.com/hookvault/hookvault/internal/sqlite"
)

// BenchmarkWebhookRoutes puts POST /webhook/{source} with the github preset beside POST
// /webhook in one run, on the same router, store and body size (about 1 KiB): "new" commits
// every delivery (32 senders, so commits are batched), "duplicate" measures the request path
// without a commit. The ratio of the two routes' ns/op is the cost of a provider's preset;
// cpu-µs/op, the process's CPU time per request, is the steadier figure on a shared machine.
//
//	go test -run '^$' -bench WebhookRoutes -benchmem ./internal/httpapi
func BenchmarkWebhookRoutes(b *testing.B) {
	pad := strings.Repeat("x", 900)
	routes := []struct {
		name string
		req  func(id string) *http.Request
	}{
		{"webhook", func(id string) *http.Request {
			body := fmt.Sprintf(`{"id":%q,"sender":"alice","content":%q}`, id, pad)
			r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Signature", signature.Sign([]byte(secret), []byte(body)))
			return r
		}},
		{"github", func(id string) *http.Request {
			body := fmt.Sprintf(`{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","pad":%q}`, pad)
			r := httptest.NewRequest(http.MethodPost, "/webhook/github", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Delivery", id)
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-Hub-Signature-256", "sha256="+signature.Sign([]byte("gh-bench-secret"), []byte(body)))
			return r
		}},
	}
	for _, mode := range []string{"new", "duplicate"} {
		for _, route := range routes {
			b.Run(mode+"/"+route.name, func(b *testing.B) {
				h := benchSourcesHandler(b)
				serve := func(id string) {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, route.req(id))
					if rec.Code != 200 {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				b.ReportAllocs()
				if mode == "duplicate" {
					serve("dup")
					cpu := processCPU(b)
					for b.Loop() {
						serve("dup")
					}
					b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
					return
				}
				var n atomic.Int64
				b.SetParallelism(32)
				cpu := processCPU(b)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						serve(fmt.Sprintf("bench-%d", n.Add(1)))
					}
				})
				b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

func benchSourcesHandler(b *testing.B) http.Handler {
	b.Helper()
	opts := provider.Options{DefaultTolerance: 5 * time.Minute, Now: time.Now}
	file, err := sources.Parse([]byte("sources:\n  - name: github\n    provider: github\n    secrets: [gh-bench-secret]\n"),
		func(string) string { return "" }, opts)
	if err != nil {
		b.Fatal(err)
	}
	def, err := sources.NewDefault([][]byte{[]byte(secret)}, opts)
	if err != nil {
		b.Fatal(err)
	}
	set := sources.With(def, file)
	m := metrics.New()
	m.Sources(set.Names()...)
	h, _ := newHandler(b, sqlite.Options{}, httpapi.Deps{Metrics: m, Sources: func() *sources.Set { return set },
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), MaxBodyBytes: 1 << 20})
	return h
}

// processCPU is the user and system time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
