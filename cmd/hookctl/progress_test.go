package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The bar's first frames come a few milliseconds into the run: a rate over that span was
// millions of requests per second. There is no rate until a second has passed, and then it
// is the rate over the last seconds, not over the first answers.
func TestProgressBarRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var out bytes.Buffer
	p := newProgressAt(&out, 100000, 0, true, func() time.Time { return now }, 0)

	rates := regexp.MustCompile(`([0-9]+) req/s`)
	// 64 answers in the first 2 ms, then 4000 per second.
	for _, step := range []struct {
		at   time.Duration
		done int
	}{{time.Millisecond, 1}, {2 * time.Millisecond, 64}, {300 * time.Millisecond, 1200}, {900 * time.Millisecond, 3600}} {
		now = t0.Add(step.at)
		p.update(step.done)
	}
	if m := rates.FindString(out.String()); m != "" {
		t.Fatalf("a rate (%s) within the first second:\n%q", m, out.String())
	}
	for ms := 1000; ms <= 8000; ms += 50 {
		now = t0.Add(time.Duration(ms) * time.Millisecond)
		p.update(ms * 4)
	}
	all := rates.FindAllStringSubmatch(out.String(), -1)
	if len(all) == 0 {
		t.Fatalf("no rate after 8 s:\n%q", out.String())
	}
	for _, m := range all {
		if r, _ := strconv.Atoi(m[1]); r < 3900 || r > 4100 {
			t.Errorf("rate %d req/s, want about 4000", r)
		}
	}
	if !regexp.MustCompile(`sending 4000 req/s, 17s left`).MatchString(out.String()) {
		t.Errorf("no time left at the end:\n%q", out.String())
	}
	p.finish()
}

// The rate follows the last few seconds: a server that stops answering shows it.
func TestRateMeterWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newRateMeter(t0)
	var rate float64
	for ms := 0; ms <= 10000; ms += 100 { // 1000 per second for 10 s
		rate, _ = m.observe(t0.Add(time.Duration(ms)*time.Millisecond), ms)
	}
	if rate < 990 || rate > 1010 {
		t.Fatalf("rate = %.0f, want 1000", rate)
	}
	for ms := 10100; ms <= 16000; ms += 100 { // then nothing for 6 s
		rate, _ = m.observe(t0.Add(time.Duration(ms)*time.Millisecond), 10000)
	}
	if rate != 0 {
		t.Errorf("rate after 6 s without answers = %.0f, want 0", rate)
	}
	if len(m.samples) > int(rateWindow/rateSampleEvery)+2 {
		t.Errorf("%d samples kept, want at most a window's", len(m.samples))
	}
}
