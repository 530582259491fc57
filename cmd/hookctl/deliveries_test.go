package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
)

// deliveriesColumns are the columns of the deliveries table, in order.
var deliveriesColumns = []string{"DID", "CREATED_AT", "DESTINATION", "SOURCE", "MESSAGE_ID", "STATUS", "TRIES", "LAST_ERROR"}

// forwardingServer is a real hookvault forwarding to three destinations of its own: ok
// takes everything (counting what it gets), gone refuses messages of default for good, and
// later asks to be called back in an hour for messages of mine. It returns the server's URL
// and ok's count.
func forwardingServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var okHits atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		okHits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ok.Close)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusGone)
	}))
	t.Cleanup(gone.Close)
	later := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(later.Close)

	const key = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
	file := fmt.Sprintf(`sources:
  - name: mine
    provider: hookvault
    secrets: ["mine-secret"]
destinations:
  - name: ok
    url: %[1]s
    secret: %[4]s
  - name: gone
    url: %[2]s
    secret: %[4]s
    sources: [default]
  - name: later
    url: %[3]s
    secret: %[4]s
    sources: [mine]
`, ok.URL, gone.URL, later.URL, key)
	return startServerWith(t, "--api-token="+testToken, "--sources-file="+writeSources(t, file)), &okHits
}

// seedForwarded sends three messages and waits until the relay has attempted each of their
// deliveries once. They are (did: destination, source, status):
//
//	1: ok    default  delivered
//	2: gone  default  failed
//	3: ok    mine     delivered
//	4: later mine     pending
//	5: ok    default  delivered
//	6: gone  default  failed
func seedForwarded(t *testing.T, url string) {
	t.Helper()
	seed(t, url, message{"d-1", "alice", "one"})
	r := hookctl(t, sendEnv(url, "mine-secret"), "", "send", "--source", "mine", "--data", `{"id":"m-1","sender":"bob","content":"two"}`)
	succeeded(t, r)
	seed(t, url, message{"d-2", "alice", "three"})
	waitForDeliveries(t, url, func(ds []gen.Delivery) bool {
		if len(ds) != 6 {
			return false
		}
		for _, d := range ds {
			if d.Tries == 0 {
				return false
			}
		}
		return true
	})
}

// allDeliveries lists every delivery through hookctl deliveries --all --json.
func allDeliveries(t *testing.T, url string, args ...string) []gen.Delivery {
	t.Helper()
	r := hookctl(t, readEnv(url), "", append([]string{"deliveries", "--all", "--json"}, args...)...)
	succeeded(t, r)
	var ds []gen.Delivery
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil {
		t.Fatalf("stdout is not a JSON array: %v:\n%s", err, r.stdout)
	}
	return ds
}

// waitForDeliveries polls until cond holds of every delivery, or fails after a while.
func waitForDeliveries(t *testing.T, url string, cond func([]gen.Delivery) bool) []gen.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds := allDeliveries(t, url)
		if cond(ds) {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries never came to the expected state: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dids(ds []gen.Delivery) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.Did)
	}
	return out
}

func TestDeliveries(t *testing.T) {
	url, _ := forwardingServer(t)
	seedForwarded(t, url)
	env := readEnv(url)

	t.Run("table", func(t *testing.T) {
		r := hookctl(t, env, "", "deliveries")
		succeeded(t, r)
		rows := tableRows(t, r.stdout, deliveriesColumns)
		want := []map[string]string{
			{"DID": "6", "DESTINATION": "gone", "SOURCE": "default", "MESSAGE_ID": "d-2", "STATUS": "failed", "TRIES": "1", "LAST_ERROR": "HTTP 410"},
			{"DID": "5", "DESTINATION": "ok", "SOURCE": "default", "MESSAGE_ID": "d-2", "STATUS": "delivered", "TRIES": "1", "LAST_ERROR": ""},
			{"DID": "4", "DESTINATION": "later", "SOURCE": "mine", "MESSAGE_ID": "m-1", "STATUS": "pending", "TRIES": "1", "LAST_ERROR": "HTTP 503"},
			{"DID": "3", "DESTINATION": "ok", "SOURCE": "mine", "MESSAGE_ID": "m-1", "STATUS": "delivered", "TRIES": "1", "LAST_ERROR": ""},
			{"DID": "2", "DESTINATION": "gone", "SOURCE": "default", "MESSAGE_ID": "d-1", "STATUS": "failed", "TRIES": "1", "LAST_ERROR": "HTTP 410"},
			{"DID": "1", "DESTINATION": "ok", "SOURCE": "default", "MESSAGE_ID": "d-1", "STATUS": "delivered", "TRIES": "1", "LAST_ERROR": ""},
		}
		if len(rows) != len(want) {
			t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), r.stdout)
		}
		for i, row := range rows {
			at, err := time.Parse(timeLayout, row["CREATED_AT"])
			if err != nil || time.Since(at) > time.Minute {
				t.Errorf("row %d: CREATED_AT %q is not a recent time", i, row["CREATED_AT"])
			}
			delete(row, "CREATED_AT")
			for col, cell := range want[i] {
				if row[col] != cell {
					t.Errorf("row %d: %s = %q, want %q", i, col, row[col], cell)
				}
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			args []string
			want []int64
		}{
			{[]string{"--destination", "gone"}, []int64{6, 2}},
			{[]string{"--status", "pending"}, []int64{4}},
			{[]string{"--status", "delivered"}, []int64{5, 3, 1}},
			{[]string{"--source", "mine"}, []int64{4, 3}},
			{[]string{"--destination", "ok", "--source", "default"}, []int64{5, 1}},
			{[]string{"--destination", "ok", "--status", "failed"}, nil},
		}
		for _, tt := range tests {
			t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
				if got := dids(allDeliveries(t, url, append(tt.args, "--limit=1")...)); !slices.Equal(got, tt.want) {
					t.Errorf("dids = %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("JSON page keeps the cursor and prints no hint", func(t *testing.T) {
		r := hookctl(t, env, "", "deliveries", "--limit=4", "--json")
		succeeded(t, r)
		var page gen.DeliveryList
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
			t.Fatal(err)
		}
		if page.NextCursor == nil || !slices.Equal(dids(page.Data), []int64{6, 5, 4, 3}) {
			t.Fatalf("page = %+v, want 6 to 3 and a cursor", page)
		}
		if a := page.Data[0].Attempts; len(a) != 1 || a[0].StatusCode == nil || *a[0].StatusCode != 410 {
			t.Errorf("attempts of 6 = %+v, want the 410", a)
		}
	})

	t.Run("all of nothing", func(t *testing.T) {
		r := hookctl(t, env, "", "deliveries", "--all", "--destination", "nowhere", "-o", "json")
		succeeded(t, r)
		if r.stdout != "[]\n" {
			t.Errorf("stdout = %q, want an empty array", r.stdout)
		}
	})

	t.Run("page by page with the hinted command", func(t *testing.T) {
		var got []string
		args := []string{"deliveries", "--status", "delivered", "--limit=2"}
		for range 5 {
			r := hookctl(t, env, "", args...)
			if r.code != 0 {
				t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
			}
			for _, row := range tableRows(t, r.stdout, deliveriesColumns) {
				got = append(got, row["DID"])
			}
			if r.stderr == "" {
				break
			}
			hint, ok := strings.CutPrefix(strings.TrimSuffix(r.stderr, "\n"), "next: hookctl ")
			if !ok || !strings.Contains(hint, "--status delivered --limit 2 --cursor ") {
				t.Fatalf("stderr = %q, want one next: line", r.stderr)
			}
			args = strings.Fields(hint)
		}
		if want := []string{"5", "3", "1"}; !slices.Equal(got, want) {
			t.Errorf("dids = %q, want %q", got, want)
		}
	})
}

func TestRedeliver(t *testing.T) {
	url, okHits := forwardingServer(t)
	seedForwarded(t, url)
	env := readEnv(url)

	t.Run("failed", func(t *testing.T) {
		r := hookctl(t, env, "", "redeliver", "2")
		succeeded(t, r)
		if want := "delivery 2 of default/d-1 to gone is pending again\n"; r.stdout != want {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
		// gone refuses it again; the attempt of the retry is the second one kept.
		waitForDeliveries(t, url, func(ds []gen.Delivery) bool {
			d := ds[slices.IndexFunc(ds, func(d gen.Delivery) bool { return d.Did == 2 })]
			return d.Status == gen.Failed && len(d.Attempts) == 2 && d.Tries == 1
		})
	})

	t.Run("delivered, as JSON", func(t *testing.T) {
		before := okHits.Load()
		r := hookctl(t, env, "", "redeliver", "--json", "1")
		succeeded(t, r)
		var d gen.Delivery
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Did != 1 || d.Status != gen.Pending || d.Tries != 0 {
			t.Fatalf("stdout = %s (%v), want delivery 1 pending", r.stdout, err)
		}
		waitForDeliveries(t, url, func(ds []gen.Delivery) bool {
			return ds[slices.IndexFunc(ds, func(d gen.Delivery) bool { return d.Did == 1 })].Status == gen.Delivered
		})
		if got := okHits.Load(); got != before+1 {
			t.Errorf("ok got %d more requests, want the one redelivered", got-before)
		}
	})

	tests := []exitCase{
		{"pending", env, []string{"4"}, 1, []string{"hookctl: 409 Conflict: the delivery is pending"}},
		{"unknown", env, []string{"99"}, 1, []string{"hookctl: 404 Not Found: no delivery 99"}},
		{"not a number", env, []string{"abc"}, 2, []string{"did", "abc"}},
		{"zero", env, []string{"0"}, 2, []string{"positive"}},
		{"no token", map[string]string{"HOOKVAULT_URL": url}, []string{"2"}, 2, []string{"API_TOKEN", "--token"}},
		{"wrong token", map[string]string{"HOOKVAULT_URL": url, "API_TOKEN": "wrong-token"}, []string{"2"}, 1,
			[]string{"hookctl: 401 Unauthorized: invalid bearer token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"redeliver"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
}

func TestDeliveriesUsage(t *testing.T) {
	url := startServer(t)
	tests := []exitCase{
		{"unknown status", readEnv(url), []string{"--status=lost"}, 2, []string{"--status must be pending, delivered or failed"}},
		{"limit zero", readEnv(url), []string{"--limit=0"}, 2, []string{"--limit must be between 1 and 1000"}},
		{"unknown output", readEnv(url), []string{"--output=yaml"}, 2, []string{"--output", "table", "json"}},
		{"no token", map[string]string{"HOOKVAULT_URL": url}, nil, 2, []string{"API_TOKEN", "--token"}},
		{"bad destination", readEnv(url), []string{"--destination=Not Valid"}, 1, []string{"hookctl: 400 Bad Request: ", "destination"}},
		{"bad cursor", readEnv(url), []string{"--cursor=not-a-cursor"}, 1, []string{"hookctl: 400 Bad Request: ", "cursor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", append([]string{"deliveries"}, tt.args...)...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
}
