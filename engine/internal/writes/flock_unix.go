//go:build unix

package writes

import "golang.org/x/sys/unix"

// File locks (flock) keep two engines off one journal and order worker
// commits against the engine's read of a boundary (gate.go).
const (
	lockSH = unix.LOCK_SH
	lockEX = unix.LOCK_EX
	lockUN = unix.LOCK_UN
	lockNB = unix.LOCK_NB
)

var (
	errWouldBlock error = unix.EWOULDBLOCK
	errIntr       error = unix.EINTR
)

func sysFlock(fd int, how int) error { return unix.Flock(fd, how) }
