package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/gen"
)

func TestStats(t *testing.T) {
	url := startServer(t)

	t.Run("empty store", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "stats")
		succeeded(t, r)
		want := "MESSAGES           0\n" +
			"SENDERS            0\n" +
			"FIRST_RECEIVED_AT  -\n" +
			"LAST_RECEIVED_AT   -\n"
		if r.stdout != want {
			t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, want)
		}
	})

	seed(t, url,
		message{"s-1", "alice", "1"},
		message{"s-2", "bob", "2"},
		message{"s-3", "alice", "3"},
		message{"s-4", "alice", "4"},
	)
	// A duplicate delivery is not counted again.
	seed(t, url, message{"s-1", "alice", "1"})

	t.Run("table", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "stats")
		succeeded(t, r)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		var rows [][]string
		for _, l := range lines {
			rows = append(rows, strings.Fields(l))
		}
		want := [][]string{
			{"MESSAGES", "4"},
			{"SENDERS", "2"},
			{"FIRST_RECEIVED_AT", "*"},
			{"LAST_RECEIVED_AT", "*"},
			nil,
			{"SOURCE", "MESSAGES"},
			{"default", "4"},
			nil,
			{"TOP_SENDER", "MESSAGES"},
			{"alice", "3"},
			{"bob", "1"},
		}
		if len(rows) != len(want) {
			t.Fatalf("stdout has %d lines, want %d:\n%s", len(rows), len(want), r.stdout)
		}
		for i := range want {
			if len(want[i]) == 2 && want[i][1] == "*" && len(rows[i]) == 2 && strings.HasPrefix(rows[i][1], "20") {
				continue
			}
			if !slices.Equal(rows[i], want[i]) {
				t.Errorf("line %d = %q, want %q", i+1, lines[i], want[i])
			}
		}
	})

	t.Run("json is the server's answer", func(t *testing.T) {
		r := hookctl(t, readEnv(url), "", "stats", "--output=json")
		succeeded(t, r)
		var st gen.Stats
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("stdout is not the stats: %v: %q", err, r.stdout)
		}
		if st.TotalMessages != 4 || st.SendersCount != 2 {
			t.Errorf("total %d, senders %d; want 4 and 2", st.TotalMessages, st.SendersCount)
		}
		if want := []gen.SenderCount{{Sender: "alice", Count: 3}, {Sender: "bob", Count: 1}}; !slices.Equal(st.TopSenders, want) {
			t.Errorf("top senders = %+v, want %+v", st.TopSenders, want)
		}
		if want := []gen.SourceCount{{Source: "default", Count: 4}}; !slices.Equal(st.Sources, want) {
			t.Errorf("sources = %+v, want %+v", st.Sources, want)
		}
		if st.FirstReceivedAt == nil || st.LastReceivedAt == nil || st.LastReceivedAt.Before(*st.FirstReceivedAt) {
			t.Errorf("first %v, last %v; want both, first not after last", st.FirstReceivedAt, st.LastReceivedAt)
		}
	})
}

// TestStatsSources: the messages of each source that has any, by name; providers'
// messages count in the total but have no sender.
func TestStatsSources(t *testing.T) {
	url := startSourcesServer(t)
	seed(t, url, message{"s-1", "alice", "1"}, message{"s-2", "bob", "2"})
	sendTo(t, url, "stripe", "")
	sendTo(t, url, "github", "")
	sendTo(t, url, "github", "")

	r := hookctl(t, readEnv(url), "", "stats")
	succeeded(t, r)
	_, sections, ok := strings.Cut(r.stdout, "\n\n")
	if !ok {
		t.Fatalf("no sections after the totals:\n%s", r.stdout)
	}
	want := "SOURCE   MESSAGES\n" +
		"default  2\n" +
		"github   2\n" +
		"stripe   1\n" +
		"\n" +
		"TOP_SENDER  MESSAGES\n" +
		"alice       1\n" +
		"bob         1\n"
	if sections != want {
		t.Errorf("sections =\n%s\nwant\n%s", sections, want)
	}
	if !strings.HasPrefix(r.stdout, "MESSAGES           5\nSENDERS            2\n") {
		t.Errorf("totals:\n%s", r.stdout)
	}
}
