// This file implements the Linux system calls the journal depends on:
// fdatasync for group commit, and flock to tell live segments from dead ones.

package journal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's written data (and the size needed to read it) durable.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("fdatasync", err)
		}
		return nil
	}
}

// lockExclusive takes the writer's lock on f; it is held until f is closed or
// the process dies.
func lockExclusive(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return os.NewSyscallError("flock", err)
	}
	return nil
}

// isLive reports whether a writer holds the lock on f.
func isLive(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, os.NewSyscallError("flock", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		return false, os.NewSyscallError("flock", err)
	}
	return false, nil
}
