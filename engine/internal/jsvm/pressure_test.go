package jsvm

import (
	goruntime "runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func liveHeapForTest() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestReleasedRuntimeIsFreedAtOnce: the memory a runtime holds is given
// back by the first garbage collection after ReleaseRuntime, however long
// the budget, after renders and after reducers: the engine's pressure
// guard charges a source for what that collection freed. A stopped budget
// timer whose func captured the runtime kept it reachable until the
// timer's deadline (see unpin in jsvm.go): reproduced here with one
// processor, no memory watchdog (whose timer resets would clean the timer
// heap) and other timers pending.
func TestReleasedRuntimeIsFreedAtOnce(t *testing.T) {
	const code = `
const kept: number[][] = [];
export default function render(state, ctx) {
  kept.push(new Array(1 << 19).fill(ctx.nowMs));
  return { arrays: kept.length };
}
export function post(state, ev) {
  kept.push(new Array(1 << 19).fill(1));
}`
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	others := make([]*time.Timer, 1000)
	for i := range others {
		others[i] = time.AfterFunc(time.Hour, func() {})
	}
	defer func() {
		for _, o := range others {
			o.Stop()
		}
	}()
	for _, c := range []struct {
		name string
		call func(*Module)
	}{
		{"render", func(m *Module) { mustRender(t, m) }},
		{"reducer", func(m *Module) {
			if errs := m.ReduceBatch([]Event{{ID: "e", Method: "POST", Time: time.UnixMilli(1), Body: 1}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		}},
	} {
		m := mustLoad(t, code, nil, Options{Timeout: time.Minute, MaxMemory: -1})
		for range 8 { // 8 × 8 MiB
			c.call(m)
		}
		goruntime.GC()
		before := liveHeapForTest()
		m.ReleaseRuntime()
		goruntime.GC()
		after := liveHeapForTest()
		t.Logf("%s: live heap %d MiB before ReleaseRuntime, %d MiB after one collection", c.name, before>>20, after>>20)
		if freed := before - after; freed < 48<<20 {
			t.Errorf("%s: one collection after ReleaseRuntime freed %d MiB, want the runtime's ~64 MiB", c.name, freed>>20)
		}
	}
}

// TestStopCallStopsRendersOnly: StopCall interrupts a running render (an
// error saying who stopped it, not a memory hit; the runtime rebuilt) but
// never a reducer, whose events would be rejected: it reports that
// nothing stoppable was running and the batch applies.
func TestStopCallStopsRendersOnly(t *testing.T) {
	m := mustLoad(t, `
let calls = 0;
export default function render(state, ctx) {
  calls++;
  if (ctx.nowMs === 1) { for (;;) {} }
  return { calls };
}
export function post(state, ev) {
  const end = Date.now() + 300;
  while (Date.now() < end) {}
  return { n: ((state && state.n) || 0) + 1 };
}`, nil, Options{Timeout: time.Minute})
	if got := mustRender(t, m); got != `{"calls":1}` {
		t.Fatalf("first render: %s", got)
	}
	stopped := make(chan bool)
	go func() {
		for !m.StopCall() {
			time.Sleep(time.Millisecond)
		}
		stopped <- true
	}()
	_, err := m.Render(RenderContext{Now: time.UnixMilli(1), Period: time.Second})
	<-stopped
	if err == nil || IsMemoryError(err) {
		t.Fatalf("stopped render: err %v (memory error %v), want the pressure guard's stop", err, IsMemoryError(err))
	}
	diag(t, err, "sources/x.ts", 5, "render was stopped by the engine's memory pressure guard")
	if got := mustRender(t, m); got != `{"calls":1}` {
		t.Fatalf("after the stop: %s, want a rebuilt runtime (calls starts over)", got)
	}

	var tried, stoppedAny bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(250 * time.Millisecond)
		for time.Now().Before(deadline) {
			tried = true
			stoppedAny = stoppedAny || m.StopCall()
			time.Sleep(time.Millisecond)
		}
	}()
	errs := m.ReduceBatch([]Event{{ID: "e", Method: "POST", Time: time.UnixMilli(1), Body: 1}})
	<-done
	if !tried || stoppedAny || errs[0] != nil || string(m.State()) != `{"n":1}` {
		t.Fatalf("StopCall during a reducer: stopped %v, err %v, state %s; want nothing stopped and the event applied", stoppedAny, errs[0], m.State())
	}
}
