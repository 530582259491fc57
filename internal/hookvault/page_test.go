package hookvault_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// sized returns a message whose ListedBytes is size: a one-byte id "a", "b", …, a one-byte
// sender, and the rest content.
func sized(i, size int) hookvault.Message {
	at := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	return hookvault.Message{ID: string(rune('a' + i)), Sender: "s", Content: strings.Repeat("c", size-2),
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
		{"bytes reach the bound exactly", 10, []int{mib, mib, mib, mib, 2}, "abcd", "d"},
		{"one byte over the bound", 10, []int{mib, mib, mib, mib + 1}, "abc", "c"},
		{"one over the bound, last row", 10, []int{2 * mib, 2*mib + 1}, "a", "a"},
		{"first message larger than the bound", 10, []int{5 * mib, 2}, "a", "a"},
		{"larger than the bound alone and last", 10, []int{5 * mib}, "a", ""},
		{"small after a large one starts the next page", 10, []int{3 * mib, mib + 1, 2}, "a", "a"},
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
				if want := sized(strings.IndexByte("abcdefghij", c.ID[0]), 2).ReceivedAt; !c.ReceivedAt.Equal(want) {
					t.Errorf("cursor time %v, want the last sent message's %v", c.ReceivedAt, want)
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
	m := hookvault.Message{ID: "id-1", Sender: "é", Content: "a\x00b", Payload: []byte("not counted")}
	if got, want := m.ListedBytes(), 4+2+3; got != want {
		t.Fatalf("ListedBytes = %d, want %d", got, want)
	}
}
