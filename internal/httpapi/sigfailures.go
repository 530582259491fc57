package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// signatureFailures sheds the deliveries of a client address that keeps failing its
// signatures: past its rate of refused signatures, its deliveries are answered 503 before
// their bodies are read or verified, for a cool-down. A forged delivery costs the server
// about as much as a real one (the body read, the MAC, the journal), so without this one
// client flooding forged deliveries takes most of the server from the real senders. A shed
// delivery is answered after a short delay (shedDelay): a sender waits for its answer before
// it sends again on a connection, so the forger gets at most ten deliveries per connection
// per second through, for the cost of a parked goroutine each (its connections are capped
// by MAX_CLIENT_CONNECTIONS). The first ones within the rate are refused with 401 and journaled
// as usual, so a sender with a wrong secret still learns why.
type signatureFailures struct {
	limit    rate.Limit
	burst    int
	cooldown time.Duration

	// full is told when an address cannot be tracked because maxFailingClients are.
	full func()

	mu  sync.Mutex
	per map[string]*failureState
}

type failureState struct {
	lim   *rate.Limiter
	until time.Time // shed until then
	seen  time.Time
}

// maxFailingClients bounds the addresses tracked; beyond it, addresses not seen for a
// minute are forgotten, and new ones are not tracked while none is (a spread-out attack
// then meets the other limits).
const maxFailingClients = 16384

func newSignatureFailures(perSecond int, full func()) *signatureFailures {
	return &signatureFailures{limit: rate.Limit(perSecond), burst: 2 * perSecond, cooldown: time.Second,
		full: full, per: map[string]*failureState{}}
}

// shed returns how long client's deliveries are still shed (0: they are not).
func (s *signatureFailures) shed(client string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.per[client]; ok && now.Before(st.until) {
		return st.until.Sub(now)
	}
	return 0
}

// failed counts a refused signature of client, and starts a cool-down when it passes the rate.
func (s *signatureFailures) failed(client string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.per[client]
	if !ok {
		if len(s.per) >= maxFailingClients {
			for c, old := range s.per {
				if now.Sub(old.seen) > time.Minute {
					delete(s.per, c)
				}
			}
			if len(s.per) >= maxFailingClients {
				s.full()
				return
			}
		}
		st = &failureState{lim: rate.NewLimiter(s.limit, s.burst)}
		s.per[client] = st
	}
	st.seen = now
	if !st.lim.AllowN(now, 1) {
		st.until = now.Add(s.cooldown)
	}
}
