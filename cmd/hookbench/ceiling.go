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

	"github.com/hookvault/hookvault/internal/loadgen"
)

// serveCeiling runs loadgen's bare net/http server as its own process, so that it competes
// for the CPUs like hookvault does: the difference between the two is everything hookvault
// does beyond HTTP.
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
	srv := loadgen.NewCeilingServer()
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
