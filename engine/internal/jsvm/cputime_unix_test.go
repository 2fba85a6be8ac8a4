//go:build unix

package jsvm

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the process's user+sys CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f b.N times (b.Loop) and reports the process's CPU time
// per call as cpu-ns/op beside the wall time: on a machine shared with
// other work, wall time counts the time others ran, CPU time does not
// (it does count this process's garbage collection, which is part of
// the cost).
func loopCPU(b *testing.B, f func()) {
	b.Helper()
	var c0 time.Duration
	n := 0
	for b.Loop() {
		if n == 0 {
			c0 = processCPU()
		}
		f()
		n++
	}
	if n > 1 {
		b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/float64(n-1), "cpu-ns/op")
	}
}
