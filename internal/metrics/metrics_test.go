package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/buildinfo"
	"github.com/hookvault/hookvault/internal/metrics"
)

// promtool check metrics runs the same linter; the contract says it must report nothing.
func TestMetricsPassPromlint(t *testing.T) {
	m := metrics.New()
	m.Webhook("default", "created")
	m.ObserveCommit(3, 2*time.Millisecond)
	m.HTTPRequests.WithLabelValues("/webhook", "POST", "200").Inc()
	m.HTTPDuration.WithLabelValues("/webhook", "POST").Observe(0.001)
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestContractNamesAreRegistered(t *testing.T) {
	m := metrics.New()
	m.HTTPRequests.WithLabelValues("/webhook", "POST", "200").Inc()
	m.HTTPDuration.WithLabelValues("/webhook", "POST").Observe(0.001)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{
		"webhook_requests_total", "webhook_messages_received_total", "webhook_signature_failures_total",
		"http_requests_total", "http_request_duration_seconds", "store_commit_batch_size",
		"store_commit_duration_seconds", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !have[name] {
			t.Errorf("metric %s is not registered", name)
		}
	}
	// Every result label exists from the start, so rate() works before the first event.
	if got := testutil.CollectAndCount(m.WebhookRequests); got != len(metrics.Results) {
		t.Errorf("webhook_requests_total has %d series, want %d", got, len(metrics.Results))
	}
}

// Only registered sources are counted: a path segment anyone can send never becomes a
// label value.
func TestSourceLabelIsBounded(t *testing.T) {
	m := metrics.New()
	m.Sources("github", "default")
	m.Webhook("github", "created")
	m.Received("github")
	m.SignatureFailure("github", "github", "mismatch")
	m.Webhook("attacker-chosen", "created")
	m.Received("attacker-chosen")
	m.SignatureFailure("attacker-chosen", "github", "mismatch")
	if got := testutil.ToFloat64(m.WebhookRequests.WithLabelValues("github", "created")); got != 1 {
		t.Errorf("github created = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.WebhookRequests); got != 2*len(metrics.Results) {
		t.Errorf("%d webhook_requests_total series, want %d (two sources)", got, 2*len(metrics.Results))
	}
	if got := testutil.CollectAndCount(m.MessagesReceived); got != 2 {
		t.Errorf("%d received series, want 2", got)
	}
	if got := testutil.ToFloat64(m.SignatureFailures.WithLabelValues("github", "github", "mismatch")); got != 1 {
		t.Errorf("github mismatch = %v, want 1", got)
	}
}

// Sources names the whole set: a source left out loses its series on every metric with a
// source label (the registry is searched, so a metric added later is held to it too), and
// is counted nowhere after; default is always kept.
func TestSourcesDropsRemovedSources(t *testing.T) {
	m := metrics.New()
	m.Sources("github", "payments")
	for _, src := range []string{"github", "payments"} {
		m.Webhook(src, "created")
		m.Received(src)
		m.SignatureFailure(src, "stripe", "stale")
	}
	m.Sources("github")
	m.Webhook("payments", "created")
	m.Received("payments")
	m.SignatureFailure("payments", "stripe", "stale")

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "source" {
					seen[l.GetValue()] = true
					if l.GetValue() == "payments" {
						t.Errorf("%s still has a payments series: %v", f.GetName(), metric.GetLabel())
					}
				}
			}
		}
	}
	if !seen["github"] || !seen["default"] {
		t.Errorf("sources with series: %v, want github and default", seen)
	}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"github created", testutil.ToFloat64(m.WebhookRequests.WithLabelValues("github", "created")), 1},
		{"github received", testutil.ToFloat64(m.MessagesReceived.WithLabelValues("github")), 1},
		{"github stale", testutil.ToFloat64(m.SignatureFailures.WithLabelValues("github", "stripe", "stale")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if got := testutil.CollectAndCount(m.WebhookRequests); got != 2*len(metrics.Results) {
		t.Errorf("%d webhook_requests_total series, want %d (github and default)", got, 2*len(metrics.Results))
	}
}

func TestHTTPSeriesAreCountedOncePerCall(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.HTTP("/webhook", "POST", 200, time.Millisecond)
	}
	m.HTTP("/webhook", "POST", 401, time.Millisecond)
	if got := testutil.ToFloat64(m.HTTPRequests.WithLabelValues("/webhook", "POST", "200")); got != 3 {
		t.Errorf("200s = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.HTTPRequests.WithLabelValues("/webhook", "POST", "401")); got != 1 {
		t.Errorf("401s = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.HTTPDuration); got != 1 {
		t.Errorf("%d duration series, want 1 (route and method only)", got)
	}
}

// hookvault_build_info is 1 with the build's version, revision and Go version as labels.
func TestBuildInfo(t *testing.T) {
	m := metrics.New()
	b := buildinfo.Read()
	want := fmt.Sprintf(`# HELP hookvault_build_info Always 1; the labels name the running build: version, git revision and Go version.
# TYPE hookvault_build_info gauge
hookvault_build_info{goversion=%q,revision=%q,version=%q} 1
`, b.GoVersion, b.Revision, b.Version)
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "hookvault_build_info"); err != nil {
		t.Error(err)
	}
}
