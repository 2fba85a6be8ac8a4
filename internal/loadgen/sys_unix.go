//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit and checks
// that clients connections fit.
func raiseNoFile(clients int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit nofile %d: %w", lim.Max, err)
		}
	}
	// Cur is uint64 on Linux and int64 on the BSDs.
	if need := uint64(clients) + 64; uint64(lim.Cur) < need {
		return fmt.Errorf("%d clients need %d file descriptors, RLIMIT_NOFILE is %d", clients, need, lim.Cur)
	}
	return nil
}

// selfCPU is the user+sys time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
