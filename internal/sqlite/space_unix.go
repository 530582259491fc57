//go:build unix

package sqlite

import "syscall"

// freeBytes is the room an unprivileged process may still fill on the file system that holds
// dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
