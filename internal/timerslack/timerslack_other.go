//go:build !linux

package timerslack

import (
	"errors"
	"time"
)

// Of is Linux only: elsewhere it says so.
func Of(pid int) (time.Duration, error) {
	return 0, errors.New("timerslack: the timer slack is read from /proc/PID/timerslack_ns, on Linux only")
}
