package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ceilingAnswer has the members loadgen checks in a 200, without the id: the ceiling does
// not parse what it reads, which is the point of it.
var ceilingAnswer = []byte(`{"status":"ok","duplicate":false}` + "\n")

var jsonContentType = []string{"application/json"}

// serveCeiling is the bare net/http server that hookvault is compared with: it reads each
// body to the end, as hookvault must, and answers 200 with a small JSON, so the difference
// between the two is everything hookvault does beyond HTTP.
func serveCeiling(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hookbench ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "ceiling: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header()["Content-Type"] = jsonContentType
			_, _ = w.Write(ceilingAnswer)
		}),
		// hookvault's limits (README, Operations): each timeout costs a deadline per
		// request, so the ceiling pays for them too.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "ceiling: serving on %s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "ceiling: %v\n", err)
		return 1
	}
	return 0
}
