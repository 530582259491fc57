//go:build unix

package server

import "syscall"

// writable asks the kernel whether this process may write path: access(2) says no on a
// read-only file system for root too, where file permissions would say yes.
func writable(path string) error {
	const wOK = 2 // W_OK, which package syscall does not name on every Unix
	return syscall.Access(path, wOK)
}
