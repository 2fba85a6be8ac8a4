//go:build !linux

package writes_test

import "time"

// processCPU is not measured here: benchmarks leave out their CPU metric.
func processCPU() time.Duration { return -1 }
