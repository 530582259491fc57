// Package mounttest mounts small file systems for tests of what a store does when its disk
// fills up or turns read-only, failures that file permissions cannot stand in for when the
// tests run as root. Mounting needs root: without it the tests skip, saying so; under CI
// (CI set) they fail instead, so that a CI run cannot pass without them.
package mounttest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// skip skips the test, or fails it when CI is set.
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf(format+" (CI is set, so this test may not skip)", args...)
	}
	tb.Skipf(format, args...)
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Tmpfs mounts an empty tmpfs of size (as mount takes it: "4m") on a new temporary folder
// and returns the folder. It is unmounted when the test ends, after the cleanups registered
// later (a store opened on it is closed first).
func Tmpfs(tb testing.TB, size string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		skip(tb, "mounting a file system needs root: run the tests as root (sudo -E go test …) to test a full or read-only disk")
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		skip(tb, "cannot mount a tmpfs (a container without CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if err := exec.Command("umount", dir).Run(); err != nil {
			_ = exec.Command("umount", "-l", dir).Run() // still busy: detach it now, free it when idle
		}
	})
	return dir
}

// ReadOnly remounts the file system at dir, mounted by Tmpfs, read-only: every write to it
// fails with EROFS, for root too.
func ReadOnly(tb testing.TB, dir string) {
	tb.Helper()
	run(tb, "mount", "-o", "remount,ro", dir)
}

// Fill takes the free space of the file system at dir with a file and returns a function
// that deletes it again.
func Fill(tb testing.TB, dir string) (free func()) {
	tb.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			size /= 2 // the last bytes go in smaller writes
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		tb.Logf("close filler: %v", err)
	}
	return func() {
		if err := os.Remove(f.Name()); err != nil {
			tb.Fatal(err)
		}
	}
}
