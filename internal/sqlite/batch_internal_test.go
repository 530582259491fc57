package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

type commitLog struct {
	mu    sync.Mutex
	sizes []int
}

func (c *commitLog) ObserveCommit(n int, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sizes = append(c.sizes, n)
}

func (c *commitLog) get() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

func TestObserverSeesEveryCommitAndNoDuplicate(t *testing.T) {
	log := &commitLog{}
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hv.db"), Options{Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"a", "b", "a"} {
		if _, err := s.Insert(context.Background(), hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: "s", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.get(); len(got) != 2 || got[0] != 1 || got[1] != 1 {
		t.Fatalf("commits observed = %v, want [1 1] (a duplicate writes nothing)", got)
	}
}

// heldStore is a store whose writer stops before each batch until the test lets it go, so
// that inserts queue up behind it deterministically.
type heldStore struct {
	*Store
	entered chan struct{} // one value each time the writer reaches a batch
	release func()
}

func openHeld(t *testing.T, path string, opts Options) heldStore {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	h := heldStore{entered: make(chan struct{}, 1000), release: func() { once.Do(func() { close(gate) }) }}
	opts.beforeBatch = func() { h.entered <- struct{}{}; <-gate }
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Store = s
	t.Cleanup(func() { h.release(); s.Close() })
	return h
}

// waitQueued polls until n inserts wait in the queue: the writer is busy with an earlier one.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; s.writes.Len() != n; i++ {
		if i > 20000 {
			t.Fatalf("%d inserts queued, want %d", s.writes.Len(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func msg(i int) hookvault.Message {
	id := fmt.Sprintf("b-%03d", i)
	return hookvault.Message{Source: hookvault.DefaultSource, ID: id, Sender: fmt.Sprintf("s%d", i%5), Content: "c", Payload: []byte(`{"id":"` + id + `"}`)}
}

// Inserts that arrive while the writer is busy are committed together, in one transaction,
// and each caller gets its own outcome.
func TestInsertsWaitingTogetherShareOneCommit(t *testing.T) {
	log := &commitLog{}
	h := openHeld(t, filepath.Join(t.TempDir(), "hv.db"), Options{Observer: log})
	s := h.Store
	var wg sync.WaitGroup
	outcomes := make([]hookvault.Outcome, 50)
	insert := func(i int, m hookvault.Message) {
		wg.Go(func() {
			r, err := s.Insert(context.Background(), m)
			if err != nil {
				t.Errorf("insert %d: %v", i, err)
			}
			outcomes[i] = r.Outcome
		})
	}
	insert(0, msg(0))
	<-h.entered // the writer took it alone and is held
	for i := 1; i < 48; i++ {
		insert(i, msg(i))
	}
	insert(48, msg(0)) // a duplicate of one in the first batch
	// Goroutines enqueue in any order; b-001 must be queued before its conflicting twin.
	waitQueued(t, s, 48)
	insert(49, hookvault.Message{Source: hookvault.DefaultSource, ID: "b-001", Sender: "x", Payload: []byte(`{"other":1}`)}) // conflicts within its own batch
	waitQueued(t, s, 49)
	h.release()
	wg.Wait()

	if got := log.get(); len(got) != 2 || got[0] != 1 || got[1] != 49 {
		t.Fatalf("commit sizes = %v, want [1 49]: one commit for the lone insert, one for all that waited", got)
	}
	for i := range 48 {
		if outcomes[i] != hookvault.Created {
			t.Errorf("insert %d: %v, want created", i, outcomes[i])
		}
	}
	if outcomes[48] != hookvault.Duplicate || outcomes[49] != hookvault.Conflict {
		t.Errorf("outcomes 48, 49 = %v, %v; want duplicate, conflict", outcomes[48], outcomes[49])
	}
	// The counters were added per sender for the whole batch, new senders included.
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, sc := range st.TopSenders {
		top = append(top, fmt.Sprintf("%s=%d", sc.Sender, sc.Count))
	}
	if st.TotalMessages != 48 || st.SendersCount != 5 || strings.Join(top, ",") != "s0=10,s1=10,s2=10,s3=9,s4=9" {
		t.Errorf("stats after the batch: %d messages, %d senders, top %v", st.TotalMessages, st.SendersCount, top)
	}
}

// A full queue answers at once instead of growing; what was queued is still committed.
func TestFullQueueFailsFastWithUnavailable(t *testing.T) {
	h := openHeld(t, filepath.Join(t.TempDir(), "hv.db"), Options{queueSize: 4})
	s := h.Store

	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := s.Insert(context.Background(), msg(i)); err != nil {
				t.Errorf("queued insert %d: %v", i, err)
			}
		})
		if i == 0 {
			<-h.entered
		}
	}
	waitQueued(t, s, 4)
	_, err := s.Insert(context.Background(), msg(99))
	if hookvault.ErrorCode(err) != hookvault.EUNAVAILABLE || hookvault.ErrorMessage(err) != "the message store is overloaded; retry later" {
		t.Fatalf("insert into a full queue: %v, want EUNAVAILABLE overloaded", err)
	}
	h.release()
	wg.Wait()
	if _, err := s.Get(context.Background(), hookvault.DefaultSource, "b-099"); hookvault.ErrorCode(err) != hookvault.ENOTFOUND {
		t.Fatalf("the refused message was stored: %v", err)
	}
}

// Close waits for the queued inserts to commit; inserts after Close fail.
func TestCloseCommitsWhatIsQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hv.db")
	h := openHeld(t, path, Options{})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := h.Insert(context.Background(), msg(i)); err != nil {
				t.Errorf("insert %d: %v", i, err)
			}
		})
		if i == 0 {
			<-h.entered
		}
	}
	waitQueued(t, h.Store, 9)
	closed := make(chan error)
	go func() { closed <- h.Close() }()
	h.release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(context.Background())
	if err != nil || st.TotalMessages != 10 {
		t.Fatalf("after Close: %d messages (%v), want the 10 queued", st.TotalMessages, err)
	}
}
