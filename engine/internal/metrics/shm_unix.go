//go:build unix

package metrics

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapShared maps size bytes of f shared between processes, read-only or
// read-write.
func mapShared(f *os.File, size int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_SHARED)
}

func unmapShared(b []byte) error { return unix.Munmap(b) }

// processExists reports whether a process with this pid exists.
func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
