//go:build !linux

package main

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// childAttr has nothing to add where there is no parent-death signal; hookbench's own
// cleanup stops the servers.
func childAttr() *syscall.SysProcAttr { return nil }

// processCPU needs Linux's CPU-time clocks of other processes; elsewhere the CPU/req column
// reads n/a.
func processCPU(pid int) (time.Duration, error) {
	return 0, errors.New("the CPU time of another process is read on Linux only")
}

// datasync is fsync where there is no fdatasync.
func datasync(f *os.File) error { return f.Sync() }

// fsType is only known on Linux.
func fsType(dir string) string { return "" }
