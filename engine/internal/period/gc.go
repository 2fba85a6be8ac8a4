package period

import (
	"os"

	"github.com/jawas/jawas/internal/gcfloor"
)

// GCPercent is the engine's garbage-collection target unless GOGC is set.
// Every period allocates a render's worth of short-lived JS objects and the
// live heap is small (modules and states), so collecting four times less
// often costs a few MB and saves ~20% of the engine's CPU (bench/engine).
// Workers allocate nothing per request and keep the default.
const GCPercent = 400

// HeapFloor is the heap goal the engine keeps at least (internal/gcfloor)
// unless GOGC is set. Under write load the engine allocates ~2 KB of
// JavaScript objects per applied write on a live heap of ~10 MB, so at
// GOGC=400 alone it collected about every 50 MB, several times a second;
// with a 128 MiB floor it collects about every 120 MB (bench/writes, "none"
// at 64 writers: see README).
const HeapFloor = 128 << 20

// TuneGC sets the garbage collection of a process that runs the engine
// (GCPercent with HeapFloor), unless the operator set GOGC.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		gcfloor.Start(GCPercent, HeapFloor)
	}
}
