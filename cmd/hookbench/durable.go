package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The durable ceiling's bounds are hookvault's defaults (internal/groupcommit's queue and
// batch, MAX_BODY_BYTES), so that the two queue and commit alike.
const (
	durableQueueSize     = 2048
	durableMaxBatch      = 256
	durableMaxBatchBytes = 1 << 20
	durableMaxBody       = 1 << 20
)

// durableFile is the file the durable ceiling appends to, in its -dir.
const durableFile = "bodies.dat"

// durablePrealloc is the space the durable ceiling writes zeros into before it serves, so
// that its appends overwrite blocks the file already has, as SQLite's write-ahead log does
// once it restarts after a checkpoint. An fdatasync after a write that grows the file also
// commits the new size and blocks to the file system's journal: on the ext4 disk this was
// written on, about twice the time of one after an overwrite (p50 190 µs against 86 µs), a
// cost that hookvault's commits mostly do not pay. Past it, the file grows.
const durablePrealloc = 64 << 20

// errQueueFull is what an append meets when durableQueueSize bodies already wait.
var errQueueFull = errors.New("append queue is full")

// bodyLog is the durable ceiling's store: handlers hand their body to one writer goroutine,
// which appends whatever is queued with one write and one fdatasync, then answers every
// handler of the group. It is what durable ingest costs with no index, no validation and no
// deduplication. Each record is the body's length plus one (4 bytes, big-endian), then the
// body: the zeros of the preallocated space after the last record end the log.
type bodyLog struct {
	f     *os.File
	end   int64 // where the next group goes; only the writer moves it
	queue chan *appendReq
	done  chan struct{} // closed when the writer has answered everything queued
	full  atomic.Int64  // appends refused because the queue was full
	// What the writer did, for the log at exit: bodies appended in how many groups.
	bodies, groups atomic.Int64
}

type appendReq struct {
	body []byte
	err  chan error // buffered: the writer never waits for the handler
}

// openBodyLog creates the file at path (emptying one that is there), preallocates the
// first prealloc bytes of it, and starts the writer.
func openBodyLog(path string, prealloc int64) (*bodyLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := preallocate(f, prealloc); err != nil {
		f.Close()
		return nil, err
	}
	l := newBodyLog(f, durableQueueSize)
	go l.writeLoop()
	return l, nil
}

// preallocate writes size bytes of zeros into f and syncs them: real blocks, unlike
// fallocate's, whose first write still changes the file system's metadata.
func preallocate(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

func newBodyLog(f *os.File, queueSize int) *bodyLog {
	return &bodyLog{f: f, queue: make(chan *appendReq, queueSize), done: make(chan struct{})}
}

// append queues body and returns once it is written and synced to the disk, or at once with
// errQueueFull when the queue is full: a backlog fails fast, as hookvault's does. It must not
// be called after close.
func (l *bodyLog) append(body []byte) error {
	req := &appendReq{body: body, err: make(chan error, 1)}
	select {
	case l.queue <- req:
	default:
		l.full.Add(1)
		return errQueueFull
	}
	return <-req.err
}

// writeLoop blocks for the first queued body, takes whatever else is queued without waiting
// for more, appends the group with one write and one fdatasync, and answers each handler.
func (l *bodyLog) writeLoop() {
	defer close(l.done)
	batch := make([]*appendReq, 0, durableMaxBatch)
	var buf []byte
	for first := range l.queue {
		// As internal/groupcommit does: let handlers that are already runnable reach the
		// queue first, so that a group gathers the cohort the last sync just answered.
		runtime.Gosched()
		batch = append(batch[:0], first)
		size := len(first.body)
	fill:
		for len(batch) < durableMaxBatch && size < durableMaxBatchBytes {
			select {
			case req, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, req)
				size += len(req.body)
			default:
				break fill
			}
		}
		buf = buf[:0]
		for _, req := range batch {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(req.body))+1)
			buf = append(buf, req.body...)
		}
		err := writeSync(l.f, buf, l.end)
		l.end += int64(len(buf))
		if err == nil {
			l.bodies.Add(int64(len(batch)))
			l.groups.Add(1)
		}
		for _, req := range batch {
			req.err <- err
		}
		clear(batch)
	}
}

// close waits until every queued body is answered, then closes the file. The server must
// have stopped calling append (http.Server.Shutdown waits for its handlers).
func (l *bodyLog) close() error {
	close(l.queue)
	<-l.done
	return l.f.Close()
}

// writeSync writes b at off in f and flushes it to the disk: one group commit of the
// durable ceiling, and one sample of the fsync probe.
func writeSync(f *os.File, b []byte, off int64) error {
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return datasync(f)
}

// newDurableServer returns the bare ceiling server (its answer bytes and timeouts) with a
// handler that answers a POST only after its body is appended to l and synced. Other
// methods, the readiness check among them, are answered at once.
func newDurableServer(l *bodyLog) *http.Server {
	srv := newCeilingServer()
	answer := srv.Handler // reads what is left of the body (nothing) and writes the answer
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			answer.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, durableMaxBody))
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, err.Error(), status)
			return
		}
		if err := l.append(body); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, errQueueFull) {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, err.Error(), status)
			return
		}
		answer.ServeHTTP(w, r)
	})
	return srv
}

// serveDurable runs the durable ceiling as its own process, appending to durableFile in -dir.
func serveDurable(addr, dir string, stderr io.Writer) int {
	if dir == "" {
		fmt.Fprintln(stderr, "durable: -dir is required")
		return 2
	}
	l, err := openBodyLog(filepath.Join(dir, durableFile), durablePrealloc)
	if err != nil {
		fmt.Fprintf(stderr, "durable: %v\n", err)
		return 1
	}
	code := serve("durable", addr, newDurableServer(l), stderr)
	if err := l.close(); err != nil {
		fmt.Fprintf(stderr, "durable: %v\n", err)
		code = 1
	}
	if g := l.groups.Load(); g > 0 {
		fmt.Fprintf(stderr, "durable: %d bodies appended in %d groups (%.1f a group)\n", l.bodies.Load(), g, float64(l.bodies.Load())/float64(g))
	}
	if n := l.full.Load(); n > 0 {
		fmt.Fprintf(stderr, "durable: %d requests answered 503: the append queue (%d) was full\n", n, durableQueueSize)
	}
	return code
}

// fsyncStats is the latency of the disk's appends with fdatasync.
type fsyncStats struct {
	n             int
	p50, p99, max time.Duration
	// paced is the same probe with one append every so long, the steady -rate's spacing;
	// nil when there is no steady run.
	paced *fsyncStats
	every time.Duration
}

// fsyncBlock is the size of one probe append: a page, about what a group of small webhook
// bodies writes.
const fsyncBlock = 4 << 10

// probeFsync appends n blocks of fsyncBlock to a new file in dir, each followed by
// fdatasync, into space preallocated as the durable ceiling's, and returns how long each
// append took, write and sync together (the cost of one group commit of the durable
// ceiling). every > 0 starts one append every so long instead of back to back, as commits
// come at a steady rate: a sync after an idle gap takes longer on this machine. The file is
// removed afterwards.
func probeFsync(dir string, n int, every time.Duration) (fsyncStats, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return fsyncStats{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := preallocate(f, int64(n)*fsyncBlock); err != nil {
		return fsyncStats{}, fmt.Errorf("fsync probe: %w", err)
	}
	block := make([]byte, fsyncBlock)
	for i := range block {
		block[i] = byte('a' + i%26)
	}
	hist := hdrhistogram.New(1, (10 * time.Second).Microseconds(), 3)
	var slowest time.Duration
	began := time.Now()
	for i := range n {
		if every > 0 {
			time.Sleep(time.Until(began.Add(time.Duration(i) * every)))
		}
		start := time.Now()
		if err := writeSync(f, block, int64(i)*fsyncBlock); err != nil {
			return fsyncStats{}, fmt.Errorf("fsync probe: %w", err)
		}
		d := time.Since(start)
		slowest = max(slowest, d)
		_ = hist.RecordValue(min(max(1, d.Microseconds()), hist.HighestTrackableValue()))
	}
	// A quantile is the top of its histogram bucket, which may lie beyond the slowest append.
	q := func(p float64) time.Duration {
		return min(time.Duration(hist.ValueAtQuantile(p))*time.Microsecond, slowest)
	}
	return fsyncStats{n: n, p50: q(50), p99: q(99), max: slowest}, nil
}
