package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/hookvault/hookvault/internal/loadgen"
)

// loadConfig is the load of every comparison but the flood's forged deliveries: -c
// workers sending through the raw engine, each run ended by -max-run at the latest.
func (b *bench) loadConfig(secret []byte, urls ...string) loadgen.Config {
	return loadgen.Config{URLs: urls, Secret: secret, Concurrency: b.o.concurrency, Duration: b.o.maxRun, Connect: newRawConn}
}

// measured sends the measured run of -n requests with cfg (after its warm-up), says so if
// -max-run cut it short, and shows any unexpected answers.
func (b *bench) measured(ctx context.Context, name string, cfg loadgen.Config) (loadgen.Report, error) {
	to := ""
	if len(cfg.URLs) > 1 {
		to = fmt.Sprintf(" to %d servers", len(cfg.URLs))
	}
	fmt.Fprintf(b.log, "%s: %d requests over %d connections%s\n", name, b.o.count, cfg.Concurrency, to)
	cfg.Count = b.o.count
	rep, err := loadgen.Run(ctx, cfg, nil)
	if err != nil {
		return rep, err
	}
	if rep.Sent < b.o.count {
		fmt.Fprintf(b.out, "%s: -max-run %s ended the run after %d of %d requests\n", name, b.o.maxRun, rep.Sent, b.o.count)
	}
	samples(b.out, name, rep)
	return rep, nil
}

// startVault starts hookvault with env on a free loopback port and waits until it is
// ready; it returns the process and its base URL.
func (b *bench) startVault(ctx context.Context, name, binary string, env []string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := b.start(name, binary, nil, append(slices.Clip(env), "LISTEN_ADDR="+addr))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	return p, base, waitReady(ctx, p, base+"/health/ready")
}

// interleaved runs both configurations of a comparison once a round, for rounds rounds,
// the order alternating so that neither always runs second, on a machine that the other
// run has warmed up (page cache, CPU frequency).
func interleaved[R any](rounds int, run func(round int, config bool) (R, error)) ([]R, error) {
	var runs []R
	for round := 1; round <= rounds; round++ {
		order := []bool{false, true}
		if round%2 == 0 {
			order = []bool{true, false}
		}
		for _, config := range order {
			r, err := run(round, config)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
	}
	return runs, nil
}
