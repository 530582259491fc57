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

// serveChild runs one of the servers hookbench starts beside hookvault, each a process of
// its own so that it competes for the CPUs as hookvault does: the ceiling, a bare
// net/http server (the difference between the two is everything hookvault does beyond
// HTTP); the durable ceiling (durable.go); and the destinations' receiver (receiver.go),
// which takes its share of the CPUs as an app on the same machine would.
func serveChild(name string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hookbench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on")
	dir := fs.String("dir", "", "durable: directory of the file the bodies are appended to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch name {
	case "ceiling":
		return serve(name, *addr, newCeilingServer(), stderr)
	case "receiver":
		return serve(name, *addr, &http.Server{Handler: &receiver{ids: map[string]struct{}{}}, ReadHeaderTimeout: 10 * time.Second}, stderr)
	}
	return serveDurable(*addr, *dir, stderr)
}

// serve runs srv on addr until SIGINT or SIGTERM, then lets it drain for up to 5 seconds.
func serve(name, addr string, srv *http.Server, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "%s: serving on %s\n", name, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	<-stopped // Serve returns at once; Shutdown returns when the handlers have
	return 0
}

var (
	ceilingAnswer      = []byte(`{"status":"ok","duplicate":false}` + "\n")
	ceilingContentType = []string{"application/json"}
)

// newCeilingServer returns the bare net/http server that hookvault is measured against: it
// reads the body and answers 200, nothing else, so its requests/s is what Go's HTTP stack
// alone serves on the machine. It has hookvault's limits, because each timeout costs a
// deadline per request and the ceiling should pay for them too.
func newCeilingServer() *http.Server {
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header()["Content-Type"] = ceilingContentType
			_, _ = w.Write(ceilingAnswer)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
