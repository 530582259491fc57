package hookvault_test

import (
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

func TestPageOf(t *testing.T) {
	at := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	msgs := func(n int) []hookvault.Message {
		out := make([]hookvault.Message, n)
		for i := range out {
			out[i] = hookvault.Message{ID: string(rune('a' + i)), ReceivedAt: at.Add(time.Duration(i))}
		}
		return out
	}
	tests := []struct {
		read, limit, shown int
		next               string // id of the cursor, "" for none
	}{
		{0, 3, 0, ""},
		{2, 3, 2, ""},
		{3, 3, 3, ""},
		{4, 3, 3, "c"},
		{2, 1, 1, "a"},
	}
	for _, tt := range tests {
		p := hookvault.PageOf(msgs(tt.read), tt.limit)
		next := ""
		if p.Next != nil {
			next = p.Next.ID
			if !p.Next.ReceivedAt.Equal(p.Messages[len(p.Messages)-1].ReceivedAt) {
				t.Errorf("read %d limit %d: cursor time %v is not the last shown message's", tt.read, tt.limit, p.Next.ReceivedAt)
			}
		}
		if len(p.Messages) != tt.shown || next != tt.next {
			t.Errorf("read %d limit %d: %d shown, next %q; want %d, %q", tt.read, tt.limit, len(p.Messages), next, tt.shown, tt.next)
		}
	}
}
