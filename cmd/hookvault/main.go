// Command hookvault is the webhook ingestion server. Configuration comes from environment
// variables and equal flags; run `hookvault -h` for the list, `hookvault --version` for the
// build.
//
// `hookvault migrate` only brings the database schema up to date and exits: run it once
// before starting replicas with DATABASE_AUTO_MIGRATE=false.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hookvault/hookvault/internal/buildinfo"
	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/server"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stderr))
}

// run is main without the process: it returns the exit code, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "migrate" {
		return migrate(ctx, args[1:], getenv, stderr)
	}
	if wantsVersion(args) {
		fmt.Fprintln(stderr, buildinfo.Read())
		return 0
	}
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return configExit(stderr, "hookvault", err)
	}
	cfg.LogFormat = server.ResolveLogFormat(cfg.LogFormat, stderr)
	log, closeLog := server.NewBufferedLogger(stderr, cfg)
	defer closeLog() // the last lines of a drain, before the process exits
	ctx, stop := onSignals(ctx)
	defer stop()
	if err := server.Run(ctx, cfg, log); err != nil {
		if _, ok := errors.AsType[*server.ConfigError](err); ok {
			_ = closeLog() // what was logged comes before the message below
			return configExit(stderr, "hookvault", err)
		}
		log.Error("hookvault stopped with an error", "error", err.Error())
		return 1
	}
	return 0
}

// onSignals returns a context cancelled by SIGTERM, or by an interrupt with the cause
// server.ErrInterrupted, which skips the shutdown delay meant for load balancers. After the
// first signal the default action is back, so a second Ctrl-C stops a slow drain at once
// (nothing acknowledged is lost by that either: a 2xx is sent only after the commit).
func onSignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			if sig == os.Interrupt {
				cancel(server.ErrInterrupted)
			} else {
				cancel(fmt.Errorf("signal %v", sig))
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel(nil) }
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	db, err := config.LoadDatabase(args, getenv, stderr)
	if err != nil {
		return configExit(stderr, "hookvault migrate", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Migrate(ctx, db); err != nil {
		if _, ok := errors.AsType[*server.ConfigError](err); ok {
			return configExit(stderr, "hookvault migrate", err)
		}
		fmt.Fprintf(stderr, "hookvault migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "hookvault migrate: %s is up to date\n", db)
	return 0
}

// wantsVersion reports whether the command line asks for the version (-version or
// --version, before a "--"), which the settings' flag set does not know.
func wantsVersion(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-version", "--version":
			return true
		}
	}
	return false
}

// configExit returns the exit code for an error loading the configuration of command: 0 when
// help was asked for (the flag package printed it), otherwise 2 after naming what is wrong.
func configExit(stderr io.Writer, command string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "%s: bad configuration:\n  %s\n", command, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	return 2
}
