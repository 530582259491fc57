package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// maxReceiverIDs bounds the webhook-ids the receiver remembers to tell repeats from new
// deliveries; past it, it only counts requests.
const maxReceiverIDs = 1 << 20

// receiverCount is what GET /count of the receiver answers.
type receiverCount struct {
	Requests int `json:"requests"`
	// Distinct is the number of distinct webhook-ids; -1 once more than maxReceiverIDs came.
	Distinct int `json:"distinct"`
}

// receiver stands in for the user's app behind an HTTP destination: it answers every POST
// with 204 at once, so what the benchmark shows is hookvault's forwarding and not the app.
type receiver struct {
	mu       sync.Mutex
	requests int
	ids      map[string]struct{}
	overflow bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost:
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.requests++
		if _, ok := rc.ids[id]; !ok {
			if len(rc.ids) < maxReceiverIDs {
				rc.ids[id] = struct{}{}
			} else {
				rc.overflow = true
			}
		}
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/count":
		rc.mu.Lock()
		c := receiverCount{Requests: rc.requests, Distinct: len(rc.ids)}
		if rc.overflow {
			c.Distinct = -1
		}
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	case r.URL.Path == "/health/ready":
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// receiverCounts asks the receiver at base what it got.
func receiverCounts(ctx context.Context, base string) (c receiverCount, err error) {
	b, err := get(ctx, base+"/count")
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, fmt.Errorf("receiver count: %w", err)
	}
	return c, nil
}
