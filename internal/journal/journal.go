// Package journal keeps the rejection journal: every refused delivery and every conflicting
// body, recorded off the request path. The HTTP edge hands an entry over after it has
// answered; a bounded queue takes it without ever blocking (what does not fit is dropped and
// counted), and one writer stores the entries in batches, computing the signature hints on
// the way, then prunes the journal to its age and row bounds in small batches.
//
// A flood of forged deliveries is the journal's worst case and the moment it matters most:
// the queue bounds its memory, the batches bound its share of the store's writer, and the
// hints (the one costly part) are rate-limited per source.
package journal

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// Entry is one refused delivery, as the HTTP edge saw it.
type Entry struct {
	hookvault.Rejection
	// HashBody asks the writer to set BodySHA256 from Body, which is then the whole body
	// (the journal keeps its first BodyBytes): hashing a large body is not done on the
	// request path.
	HashBody bool
	// Hints, when set, computes the signature hints (provider.Source.Hints) from the whole
	// body; it runs on the writer, after the answer. Set it only when WantsHints says so,
	// and with HashBody (it needs the whole body).
	Hints func(body []byte) []string
	// held is what the entry counts against the queue's byte bound.
	held int64
}

// Options configure a Recorder. Zero values take the defaults in parentheses.
type Options struct {
	Store hookvault.Journal
	// BodyBytes is REJECTION_BODY_BYTES: how much of a body an entry keeps (0 keeps none).
	BodyBytes int
	// Retention (REJECTION_RETENTION; 0 keeps forever) and MaxRows (REJECTION_MAX_ROWS; 0:
	// no bound) bound the journal; PruneEvery is how often they are enforced (1 min).
	Retention  time.Duration
	MaxRows    int
	PruneEvery time.Duration
	// QueueEntries (4096) and QueueBytes (16 MiB) bound what waits for the writer.
	QueueEntries int
	QueueBytes   int64
	// Batch is the most entries one append stores (256).
	Batch int
	// HintsPerSecond bounds the hints computed per source (10/s, bursts of 20): a flood of
	// forged deliveries must cost little, and its first entries say what is wrong already.
	HintsPerSecond float64
	// Busy reports whether the server is busy receiving (as for the relay): the writer then
	// stores at most one batch per BusyEvery (100 ms), and the queue absorbs the rest or
	// drops it, so a flood of forged deliveries takes little from the real ones.
	Busy      func() bool
	BusyEvery time.Duration
	// Dropped is told of each entry the queue could not take.
	Dropped func()
	Logger  *slog.Logger
	Now     func() time.Time
}

// Recorder is the journal's queue and writer.
type Recorder struct {
	opts    Options
	queue   chan *Entry
	held    atomic.Int64 // bytes of the queued entries
	done    chan struct{}
	stop    chan struct{}
	closing sync.Once

	mu    sync.Mutex
	hints map[string]*rate.Limiter // per source

	// sincePrune counts the entries appended since the last prune (writer only): a flood
	// fills the journal faster than the ticker prunes it, so the volume prunes it too.
	sincePrune int
}

// New starts a Recorder's writer.
func New(opts Options) *Recorder {
	if opts.QueueEntries <= 0 {
		opts.QueueEntries = 4096
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 16 << 20
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.HintsPerSecond <= 0 {
		opts.HintsPerSecond = 10
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dropped == nil {
		opts.Dropped = func() {}
	}
	if opts.BusyEvery <= 0 {
		opts.BusyEvery = 100 * time.Millisecond
	}
	r := &Recorder{opts: opts, queue: make(chan *Entry, opts.QueueEntries), done: make(chan struct{}),
		stop: make(chan struct{}), hints: map[string]*rate.Limiter{}}
	go r.run()
	return r
}

// Record queues e, cutting its body to BodyBytes. It never blocks: when the queue is full
// (by entries or bytes) or closed, the entry is dropped and counted.
func (r *Recorder) Record(e Entry) {
	keep := len(e.Body)
	if !e.HashBody {
		keep = min(keep, r.opts.BodyBytes)
	}
	e.held = int64(keep + len(e.Headers) + len(e.Reason) + 512)
	select {
	case <-r.stop:
		r.opts.Dropped()
		return
	default:
	}
	if r.held.Add(e.held) > r.opts.QueueBytes {
		r.held.Add(-e.held)
		r.opts.Dropped()
		return
	}
	// A copy, made once there is room for it: the request's buffer goes back to the server
	// when the request ends.
	e.Body = append([]byte(nil), e.Body[:keep]...)
	select {
	case <-r.stop:
		r.held.Add(-e.held)
		r.opts.Dropped()
	case r.queue <- &e:
	default:
		r.held.Add(-e.held)
		r.opts.Dropped()
	}
}

// Close stores what is queued and stops the writer, or gives up when ctx ends.
func (r *Recorder) Close(ctx context.Context) error {
	r.closing.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	prune := time.NewTicker(r.opts.PruneEvery)
	defer prune.Stop()
	r.prune()
	batch := make([]*Entry, 0, r.opts.Batch)
	for {
		select {
		case e := <-r.queue:
			batch = append(batch[:0], e)
			// Whatever arrived while the last batch was written goes in this one.
		more:
			for len(batch) < r.opts.Batch {
				select {
				case e := <-r.queue:
					batch = append(batch, e)
				default:
					break more
				}
			}
			began := time.Now()
			r.write(batch)
			r.yield(began)
		case <-prune.C:
			r.prune()
		case <-r.stop:
			// Store what was queued before Close, then end.
			for len(r.queue) > 0 {
				batch = batch[:0]
				for len(batch) < r.opts.Batch && len(r.queue) > 0 {
					batch = append(batch, <-r.queue)
				}
				r.write(batch)
			}
			return
		}
	}
}

// yield holds the writer back while the server is busy receiving, until BusyEvery has passed
// since the last batch began, or Close.
func (r *Recorder) yield(began time.Time) {
	if r.opts.Busy == nil || !r.opts.Busy() {
		return
	}
	wait := r.opts.BusyEvery - time.Since(began)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.stop:
	}
}

func (r *Recorder) write(batch []*Entry) {
	rs := make([]hookvault.Rejection, len(batch))
	var held int64
	for i, e := range batch {
		held += e.held
		if e.HashBody {
			sum := sha256.Sum256(e.Body)
			e.BodySHA256 = sum[:]
			if e.Hints != nil {
				e.Rejection.Hints = bound(e.Hints(e.Body))
			}
			e.Body = e.Body[:min(len(e.Body), r.opts.BodyBytes)]
		}
		rs[i] = e.Rejection
	}
	if r.opts.MaxRows > 0 {
		if over := len(rs) - r.opts.MaxRows; over > 0 {
			// A batch larger than the whole bound (a bound below the batch size): its oldest
			// entries would be pruned at once; they are dropped instead, and counted so.
			for range over {
				r.opts.Dropped()
			}
			rs = rs[over:]
		}
		if r.sincePrune+len(rs) > r.slack() {
			// The journal must not pass MaxRows even between two prunes: make room first.
			r.pruneTo(r.opts.MaxRows - max(r.slack(), len(rs)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.opts.Store.AppendRejections(ctx, rs); err != nil {
		// The journal is a help for operators, not a promise to senders: a batch the store
		// refuses is logged and counted as dropped, and recording goes on.
		r.opts.Logger.Warn("rejection journal: a batch could not be stored", slog.Int("entries", len(rs)), slog.Any("error", err))
		for range rs {
			r.opts.Dropped()
		}
	} else {
		r.sincePrune += len(rs)
	}
	r.held.Add(-held)
}

// WantsHints reports whether the hint rate of source has room, and takes its share if so:
// the caller then sets Entry.Hints, and keeps the body they need.
func (r *Recorder) WantsHints(source string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.hints[source]
	if !ok {
		if len(r.hints) >= maxHintLimiters {
			// Unknown sources are many only under attack, and they get no hints anyway.
			return false
		}
		l = rate.NewLimiter(rate.Limit(r.opts.HintsPerSecond), int(2*r.opts.HintsPerSecond))
		r.hints[source] = l
	}
	return l.Allow()
}

// maxHintLimiters bounds the per-source limiters (configured sources are at most a few
// hundred).
const maxHintLimiters = 1024

// bound keeps hints within the journal's bounds.
func bound(hints []string) []string {
	if len(hints) > hookvault.MaxRejectionHints {
		hints = hints[:hookvault.MaxRejectionHints]
	}
	for i, h := range hints {
		hints[i] = hookvault.TruncateUTF8(h, hookvault.MaxRejectionHintBytes)
	}
	return hints
}

// slack is how many entries may be appended between two prunes: a tenth of MaxRows (at
// least one), so that a flood prunes every tenth of the bound, not every batch.
func (r *Recorder) slack() int { return max(r.opts.MaxRows/10, 1) }

// prune deletes what is older than Retention, and the oldest entries beyond MaxRows less
// the slack, so that the next slack of appends finds room: the journal never holds more than
// MaxRows entries, whatever the rate of refusals (write prunes before an append that would
// pass the bound). It runs every PruneEvery and whenever write needs room.
func (r *Recorder) prune() {
	r.pruneTo(r.opts.MaxRows - r.slack())
}

// pruneTo is prune keeping at most keep entries (when MaxRows bounds them), a batch at a
// time, so that it never holds the store's writer for long.
func (r *Recorder) pruneTo(keep int) {
	r.sincePrune = 0
	if r.opts.Retention <= 0 && r.opts.MaxRows <= 0 {
		return
	}
	if r.opts.MaxRows <= 0 {
		keep = -1 // no bound on rows
	} else {
		keep = max(keep, 0)
	}
	var before time.Time
	if r.opts.Retention > 0 {
		before = r.opts.Now().Add(-r.opts.Retention)
	}
	total := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := r.opts.Store.PruneRejections(ctx, before, keep, pruneBatch)
		cancel()
		total += n
		if err != nil {
			r.opts.Logger.Warn("rejection journal: pruning failed", slog.Any("error", err))
			return
		}
		if n < pruneBatch {
			break
		}
		select {
		case <-r.stop:
			// The rest waits for the next start; the writer's queue comes first.
			return
		default:
		}
	}
	if total > 0 {
		r.opts.Logger.Info("rejection journal pruned", slog.Int("deleted", total))
	}
}

// pruneBatch is how many entries one prune transaction deletes.
const pruneBatch = 500
