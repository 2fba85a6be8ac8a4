// Package gcfloor keeps a process's heap goal at or above a floor: it
// raises GOGC after each collection when the live heap is small, so a
// process with a small live heap and a high allocation rate (the engine:
// a few MB of modules and states, JavaScript objects for every applied
// write) collects every floor's worth of allocation instead of every few
// MB. The heap goal is max(live × (1 + base/100), floor), the
// "GC tuner" shape of TiDB and others; an operator's GOMEMLIMIT still caps
// it, as the runtime applies the limit over GOGC.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC the tuner sets: with a live heap a
// thousandth of the floor, the goal is already the floor.
const maxPercent = 100_000

// Percent returns the GOGC that makes the heap goal max(live × (1 +
// base/100), floor) for a live heap of live bytes.
func Percent(live, floor uint64, base int) int {
	if live == 0 {
		return maxPercent
	}
	if floor <= live {
		return base
	}
	p := (floor - live) * 100 / live
	if p > maxPercent {
		return maxPercent
	}
	return max(base, int(p))
}

// Tuner adjusts GOGC after every collection until Stop.
type Tuner struct {
	base  int
	floor uint64

	mu      sync.Mutex
	stopped bool
	percent int // GOGC as last set
	sample  [1]metrics.Sample
}

// Start sets GOGC to base and keeps the heap goal at or above floor bytes
// from the next collection on.
func Start(base int, floor uint64) *Tuner {
	t := &Tuner{base: base, floor: floor, percent: base}
	t.sample[0].Name = "/gc/heap/live:bytes"
	debug.SetGCPercent(base)
	t.arm()
	return t
}

// sentinel is garbage from birth: its cleanup runs after the next
// collection and re-arms the tuner with a new one.
type sentinel struct {
	_ *int // a pointer keeps it out of the tiny allocator, whose blocks can outlive it
}

func (t *Tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *Tuner) {
		if t.tune() {
			t.arm()
		}
	}, t)
}

// tune sets GOGC for the live heap the last collection left; false once
// stopped.
func (t *Tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample[:])
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return false // not this runtime's metric: leave GOGC at base
	}
	p := Percent(t.sample[0].Value.Uint64(), t.floor, t.base)
	// Small changes are not worth the runtime's recomputation.
	if d := p - t.percent; d > t.percent/16 || -d > t.percent/16 {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// GCPercent returns the GOGC the tuner set last.
func (t *Tuner) GCPercent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop ends the tuning and sets GOGC back to base.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(t.base)
	t.percent = t.base
}
