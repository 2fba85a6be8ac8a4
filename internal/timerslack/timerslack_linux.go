// Package timerslack reads a process's timer slack, which jawas sets on
// its children (engine/internal/prefork); the tests that check it, in
// several packages, read it here.
package timerslack

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Of is the timer slack of process pid's main thread, as
// /proc/PID/timerslack_ns shows it.
func Of(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/timerslack_ns")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n), err
}
