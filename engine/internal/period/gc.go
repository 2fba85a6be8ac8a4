package period

import (
	"os"

	"github.com/jawas/jawas/internal/gcfloor"
)

// GCPercent is the engine's garbage-collection target unless GOGC is set.
// Every period allocates a render's worth of short-lived JS objects and the
// live heap is small (modules and states), so collecting four times less
// often costs a few MB and saves a good part of the engine's CPU
// (bench/engine; figures in bench/README.md).
// Workers allocate nothing per request and keep the default.
const GCPercent = 400

// HeapFloor is the heap goal the engine keeps at least (internal/gcfloor)
// unless GOGC is set. Under write load the engine allocates JavaScript
// objects for every applied write on a live heap of a few MB, so at
// GOGC=400 alone it collected several times a second; with the floor it
// collects once per floor's worth of allocation (bench/writes, "none" at
// 64 writers; figures in bench/README.md).
const HeapFloor = 128 << 20

// TuneGC sets the garbage collection of a process that runs the engine
// (GCPercent with HeapFloor), unless the operator set GOGC.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		gcfloor.Start(GCPercent, HeapFloor)
	}
}
