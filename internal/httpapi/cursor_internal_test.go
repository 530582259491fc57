package httpapi

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// A cursor carries the source of the page's last message, and one issued before sources
// existed still continues its walk in the default source.
func TestCursorCarriesTheSource(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 123, time.UTC)
	for _, c := range []hookvault.Cursor{
		{ReceivedAt: at, Source: "github", ID: "abc"},
		{ReceivedAt: at, Source: hookvault.DefaultSource, ID: "with:colons/and\x00\xff bytes"},
	} {
		got, err := decodeCursor(*encodeCursor(&c))
		if err != nil || *got != c {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	old := base64.RawURLEncoding.EncodeToString([]byte("1795953600000000123:id:with/colon"))
	got, err := decodeCursor(old)
	if want := (hookvault.Cursor{ReceivedAt: at, Source: hookvault.DefaultSource, ID: "id:with/colon"}); err != nil || *got != want {
		t.Errorf("a cursor from before sources: %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"1/:id", "x/github:id", "1/github:"} {
		if _, err := decodeCursor(base64.RawURLEncoding.EncodeToString([]byte(bad))); hookvault.ErrorCode(err) != hookvault.EBADREQUEST {
			t.Errorf("decodeCursor(%q) = %v, want a bad request", bad, err)
		}
	}
}
