package period

// This file implements the engine's memory pressure guard, because the
// per-call guard (engine/internal/jsvm/memory.go) cannot see a source that
// keeps a little more each period (a module-level array pushed to every
// render): each call is small, the sum is not. Go cannot say which goja
// runtime holds which bytes, so the guard measures by taking away: when the
// live heap passes PressureFraction of the limit it drops the runtime of
// the source that allocated the most since its runtime was built, collects
// garbage, and sees how much that freed. A source whose runtime held at
// least a quarter of the live heap is charged a memory hit (three quarantine it);
// its runtime is rebuilt at its next call (module-level variables start
// over, the state is kept). It goes on to the next source until the heap is
// back under half the limit. Dropping a runtime that held little costs a
// rebuild and its module-level variables, nothing else.

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sort"
	"time"
)

// PressureFraction of MemoryGuard.Limit is where the guard acts: low
// enough that the heap's garbage and what Go does not manage (the binary's
// code, mapped snapshot files) fit in the rest.
const PressureFraction = 0.6

// MemoryGuard keeps the engine's live heap under its limit by rebuilding
// the runtimes that hold the most.
type MemoryGuard struct {
	Limit   int64            // serve.max_memory, bytes
	Sources func() []*Source // the running project's sources
	Log     *slog.Logger
	Every   time.Duration // how often the live heap is read; default 50ms

	warned time.Time
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// liveHeap is the heap the last garbage collection found live.
func liveHeap() int64 {
	s := [1]metrics.Sample{liveSample[0]}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// Run checks the heap after each garbage collection until ctx ends (its
// own goroutine). The live heap is only measured by a collection, so a
// check in between learns nothing: it used to poll every Every (20
// wake-ups a second of an idle engine, bench/README.md "Idle server").
// After relieving pressure it waits Every before the next check, since
// relieve collects garbage itself and a heap that no source holds would
// otherwise be checked again after each of those collections.
func (g *MemoryGuard) Run(ctx context.Context) {
	if g.Every <= 0 {
		g.Every = 50 * time.Millisecond
	}
	gcs := gcNotify(ctx)
	for {
		if float64(liveHeap()) >= PressureFraction*float64(g.Limit) {
			g.relieve()
			select {
			case <-ctx.Done():
				return
			case <-time.After(g.Every):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-gcs:
		}
	}
}

// gcNotify returns a channel that receives after garbage collections
// (several may make one receive) until ctx ends: a finalizer on an
// unreachable object runs after the collection that found it, and arms
// the next one.
func gcNotify(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	var arm func()
	arm = func() {
		s := new(gcSentinel)
		runtime.SetFinalizer(s, func(*gcSentinel) { // finalizer goroutine
			if ctx.Err() != nil {
				return // disarmed
			}
			select {
			case ch <- struct{}{}:
			default:
			}
			arm()
		})
	}
	arm()
	return ch
}

// gcSentinel holds a pointer so it is not a tiny allocation (which could
// share its block with a live object and never be finalized).
type gcSentinel struct{ _ *byte }

// relieve drops runtimes, the biggest allocators first, until the heap is
// back under half the limit or no source is left to try.
func (g *MemoryGuard) relieve() {
	runtime.GC()
	before := liveHeap()
	if float64(before) < PressureFraction*float64(g.Limit) {
		return // it was garbage
	}
	srcs := append([]*Source(nil), g.Sources()...)
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].mod.Allocated() > srcs[j].mod.Allocated() })
	freedAny := false
	for _, s := range srcs {
		if s.mod.Allocated() == 0 {
			break
		}
		if !s.TryHold() {
			return // evaluating: try again at the next tick, rather than charge another source for it
		}
		s.mod.ReleaseRuntime()
		s.Unhold()
		runtime.GC()
		after := liveHeap()
		freed := before - after
		if freed*4 >= before { // it held at least a quarter of the live heap
			freedAny = true
			what := fmt.Sprintf("the engine's live heap reached %d MiB of serve.max_memory (%d MiB) and this source's runtime held %d MiB of it", before>>20, g.Limit>>20, freed>>20)
			g.Log.Error("memory pressure: rebuilt the runtime of the source that held the most (module-level variables start over; the state is kept)",
				"source", s.Name, "freed_mib", freed>>20, "heap_mib", after>>20, "limit_mib", g.Limit>>20)
			if s.MemoryHit(what) {
				g.Log.Error("source quarantined: it keeps hitting its memory limit", "source", s.Name, "reason", s.Quarantined())
			}
		}
		before = after
		if after < g.Limit/2 {
			break
		}
	}
	if !freedAny && time.Since(g.warned) > time.Minute {
		g.warned = time.Now()
		g.Log.Warn("memory pressure: the engine's live heap is over its share of serve.max_memory and no source's runtime holds it (large states?); raise serve.max_memory",
			"heap_mib", before>>20, "limit_mib", g.Limit>>20)
	}
}
