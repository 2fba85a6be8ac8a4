package jsvm

// This file implements the per-call memory guard, because goja has no heap
// limit: one render that pushes into an array without end takes the whole
// engine (every source) down with it. A watchdog samples Go's cumulative
// heap allocation counter (runtime/metrics /gc/heap/allocs:bytes) while a
// call runs and interrupts the runtime once the call has allocated more
// than Options.MaxMemory. The counter is process-wide: a call is charged
// what every goroutine allocated while it ran, so a source evaluated beside
// a heavy one may be charged part of that one's allocations. The limit is
// meant to stop runaway allocation, not to account bytes exactly.
//
// A runtime stopped for memory is dropped and rebuilt (its memory is only
// given back when nothing references it); one stopped for its time budget
// is kept (see recover in jsvm.go). For the engine's memory pressure guard
// (engine/internal/period/memory.go), ReleaseRuntime drops it between
// calls and StopCall stops a running render so that it can.

import (
	"errors"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// DefaultMaxMemory is the default of Options.MaxMemory: 256 MiB.
const DefaultMaxMemory = 256 << 20

// memSample is how often the watchdog reads the allocation counter while a
// call runs. A call shorter than that is never sampled (one timer, stopped).
const memSample = time.Millisecond

// errMemory is the value the memory watchdog interrupts a runtime with;
// errPressure the one StopCall does.
var (
	errMemory   = errors.New("memory limit exceeded")
	errPressure = errors.New("stopped by the engine's memory pressure guard")
)

// IsMemoryError reports whether err is a call stopped by the memory guard.
func IsMemoryError(err error) bool {
	var me MemoryError
	return errors.As(err, &me) || errors.Is(err, errMemory)
}

// MemoryError is the Diagnostic of a call the memory guard stopped.
type MemoryError struct{ Err error }

func (e MemoryError) Error() string { return e.Err.Error() }
func (e MemoryError) Unwrap() error { return e.Err }

// memStats is a module's memory accounting.
type memStats struct {
	// allocated counts the bytes allocated (process-wide) during this
	// module's calls since its runtime was built: the engine's pressure
	// guard looks at the biggest first. Any goroutine.
	allocated atomic.Int64
	// drop asks the next call to rebuild the runtime first. Any goroutine.
	drop atomic.Bool
	// call is the call running now (nil between calls). Any goroutine.
	call atomic.Pointer[memCall]
	// drops counts the runtimes this module dropped. Any goroutine.
	drops atomic.Int64
}

// drops counts the runtimes every module dropped: the pressure guard
// charges a source for what a collection freed only when no other
// module's runtime was dropped meanwhile.
var drops atomic.Int64

// RuntimeDrops returns how many runtimes all modules have dropped (given
// up for collection) since the process started. Any goroutine.
func RuntimeDrops() int64 { return drops.Load() }

// RuntimeDrops returns how many runtimes m has dropped. Any goroutine.
func (m *Module) RuntimeDrops() int64 { return m.mem.drops.Load() }

var allocsSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocs returns the bytes the process has allocated on the heap since
// it started.
func heapAllocs() uint64 {
	s := [1]metrics.Sample{allocsSample[0]}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// memCall is one running call as the memory guards see it: the per-call
// watchdog and the engine's pressure guard (StopCall) interrupt it through
// here, never after it ended.
type memCall struct {
	mu    sync.Mutex
	vm    *goja.Runtime // nil once the call is over (unpin, jsvm.go)
	fired bool          // interrupted: the caller must clear the interrupt
	t     *time.Timer   // the watchdog's sampler; nil when MaxMemory is off
}

// interrupt interrupts the call with v unless it is over; it reports
// whether it did.
func (c *memCall) interrupt(v error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vm == nil {
		return false
	}
	c.vm.Interrupt(v)
	c.fired = true
	return true
}

// watchMemory starts the watchdog of one call on vm. stop ends it: it
// reports whether the call was interrupted for memory (the caller must
// then clear the interrupt) and adds what the call allocated to m's count.
// A stoppable call (a render) is one StopCall may interrupt; reducers are
// not, since their events would be rejected.
func (m *Module) watchMemory(vm *goja.Runtime, stoppable bool) (stop func() (fired bool)) {
	limit := m.opt.MaxMemory
	start := heapAllocs()
	c := &memCall{vm: vm}
	if stoppable {
		m.mem.call.Store(c)
	}
	if limit > 0 {
		c.mu.Lock()
		c.t = time.AfterFunc(memSample, func() { // timer goroutine: samples until the call ends
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.vm == nil {
				return
			}
			if int64(heapAllocs()-start) > limit {
				c.vm.Interrupt(errMemory)
				c.fired = true
				return
			}
			c.t.Reset(memSample)
		})
		c.mu.Unlock()
	}
	return func() bool {
		m.mem.call.CompareAndSwap(c, nil)
		c.mu.Lock()
		c.vm = nil
		if c.t != nil {
			c.t.Stop()
		}
		f := c.fired
		c.mu.Unlock()
		m.mem.allocated.Add(int64(heapAllocs() - start))
		return f
	}
}

// StopCall interrupts the render running in the module now, if any, for the
// engine's memory pressure guard, so that the guard can take the module
// without waiting out a call that may keep allocating for its whole
// budget: the call fails saying so and its runtime is rebuilt (as after
// the per-call guard; it is not a memory hit). Reducers are never
// interrupted: their events would be rejected. It reports whether a
// render was running. Any goroutine.
func (m *Module) StopCall() bool {
	c := m.mem.call.Load()
	return c != nil && c.interrupt(errPressure)
}

// Allocated is what the module's calls allocated (counted process-wide
// while they ran) since its runtime was last built. Any goroutine.
func (m *Module) Allocated() int64 { return m.mem.allocated.Load() }

// DropRuntime makes the next call rebuild the runtime from the bundle (the
// top level runs again, module-level variables start over, the state is
// restored from the last good one), so the memory the old one holds can be
// collected. Any goroutine; takes effect at the next call.
func (m *Module) DropRuntime() { m.mem.drop.Store(true) }

// dropIfAsked drops the runtime when DropRuntime asked for it; the caller
// then rebuilds it (ensure).
func (m *Module) dropIfAsked() {
	if m.mem.drop.CompareAndSwap(true, false) {
		m.forgetRuntime()
		m.mem.allocated.Store(0)
	}
}

// memoryLimitText formats a byte count for messages: "256 MiB".
func memoryLimitText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return itoa(n>>30) + " GiB"
	case n >= 1<<20:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ReleaseRuntime drops the runtime now, so a garbage collection can take
// back what it held; the next call rebuilds it (as DropRuntime). The caller
// must hold the module (no call running).
func (m *Module) ReleaseRuntime() {
	m.forgetRuntime()
	m.mem.drop.Store(false)
	m.mem.allocated.Store(0)
}

// forgetRuntime drops the runtime and everything the module keeps that
// belongs to it, so nothing pins it once its call is over: the event slab
// still holds the events it handed out (each with its runtime and values;
// a reducer's runtime was kept alive by it until the slab's chunk ran out).
func (m *Module) forgetRuntime() {
	if m.rt != nil {
		drops.Add(1)
		m.mem.drops.Add(1)
	}
	m.rt = nil
	m.slab = nil
}
