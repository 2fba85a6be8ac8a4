// Package yielder paces an event loop that runs on a locked OS thread, so the
// Go runtime's sysmon never has to preempt it (shared by the HTTP core's
// loops and the benchmarks' load generators).
package yielder

import (
	"runtime"
	"time"
)

// YieldEvery is how often a busy event loop yields to the Go scheduler
// (Yielder): under sysmon's 10 ms preemption limit, with a millisecond of
// slack for the rounding of epoll_wait's timeout.
const YieldEvery = 8 * time.Millisecond

// Yielder paces the yields of an event loop that runs on a locked thread
// and never blocks in the scheduler. The runtime's sysmon preempts a
// goroutine that has not been rescheduled for 10 ms, taking its P when it
// is inside a syscall (a blocking epoll_wait), and every such take sets
// sysmon polling every 20 µs again. Under reads with 1,000 writes/s sysmon
// took a visible share of the workers' CPU and more of the load
// generator's (figures in bench/README.md, "sysmon"); yielding every YieldEvery, and ending blocking waits by then, stops it.
// The zero value is ready; a Yielder belongs to one loop.
type Yielder struct {
	last int64 // ns of the last yield
}

// Pace yields when the last yield is YieldEvery old at now (ns on any clock
// the loop keeps using) and returns wait, cut so that a blocking wait ends
// by the next yield.
func (y *Yielder) Pace(now int64, wait time.Duration) time.Duration {
	since := time.Duration(now - y.last)
	if since >= YieldEvery {
		runtime.Gosched()
		y.last, since = now, 0
	}
	return min(wait, YieldEvery-since)
}
