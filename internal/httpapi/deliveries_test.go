package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/sources"
)

// deliveriesFile forwards every message to app, and those of mine to audit as well.
const deliveriesFile = `
sources:
  - name: mine
    provider: hookvault
    secrets: ["mine-secret"]
destinations:
  - name: app
    url: https://app.example.com/hooks
    secret: whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3
  - name: audit
    url: https://audit.example.com/hooks
    secret: whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3
    sources: [mine]
`

// deliveriesServer is the real router on a real SQLite outbox, forwarding deliveriesFile's
// way, with a record of what the relay would have been told.
type deliveriesServer struct {
	*testServer
	mu       sync.Mutex
	notified [][]string
}

func (ds *deliveriesServer) notifications() [][]string {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return slices.Clone(ds.notified)
}

func newDeliveriesServer(t *testing.T) *deliveriesServer {
	t.Helper()
	opts := provider.Options{DefaultTolerance: 5 * time.Minute, Now: time.Now}
	file, err := sources.Parse([]byte(deliveriesFile), func(string) string { return "" }, opts)
	if err != nil {
		t.Fatal(err)
	}
	def, err := sources.NewDefault([][]byte{[]byte(secret), []byte(oldSecret)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	set := sources.With(def, file)
	ds := &deliveriesServer{}
	ds.testServer = newServerWith(t, httpapi.Deps{
		APITokens: []string{token},
		Sources:   func() *sources.Set { return set },
		Notify: func(names []string) {
			ds.mu.Lock()
			defer ds.mu.Unlock()
			ds.notified = append(ds.notified, slices.Clone(names))
		},
	})
	return ds
}

// seedDeliveries stores four messages, which make these deliveries (did: destination,
// source, status):
//
//	1: app   default  delivered
//	2: app   default  failed (a 410)
//	3: app   mine     failed (no answer)
//	4: audit mine     pending
//	5: app   default  pending
func (ds *deliveriesServer) seedDeliveries(t *testing.T) {
	t.Helper()
	ds.deliver(t, msg("d-1"))
	ds.deliver(t, msg("d-2"))
	if resp, body := ds.send(t, sourceDelivery{source: "mine", secret: "mine-secret", body: msg("m-1")}); resp.StatusCode != 200 {
		t.Fatalf("send to mine: %d %s", resp.StatusCode, body)
	}
	ds.deliver(t, msg("d-3"))

	ctx := context.Background()
	claimed, err := ds.store.Claim(ctx, "app", "test", 3, time.Minute)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	now := time.Now()
	results := []hookvault.AttemptResult{
		{Status: hookvault.Delivered, Attempt: hookvault.Attempt{At: now, StatusCode: 200, Duration: 31 * time.Millisecond}},
		{Status: hookvault.Failed, Attempt: hookvault.Attempt{At: now, StatusCode: 410, Error: "HTTP 410", Duration: 12 * time.Millisecond}},
		{Status: hookvault.Failed, Attempt: hookvault.Attempt{At: now, Error: "connection refused", Duration: 2 * time.Millisecond}},
	}
	for i, c := range claimed {
		if c.DID != int64(i+1) {
			t.Fatalf("claimed did %d, want %d", c.DID, i+1)
		}
		if err := ds.store.Record(ctx, c.DID, "test", results[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// listDeliveries asks for one page and decodes it.
func (ds *deliveriesServer) listDeliveries(t *testing.T, query url.Values) gen.DeliveryList {
	t.Helper()
	resp, body := ds.get(t, "/deliveries?"+query.Encode(), "Bearer "+token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /deliveries?%s = %d %s", query.Encode(), resp.StatusCode, body)
	}
	var l gen.DeliveryList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// walkDeliveries follows next_cursor with the same filters and returns the dids in order.
func (ds *deliveriesServer) walkDeliveries(t *testing.T, query url.Values) []int64 {
	t.Helper()
	var dids []int64
	for range 100 {
		l := ds.listDeliveries(t, query)
		for _, d := range l.Data {
			dids = append(dids, d.Did)
		}
		if l.NextCursor == nil {
			return dids
		}
		query.Set("cursor", *l.NextCursor)
	}
	t.Fatal("walk does not end")
	return nil
}

// retry posts POST /deliveries/{did}/retry with the Authorization header bearer.
func (ds *deliveriesServer) retry(t *testing.T, did, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ds.URL+"/deliveries/"+did+"/retry", nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	return do(t, req)
}

func decodeDelivery(t *testing.T, body []byte) gen.Delivery {
	t.Helper()
	var d gen.Delivery
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("not a delivery: %v: %s", err, body)
	}
	return d
}

func TestListDeliveriesFilters(t *testing.T) {
	ds := newDeliveriesServer(t)
	ds.seedDeliveries(t)
	tests := []struct {
		query url.Values
		want  []int64
	}{
		{url.Values{}, []int64{5, 4, 3, 2, 1}},
		{url.Values{"destination": {"app"}}, []int64{5, 3, 2, 1}},
		{url.Values{"destination": {"audit"}}, []int64{4}},
		{url.Values{"destination": {"nowhere"}}, nil},
		{url.Values{"status": {"pending"}}, []int64{5, 4}},
		{url.Values{"status": {"delivered"}}, []int64{1}},
		{url.Values{"status": {"failed"}}, []int64{3, 2}},
		{url.Values{"source": {"mine"}}, []int64{4, 3}},
		{url.Values{"source": {"default"}}, []int64{5, 2, 1}},
		{url.Values{"destination": {"app"}, "status": {"failed"}}, []int64{3, 2}},
		{url.Values{"destination": {"app"}, "source": {"mine"}}, []int64{3}},
		{url.Values{"status": {"pending"}, "source": {"default"}}, []int64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.query.Encode(), func(t *testing.T) {
			for _, limit := range []string{"1", "2", "1000"} {
				q := url.Values{"limit": {limit}}
				for k, v := range tt.query {
					q[k] = v
				}
				if got := ds.walkDeliveries(t, q); !slices.Equal(got, tt.want) {
					t.Errorf("limit %s: dids %v, want %v", limit, got, tt.want)
				}
			}
		})
	}
}

func TestListDeliveriesPagesAndItems(t *testing.T) {
	ds := newDeliveriesServer(t)
	ds.seedDeliveries(t)

	first := ds.listDeliveries(t, url.Values{"limit": {"2"}})
	if got := []int64{first.Data[0].Did, first.Data[1].Did}; len(first.Data) != 2 || !slices.Equal(got, []int64{5, 4}) || first.NextCursor == nil {
		t.Fatalf("first page = %+v, want 5 and 4 and a cursor", first)
	}
	last := ds.listDeliveries(t, url.Values{"limit": {"3"}, "cursor": {*first.NextCursor}})
	if len(last.Data) != 3 || last.Data[2].Did != 1 || last.NextCursor != nil {
		t.Fatalf("last page = %+v, want 3, 2, 1 and no cursor", last)
	}
	if all := ds.listDeliveries(t, url.Values{}); len(all.Data) != 5 || all.NextCursor != nil {
		t.Errorf("default page: %d deliveries, cursor %v; want all 5 (default limit 50) and none", len(all.Data), all.NextCursor)
	}

	byDID := map[int64]gen.Delivery{}
	for _, d := range last.Data {
		byDID[d.Did] = d
	}
	for _, d := range first.Data {
		byDID[d.Did] = d
	}
	delivered, gone, refused, pending := byDID[1], byDID[2], byDID[3], byDID[4]
	if delivered.Status != gen.Delivered || delivered.DeliveredAt == nil || delivered.NextAttemptAt != nil ||
		delivered.Destination != "app" || delivered.Source != "default" || delivered.MessageId != "d-1" || delivered.Tries != 1 {
		t.Errorf("delivered = %+v", delivered)
	}
	if a := delivered.Attempts; len(a) != 1 || a[0].StatusCode == nil || *a[0].StatusCode != 200 || a[0].Error != nil ||
		a[0].DurationMs != 31 || a[0].At.Location() != time.UTC {
		t.Errorf("delivered attempts = %+v", a)
	}
	if a := gone.Attempts; gone.Status != gen.Failed || gone.DeliveredAt != nil || gone.NextAttemptAt != nil ||
		len(a) != 1 || *a[0].StatusCode != 410 {
		t.Errorf("failed with a 410 = %+v", gone)
	}
	if a := refused.Attempts; len(a) != 1 || a[0].StatusCode != nil || a[0].Error == nil || *a[0].Error != "connection refused" {
		t.Errorf("failed without an answer: attempts %+v", a)
	}
	if pending.Status != gen.Pending || pending.NextAttemptAt == nil || pending.DeliveredAt != nil ||
		pending.Destination != "audit" || pending.Source != "mine" || pending.MessageId != "m-1" || pending.Tries != 0 ||
		pending.Attempts == nil || len(pending.Attempts) != 0 {
		t.Errorf("pending = %+v", pending)
	}

	// Every member is there, null where it has no value, as the schema requires.
	resp, body := ds.get(t, "/deliveries/4", "Bearer "+token)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"delivered_at":null`) || !strings.Contains(string(body), `"attempts":[]`) {
		t.Errorf("GET /deliveries/4 = %d %s", resp.StatusCode, body)
	}
	resp, body = ds.get(t, "/deliveries/3", "Bearer "+token)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status_code":null`) || decodeDelivery(t, body).Did != 3 {
		t.Errorf("GET /deliveries/3 = %d %s", resp.StatusCode, body)
	}
}

func TestDeliveriesBadParametersAre400NamingThem(t *testing.T) {
	ds := newDeliveriesServer(t)
	ds.seedDeliveries(t)
	messageCursor := base64.RawURLEncoding.EncodeToString([]byte("1795953600000000123/default/d-1"))
	cursorOf := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }
	tests := []struct {
		path, param string
	}{
		{"/deliveries?status=lost", "status"},
		{"/deliveries?status=", "status"},
		{"/deliveries?limit=0", "limit"},
		{"/deliveries?limit=1001", "limit"},
		{"/deliveries?limit=ten", "limit"},
		{"/deliveries?destination=App!", "destination"},
		{"/deliveries?source=" + strings.Repeat("s", 65), "source"},
		{"/deliveries?cursor=not-a-cursor!", "cursor"},
		{"/deliveries?cursor=" + messageCursor, "cursor"},
		{"/deliveries?cursor=" + cursorOf("did/0"), "cursor"},
		{"/deliveries?cursor=" + cursorOf("did/-3"), "cursor"},
		{"/deliveries?cursor=" + cursorOf("did/+3"), "cursor"},
		{"/deliveries?cursor=" + cursorOf("did/99999999999999999999"), "cursor"},
		{"/deliveries/abc", "did"},
		{"/deliveries/0", "did"},
		{"/deliveries/1.5", "did"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := ds.get(t, tt.path, "Bearer "+token)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d %s, want 400", resp.StatusCode, body)
			}
			if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, `"`+tt.param+`"`) {
				t.Fatalf("detail %q does not name %s", p.Detail, tt.param)
			}
		})
	}
	if resp, body := ds.retry(t, "abc", "Bearer "+token); resp.StatusCode != 400 {
		t.Errorf("retry of did abc = %d %s, want 400", resp.StatusCode, body)
	}
}

func TestRedeliver(t *testing.T) {
	ds := newDeliveriesServer(t)
	ds.seedDeliveries(t)
	before := len(ds.notifications()) // one per stored message

	for _, did := range []int64{2, 3, 1} { // failed with an answer, failed without, delivered
		t.Run(fmt.Sprint(did), func(t *testing.T) {
			resp, body := ds.retry(t, fmt.Sprint(did), "Bearer "+token)
			if resp.StatusCode != 202 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("retry = %d %s, want 202 with the delivery", resp.StatusCode, body)
			}
			d := decodeDelivery(t, body)
			if d.Did != did || d.Status != gen.Pending || d.Tries != 0 || d.NextAttemptAt == nil || d.DeliveredAt != nil || len(d.Attempts) != 1 {
				t.Errorf("answer = %+v, want it pending, due, tries 0, its attempt kept", d)
			}
			resp, body = ds.get(t, fmt.Sprintf("/deliveries/%d", did), "Bearer "+token)
			if got := decodeDelivery(t, body); resp.StatusCode != 200 || got.Status != gen.Pending {
				t.Errorf("GET after the retry = %d %+v", resp.StatusCode, got)
			}
		})
	}
	if got := ds.walkDeliveries(t, url.Values{"status": {"pending"}}); !slices.Equal(got, []int64{5, 4, 3, 2, 1}) {
		t.Errorf("pending after the retries = %v, want all five", got)
	}
	if got := ds.notifications()[before:]; !slices.EqualFunc(got, [][]string{{"app"}, {"app"}, {"app"}}, slices.Equal) {
		t.Errorf("relay told %q, want app once per retry", got)
	}

	t.Run("pending", func(t *testing.T) {
		resp, body := ds.retry(t, "4", "Bearer "+token)
		if resp.StatusCode != 409 {
			t.Fatalf("retry of a pending delivery = %d %s, want 409", resp.StatusCode, body)
		}
		if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, "pending") {
			t.Errorf("detail %q does not say it is pending", p.Detail)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		for _, r := range []func() (*http.Response, []byte){
			func() (*http.Response, []byte) { return ds.retry(t, "999", "Bearer "+token) },
			func() (*http.Response, []byte) { return ds.get(t, "/deliveries/999", "Bearer "+token) },
		} {
			resp, body := r()
			if resp.StatusCode != 404 || decodeProblem(t, resp, body).Detail != "no delivery 999" {
				t.Errorf("unknown delivery = %d %s, want 404", resp.StatusCode, body)
			}
		}
	})
	if got := len(ds.notifications()); got != before+3 {
		t.Errorf("%d notifications after refused retries, want %d: only a retry that happened wakes the relay", got, before+3)
	}
}

func TestDeliveriesNeedTheToken(t *testing.T) {
	ds := newDeliveriesServer(t)
	ds.seedDeliveries(t)
	for _, bearer := range []string{"", "Bearer wrong-token", "Basic " + token} {
		for name, send := range map[string]func() (*http.Response, []byte){
			"list":  func() (*http.Response, []byte) { return ds.get(t, "/deliveries", bearer) },
			"get":   func() (*http.Response, []byte) { return ds.get(t, "/deliveries/2", bearer) },
			"retry": func() (*http.Response, []byte) { return ds.retry(t, "2", bearer) },
		} {
			t.Run(name+"/"+bearer, func(t *testing.T) {
				resp, body := send()
				if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="hookvault"`) {
					t.Fatalf("= %d %q %s, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
				}
				decodeProblem(t, resp, body)
			})
		}
	}
	if d, err := ds.store.GetDelivery(context.Background(), 2); err != nil || d.Status != hookvault.Failed {
		t.Errorf("delivery 2 = %v, %v; a refused retry must change nothing", d.Status, err)
	}
}
