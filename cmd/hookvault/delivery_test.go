package main

// Fault tests of delivery to the user's app, on the real binary: a destination down during a
// load, the server killed mid-delivery (HTTP and NATS JetStream), and two replicas on
// PostgreSQL with one killed mid-attempt.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/delivery"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/natstest"
	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/postgres"
	"github.com/hookvault/hookvault/internal/sqlite"
)

const (
	deliverySecret = "delivery-secret"
	forwardSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// app is the user's application: it counts each webhook-id it was sent, and notes when an
// id arrives while another request with it is still being answered.
type app struct {
	*httptest.Server
	mu          sync.Mutex
	got         map[string]int // webhook-id → requests answered 2xx
	inflight    map[string]int
	overlapping []string
	busy        atomic.Int64
	down        atomic.Bool
	delay       time.Duration
	requests    atomic.Int64
}

func newApp(t *testing.T, delay time.Duration) *app {
	a := &app{got: map[string]int{}, inflight: map[string]int{}, delay: delay}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		id := r.Header.Get("Webhook-Id")
		a.mu.Lock()
		a.inflight[id]++
		if a.inflight[id] > 1 {
			a.overlapping = append(a.overlapping, id)
		}
		a.mu.Unlock()
		a.busy.Add(1)
		time.Sleep(a.delay)
		a.busy.Add(-1)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.inflight[id]--
		if a.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		a.got[id]++
	}))
	t.Cleanup(a.Close)
	return a
}

// missing returns the ids (of source default) the app has not got, at most a few.
func (a *app) missing(ids []string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, id := range ids {
		if a.got["default/"+id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func sourcesFile(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "sources.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load sends n messages with ids prefix-0…, from senders at once, and returns the ids that
// were acknowledged. stop, when it closes, ends the load early.
func load(addr, prefix string, n, senders int, acked *atomic.Int64, stop <-chan struct{}) []string {
	var mu sync.Mutex
	var ids []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d", prefix, i)
				body := fmt.Appendf(nil, `{"id":%q,"sender":"load","content":"message %d"}`, id, i)
				if postWebhook(client, addr, deliverySecret, body).acked() {
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
					acked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ids
}

func sigterm(t *testing.T, cmd interface {
	Signal(os.Signal) error
	Wait() (*os.ProcessState, error)
}) {
	if err := cmd.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Wait()
}

// scrapeMetrics returns the text of GET /metrics.
func scrapeMetrics(t *testing.T, addr string) string {
	resp, err := testClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// allDeliveries reads every delivery of a store, oldest last.
func allDeliveries(t *testing.T, st hookvault.Deliveries) []hookvault.Delivery {
	t.Helper()
	var out []hookvault.Delivery
	f := hookvault.DeliveryFilter{Limit: 1000}
	for {
		p, err := st.ListDeliveries(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Deliveries...)
		if p.Next == 0 {
			return out
		}
		f.Before = p.Next
	}
}

// The destination is down for a while during a load of 10k messages, then back: every
// message is delivered, each webhook-id at least once, and the attempts follow the backoff
// rules (DELIVERY_RETRY_FIRST and _MAX scaled down so the test takes seconds, not hours).
func TestDestinationDownDuringLoad(t *testing.T) {
	const total = 10000
	a := newApp(t, 0)
	a.down.Store(true)
	db := filepath.Join(t.TempDir(), "hv.db")
	file := sourcesFile(t, fmt.Sprintf("destinations:\n  - name: app\n    url: %s\n    secret: %s\n    max_attempts: 50\n    concurrency: 8\n", a.URL, forwardSecret))
	addr, cmd, rest := start(t, "WEBHOOK_SECRET="+deliverySecret, "SOURCES_FILE="+file, "DATABASE_URL=sqlite:"+db,
		"DELIVERY_RETRY_FIRST=100ms", "DELIVERY_RETRY_MAX=1s", "MAX_CLIENT_REQUESTS=0", "RATE_LIMIT=0")

	var acked atomic.Int64
	var whileDown int64
	done := make(chan []string)
	go func() { done <- load(addr, "m", total, 8, &acked, nil) }()
	for acked.Load() < total/2 {
		time.Sleep(10 * time.Millisecond)
	}
	whileDown = a.requests.Load()
	a.down.Store(false)
	ids := <-done
	if len(ids) != total {
		t.Fatalf("%d of %d deliveries acknowledged", len(ids), total)
	}
	waitFor(t, 120*time.Second, "every message delivered", func() bool { return len(a.missing(ids)) == 0 },
		func() string { return fmt.Sprintf("missing %d, e.g. %v", len(a.missing(ids)), a.missing(ids)[:1]) })
	sigterm(t, cmd.Process)
	_ = rest()

	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := allDeliveries(t, st)
	if len(ds) != total {
		t.Fatalf("%d deliveries, want %d", len(ds), total)
	}
	p := delivery.DefaultPolicy.WithRetries(100*time.Millisecond, time.Second)
	retried, attempts, tooSoon := 0, 0, 0
	for _, d := range ds {
		attempts += len(d.Attempts)
		if d.Status != hookvault.Delivered {
			t.Errorf("delivery %d (%s) is %s after %d tries", d.DID, d.MessageID, d.Status, d.Tries)
		}
		if len(d.Attempts) > 1 {
			retried++
		}
		for i := 1; i < len(d.Attempts); i++ {
			// The i-th failure is followed by Backoff(i) (less 20% jitter) or longer.
			gap := d.Attempts[i].At.Sub(d.Attempts[i-1].At)
			if gap < time.Duration(0.8*float64(p.Backoff(i)))-5*time.Millisecond {
				tooSoon++
				if tooSoon < 5 {
					t.Errorf("delivery %d: attempt %d came %s after the one before, want at least 0.8 × %s", d.DID, i+1, gap, p.Backoff(i))
				}
			}
		}
	}
	t.Logf("%d messages, %d requests to the app while it was down, %d attempts in all, %d deliveries retried",
		total, whileDown, attempts, retried)
	if whileDown > int64(total)/4 {
		t.Errorf("%d requests while the app was down: a failing destination must be paused as a whole", whileDown)
	}
}

// The server killed (SIGKILL) during delivery, several times, then restarted: every
// acknowledged message reaches the HTTP app (each webhook-id at least once) and JetStream's
// stream holds each Nats-Msg-Id exactly once.
func TestKilledDuringDeliveryLosesNothing(t *testing.T) {
	n := natstest.Start(t)
	a := newApp(t, 2*time.Millisecond)
	db := filepath.Join(t.TempDir(), "hv.db")
	file := sourcesFile(t, fmt.Sprintf(`destinations:
  - name: app
    url: %s
    secret: %s
    timeout: 2s
  - name: stream
    nats_subject: hookvault.{source}
    timeout: 2s
`, a.URL, forwardSecret))
	env := []string{"WEBHOOK_SECRET=" + deliverySecret, "SOURCES_FILE=" + file, "DATABASE_URL=sqlite:" + db,
		"NATS_URL=" + n.URL(), "DELIVERY_RETRY_FIRST=200ms", "DELIVERY_RETRY_MAX=2s"}
	var ids []string
	for round := range 3 {
		addr, cmd, _ := start(t, env...)
		var acked atomic.Int64
		stop := make(chan struct{})
		done := make(chan []string)
		go func() { done <- load(addr, fmt.Sprint("r", round), 1000, 4, &acked, stop) }()
		for acked.Load() < 300 {
			time.Sleep(time.Millisecond)
		}
		// Kill it while the relay is at work: attempts in flight are cut unrecorded.
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		close(stop)
		got := <-done
		ids = append(ids, got...)
		t.Logf("round %d: killed after %d acknowledged; the app had %d requests so far", round, len(got), a.requests.Load())
	}
	addr, cmd, rest := start(t, env...)
	waitFor(t, 120*time.Second, "every acknowledged message at the app", func() bool { return len(a.missing(ids)) == 0 },
		func() string { return fmt.Sprintf("missing %d", len(a.missing(ids))) })
	// Attempts cut by a kill stay leased until their lease ends; committed messages whose
	// answer the kill cut are delivered too. Wait for the outbox to be empty.
	waitFor(t, 120*time.Second, "deliveries_pending at 0", func() bool {
		m := scrapeMetrics(t, addr)
		return strings.Contains(m, `deliveries_pending{destination="app"} 0`+"\n") && strings.Contains(m, `deliveries_pending{destination="stream"} 0`+"\n")
	}, func() string { return "" })
	var msgs int
	var byID map[string]bool
	waitFor(t, 120*time.Second, "every acknowledged message in the stream", func() bool {
		if natstest.Count(n.URL(), "HOOKVAULT") < len(ids) {
			return false
		}
		m, count := natstest.Messages(t, n.URL(), "HOOKVAULT")
		byID, msgs = map[string]bool{}, count
		for k := range m {
			byID[k] = true
		}
		for _, id := range ids {
			if !byID["default/"+id] {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%d in the stream", msgs) })
	sigterm(t, cmd.Process)
	_ = rest()
	if msgs != len(byID) {
		t.Errorf("the stream holds %d messages for %d ids: a Nats-Msg-Id is there twice", msgs, len(byID))
	}
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.PendingCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 {
		t.Errorf("pending after the drain: %v", counts)
	}
	twice := 0
	a.mu.Lock()
	for _, c := range a.got {
		if c > 1 {
			twice++
		}
	}
	a.mu.Unlock()
	t.Logf("%d acknowledged over 3 kills; %d messages in the stream (%d ids); %d webhook-ids sent to the app more than once (at least once is the contract)",
		len(ids), msgs, len(byID), twice)
}

// Two replicas on one PostgreSQL database deliver the same outbox; one is killed while its
// attempts are in flight. No delivery is stranded (the survivor takes it over when the lease
// ends) and none is attempted by both at the same moment.
func TestReplicasShareDeliveriesOneKilled(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := newApp(t, 150*time.Millisecond)
	file := sourcesFile(t, fmt.Sprintf("destinations:\n  - name: app\n    url: %s\n    secret: %s\n    timeout: 1s\n    concurrency: 4\n", a.URL, forwardSecret))
	env := []string{"WEBHOOK_SECRET=" + deliverySecret, "SOURCES_FILE=" + file, "DATABASE_URL=" + dbURL,
		"DELIVERY_RETRY_FIRST=200ms", "DELIVERY_RETRY_MAX=2s"}
	addrA, cmdA, _ := start(t, env...)
	addrB, cmdB, restB := start(t, env...)
	const total = 200
	var acked atomic.Int64
	var wg sync.WaitGroup
	var ids []string
	var mu sync.Mutex
	for _, addr := range []string{addrA, addrB} {
		wg.Go(func() {
			got := load(addr, "via-"+strings.ReplaceAll(addr, ":", "-"), total/2, 4, &acked, nil)
			mu.Lock()
			ids = append(ids, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	// Both replicas claim; with 4 attempts each in flight at most, 8 busy means A has some.
	waitFor(t, 30*time.Second, "attempts in flight from both replicas", func() bool { return a.busy.Load() >= 6 },
		func() string { return fmt.Sprintf("%d in flight", a.busy.Load()) })
	if err := cmdA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmdA.Wait()
	waitFor(t, 120*time.Second, "every message delivered by the survivor", func() bool { return len(a.missing(ids)) == 0 },
		func() string { return fmt.Sprintf("missing %d", len(a.missing(ids))) })
	waitFor(t, 120*time.Second, "the survivor's deliveries_pending at 0", func() bool {
		return strings.Contains(scrapeMetrics(t, addrB), `deliveries_pending{destination="app"} 0`+"\n")
	}, func() string { return "" })
	sigterm(t, cmdB.Process)
	_ = restB()
	a.mu.Lock()
	overlapping := append([]string(nil), a.overlapping...)
	a.mu.Unlock()
	sort.Strings(overlapping)
	if len(overlapping) > 0 {
		t.Errorf("attempted by two replicas at once: %v", overlapping)
	}
	st, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := allDeliveries(t, st)
	again := 0
	for _, d := range ds {
		if d.Status != hookvault.Delivered {
			t.Errorf("delivery %d (%s) is %s", d.DID, d.MessageID, d.Status)
		}
	}
	a.mu.Lock()
	for _, c := range a.got {
		if c > 1 {
			again++
		}
	}
	a.mu.Unlock()
	t.Logf("%d messages over 2 replicas, one killed: %d deliveries, %d webhook-ids sent twice (attempts cut by the kill), none at the same moment",
		len(ids), len(ds), again)
}
