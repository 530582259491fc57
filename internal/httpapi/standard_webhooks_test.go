package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/signature"
)

// TestStandardWebhooksDelivery drives the Standard Webhooks scheme through the real router: a
// fresh delivery is stored, a replayed one is refused with the same terse detail as any bad
// signature, and only the metric says why.
func TestStandardWebhooksDelivery(t *testing.T) {
	ts := newServer(t)
	standard := func(t *testing.T, id string, sent time.Time, secret string) delivery {
		t.Helper()
		body := msg(id)
		unix := sent.Unix()
		sig, err := signature.SignStandard([]byte(secret), "msg_"+id, unix, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return delivery{body: body, unsigned: true, headers: map[string]string{
			"webhook-id": "msg_" + id, "webhook-timestamp": strconv.FormatInt(unix, 10), "webhook-signature": sig,
		}}
	}

	tests := []struct {
		name       string
		d          delivery
		wantStatus int
		wantDetail string
	}{
		{"fresh", standard(t, "sw1", time.Now(), secret), http.StatusOK, ""},
		{"rotated secret", standard(t, "sw2", time.Now(), oldSecret), http.StatusOK, ""},
		{"stale", standard(t, "sw3", time.Now().Add(-10*time.Minute), secret), http.StatusUnauthorized, "invalid signature"},
		{"future", standard(t, "sw4", time.Now().Add(10*time.Minute), secret), http.StatusUnauthorized, "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.post(t, tt.d)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantDetail == "" {
				return
			}
			if got := decodeProblem(t, resp, body).Detail; got != tt.wantDetail {
				t.Errorf("detail = %q, want %q", got, tt.wantDetail)
			}
		})
	}

	t.Run("svix aliases", func(t *testing.T) {
		d := standard(t, "sw5", time.Now(), secret)
		for _, name := range []string{"id", "timestamp", "signature"} {
			d.headers["svix-"+name] = d.headers["webhook-"+name]
			delete(d.headers, "webhook-"+name)
		}
		if resp, body := ts.post(t, d); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
	})
	t.Run("failures counted as standard_webhooks", func(t *testing.T) {
		if got := testutil.ToFloat64(ts.metrics.SignatureFailures.WithLabelValues("default", "standard_webhooks", "stale")); got != 2 {
			t.Errorf(`webhook_signature_failures_total{scheme="standard_webhooks",reason="stale"} = %v, want 2`, got)
		}
		if got := testutil.ToFloat64(ts.metrics.SignatureFailures.WithLabelValues("default", "hmac_sha256", "mismatch")); got != 0 {
			t.Errorf("hmac_sha256 mismatches = %v, want 0: the Standard Webhooks headers must select that scheme", got)
		}
	})
	t.Run("passing scheme logged", func(t *testing.T) {
		lines := ts.logs.String()
		if !strings.Contains(lines, `"signature_scheme":"standard_webhooks"`) {
			t.Errorf("no access log line names the standard_webhooks scheme:\n%s", lines)
		}
	})
}
