package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one reading of a server's /metrics, by metric name.
type scrape map[string]*dto.MetricFamily

// get fetches url within 5 seconds and returns the body of its 200 answer. It keeps no
// connection open, which would count against the server's connection bounds during a
// measured run.
func get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return b, err
}

// scrapeMetrics reads base's /metrics in the text exposition.
func scrapeMetrics(ctx context.Context, base string) (scrape, error) {
	b, err := get(ctx, base+"/metrics")
	if err == nil {
		p := expfmt.NewTextParser(model.UTF8Validation)
		var fams scrape
		if fams, err = p.TextToMetricFamilies(bytes.NewReader(b)); err == nil {
			return fams, nil
		}
	}
	return nil, fmt.Errorf("scrape %s/metrics: %w", base, err)
}

// metric returns the series of name whose labels include all of labels (name, value
// pairs), or nil.
func (s scrape) metric(name string, labels ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
					break
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value; NaN when the series is missing.
func (s scrape) value(name string, labels ...string) float64 {
	m := s.metric(name, labels...)
	switch {
	case m == nil:
		return math.NaN()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// bucket is one cumulative bucket of a histogram: observations ≤ upper.
type bucket struct {
	upper, count float64
}

// buckets returns a histogram series' cumulative buckets ending with +Inf, or nil when the
// series is missing.
func (s scrape) buckets(name string, labels ...string) []bucket {
	m := s.metric(name, labels...)
	if m.GetHistogram() == nil {
		return nil
	}
	h := m.GetHistogram()
	var out []bucket
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			c = b.GetCumulativeCountFloat()
		}
		out = append(out, bucket{b.GetUpperBound(), c})
	}
	if len(out) == 0 || !math.IsInf(out[len(out)-1].upper, 1) {
		total := float64(h.GetSampleCount())
		if h.SampleCountFloat != nil {
			total = h.GetSampleCountFloat()
		}
		out = append(out, bucket{math.Inf(1), total})
	}
	return out
}

// bucketsSince returns the observations of b that came after before (the same histogram read
// earlier), so a run's quantiles leave out its warm-up.
func bucketsSince(b, before []bucket) []bucket {
	out := make([]bucket, len(b))
	for i := range b {
		out[i] = b[i]
		if i < len(before) && before[i].upper == b[i].upper {
			out[i].count -= before[i].count
		}
	}
	return out
}

// quantile estimates the q-quantile from cumulative buckets as PromQL's histogram_quantile
// does: it finds the bucket holding the rank and interpolates linearly inside it, as if the
// observations were spread evenly there. The estimate is only as fine as the buckets: the
// true value lies somewhere in (lo, hi]. It is NaN without observations; a rank in the +Inf
// bucket gives the largest finite bound, with hi +Inf.
func quantile(q float64, bs []bucket) (v, lo, hi float64) {
	nan := math.NaN()
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return nan, nan, nan
	}
	rank := q * bs[len(bs)-1].count
	i := 0
	for i < len(bs)-1 && bs[i].count < rank {
		i++
	}
	if i > 0 {
		lo = bs[i-1].upper
	}
	hi = bs[i].upper
	if math.IsInf(hi, 1) {
		if i == 0 {
			return nan, nan, nan
		}
		return lo, lo, hi
	}
	count := bs[i].count
	if i > 0 {
		rank -= bs[i-1].count
		count -= bs[i-1].count
	}
	if count <= 0 {
		return hi, lo, hi
	}
	return lo + (hi-lo)*(rank/count), lo, hi
}
