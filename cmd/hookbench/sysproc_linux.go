package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// childAttr makes the kernel kill a server when hookbench dies, even by SIGKILL, which no
// deferred cleanup survives.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processCPU reads the CPU time (user and system) a running process has used so far, all
// its threads together, those that ended included: the process's CPU-time clock
// (clock_getcpuclockid(3): clock id ((^pid)<<3)|2, CPUCLOCK_SCHED), in nanoseconds. The
// alternatives are coarser or narrower: /proc/PID/stat counts in clock ticks of 10 ms
// (USER_HZ), a tenth of a run's CPU time at 20,000 requests of 50 µs; /proc/PID/schedstat
// is the main thread's alone (and all zeros on kernels without schedstats, as on the
// machine this was written on); getrusage and ProcessState only know a child that has
// ended.
func processCPU(pid int) (time.Duration, error) {
	clock := (^pid)<<3 | 2
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, &os.SyscallError{Syscall: "clock_gettime", Err: errno}
	}
	return time.Duration(ts.Nano()), nil
}

// datasync flushes f's data (and the size it grew to) to the disk: what an append needs to
// be durable, without the modification time that fsync would write as well.
func datasync(f *os.File) error {
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return &os.SyscallError{Syscall: "fdatasync", Err: err}
	}
	return nil
}

// fsType names the file system dir is on, from statfs(2)'s magic number; "" when unknown.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	switch uint32(st.Type) {
	case 0xEF53:
		return "ext4" // or ext2, ext3: one magic number for all three
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0xF2F52010:
		return "f2fs"
	case 0x2FC12FC1:
		return "zfs"
	case 0x01021994:
		return "tmpfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x6969:
		return "nfs"
	}
	return fmt.Sprintf("file system 0x%X", uint32(st.Type))
}
