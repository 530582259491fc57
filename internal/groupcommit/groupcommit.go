// Package groupcommit is the write path every store backend shares: callers hand their
// message to a bounded queue, writer goroutines take whatever is waiting (up to MaxBatch
// messages or MaxBatchBytes of payloads and headers) into one transaction, commit once, and then answer
// each caller with its own outcome. A lone message is written at once: nothing waits for a
// batch to fill, and a full queue fails fast instead of letting the backlog grow.
//
// The backend supplies the transaction (a Committer); this package owns the queueing, the
// bounds, the timeouts and the answers, so both backends behave the same under load.
//
// A queued insert is either claimed by a writer or abandoned by its caller when it has waited
// Timeout, never both: a writer drops abandoned inserts when it forms a batch, so an insert
// answered "timed out" was not and will not be written, and a claimed one is answered with
// its transaction's real outcome.
//
// The queue also remembers whether the last commit failed, for readiness: the store is not
// ready until a commit or a write probe succeeds (Check). A failure that no probe can clear
// (Permanent, Break) stops the queue for good.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Committer writes one batch in one transaction. On success it has set results[i] for every
// batch[i] and reports whether anything was written (a batch of duplicates only writes
// nothing). On error nothing of the batch may be reported as stored: every caller is told
// EUNAVAILABLE. It may be called from several writers at once when Options.Writers > 1.
type Committer func(ctx context.Context, batch []hookvault.Message, results []hookvault.Receipt) (wrote bool, err error)

// Options bound the queue and the batches. The zero value is usable.
type Options struct {
	// Writers is the number of transactions in flight at once (default 1: SQLite has one
	// writer; PostgreSQL overlaps several).
	Writers int
	// MaxBatch and MaxBatchBytes bound one transaction (defaults 256 messages, 1 MiB of
	// payloads and headers, the large fields).
	MaxBatch      int
	MaxBatchBytes int
	// QueueSize bounds the inserts waiting for a writer (default 2048).
	QueueSize int
	// Timeout bounds a caller's wait in the queue for a writer, and each transaction
	// (default 30s): a caller waits at most about twice as long.
	Timeout time.Duration
	// Observer is told about every commit that wrote something.
	Observer hookvault.CommitObserver
	// BeforeBatch, when set, runs in the writer before each batch: tests hold the writer
	// there to let inserts queue up deterministically.
	BeforeBatch func()
}

func (o *Options) setDefaults() {
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 2048
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
}

// Queue is the shared write path of one store.
type Queue struct {
	commit Committer
	opts   Options

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan *request
	done   sync.WaitGroup // the writers, which drain the queue before they stop

	health   sync.Mutex
	failed   error  // the last commit's error; nil once a commit or a probe succeeds
	failures uint64 // failed commits so far, so that a probe can tell one happened meanwhile

	broken atomic.Pointer[brokenBy] // set once, by a permanent failure
}

type brokenBy struct{ err error }

// permanentError marks a commit error that no retry or probe can clear.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that no retry or probe can clear, such as a corrupt
// database or a database file deleted while open. A Committer or a probe returns it; the
// queue then stops for good, as after Break.
func Permanent(err error) error { return &permanentError{err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type request struct {
	m      hookvault.Message
	state  atomic.Int32 // queued, then claimed by a writer or abandoned by the caller
	result chan result  // buffered: a writer never waits for a caller
}

// The states of a request: only queued ever changes, and only once.
const (
	queued int32 = iota
	claimed
	abandoned
)

type result struct {
	receipt hookvault.Receipt
	err     error
}

var resultChans = sync.Pool{New: func() any { return make(chan result, 1) }}

// ErrClosed is the cause reported for inserts after Close.
var ErrClosed = errors.New("store is closed")

var errOverloaded = &hookvault.Error{Code: hookvault.EUNAVAILABLE, Message: "the message store is overloaded; retry later",
	Err: errors.New("write queue is full")}

// Start starts the writers.
func Start(commit Committer, opts Options) *Queue {
	opts.setDefaults()
	q := &Queue{commit: commit, opts: opts, queue: make(chan *request, opts.QueueSize)}
	for range opts.Writers {
		q.done.Go(q.writeLoop)
	}
	return q
}

// Len is the number of inserts waiting for a writer.
func (q *Queue) Len() int { return len(q.queue) }

// Insert queues m and returns once its transaction has ended, with its outcome.
//
// The wait does not follow the request's context: once a delivery has been verified it is
// written whether or not its sender is still waiting, so a cancelled request never leaves
// half a decision. An insert that no writer has claimed within Timeout is abandoned and
// answered EUNAVAILABLE: it is then never written, so the answer is the truth. One that a
// writer claimed waits for its transaction, which Timeout bounds as well.
func (q *Queue) Insert(m hookvault.Message) (hookvault.Receipt, error) {
	req := &request{m: m, result: resultChans.Get().(chan result)}
	if b := q.broken.Load(); b != nil {
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: %w", m.ID, b.err))
	}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: %w", m.ID, ErrClosed))
	}
	select {
	case q.queue <- req:
		q.mu.RUnlock()
	default:
		q.mu.RUnlock()
		return hookvault.Receipt{}, errOverloaded
	}
	timer := time.NewTimer(q.opts.Timeout)
	defer timer.Stop()
	select {
	case res := <-req.result:
		resultChans.Put(req.result) // drained, so safe to hand to the next caller
		return res.receipt, res.err
	case <-timer.C:
	}
	if req.state.CompareAndSwap(queued, abandoned) {
		resultChans.Put(req.result) // no writer will ever send on it
		return hookvault.Receipt{}, hookvault.Unavailable(fmt.Errorf("insert %q: no writer free within %v; not written", m.ID, q.opts.Timeout))
	}
	// A writer claimed it first: the transaction, bounded by its own context, decides.
	res := <-req.result
	resultChans.Put(req.result)
	return res.receipt, res.err
}

// Break stops the queue for good because of err, a failure that no retry or probe can
// clear: every insert from now on, queued ones included, is answered EUNAVAILABLE without
// being written, and Check reports err. The first cause is kept.
func (q *Queue) Break(err error) {
	q.broken.CompareAndSwap(nil, &brokenBy{err: err})
}

// Check reports why the queue cannot take writes, or nil. After a permanent failure it
// reports that failure. After a failed commit it runs probe, a write to the database that
// changes no data, and clears the failure when the probe succeeds, unless another commit
// failed while the probe ran: a probe does not vouch for what happened after it started.
// Otherwise it costs nothing, so readiness can call it often.
func (q *Queue) Check(ctx context.Context, probe func(context.Context) error) error {
	if b := q.broken.Load(); b != nil {
		return b.err
	}
	q.health.Lock()
	failed, failures := q.failed, q.failures
	q.health.Unlock()
	if failed == nil {
		return nil
	}
	if err := probe(ctx); err != nil {
		if IsPermanent(err) {
			q.Break(err)
		}
		return fmt.Errorf("the last commit failed (%v), and so did a write probe: %w", failed, err)
	}
	q.health.Lock()
	defer q.health.Unlock()
	if q.failures == failures {
		q.failed = nil
	}
	if q.failed != nil {
		return fmt.Errorf("a commit failed while a write probe ran: %w", q.failed)
	}
	return nil
}

// record keeps the outcome of one transaction for Check. A transaction that wrote nothing
// (duplicates only) proves nothing about writing and changes nothing.
func (q *Queue) record(wrote bool, err error) {
	if err == nil && !wrote {
		return
	}
	if IsPermanent(err) {
		q.Break(err)
	}
	q.health.Lock()
	defer q.health.Unlock()
	q.failed = err
	if err != nil {
		q.failures++
	}
}

// Close stops taking inserts and waits until everything already queued is answered.
// Closing twice is a no-op.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	q.done.Wait()
}

// writeLoop is one writer. It blocks for the first waiting insert, takes whatever else is
// already queued without waiting for more, and commits the lot.
func (q *Queue) writeLoop() {
	batch := make([]*request, 0, q.opts.MaxBatch)
	msgs := make([]hookvault.Message, 0, q.opts.MaxBatch)
	receipts := make([]hookvault.Receipt, q.opts.MaxBatch)
	for first := range q.queue {
		// Let handlers that are already runnable reach the queue first: it costs a lone
		// insert one scheduler round trip, not a timer, and gathers more of the cohort that
		// the last commit just answered into this batch (fewer, larger commits: compare
		// store_commit_batch_size under `hookctl bulk -c 64` with and without it).
		runtime.Gosched()
		batch = append(batch[:0], first)
		size := batchBytes(first.m)
	fill:
		for len(batch) < q.opts.MaxBatch && size < q.opts.MaxBatchBytes {
			select {
			case req, ok := <-q.queue:
				if !ok {
					break fill
				}
				batch = append(batch, req)
				size += batchBytes(req.m)
			default:
				break fill
			}
		}
		if q.opts.BeforeBatch != nil {
			q.opts.BeforeBatch()
		}
		// Claim as late as possible, right before the transaction: an insert whose caller
		// gave up meanwhile is dropped, never written.
		msgs = msgs[:0]
		n := 0
		for _, req := range batch {
			if req.state.CompareAndSwap(queued, claimed) {
				batch[n] = req
				n++
				msgs = append(msgs, req.m)
			}
		}
		clear(batch[n:])
		if n > 0 {
			q.run(batch[:n], msgs, receipts[:n])
		}
	}
}

// batchBytes is what m counts against MaxBatchBytes: its large fields, the body and the
// request headers, which may each be up to a megabyte.
func batchBytes(m hookvault.Message) int { return len(m.Payload) + len(m.Headers) }

// run commits one batch and answers every caller in it: each with its own receipt when the
// transaction commits, all with EUNAVAILABLE when it does not or when the queue is broken.
func (q *Queue) run(batch []*request, msgs []hookvault.Message, receipts []hookvault.Receipt) {
	clear(receipts)
	var wrote bool
	var err error
	if b := q.broken.Load(); b != nil {
		err = b.err
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), q.opts.Timeout)
		start := time.Now()
		wrote, err = q.commit(ctx, msgs, receipts)
		cancel()
		q.record(wrote, err)
		if err == nil && wrote && q.opts.Observer != nil {
			q.opts.Observer.ObserveCommit(len(batch), time.Since(start))
		}
	}
	for i, req := range batch {
		res := result{receipt: receipts[i]}
		if err != nil {
			res = result{err: hookvault.Unavailable(fmt.Errorf("insert %q: %w", req.m.ID, err))}
		}
		req.result <- res
		batch[i] = nil // let the message be collected before the slot is reused
		msgs[i] = hookvault.Message{}
	}
}
