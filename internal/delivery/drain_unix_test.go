//go:build unix

package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/delivery"
	"github.com/hookvault/hookvault/internal/metrics"
)

// BenchmarkDrain is a backlog delivered to an HTTP destination of the default concurrency
// that answers at once, in the same process: ns/op and cpu-µs/delivery are per delivery,
// from the relay's start until the last is recorded (the destination's own work included).
func BenchmarkDrain(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()
	st := openStore(b)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				insert(b, st, fmt.Sprint("m-", i), "app")
			}
		})
	}
	wg.Wait()
	m := metrics.New()
	r := delivery.New(delivery.Options{Store: st, HTTP: delivery.NewHTTPSender("bench"), Observer: m, Policy: delivery.DefaultPolicy})
	defer r.Close(context.Background())
	cpu := processCPU(b)
	b.ResetTimer()
	r.SetDestinations(destinations(b, httpDestination("app", app.URL, "")))
	for testutil.ToFloat64(m.DeliveryAttempts.WithLabelValues("app", "delivered")) < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/delivery")
}

// processCPU is the user and system time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
