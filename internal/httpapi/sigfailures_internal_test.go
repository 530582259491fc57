package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// The addresses tracked are bounded: at the bound a new one is not tracked (and the bound
// is reported), until the ones not seen for a minute are forgotten.
func TestSignatureFailuresAreBounded(t *testing.T) {
	reported := 0
	s := newSignatureFailures(1, func() { reported++ })
	now := time.Now()
	for i := range maxFailingClients {
		s.failed(fmt.Sprint("198.51.100.", i), now)
	}
	if reported != 0 || len(s.per) != maxFailingClients {
		t.Fatalf("%d tracked, bound reported %d times", len(s.per), reported)
	}
	for range 5 {
		s.failed("203.0.113.9", now) // past its rate, were it tracked
	}
	if reported != 5 || len(s.per) != maxFailingClients || s.shed("203.0.113.9", now) > 0 {
		t.Errorf("at the bound: reported %d, tracked %d, shed %v; want 5, the bound, not shed", reported, len(s.per), s.shed("203.0.113.9", now))
	}
	later := now.Add(2 * time.Minute)
	for range 5 {
		s.failed("203.0.113.9", later)
	}
	if len(s.per) != 1 || s.shed("203.0.113.9", later) == 0 {
		t.Errorf("a minute later: tracked %d, shed %v; want the old ones forgotten and the new one shed", len(s.per), s.shed("203.0.113.9", later))
	}
}
