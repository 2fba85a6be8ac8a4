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
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"time"

	"github.com/jawas/jawas/engine/internal/jsvm"
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
	// SetGoLimit makes the guard keep the Go runtime's memory limit at
	// GoLimit(Limit, what is resident outside Go's heap), read at every
	// check (off when the operator set GOMEMLIMIT).
	SetGoLimit bool

	warned time.Time
	goLim  int64 // the Go memory limit set last
}

// GoLimit is the Go runtime's memory limit for an engine whose RSS may
// not pass limit when files bytes of it are file-backed (the binary's
// pages, mapped files, which the runtime does not count): what is left,
// less a tenth of limit, because the runtime's limit is soft (a collection
// that cannot keep up lets the heap past it for a while) and the
// runtime's own overheads are not all counted either. Never below a
// quarter of limit.
func GoLimit(limit, files int64) int64 {
	return max(limit-files-limit/10, limit/4)
}

// setGoLimit applies GoLimit for what is resident outside Go's heap now,
// when it moved by a MiB or more since last set (setting it costs a
// stop of the world).
func (g *MemoryGuard) setGoLimit() {
	l := GoLimit(g.Limit, residentFiles())
	if d := l - g.goLim; d >= 1<<20 || d <= -1<<20 {
		debug.SetMemoryLimit(l)
		g.goLim = l
	}
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
		// The Go limit follows what is resident outside Go's heap; both
		// it and the live heap change only as memory is allocated, which
		// is when collections run: an idle engine does not wake for them.
		if g.SetGoLimit {
			g.setGoLimit()
		}
		if float64(liveHeap()) >= PressureFraction*float64(g.Limit) {
			g.relieve()
			// Under pressure, look again every Every rather than at the
			// next collection: the source that grows may be between them.
			select {
			case <-ctx.Done():
				return
			case <-time.After(g.Every):
			}
			continue
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
	dropped := jsvm.RuntimeDrops()
	srcs := append([]*Source(nil), g.Sources()...)
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].mod.Allocated() > srcs[j].mod.Allocated() })
	freedAny := false
	for _, s := range srcs {
		if s.mod.Allocated() == 0 {
			break
		}
		own := s.mod.RuntimeDrops()
		if !g.take(s) {
			return // busy past its budget: try again at the next tick, rather than charge another source for it
		}
		s.mod.ReleaseRuntime()
		runtime.GC()
		after := liveHeap()
		freed := before - after
		// Only this source's runtimes were dropped since before was
		// measured: what the collection freed is what it held.
		mine := jsvm.RuntimeDrops()-dropped == s.mod.RuntimeDrops()-own
		if freed*4 >= before && mine { // it held at least a quarter of the live heap
			freedAny = true
			what := fmt.Sprintf("the engine's live heap reached %d MiB of serve.max_memory (%d MiB) and this source's runtime held %d MiB of it", before>>20, g.Limit>>20, freed>>20)
			g.Log.Error("memory pressure: rebuilt the runtime of the source that held the most (module-level variables start over; the state is kept)",
				"source", s.Name, "freed_mib", freed>>20, "heap_mib", after>>20, "limit_mib", g.Limit>>20)
			// Charged while held: once quarantined, it is never evaluated
			// again, not even by a boundary that was waiting for it.
			if s.MemoryHit(what) {
				g.Log.Error("source quarantined: it keeps hitting its memory limit", "source", s.Name, "reason", s.Quarantined())
			}
		}
		s.Unhold()
		before, dropped = after, jsvm.RuntimeDrops()
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

// take holds s for the guard. A render of s running now is stopped
// (jsvm.Module.StopCall) rather than waited for: it may go on allocating
// for its whole budget while the heap is already over its share. Reducers
// are waited for. False when s could not be held within its budget.
func (g *MemoryGuard) take(s *Source) bool {
	s.claimed.Store(true) // no new evaluation starts meanwhile
	defer s.claimed.Store(false)
	deadline := time.Now().Add(s.Timeout + 100*time.Millisecond)
	for !s.busy.CompareAndSwap(false, true) {
		if time.Now().After(deadline) {
			return false
		}
		s.mod.StopCall()
		time.Sleep(time.Millisecond)
	}
	return true
}
