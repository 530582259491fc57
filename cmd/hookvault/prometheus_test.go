package main

// The Prometheus client, proven with the real thing: Debian's prometheus scrapes the built
// server and answers through its query API, promtool checks the exposition, and the README's
// scrape config and alerting rules are checked and unit-tested by promtool, so the README
// cannot drift from what Prometheus accepts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const promSecret = "prom-secret"

// promTool finds a binary of Debian's prometheus package. CI must run these tests, so there
// a missing binary fails instead of skipping quietly.
func promTool(t *testing.T, name string) string {
	t.Helper()
	return needTool(t, name, "apt-get install -y prometheus (Debian's package provides /usr/bin/prometheus and /usr/bin/promtool)")
}

// promStartHookvault starts the built server on a fresh SQLite file and returns its address.
func promStartHookvault(t *testing.T) string {
	t.Helper()
	addr, _, _ := start(t, "WEBHOOK_SECRET="+promSecret)
	return addr
}

// promSend posts body signed under secret and returns the status and the duplicate flag.
func promSend(t *testing.T, addr, secret, body string) (status int, dup bool) {
	t.Helper()
	a := postWebhook(testClient, addr, secret, []byte(body))
	if a.err != nil {
		t.Fatalf("POST /webhook: status %d: %v", a.status, a.err)
	}
	return a.status, a.dup
}

// promStartPrometheus runs a real Prometheus that scrapes target every second, waits until
// it is ready and returns its base URL and its log.
func promStartPrometheus(t *testing.T, target string) (base string, log *syncLog) {
	t.Helper()
	bin := promTool(t, "prometheus")
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: hookvault
    static_configs:
      - targets: [%q]
`, target), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	log = &syncLog{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	base = "http://" + addr
	waitFor(t, 20*time.Second, "prometheus to be ready on "+addr, func() bool {
		select {
		case <-exited: // e.g. the port was taken between freeAddr and the bind
			t.Fatalf("prometheus exited before it was ready: %v\n%s", waitErr, log)
		default:
		}
		resp, err := testClient.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, log.String)
	return base, log
}

// promQuery evaluates an instant query that must yield exactly one sample: a second series
// would mean a label the test did not expect.
func promQuery(base, query string) (float64, error) {
	resp, err := testClient.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status, Error string
		Data          struct {
			Result []struct {
				Metric map[string]string
				Value  [2]json.RawMessage // [unix time, "value"]
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0, fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	if answer.Status != "success" {
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, answer.Error)
	}
	if n := len(answer.Data.Result); n != 1 {
		var series []string
		for _, r := range answer.Data.Result {
			series = append(series, fmt.Sprint(r.Metric))
		}
		return 0, fmt.Errorf("%d series, want 1: %v", n, series)
	}
	var value string
	if err := json.Unmarshal(answer.Data.Result[0].Value[1], &value); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(value, 64)
}

// TestPrometheusScrapesHookvault sends a known mix of webhooks and reads every counter back
// the way an operator does: scraped by Prometheus and asked for through PromQL.
func TestPrometheusScrapesHookvault(t *testing.T) {
	addr := promStartHookvault(t)
	base, log := promStartPrometheus(t, addr)

	const created, duplicates, badSignatures = 25, 5, 3
	bodies := make([]string, created)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"id":"prom-%d","sender":"prom","content":"message %d"}`, i, i)
		if status, dup := promSend(t, addr, promSecret, bodies[i]); status != http.StatusOK || dup {
			t.Fatalf("new message %d: status %d, duplicate %v; want 200, false", i, status, dup)
		}
	}
	for i := range duplicates {
		if status, dup := promSend(t, addr, promSecret, bodies[i]); status != http.StatusOK || !dup {
			t.Fatalf("repeat of message %d: status %d, duplicate %v; want 200, true", i, status, dup)
		}
	}
	for i := range badSignatures {
		body := fmt.Sprintf(`{"id":"prom-bad-%d","sender":"mallory","content":"forged"}`, i)
		if status, _ := promSend(t, addr, "not-the-secret", body); status != http.StatusUnauthorized {
			t.Fatalf("forged message %d: status %d, want 401", i, status)
		}
	}

	checks := []struct {
		query string
		want  float64
	}{
		{`webhook_requests_total{result="created"}`, created},
		{`webhook_requests_total{result="duplicate"}`, duplicates},
		{`webhook_requests_total{result="invalid_signature"}`, badSignatures},
		{`webhook_messages_received_total`, created},
		{`sum(webhook_signature_failures_total)`, badSignatures},
		{`http_requests_total{route="/webhook",code="200"}`, created + duplicates},
		{`up{job="hookvault"}`, 1},
	}
	// Scrapes run every second, so the values arrive within a few seconds; until then a
	// query may see an older scrape or none at all.
	var wrong []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		wrong = wrong[:0]
		for _, c := range checks {
			got, err := promQuery(base, c.query)
			switch {
			case err != nil:
				wrong = append(wrong, fmt.Sprintf("%s: %v", c.query, err))
			case got != c.want:
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", c.query, got, c.want))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("after 30s Prometheus still reads:\n  %s\nprometheus log:\n%s", strings.Join(wrong, "\n  "), log)
}

// TestPromtoolCheckMetrics lints the exposition after traffic has created the labelled
// series (HTTP routes and codes, commit histograms), not just the ones made at start-up.
func TestPromtoolCheckMetrics(t *testing.T) {
	addr := promStartHookvault(t)
	promtool := promTool(t, "promtool")

	body := `{"id":"lint-1","sender":"alice","content":"hello"}`
	for _, secret := range []string{promSecret, promSecret, "not-the-secret"} {
		promSend(t, addr, secret, body)
	}
	resp, err := testClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	if !bytes.Contains(exposition, []byte(`webhook_requests_total{result="duplicate",source="default"} 1`)) {
		t.Fatalf("the traffic did not reach /metrics:\n%s", exposition)
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("promtool check metrics: %v, want no output and exit 0; it says:\n%s", err, out)
	}
}

// promReadmeYAML returns the one ```yaml block of the README whose content starts with
// prefix, so the test checks what readers copy.
func promReadmeYAML(t *testing.T, prefix string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, b := range readmeFenced(string(readme), "yaml") {
		if text := strings.Join(b.lines, "\n") + "\n"; strings.HasPrefix(text, prefix) {
			blocks = append(blocks, text)
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("README.md has %d ```yaml blocks starting with %q, want 1", len(blocks), prefix)
	}
	return blocks[0]
}

// promRulesTest is a promtool unit test of the README's rules: each alert fires on the data
// it is about and stays quiet otherwise. The summaries are the rendered templates, so this
// fails, with promtool's diff, when a README summary changes or stops rendering.
const promRulesTest = `rule_files: [hookvault.rules.yml]
evaluation_interval: 1m
tests:
  - name: faults
    interval: 1m
    input_series:
      - series: 'up{job="hookvault",instance="hv:8000"}'
        values: '1 1 0 0 0 0 0'
      # one 503 at 4m
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="unavailable"}'
        values: '0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      # a quarter of the deliveries are forged
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="created"}'
        values: '0+30x30'
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="invalid_signature"}'
        values: '0+10x30'
      # every commit takes between 100 and 250 ms
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="0.1"}'
        values: '0+0x30'
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="0.25"}'
        values: '0+10x30'
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="+Inf"}'
        values: '0+10x30'
    alert_rule_test:
      - eval_time: 1m
        alertname: HookvaultDown
        exp_alerts: []
      - eval_time: 5m
        alertname: HookvaultDown
        exp_alerts:
          - exp_labels: {severity: critical, job: hookvault, instance: "hv:8000"}
            exp_annotations: {summary: "hookvault hv:8000 cannot be scraped"}
      - eval_time: 3m
        alertname: HookvaultUnavailable
        exp_alerts: []
      - eval_time: 6m
        alertname: HookvaultUnavailable
        exp_alerts:
          - exp_labels: {severity: critical, job: hookvault, instance: "hv:8000", result: unavailable}
            exp_annotations: {summary: "hookvault hv:8000 answers 503: the store is unavailable or overloaded, senders are retrying"}
      - eval_time: 15m
        alertname: HookvaultUnavailable
        exp_alerts: []
      - eval_time: 20m
        alertname: HookvaultInvalidSignatures
        exp_alerts:
          - exp_labels: {severity: warning, job: hookvault, instance: "hv:8000"}
            exp_annotations: {summary: "25% of the webhooks to hv:8000 fail the signature check (401)"}
      - eval_time: 20m
        alertname: HookvaultSlowCommits
        exp_alerts:
          - exp_labels: {severity: warning, job: hookvault, instance: "hv:8000"}
            exp_annotations: {summary: "p99 store commit on hv:8000 takes 248.5ms: every 200 waits for it"}
  - name: healthy
    interval: 1m
    input_series:
      - series: 'up{job="hookvault",instance="hv:8000"}'
        values: '1+0x30'
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="unavailable"}'
        values: '0+0x30'
      # 1% forged: below the threshold
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="created"}'
        values: '0+99x30'
      - series: 'webhook_requests_total{job="hookvault",instance="hv:8000",result="invalid_signature"}'
        values: '0+1x30'
      # every commit under 10 ms
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="0.01"}'
        values: '0+10x30'
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="0.1"}'
        values: '0+10x30'
      - series: 'store_commit_duration_seconds_bucket{job="hookvault",instance="hv:8000",le="+Inf"}'
        values: '0+10x30'
    alert_rule_test:
      - {eval_time: 20m, alertname: HookvaultDown, exp_alerts: []}
      - {eval_time: 20m, alertname: HookvaultUnavailable, exp_alerts: []}
      - {eval_time: 20m, alertname: HookvaultInvalidSignatures, exp_alerts: []}
      - {eval_time: 20m, alertname: HookvaultSlowCommits, exp_alerts: []}
`

// TestReadmeAlertRulesPass checks the README's alerting rules with promtool, then runs them
// against promRulesTest's series, which proves more than syntax: the expressions select the
// metrics hookvault exports and fire when they should.
func TestReadmeAlertRulesPass(t *testing.T) {
	promtool := promTool(t, "promtool")
	dir := t.TempDir()
	rules := filepath.Join(dir, "hookvault.rules.yml")
	if err := os.WriteFile(rules, []byte(promReadmeYAML(t, "groups:")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	unit := filepath.Join(dir, "hookvault.rules_test.yml")
	if err := os.WriteFile(unit, []byte(promRulesTest), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "test", "rules", unit).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestReadmeScrapeConfigPasses checks the README's example prometheus.yml next to the README's
// rules under the name it refers to them by, as a reader would lay the two files out.
func TestReadmeScrapeConfigPasses(t *testing.T) {
	promtool := promTool(t, "promtool")
	dir := t.TempDir()
	for name, block := range map[string]string{
		"prometheus.yml":      promReadmeYAML(t, "global:"),
		"hookvault.rules.yml": promReadmeYAML(t, "groups:"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "config", "--lint=all", "--lint-fatal", "prometheus.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}
