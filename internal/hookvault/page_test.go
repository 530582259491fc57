package hookvault_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// sized returns a message whose ListedBytes is size: a one-byte source, a one-byte id "a",
// "b", …, a one-byte sender, and the rest content.
func sized(i, size int) hookvault.Message {
	at := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	return hookvault.Message{Source: "x", ID: string(rune('a' + i)), Sender: "s", Content: strings.Repeat("c", size-3),
		ReceivedAt: at.Add(time.Duration(i))}
}

func TestPager(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		limit int
		sizes []int // ListedBytes of the messages the store reads, in order
		sent  string
		next  string // id of the cursor, "" for none
	}{
		{"nothing read", 3, nil, "", ""},
		{"fewer than limit", 3, []int{10, 10}, "ab", ""},
		{"exactly limit, no more rows", 3, []int{10, 10, 10}, "abc", ""},
		{"limit plus one", 3, []int{10, 10, 10, 10}, "abc", "c"},
		{"limit one", 1, []int{10, 10}, "a", "a"},
		{"bytes reach the bound exactly", 10, []int{mib, mib, mib, mib, 3}, "abcd", "d"},
		{"one byte over the bound", 10, []int{mib, mib, mib, mib + 1}, "abc", "c"},
		{"one over the bound, last row", 10, []int{2 * mib, 2*mib + 1}, "a", "a"},
		{"first message larger than the bound", 10, []int{5 * mib, 3}, "a", "a"},
		{"larger than the bound alone and last", 10, []int{5 * mib}, "a", ""},
		{"small after a large one starts the next page", 10, []int{3 * mib, mib + 1, 3}, "a", "a"},
		{"count cuts before bytes", 2, []int{mib, mib, mib}, "ab", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent strings.Builder
			p := hookvault.NewPager(tt.limit, func(m hookvault.Message) error {
				sent.WriteString(m.ID)
				return nil
			})
			reads := 0
			for i, size := range tt.sizes {
				reads++
				more, err := p.Add(sized(i, size))
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
			}
			next := ""
			if c := p.Next(); c != nil {
				next = c.ID
				if want := sized(strings.IndexByte("abcdefghij", c.ID[0]), 3).ReceivedAt; !c.ReceivedAt.Equal(want) || c.Source != "x" {
					t.Errorf("cursor at %v in source %q, want the last sent message's %v in x", c.ReceivedAt, c.Source, want)
				}
			}
			if sent.String() != tt.sent || next != tt.next {
				t.Errorf("sent %q, next %q; want %q, %q", sent.String(), next, tt.sent, tt.next)
			}
			// A store reads one message more than it sends, never two.
			if want := min(len(tt.sizes), len(tt.sent)+1); reads != want {
				t.Errorf("read %d messages, want %d", reads, want)
			}
		})
	}
}

func TestPagerStopsOnEmitError(t *testing.T) {
	boom := errors.New("client gone")
	calls := 0
	p := hookvault.NewPager(10, func(hookvault.Message) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	for i := range 2 {
		more, err := p.Add(sized(i, 10))
		if i == 1 && (more || !errors.Is(err, boom)) {
			t.Fatalf("Add after a failing emit = %v, %v; want false and the emit error", more, err)
		}
	}
	if calls != 2 || p.Next() != nil {
		t.Fatalf("emit called %d times, next %v", calls, p.Next())
	}
}

func TestListedBytes(t *testing.T) {
	m := hookvault.Message{Source: "github", ID: "id-1", Type: "push", Sender: "é", Content: "a\x00b",
		ContentType: "not counted", Headers: []byte("not counted"), Payload: []byte("not counted")}
	if got, want := m.ListedBytes(), 6+4+4+2+3; got != want {
		t.Fatalf("ListedBytes = %d, want %d", got, want)
	}
}

func TestMessageCheck(t *testing.T) {
	long := func(n int) string { return strings.Repeat("\xff", n) }
	ok := hookvault.Message{Source: long(hookvault.MaxSourceBytes), ID: long(hookvault.MaxKeyBytes),
		Type: long(hookvault.MaxKeyBytes), Sender: long(hookvault.MaxKeyBytes)}
	if err := ok.Check(); err != nil {
		t.Fatalf("Check at every bound: %v", err)
	}
	tests := []struct {
		name string
		edit func(*hookvault.Message)
		code string
	}{
		{"no source", func(m *hookvault.Message) { m.Source = "" }, hookvault.EINTERNAL},
		{"no id", func(m *hookvault.Message) { m.ID = "" }, hookvault.EINVALID},
		{"long source", func(m *hookvault.Message) { m.Source += "x" }, hookvault.EINVALID},
		{"long id", func(m *hookvault.Message) { m.ID += "x" }, hookvault.EINVALID},
		{"long type", func(m *hookvault.Message) { m.Type += "x" }, hookvault.EINVALID},
		{"long sender", func(m *hookvault.Message) { m.Sender += "x" }, hookvault.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			if err := m.Check(); hookvault.ErrorCode(err) != tt.code {
				t.Fatalf("Check = %v, want code %s", err, tt.code)
			}
		})
	}
}
