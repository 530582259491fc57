package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/httpapi"
)

// capture is a store that keeps the last message it was handed, as the handler built it.
type capture struct {
	hookvault.Store
	mu   sync.Mutex
	last hookvault.Message
}

func (c *capture) Insert(ctx context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	c.mu.Lock()
	c.last = m
	c.mu.Unlock()
	return c.Store.Insert(ctx, m)
}

// within reports whether s's bytes lie in b's backing array.
func within(s string, b []byte) bool {
	if len(s) == 0 || len(b) == 0 {
		return false
	}
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(cap(b))
}

// The body is decoded once: the typed body that the generated strict server hands the
// handler is bound from the validator's value, whose strings are the received bytes
// themselves (a member without escapes is not copied). A second decode of the body, by the
// generated code or anyone else, would make new strings; so would a value carried beside the
// typed body. The stored payload is the bytes the signature was verified on.
func TestWebhookBodyIsDecodedOnce(t *testing.T) {
	var c *capture
	ts := newServerWrapped(t, httpapi.Deps{}, func(s hookvault.Store) hookvault.Store {
		c = &capture{Store: s}
		return c
	})
	content := strings.Repeat("x", 1000)
	body := `{"id":"once-1","sender":"alice","content":"` + content + `","ID":"shadow"}`
	resp, answer := ts.post(t, delivery{body: body})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, answer)
	}
	c.mu.Lock()
	m := c.last
	c.mu.Unlock()
	if m.ID != "once-1" || m.Sender != "alice" || m.Content != content || string(m.Payload) != body {
		t.Fatalf("stored id %q sender %q, content of %d bytes, payload of %d bytes", m.ID, m.Sender, len(m.Content), len(m.Payload))
	}
	for name, v := range map[string]string{"id": m.ID, "sender": m.Sender, "content": m.Content} {
		if !within(v, m.Payload) {
			t.Errorf("%s is a copy, not the received bytes: the body was decoded again", name)
		}
	}
}

// blocking is a store whose inserts wait until released.
type blocking struct {
	hookvault.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) Insert(ctx context.Context, m hookvault.Message) (hookvault.Receipt, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Insert(ctx, m)
}

// Deps.Receiving counts a delivery from its admission to its answer, and nothing else.
func TestReceivingCountsDeliveriesInFlight(t *testing.T) {
	var receiving atomic.Int64
	b := &blocking{entered: make(chan struct{}), release: make(chan struct{})}
	ts := newServerWrapped(t, httpapi.Deps{APITokens: []string{token}, Receiving: &receiving},
		func(s hookvault.Store) hookvault.Store { b.Store = s; return b })
	done := make(chan int)
	go func() {
		resp, _ := ts.post(t, delivery{body: msg("busy-1")})
		done <- resp.StatusCode
	}()
	<-b.entered
	if n := receiving.Load(); n != 1 {
		t.Errorf("receiving = %d while a delivery waits for its commit, want 1", n)
	}
	if resp, _ := ts.get(t, "/messages", "Bearer "+token); resp.StatusCode != 200 || receiving.Load() != 1 {
		t.Errorf("GET /messages: %d, receiving = %d, want 200 and still 1", resp.StatusCode, receiving.Load())
	}
	close(b.release)
	if status := <-done; status != 200 {
		t.Fatalf("delivery answered %d", status)
	}
	if n := receiving.Load(); n != 0 {
		t.Errorf("receiving = %d after the answer, want 0", n)
	}
	ts.post(t, delivery{body: msg("busy-2"), unsigned: true})
	if n := receiving.Load(); n != 0 {
		t.Errorf("receiving = %d after a refused delivery, want 0", n)
	}
}
