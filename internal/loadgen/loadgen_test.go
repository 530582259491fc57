package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/loadgen/loadgentest"
)

const testSecret = loadgentest.Secret

// TestNetHTTP runs the senders' suite with net/http, the default sender.
func TestNetHTTP(t *testing.T) {
	loadgentest.Run(t, nil)
}

// TestRunTLS sends over TLS with a caller's Client, the server's own.
func TestRunTLS(t *testing.T) {
	srv := httptest.NewTLSServer(loadgentest.NewFakeVault(t, testSecret))
	t.Cleanup(srv.Close)
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: srv.URL, Secret: []byte(testSecret), Count: 5, Concurrency: 2, Client: srv.Client(),
	}, nil)
	if err != nil || rep.Created != 5 {
		t.Errorf("created %d, err %v, want 5; samples %q", rep.Created, err, rep.Samples)
	}
}

// TestRunConnectError checks that a Connect that refuses ends the run before anything is
// sent, and that the workers' Conns made before it are closed.
func TestRunConnectError(t *testing.T) {
	url, conns := loadgentest.Serve(t, loadgentest.NewFakeVault(t, testSecret))
	var made, closed int
	connect := func(*neturl.URL, time.Duration) (loadgen.Conn, error) {
		if made == 2 {
			return nil, errors.New("no more")
		}
		made++
		return closeCounter{&closed}, nil
	}
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(testSecret), Count: 10, Concurrency: 4, Connect: connect,
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "no more") || rep.Sent != 0 || conns.Load() != 0 {
		t.Errorf("err %v, sent %d, connections %d, want the Connect error and nothing sent", err, rep.Sent, conns.Load())
	}
	if closed != made {
		t.Errorf("%d Conns closed of %d made", closed, made)
	}
}

// closeCounter is a Conn that only counts its closing.
type closeCounter struct{ closed *int }

func (closeCounter) Post(context.Context, []byte, []byte, time.Time) (loadgen.Answer, error) {
	return loadgen.Answer{}, errors.New("not sent")
}
func (c closeCounter) Close() { *c.closed++ }

func TestRunPrefixIsEscaped(t *testing.T) {
	vault := loadgentest.NewFakeVault(t, testSecret)
	url, _ := loadgentest.Serve(t, vault)
	prefix := `say "<hi>" \ ünï`
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url + "/", Secret: []byte(testSecret), Count: 3, Concurrency: 1, Prefix: prefix, Sender: "bench",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 3 {
		t.Fatalf("created %d, want 3; samples %q", rep.Created, rep.Samples)
	}
	stored := vault.Stored()
	for _, id := range []string{prefix + "-1", prefix + "-2", prefix + "-3"} {
		var msg struct{ ID, Sender string }
		if err := json.Unmarshal(stored[id], &msg); err != nil || msg.ID != id || msg.Sender != "bench" {
			t.Errorf("stored %s under %q, want a message with that id from bench", stored[id], id)
		}
	}
	// Markup stays as typed in the raw body, which is stored byte for byte.
	if body := string(stored[prefix+"-1"]); !strings.Contains(body, `<hi>`) {
		t.Errorf("body %s escapes the prefix's markup", body)
	}
}

func TestRunDurationEndsRun(t *testing.T) {
	url, _ := loadgentest.Serve(t, loadgentest.NewFakeVault(t, testSecret))
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(testSecret), Duration: 100 * time.Millisecond, Concurrency: 4,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent == 0 || rep.Unexpected != 0 {
		t.Errorf("sent %d, unexpected %d (%q), want some and none", rep.Sent, rep.Unexpected, rep.Samples)
	}
	// Only a hang guard: how long a run takes on a loaded machine is not asserted.
	if rep.Duration > 10*time.Second {
		t.Errorf("run took %s, want it to end soon after 100ms", rep.Duration)
	}
}

func TestRunRate(t *testing.T) {
	url, _ := loadgentest.Serve(t, loadgentest.NewFakeVault(t, testSecret))
	// The pacing itself is the limiter's (TestRateLimiterIsEven); this run proves a
	// rate-limited run completes with every answer as expected.
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(testSecret), Count: 20, Rate: 200, Concurrency: 8,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 20 {
		t.Fatalf("created %d, want 20; samples %q", rep.Created, rep.Samples)
	}
}

func TestRunRateEndsWithDuration(t *testing.T) {
	url, _ := loadgentest.Serve(t, loadgentest.NewFakeVault(t, testSecret))
	// At 20/s, 100ms leaves room for 2 or 3 requests; a limiter wait must not outlast it.
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(testSecret), Rate: 20, Duration: 100 * time.Millisecond, Concurrency: 8,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent < 1 || rep.Sent > 3 || rep.Unexpected != 0 {
		t.Errorf("sent %d (unexpected %d), want 1 to 3", rep.Sent, rep.Unexpected)
	}
}

func TestRunProgress(t *testing.T) {
	url, _ := loadgentest.Serve(t, loadgentest.NewFakeVault(t, testSecret))
	var calls []int // progress is called from one goroutine, and not after Run returns
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Secret: []byte(testSecret), Count: 100, Concurrency: 4,
	}, func(done int) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != rep.Sent {
		t.Errorf("progress calls %v, want the last to be %d", calls, rep.Sent)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] < calls[i-1] {
			t.Errorf("progress went back: %v", calls)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ok := loadgen.Config{URL: "http://127.0.0.1:1", Secret: []byte("s"), Count: 1}
	tests := []struct {
		name   string
		change func(*loadgen.Config)
		want   string
	}{
		{"no scheme", func(c *loadgen.Config) { c.URL = "127.0.0.1:8000" }, "bad URL"},
		{"no secret", func(c *loadgen.Config) { c.Secret = nil }, "secret is empty"},
		{"endless", func(c *loadgen.Config) { c.Count = 0 }, "never end"},
		{"negative count", func(c *loadgen.Config) { c.Count = -1 }, "count is negative"},
		{"negative rate", func(c *loadgen.Config) { c.Rate = -1 }, "rate is not a number"},
		{"infinite rate", func(c *loadgen.Config) { c.Rate = math.Inf(1) }, "rate is not a number"},
		{"share not a number", func(c *loadgen.Config) { c.BadSignatureShare = math.NaN() }, "bad-signature share"},
		{"share over 1", func(c *loadgen.Config) { c.DuplicateShare = 1.5 }, "duplicate share"},
		{"shares over 1", func(c *loadgen.Config) { c.DuplicateShare, c.BadSignatureShare = 0.6, 0.6 }, "add up to more than 1"},
		{"long prefix", func(c *loadgen.Config) { c.Prefix = strings.Repeat("p", 201) }, "prefix is longer"},
		{"URL and URLs", func(c *loadgen.Config) { c.URLs = []string{c.URL} }, "not both"},
		{"bad URL in the list", func(c *loadgen.Config) { c.URL, c.URLs = "", []string{"http://127.0.0.1:1", "127.0.0.1:2"} }, `bad URL "127.0.0.1:2"`},
		{"fewer workers than URLs", func(c *loadgen.Config) {
			c.URL, c.URLs, c.Concurrency = "", []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}, 2
		}, "concurrency of 3 at least"},
		{"duplicates across one URL", func(c *loadgen.Config) { c.CrossDuplicates = true }, "two URLs at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := loadgen.Run(t.Context(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRound(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{0, 0},
		{999 * time.Nanosecond, 999 * time.Nanosecond},
		{1234 * time.Nanosecond, 1230 * time.Nanosecond},
		{7_851_234 * time.Nanosecond, 7_850 * time.Microsecond},
		{21_049 * time.Microsecond, 21 * time.Millisecond},
		{123_456 * time.Microsecond, 123 * time.Millisecond},
		{5_384 * time.Millisecond, 5_380 * time.Millisecond},
		{1234 * time.Second, 1234 * time.Second},
	}
	for _, tt := range tests {
		if got := loadgen.Round(tt.in); got != tt.want {
			t.Errorf("Round(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// countingServer serves one vault, which may be shared with other servers, and counts the
// requests it got and, of the duplicates it saw, those whose id another server stored.
type countingServer struct {
	name                 string
	vault                *loadgentest.FakeVault
	owner                *sync.Map // id → name of the server that stored it, shared
	requests, crossDupes atomic.Int64
	url                  string
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	c.vault.ServeHTTP(rec, r)
	var a struct {
		ID        string
		Duplicate bool
	}
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &a) == nil {
		if owner, loaded := c.owner.LoadOrStore(a.ID, c.name); loaded && a.Duplicate && owner != c.name {
			c.crossDupes.Add(1)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// TestRunSpreadsOverURLs loads several servers in one run, as hookbench loads replicas:
// every server gets requests, and ids are unique over all of them.
func TestRunSpreadsOverURLs(t *testing.T) {
	tests := []struct {
		name        string
		servers     int
		sharedStore bool // one vault behind all servers, as replicas share a database
		concurrency int
		dupShare    float64
		cross       bool
	}{
		{"one in a list", 1, false, 4, 0, false},
		{"two", 2, false, 4, 0, false},
		{"three, odd concurrency", 3, false, 5, 0.1, false},
		// Only with a shared store can a duplicate sent to the wrong server pass unnoticed.
		{"two sharing a store, duplicates to the same server", 2, true, 4, 0.3, false},
		{"two sharing a store, duplicates across", 2, true, 4, 0.3, true},
		{"three sharing a store, duplicates across", 3, true, 6, 0.3, true},
	}
	const count = 600
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := loadgentest.NewFakeVault(t, testSecret)
			owner := &sync.Map{}
			var servers []*countingServer
			var urls []string
			for i := range tt.servers {
				s := &countingServer{name: fmt.Sprint("s", i), vault: shared, owner: owner}
				if !tt.sharedStore {
					s.vault = loadgentest.NewFakeVault(t, testSecret)
				}
				s.url, _ = loadgentest.Serve(t, s)
				servers = append(servers, s)
				urls = append(urls, s.url)
			}
			rep, err := loadgen.Run(t.Context(), loadgen.Config{
				URLs: urls, Secret: []byte(testSecret), Count: count, Concurrency: tt.concurrency,
				DuplicateShare: tt.dupShare, CrossDuplicates: tt.cross, KeepAcked: true,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sent != count || rep.Unexpected != 0 {
				t.Fatalf("sent %d, unexpected %d, want %d, 0; samples %q", rep.Sent, rep.Unexpected, count, rep.Samples)
			}
			for i, s := range servers {
				if s.requests.Load() == 0 {
					t.Errorf("server %d got no requests", i)
				}
			}
			// Unique ids: every new message was stored as new, by one server only.
			stored := 0
			seen := map[*loadgentest.FakeVault]bool{}
			for _, s := range servers {
				if !seen[s.vault] {
					seen[s.vault] = true
					stored += len(s.vault.Stored())
				}
			}
			if stored != rep.Created || len(rep.Acked) != rep.Created {
				t.Errorf("stored %d, acked %d, want both %d", stored, len(rep.Acked), rep.Created)
			}
			var cross int64
			for _, s := range servers {
				cross += s.crossDupes.Load()
			}
			// A few hundred duplicates with none across is a chance of nil.
			if tt.cross && (rep.Duplicates == 0 || cross != int64(rep.Duplicates)) {
				t.Errorf("%d duplicates, %d of them to another server than the one that stored the id, want all across", rep.Duplicates, cross)
			}
			if !tt.cross && cross != 0 {
				t.Errorf("%d duplicates went to another server, want none", cross)
			}
		})
	}
}
