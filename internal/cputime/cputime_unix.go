//go:build unix

// Package cputime reads the CPU time this process has used, for benchmarks
// that report CPU per operation beside wall time: on a shared box it
// measures a benchmark's own work more steadily than the clock does.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the user and system CPU time of this process so far, GC
// workers included; -1 when it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
