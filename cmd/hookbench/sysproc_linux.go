package main

import "syscall"

// childAttr makes the kernel kill a server when hookbench dies, even by SIGKILL, which no
// deferred cleanup survives.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
