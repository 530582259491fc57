package logbuf_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/logbuf"
)

// syncBuffer is what the process's stderr is to the writer: it records each write.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *syncBuffer) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.writes
}

// Info lines wait for the tick (or Close), in few writes; a warn line goes out at once with
// what was before it.
func TestLinesWaitForTheTickButWarningsDoNot(t *testing.T) {
	out := &syncBuffer{}
	b := logbuf.New(out, time.Hour, 64<<10)
	log := slog.New(logbuf.Handler(slog.NewJSONHandler(b, nil), b))
	for i := range 100 {
		log.Info("request", "n", i)
	}
	if s, _ := out.state(); s != "" {
		t.Fatalf("info lines written before the tick: %q", s)
	}
	log.Warn("disk almost full")
	s, writes := out.state()
	if strings.Count(s, "\n") != 101 || !strings.Contains(s, "disk almost full") || writes > 3 {
		t.Errorf("after a warning: %d lines in %d writes, want all 101 in a few", strings.Count(s, "\n"), writes)
	}
	log.With("k", "v").WithGroup("g").Error("stopped", "x", 1)
	if s, _ := out.state(); !strings.Contains(s, `"stopped"`) {
		t.Error("an error line under With and WithGroup was not written at once")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// The tick writes what waits; Close writes the rest; concurrent lines stay whole.
func TestTickAndCloseWriteEverythingWhole(t *testing.T) {
	out := &syncBuffer{}
	b := logbuf.New(out, 10*time.Millisecond, 4096)
	log := slog.New(logbuf.Handler(slog.NewJSONHandler(b, nil), b))
	log.Info("first")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if s, _ := out.state(); strings.Contains(s, "first") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tick did not write the line")
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.Info("request", "line", fmt.Sprintf("%d-%d-%s", g, i, strings.Repeat("x", 100)))
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := out.state()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 4001 {
		t.Fatalf("%d lines, want 4001", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("a line was cut or interleaved: %q", l)
		}
	}
}
