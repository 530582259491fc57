//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"net"
	"syscall"
)

// alive reports whether a kept-alive connection can carry another request: the server has
// neither closed it nor sent anything on it unasked. One peek, which does not wait: Go's
// sockets do not block.
func alive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		return true // an answer either way: never wait for the socket to be readable
	}); err != nil {
		return false
	}
	// Nothing to read is the one state of an idle connection the server still holds open;
	// a read of 0 bytes is its close, of more an answer nobody asked for.
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR
}
