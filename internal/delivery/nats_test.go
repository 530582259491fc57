package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookvault/hookvault/internal/delivery"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/natstest"
)

func startNATSRelay(t testing.TB, st hookvault.Deliveries, url, stream, yaml string) (*delivery.Relay, *metrics.Metrics) {
	t.Helper()
	ns, err := delivery.NewNATSSender(url, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	ds := destinations(t, yaml)
	ns.SetDestinations(ds)
	m := metrics.New()
	r := delivery.New(delivery.Options{Store: st, NATS: ns, Observer: m, Policy: fast})
	r.SetDestinations(ds)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, m
}

// The stream is created when missing; each message is published on its subject with
// Nats-Msg-Id {source}/{id}, the raw body and the hookvault headers; delivered on the ack.
func TestNATSDelivery(t *testing.T) {
	n := natstest.Start(t)
	st := openStore(t)
	for _, m := range []hookvault.Message{
		{Source: "payments", ID: "evt_1", Type: "invoice.paid", ContentType: "application/json", Payload: []byte(`{"a":1}`)},
		{Source: "github", ID: "d-2", ContentType: "application/x-www-form-urlencoded", Payload: []byte(`payload=x`)},
		{Source: "github", ID: "d 3*", Type: "a>b", Payload: []byte(`{}`)},
	} {
		m.Destinations = []string{"stream"}
		if _, err := st.Insert(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	startNATSRelay(t, st, n.URL(), "HOOKVAULT", "  - name: stream\n    nats_subject: hookvault.{source}.{type}\n")
	waitFor(t, "delivered", 20*time.Second, func() bool { return countStatus(t, st, "stream", hookvault.Delivered) == 3 })
	msgs, total := natstest.Messages(t, n.URL(), "HOOKVAULT")
	if total != 3 {
		t.Fatalf("%d messages in the stream, want 3", total)
	}
	for id, want := range map[string]struct{ subject, data, typ, ct string }{
		"payments/evt_1": {"hookvault.payments.invoice.paid", `{"a":1}`, "invoice.paid", "application/json"},
		"github/d-2":     {"hookvault.github._", "payload=x", "", "application/x-www-form-urlencoded"},
		"github/d%203*":  {"hookvault.github.a_b", "{}", "a>b", ""},
	} {
		m := msgs[id]
		if m == nil {
			t.Errorf("no message with Nats-Msg-Id %q (have %v)", id, keys(msgs))
			continue
		}
		if m.Subject != want.subject || string(m.Data) != want.data || m.Header.Get("Hookvault-Type") != want.typ ||
			m.Header.Get("Content-Type") != want.ct || m.Header.Get("Hookvault-Source") == "" {
			t.Errorf("%s: subject %q data %q headers %v", id, m.Subject, m.Data, m.Header)
		}
	}
	// A redelivery publishes again; JetStream drops it by its Nats-Msg-Id within the
	// duplicate window, so the stream still holds each message once.
	d := list(t, st, hookvault.DeliveryFilter{})[0]
	if _, err := st.Redeliver(context.Background(), d.DID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered again", 20*time.Second, func() bool {
		g, err := st.GetDelivery(context.Background(), d.DID)
		return err == nil && g.Status == hookvault.Delivered && len(g.Attempts) == 2
	})
	if _, total := natstest.Messages(t, n.URL(), "HOOKVAULT"); total != 3 {
		t.Errorf("%d messages after a redelivery, want 3", total)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// NATS stopped during a load and started again: nothing lost, nothing twice in the stream,
// deliveries_pending back to 0.
func TestNATSStoppedAndStarted(t *testing.T) {
	n := natstest.Start(t)
	st := openStore(t)
	r, m := startNATSRelay(t, st, n.URL(), "HOOKVAULT", "  - name: stream\n    nats_subject: hookvault.{source}\n")
	const total = 600
	for i := range total {
		insert(t, st, fmt.Sprint("m-", i), "stream")
		r.Notify([]string{"stream"})
		switch i {
		case 200:
			n.Stop()
		case 400:
			n.Restart()
		}
	}
	waitFor(t, "every message delivered", 60*time.Second, func() bool { return countStatus(t, st, "stream", hookvault.Delivered) == total })
	msgs, count := natstest.Messages(t, n.URL(), "HOOKVAULT")
	if count != total || len(msgs) != total {
		t.Errorf("the stream holds %d messages (%d distinct ids), want %d each", count, len(msgs), total)
	}
	waitFor(t, "deliveries_pending at 0", 10*time.Second, func() bool {
		return testutil.ToFloat64(m.DeliveriesPending.WithLabelValues("stream")) == 0
	})
	retried := testutil.ToFloat64(m.DeliveryAttempts.WithLabelValues("stream", "retry"))
	t.Logf("%d messages, %v attempts retried while NATS was down", total, retried)
}
