//go:build !linux

package snapshot_test

import "time"

// threadCPU is the thread's CPU time on Linux; elsewhere 0 (the
// benchmarks then report wall time only).
func threadCPU() time.Duration { return 0 }
