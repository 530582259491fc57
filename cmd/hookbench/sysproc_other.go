//go:build !linux

package main

import "syscall"

// childAttr has nothing to add where there is no parent-death signal; hookbench's own
// cleanup stops the servers.
func childAttr() *syscall.SysProcAttr { return nil }
