package period

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hogJS keeps 8 MiB more at boundaries that are a multiple of 3 s; at
// others it spins for a few milliseconds and keeps nothing; at 1 ms past
// a second it spins until interrupted.
const hogJS = `
export const period = "1s";
const kept = [];
export default function render(state, ctx) {
  if (ctx.nowMs % 1000 === 1) { for (;;) {} }
  if (ctx.nowMs % 3000 === 0) kept.push("x".repeat(8 << 20));
  else { const end = Date.now() + 3; while (Date.now() < end) {} }
  return { kept: kept.length };
}
`

const smallJS = `export default function render() { return { ok: true }; }`

// guardFor loads hog and small, lets hog keep 80 MiB and returns a guard
// whose limit puts the live heap at 70% of it, over PressureFraction.
func guardFor(t *testing.T) (*MemoryGuard, *Source, *Source) {
	t.Helper()
	cfg := project(t, "timeout = \"1m\"\n", map[string]string{"hog.js": hogJS, "small.js": smallJS})
	proj, err := Load(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	hog, small := proj.Source("hog"), proj.Source("small")
	grow(t, hog, 10)
	if _, ok := small.Evaluate(time.UnixMilli(0)); !ok {
		t.Fatal("small busy")
	}
	runtime.GC()
	g := &MemoryGuard{Limit: liveHeap() * 10 / 7, Sources: func() []*Source { return proj.Sources }, Log: quiet}
	return g, hog, small
}

// grow renders hog n times at boundaries where it keeps 8 MiB more
// (waiting its turn when another goroutine is evaluating it).
func grow(t *testing.T, hog *Source, n int) {
	t.Helper()
	for i := range n {
		r, ok := hog.Evaluate(time.UnixMilli(int64(3000 * (i + 1))))
		for ; !ok; r, ok = hog.Evaluate(time.UnixMilli(int64(3000 * (i + 1)))) {
			time.Sleep(time.Millisecond)
		}
		if r.Err != nil {
			t.Fatalf("hog: %v", r.Err)
		}
	}
}

// TestGuardStopsTheBiggestWhileItRenders: the source that allocated the
// most is rendering (for as long as its budget, a minute, would let it)
// when the heap is over its share: the guard stops that render rather
// than wait for it (or give up until the next check, as it did), rebuilds
// its runtime and charges it the memory that freed; the small source is
// neither rebuilt nor charged.
func TestGuardStopsTheBiggestWhileItRenders(t *testing.T) {
	g, hog, small := guardFor(t)
	done := make(chan Result)
	go func() {
		r, _ := hog.Evaluate(time.UnixMilli(1001)) // spins until interrupted
		done <- r
	}()
	for !hog.busy.Load() {
		time.Sleep(time.Millisecond)
	}
	g.relieve()
	select {
	case r := <-done:
		if r.Err == nil || !strings.Contains(r.Err.Error(), "stopped by the engine's memory pressure guard") {
			t.Errorf("the spinning render ended with %v, want the pressure guard's stop", r.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the spinning render was not stopped")
	}
	if h := hog.Status().MemoryHits; h != 1 {
		t.Errorf("hog charged %d memory hits, want 1", h)
	}
	if h := small.Status().MemoryHits; h != 0 {
		t.Errorf("small charged %d memory hits, want 0", h)
	}
	runtime.GC()
	if l := liveHeap(); float64(l) >= PressureFraction*float64(g.Limit) {
		t.Errorf("live heap %d MiB after relieve, limit %d MiB", l>>20, g.Limit>>20)
	}
}

// TestQuarantinedIsNeverEvaluatedAgain: while another goroutine evaluates
// hog as often as it can, the guard charges it three times; from the
// first status that says it is quarantined on, its evaluation count never
// moves. The guard used to let go of the source before measuring and
// charging it, so an evaluation could start in between and finish after
// the quarantine.
func TestQuarantinedIsNeverEvaluatedAgain(t *testing.T) {
	g, hog, _ := guardFor(t)
	var stop, pause atomic.Bool
	var wg sync.WaitGroup
	defer func() { stop.Store(true); wg.Wait() }()
	wg.Add(2)
	go func() { // evaluates hog (3 ms spins, nothing kept) until stopped
		defer wg.Done()
		for b := int64(1); !stop.Load(); b++ {
			if b%1000 == 1 || b%3000 == 0 || pause.Load() {
				continue
			}
			hog.Evaluate(time.UnixMilli(b))
		}
	}()
	var seen *Status // the first status that says quarantined
	watch := make(chan struct{})
	var moved []string
	go func() { // reads the status as often as it can
		defer wg.Done()
		defer close(watch)
		for !stop.Load() {
			st := hog.Status()
			if seen == nil && st.Quarantined != "" {
				seen = &st
			}
			if seen != nil && st.Evaluations != seen.Evaluations {
				moved = append(moved, fmt.Sprintf("evaluations went from %d to %d", seen.Evaluations, st.Evaluations))
				return
			}
		}
	}()
	// A relief charges the hog only when what it freed can be told apart
	// (relieve's rules); on a busy machine one in a few is not. What this
	// test guards is what happens once it is quarantined, so it relieves
	// until the hits are there (bounded).
	for i := 0; i < 3*QuarantineHits && hog.Quarantined() == ""; i++ {
		if i > 0 {
			pause.Store(true) // let grow have it
			grow(t, hog, 10)
			pause.Store(false)
		}
		g.relieve()
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && len(moved) == 0 {
		time.Sleep(10 * time.Millisecond) // the evaluator keeps trying meanwhile
	}
	stop.Store(true)
	<-watch
	if hog.Quarantined() == "" {
		t.Fatalf("hog not quarantined after %d hits: %+v", QuarantineHits, hog.Status())
	}
	if len(moved) > 0 {
		t.Errorf("the quarantined hog was evaluated: %s", moved[0])
	}
}
