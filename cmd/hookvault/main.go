// Command hookvault is the webhook ingestion server. Configuration comes from environment
// variables and equal flags; run `hookvault -h` for the list.
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
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return configExit(stderr, "hookvault", err)
	}
	log := server.NewLogger(stderr, cfg)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, cfg, log); err != nil {
		log.Error("hookvault stopped with an error", "error", err.Error())
		return 1
	}
	return 0
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	db, err := config.LoadDatabase(args, getenv, stderr)
	if err != nil {
		return configExit(stderr, "hookvault migrate", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Migrate(ctx, db); err != nil {
		fmt.Fprintf(stderr, "hookvault migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "hookvault migrate: %s is up to date\n", db)
	return 0
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
