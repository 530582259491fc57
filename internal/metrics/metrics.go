// Package metrics defines the metric set of the contract on an explicit registry, so that
// every server (and every test) has its own and nothing leaks through globals.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookvault/hookvault/internal/buildinfo"
)

// Results are the values of webhook_requests_total's result label, one per row of the
// contract's table; they are created at zero for every source so that rate() works from
// the first scrape.
var Results = []string{
	"created", "duplicate", "conflict", "challenge", "too_large", "unsupported_media_type",
	"invalid_signature", "validation_error", "unavailable", "timeout", "error",
}

// signatureFailures are the scheme and reason pairs that a signature can fail with, created at
// zero like Results. Kept as strings so this package does not depend on the verifier.
var signatureFailures = [][2]string{
	{"none", "missing"}, {"hmac_sha256", "malformed"}, {"hmac_sha256", "mismatch"},
	{"standard_webhooks", "missing"}, {"standard_webhooks", "malformed"},
	{"standard_webhooks", "stale"}, {"standard_webhooks", "mismatch"},
	{"standard_webhooks", "unsupported_version"},
}

// ShedReasons are the values of http_requests_shed_total's reason label: which bound refused
// a request with 503.
var ShedReasons = []string{
	"in_flight", "body_bytes", "client_body_bytes", "client_requests", "rate_limit", "connections",
	"signature_failures",
}

// ConnectionReasons are the values of http_connections_refused_total's reason label: a
// connection refused at accept by the per-client or the total cap, or an idle one closed
// to make room for a new one.
var ConnectionReasons = []string{"client", "total", "evicted"}

// Metrics is the service's metric set.
type Metrics struct {
	Registry *prometheus.Registry

	WebhookRequests   *prometheus.CounterVec // source, result
	MessagesReceived  *prometheus.CounterVec // source
	SignatureFailures *prometheus.CounterVec // source, scheme, reason
	HTTPRequests      *prometheus.CounterVec // route, method, code
	HTTPDuration      *prometheus.HistogramVec
	CommitBatchSize   prometheus.Histogram
	CommitDuration    prometheus.Histogram
	RequestsShed      *prometheus.CounterVec // reason
	SourceReloads     *prometheus.CounterVec // result: ok or error
	ConnsRefused      *prometheus.CounterVec // reason
	DeliveryAttempts  *prometheus.CounterVec // destination, outcome
	DeliveriesPending *prometheus.GaugeVec   // destination
	DeliveryLag       *prometheus.HistogramVec
	RejectionsDropped prometheus.Counter
	StoredMessages    prometheus.Gauge
	StoreBytes        prometheus.Gauge

	// sources holds the series of each source, looked up once per request by name; only
	// the sources that Sources registered get series, which keeps the label bounded.
	// srcMu orders Sources' deletions against SignatureFailure, which creates series.
	sources sync.Map // string → *sourceSeries
	srcMu   sync.RWMutex
	shed    map[string]prometheus.Counter
	refused map[string]prometheus.Counter
	https   sync.Map // httpKey → *httpSeries
	destMu  sync.Mutex
	dests   []string
}

type sourceSeries struct {
	results  map[string]prometheus.Counter
	received prometheus.Counter
}

type httpKey struct {
	route, method string
	code          int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// HTTP counts one request and its latency. The series are looked up once per route, method
// and code and kept, instead of hashing the label values on every request.
func (m *Metrics) HTTP(route, method string, code int, took time.Duration) {
	k := httpKey{route, method, code}
	v, ok := m.https.Load(k)
	if !ok {
		v, _ = m.https.LoadOrStore(k, &httpSeries{
			requests: m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.HTTPDuration.WithLabelValues(route, method),
		})
	}
	series := v.(*httpSeries)
	series.requests.Inc()
	series.duration.Observe(took.Seconds())
}

// New registers the metric set and the Go and process collectors on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		WebhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_requests_total",
			Help: "Webhook deliveries by source and outcome.",
		}, []string{"source", "result"}),
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_messages_received_total",
			Help: "Webhook messages newly stored and committed, by source.",
		}, []string{"source"}),
		SignatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_signature_failures_total",
			Help: "Rejected webhook signatures by source, scheme and precise reason.",
		}, []string{"source", "scheme", "reason"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		CommitBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "store_commit_batch_size",
			Help:    "Messages written per store commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "store_commit_duration_seconds",
			Help:    "Time from the start of a store write transaction to its durable commit.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		RequestsShed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_shed_total",
			Help: "Requests refused with 503 by a load bound, by the bound that refused them.",
		}, []string{"reason"}),
		SourceReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sources_reloads_total",
			Help: "Reloads of SOURCES_FILE on SIGHUP: ok, or error (the running sources were kept).",
		}, []string{"result"}),
		ConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_connections_refused_total",
			Help: "Connections closed at accept by a connection cap, or idle ones closed to make room.",
		}, []string{"reason"}),
		DeliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_attempts_total",
			Help: "Attempts to hand a message to a destination, by outcome: delivered, retry (a failure that is tried again), failed (given up).",
		}, []string{"destination", "outcome"}),
		DeliveriesPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deliveries_pending",
			Help: "Deliveries waiting for their destination (read from the store every few seconds).",
		}, []string{"destination"}),
		DeliveryLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "delivery_lag_seconds",
			Help:    "Time from a message's commit to its destination's acknowledgement.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"destination"}),
		RejectionsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_rejections_dropped_total",
			Help: "Refused deliveries the rejection journal could not keep: its queue was full, or the store refused a batch.",
		}),
		StoredMessages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "store_messages",
			Help: "Messages stored (read every minute, from the /stats counters).",
		}),
		StoreBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "store_size_bytes",
			Help: "Size of the database (read every minute).",
		}),
		shed:    map[string]prometheus.Counter{},
		refused: map[string]prometheus.Counter{},
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.WebhookRequests, m.MessagesReceived, m.SignatureFailures,
		m.HTTPRequests, m.HTTPDuration, m.CommitBatchSize, m.CommitDuration,
		m.RequestsShed, m.ConnsRefused, m.SourceReloads,
		m.DeliveryAttempts, m.DeliveriesPending, m.DeliveryLag,
		m.RejectionsDropped, m.StoredMessages, m.StoreBytes,
	)
	m.SourceReloads.WithLabelValues("ok")
	m.SourceReloads.WithLabelValues("error")
	// The *_build_info convention (prometheus_build_info): a constant 1 whose labels say
	// which build runs, so a dashboard shows a fleet of mixed versions and queries can join it.
	build := buildinfo.Read()
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookvault_build_info",
		Help: "Always 1; the labels name the running build: version, git revision and Go version.",
		ConstLabels: prometheus.Labels{
			"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion,
		},
	}, func() float64 { return 1 }))
	for _, r := range ShedReasons {
		m.shed[r] = m.RequestsShed.WithLabelValues(r)
	}
	for _, r := range ConnectionReasons {
		m.refused[r] = m.ConnsRefused.WithLabelValues(r)
	}
	m.Sources("default")
	return m
}

// Sources makes the named sources, and `default`, the ones counted: it creates their series
// at zero and deletes every series of a source no longer named, on each metric with a source
// label, so a source that a reload removed is not exported for ever. Call it with the sources
// of every load of the sources file: a source that is not registered is counted nowhere, so
// that a path segment anyone can send never becomes a label value.
func (m *Metrics) Sources(names ...string) {
	m.srcMu.Lock()
	defer m.srcMu.Unlock()
	keep := map[string]bool{"default": true}
	for _, name := range names {
		keep[name] = true
	}
	m.sources.Range(func(k, _ any) bool {
		if name := k.(string); !keep[name] {
			m.sources.Delete(name)
			for _, vec := range m.bySource() {
				vec.DeletePartialMatch(prometheus.Labels{"source": name})
			}
		}
		return true
	})
	for name := range keep {
		if _, ok := m.sources.Load(name); !ok {
			ss := &sourceSeries{results: map[string]prometheus.Counter{}, received: m.MessagesReceived.WithLabelValues(name)}
			for _, r := range Results {
				ss.results[r] = m.WebhookRequests.WithLabelValues(name, r)
			}
			m.sources.Store(name, ss)
		}
		for _, sr := range signatureFailures {
			m.SignatureFailures.WithLabelValues(name, sr[0], sr[1])
		}
	}
}

// bySource are the metrics with a source label: a metric added with one belongs here, or
// its series outlive their source.
func (m *Metrics) bySource() []interface {
	DeletePartialMatch(prometheus.Labels) int
} {
	return []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.WebhookRequests, m.MessagesReceived, m.SignatureFailures}
}

// Webhook counts one delivery of a registered source by result; the counters are looked up
// once per source, not per label value.
func (m *Metrics) Webhook(source, result string) {
	if v, ok := m.sources.Load(source); ok {
		if c, ok := v.(*sourceSeries).results[result]; ok {
			c.Inc()
		}
	}
}

// Received counts one message newly stored for a registered source.
func (m *Metrics) Received(source string) {
	if v, ok := m.sources.Load(source); ok {
		v.(*sourceSeries).received.Inc()
	}
}

// SignatureFailure counts one refused signature of a registered source. The scheme and
// reason come from the verifiers' fixed sets.
func (m *Metrics) SignatureFailure(source, scheme, reason string) {
	// Under the read lock, so a series is never created for a source Sources just removed.
	m.srcMu.RLock()
	defer m.srcMu.RUnlock()
	if _, ok := m.sources.Load(source); ok {
		m.SignatureFailures.WithLabelValues(source, scheme, reason).Inc()
	}
}

// Shed counts one request refused by the bound named reason (one of ShedReasons).
func (m *Metrics) Shed(reason string) { m.shed[reason].Inc() }

// ConnectionRefused counts one connection closed by the cap named reason (one of
// ConnectionReasons).
func (m *Metrics) ConnectionRefused(reason string) { m.refused[reason].Inc() }

// GaugeFunc registers a gauge whose value fn reads at each scrape: for the levels that a
// bound keeps (connections open, body bytes held), which are known where they are kept.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// ObserveCommit implements hookvault.CommitObserver.
func (m *Metrics) ObserveCommit(messages int, took time.Duration) {
	m.CommitBatchSize.Observe(float64(messages))
	m.CommitDuration.Observe(took.Seconds())
}

// DeliveryOutcomes are the values of delivery_attempts_total's outcome label.
var DeliveryOutcomes = []string{"delivered", "retry", "failed"}

// Destinations creates the series of the named destinations at zero and removes those of
// destinations no longer configured, so the label stays bounded by the configuration.
func (m *Metrics) Destinations(names ...string) {
	m.destMu.Lock()
	defer m.destMu.Unlock()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		for _, o := range DeliveryOutcomes {
			m.DeliveryAttempts.WithLabelValues(n, o)
		}
		m.DeliveriesPending.WithLabelValues(n)
		m.DeliveryLag.WithLabelValues(n)
	}
	for _, old := range m.dests {
		if keep[old] {
			continue
		}
		for _, o := range DeliveryOutcomes {
			m.DeliveryAttempts.DeleteLabelValues(old, o)
		}
		m.DeliveriesPending.DeleteLabelValues(old)
		m.DeliveryLag.DeleteLabelValues(old)
	}
	m.dests = names
}

// DeliveryAttempt counts one attempt to a destination by outcome (one of DeliveryOutcomes).
func (m *Metrics) DeliveryAttempt(destination, outcome string) {
	m.DeliveryAttempts.WithLabelValues(destination, outcome).Inc()
}

// Delivered observes the lag of one delivered message: from its commit to the ack.
func (m *Metrics) Delivered(destination string, lag time.Duration) {
	m.DeliveryLag.WithLabelValues(destination).Observe(lag.Seconds())
}

// PendingDeliveries sets the number of pending deliveries of a destination.
func (m *Metrics) PendingDeliveries(destination string, n int) {
	m.DeliveriesPending.WithLabelValues(destination).Set(float64(n))
}

// Sizes sets the gauges of stored messages and database size.
func (m *Metrics) Sizes(messages, bytes int64) {
	m.StoredMessages.Set(float64(messages))
	m.StoreBytes.Set(float64(bytes))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
