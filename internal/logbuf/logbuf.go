// Package logbuf buffers the log: the access log writes a line per request, and a write
// system call per line was a measurable share of a request's cost. Lines are written when the
// buffer fills, on a short tick, at once after a line at warn or above (Handler), and on
// Close, so that a line is late by at most the tick and none is lost at shutdown.
package logbuf

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Writer is an io.Writer that buffers whole writes (a log handler writes one line per call)
// for w. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Writer that flushes to w every interval, and whenever size bytes are held.
func New(w io.Writer, interval time.Duration, size int) *Writer {
	b := &Writer{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.tick(interval)
	return b
}

func (b *Writer) tick(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Flush writes what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the tick and writes what is buffered. Writes after Close are still buffered
// and written by the next Flush.
func (b *Writer) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}

// Handler wraps h, which writes to b, so that a record at warn or above is written at once:
// what needs attention is never waiting in a buffer when the process dies.
func Handler(h slog.Handler, b *Writer) slog.Handler {
	return &handler{Handler: h, b: b}
}

type handler struct {
	slog.Handler
	b *Writer
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.b.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{Handler: h.Handler.WithAttrs(attrs), b: h.b}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), b: h.b}
}
