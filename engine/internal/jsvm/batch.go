package jsvm

// This file implements ReduceBatch: a boundary's events for one source in
// one call into JavaScript, because crossing from Go into goja, building an
// event object from Go and stringifying the whole state for rollback once
// per event cost several times the reducers themselves (under write load
// that was the biggest share of the engine's CPU: bench/README.md,
// "Batched reducers").
//
// The contract is Reduce's, event by event: the same reducers see the same
// events in the same order, a failing event is rejected with the same
// diagnostic and its effects rolled back, the others applied. What changes
// is where the rollback point is kept: the last good state's JSON (m.good)
// is the snapshot of the whole batch, and a failure in the middle restores
// it and replays the events before the failure (reducers are deterministic
// by contract), then runs the failing event alone through Reduce, which
// gives its diagnostic with the author's file:line and rolls it back.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine"
)

// driverSrc evaluates to a factory that takes the Promise constructor
// (captured before the author's code runs) and tick (a Go function that
// starts the next event's budget), and returns reduceAll(state, reducers,
// evs, methods): evs are the event objects (event.go), methods[i] names
// the reducer of evs[i]; it applies the events in order and returns the
// state. An event that throws (or returns a Promise) stops the batch with
// an exception; the last tick tells Go which event it was.
const driverSrc = `(function (JSPromise, tick) {
  "use strict";
  return function reduceAll(state, reducers, evs, methods) {
    for (let i = 0; i < evs.length; i++) {
      tick(i);
      const v = reducers[methods[i]](state, evs[i]);
      if (v !== undefined) {
        if (v instanceof JSPromise) {
          throw new TypeError("reducers must be synchronous");
        }
        state = v;
      }
    }
    return state;
  };
})`

// driverPrg is driverSrc compiled once; every runtime runs it.
var driverPrg = goja.MustCompile("jawas:reduce", driverSrc, true)

// batchClock is where the running batch tells the budget timer which event
// it is at and since when. Written by the JavaScript thread (tick), read by
// the timer.
type batchClock struct {
	event atomic.Int64 // index (in the batch's text) of the running event; -1 before the first
	since atomic.Int64 // when it started, nanoseconds since base
	base  time.Time    // monotonic origin of since
}

func (c *batchClock) start(event int64) {
	c.since.Store(int64(time.Since(c.base)))
	c.event.Store(event)
}

// installDriver adds reduceAll to rt.
func (m *Module) installDriver(rt *runtime) error {
	factory, err := rt.vm.RunProgram(driverPrg)
	if err != nil {
		return err
	}
	mk, _ := goja.AssertFunction(factory)
	clock := &m.clock
	tick := rt.vm.ToValue(func(call goja.FunctionCall) goja.Value {
		clock.start(call.Argument(0).ToInteger())
		return goja.Undefined()
	})
	drv, err := mk(goja.Undefined(), rt.vm.Get("Promise"), tick)
	if err != nil {
		return err
	}
	rt.reduceAll, _ = goja.AssertFunction(drv)
	return nil
}

// ReduceBatch applies evs in order, as calling Reduce for each would, and
// returns one error per event (nil: applied). It runs the batch in one call
// into JavaScript: the events cross as one array of event objects
// (event.go; the bodies decoded from one JSON text by appendJSONArray),
// and the state is checked and encoded as JSON once, at the end.
//
// The rollback point is the state before the batch. When event k fails
// (throws, returns a Promise, or overruns its budget), the state is
// restored, events before k are replayed, event k is run alone through
// Reduce (its error is Reduce's diagnostic, located in the author's file;
// its effects are rolled back), and the batch goes on after k. When the
// state at the end is not JSON, the batch is redone one Reduce per event,
// so the event that broke it is the one rejected.
//
// The time budget (Options.Timeout) applies to each event, as in Reduce,
// and to the final JSON check: a timer interrupts the runtime when the
// running event started longer than Timeout ago.
func (m *Module) ReduceBatch(evs []Event) []error {
	errs := make([]error, len(evs))
	b := &m.batch
	defer b.reset(len(evs))
	todo := b.todo[:0]
	for i := range evs {
		method := strings.ToUpper(evs[i].Method)
		if !m.methods[method] {
			errs[i] = engine.Diagnostic{File: m.src.File, Message: fmt.Sprintf("%s has no reducer for %s; export function %s(state, event)", m.src.Name, method, strings.ToLower(method))}
			continue
		}
		todo = append(todo, i)
	}
	b.todo = todo
	for len(todo) > 0 {
		if err := m.ensure(); err != nil {
			for _, i := range todo {
				errs[i] = err
			}
			return errs
		}
		if err := b.fill(evs, todo); err != nil {
			break // a body Go cannot encode: Reduce reports it per event
		}
		at, err := m.runBatch(b)
		if err == nil {
			return errs
		}
		m.recover(err) // back to the state before todo
		if at < 0 || at >= len(todo) {
			break // the text did not parse, or the end state is not JSON
		}
		if at > 0 {
			// Replay what succeeded before the failure: it commits m.good.
			if err := m.ensure(); err != nil {
				break // Reduce reports it per event
			}
			err = b.fill(evs, todo[:at])
			if err == nil {
				_, err = m.runBatch(b)
			}
			if err != nil {
				// Not deterministic after all: event by event from here.
				m.recover(err)
				break
			}
		}
		m.alone++
		errs[todo[at]] = m.Reduce(evs[todo[at]])
		todo = todo[at+1:]
	}
	for _, i := range todo {
		m.alone++
		errs[i] = m.Reduce(evs[i])
	}
	return errs
}

// runBatch runs reduceAll over b (n events) and checks the state at the
// end. On success the state is committed (m.good). On failure it returns
// the index of the event that was running (n: the final check; -1: none
// had started) and the error; the runtime's state is then undefined and
// the caller must recover.
func (m *Module) runBatch(b *batch) (int, error) {
	rt := m.rt
	var next []byte
	n := len(b.ids)
	// Decoding is jsvm's work, not the author's: outside the budget (it
	// takes milliseconds for thousands of events on a busy machine).
	defer b.clearValues()
	var err error
	b.values, err = appendJSONArray(b.values[:0], rt.vm, b.bodies)
	if err == nil && len(b.values) != n {
		err = errors.New("jsvm: the batch's bodies are not one per event")
	}
	if err != nil {
		return -1, err // Reduce will say what is wrong, event by event
	}
	for i, body := range b.values { // each body makes way for its event
		b.values[i] = newEvent(rt, m.slab.next(), b.ids[i], b.methods[i], b.times[i], b.committed[i], body.(goja.Value), b.hdrs[i])
	}
	b.jsMethods = rt.appendMethods(b.jsMethods[:0], b.methods)
	m.clock.event.Store(-1)
	err = m.guardEach(rt, func() error {
		v, err := rt.reduceAll(goja.Undefined(), rt.state, rt.reducerObj, rt.vm.NewArray(b.values...), rt.vm.NewArray(b.jsMethods...))
		if err != nil {
			return err
		}
		rt.state = v
		m.clock.start(int64(n))
		next, err = rt.enc.encode(v, "the state after the batch", true, 0, m.opt.Timeout)
		return err
	})
	if err != nil {
		return int(m.clock.event.Load()), err
	}
	m.good = next
	return 0, nil
}

// guardEach runs f with a budget per event: a timer interrupts vm when the
// event m.clock names has run for longer than the budget. On return no
// interrupt is pending.
func (m *Module) guardEach(rt *runtime, f func() error) error {
	vm := rt.vm
	rt.loop.begin("reducer", false)
	defer rt.loop.end()
	budget := m.opt.Timeout
	var (
		mu          sync.Mutex
		t           *time.Timer
		finished    bool
		interrupted bool
	)
	m.clock.start(m.clock.event.Load())
	mu.Lock()
	t = time.AfterFunc(budget, func() {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		if left := budget - (time.Since(m.clock.base) - time.Duration(m.clock.since.Load())); left > 0 {
			t.Reset(left)
			return
		}
		vm.Interrupt(errBudget)
		interrupted = true
	})
	mu.Unlock()
	stopMem := m.watchMemory(vm, false) // the batch is one call for the memory guard
	err := f()
	memFired := stopMem()
	mu.Lock()
	finished = true
	t.Stop()
	if interrupted || memFired {
		vm.ClearInterrupt()
	}
	vm = nil // unpin (jsvm.go): the timer's func reads finished first
	mu.Unlock()
	return err
}

// batch is a batch of events as runBatch takes them: one slice per field,
// the bodies as one JSON array text (decoded by appendJSONArray). A Module
// keeps one and reuses its buffers from call to call, because growing them
// anew for every boundary was a large share of the bytes it allocated
// (BenchmarkApply in engine/internal/writes; figures in bench/README.md).
type batch struct {
	ids       []string
	methods   []string // upper case
	times     []int64  // arrival, Unix ms
	committed []int64  // Unix ms
	hdrs      [][]string
	bodies    []byte

	// runBatch's JavaScript values: the bodies, then the event objects in
	// their place; the methods. Both are copied into arrays (NewArray)
	// and cleared after the run.
	values, jsMethods []any

	todo []int // ReduceBatch's events still to apply
}

// Bounds on what a batch keeps between calls: a buffer is dropped when it
// is over 4 times what the call just made needed and holds more than
// maxKeptEvents events or maxKeptBytes bytes of bodies, so one huge
// boundary does not keep its memory for good.
const (
	maxKeptEvents = 1 << 14
	maxKeptBytes  = 4 << 20
)

// reset empties b after a ReduceBatch of n events (and its bodies), so it
// keeps no string or header of them, and drops buffers far larger than
// that needed.
func (b *batch) reset(n int) {
	clear(b.ids[:cap(b.ids)])
	clear(b.hdrs[:cap(b.hdrs)])
	if cap(b.ids) > max(4*n, maxKeptEvents) || cap(b.bodies) > max(4*len(b.bodies), maxKeptBytes) {
		*b = batch{}
		return
	}
	b.ids, b.methods, b.times, b.committed, b.hdrs, b.bodies, b.todo = b.ids[:0], b.methods[:0], b.times[:0], b.committed[:0], b.hdrs[:0], b.bodies[:0], b.todo[:0]
}

// appendMethods appends the JavaScript strings of methods (upper case) to
// dst, the same value for every event, so no string is converted per event.
func (rt *runtime) appendMethods(dst []any, methods []string) []any {
	for _, m := range methods {
		v, ok := rt.methods[m]
		if !ok {
			v = rt.vm.ToValue(m)
		}
		dst = append(dst, v)
	}
	return dst
}

// clearValues drops runBatch's references to JavaScript values.
func (b *batch) clearValues() {
	clear(b.values)
	clear(b.jsMethods)
	b.values, b.jsMethods = b.values[:0], b.jsMethods[:0]
}

// fill sets b to the events evs[idx...].
func (b *batch) fill(evs []Event, idx []int) error {
	b.ids, b.methods, b.times, b.committed, b.hdrs = b.ids[:0], b.methods[:0], b.times[:0], b.committed[:0], b.hdrs[:0]
	b.bodies = append(b.bodies[:0], '[')
	for n, i := range idx {
		ev := &evs[i]
		b.ids = append(b.ids, ev.ID)
		b.methods = append(b.methods, strings.ToUpper(ev.Method))
		b.times = append(b.times, ev.Time.UnixMilli())
		b.committed = append(b.committed, ev.committedMs())
		if n > 0 {
			b.bodies = append(b.bodies, ',')
		}
		if raw, ok := ev.Body.(json.RawMessage); ok && len(raw) > 0 {
			b.bodies = append(b.bodies, raw...) // the journal checked it; appendJSONArray checks again
		} else {
			body, err := json.Marshal(ev.Body)
			if err != nil {
				return fmt.Errorf("encode event body: %w", err)
			}
			b.bodies = append(b.bodies, body...)
		}
		b.hdrs = append(b.hdrs, sortedHeaders(ev.Headers))
	}
	b.bodies = append(b.bodies, ']')
	return nil
}
