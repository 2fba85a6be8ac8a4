package jsvm

// This file implements the event loop of a source runtime, because a render
// (and a module's top level) may await real I/O: timers, fetch, files,
// databases. goja_nodejs's eventloop was the first choice, but its loop
// ends as soon as no timer is pending even while a host call is in flight,
// refuses work posted after Terminate until it is started again (a
// completion racing the next render's start would be lost), runs a
// goroutine per setInterval and has no notion of a budget. jawas needs
// something narrower: run this one call until its promise settles or its
// budget runs out, then cancel everything the call started.
//
// So the loop is not a goroutine of its own: it runs on the goroutine that
// called Render (or Load), inside the call's budget. Host work runs on
// goroutines with the call's context, which the budget cancels (net/http
// and database drivers stop at once); their results come back as closures
// posted to the loop, tagged with the call they belong to, so a result that
// arrives after its call ended is dropped, never run in the next one.
// Timers are a list the loop checks itself: no goroutine per timer.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// loop is one runtime's event loop.
//
// Threading: everything but post, expire and context belongs to the
// goroutine running the runtime.
type loop struct {
	vm       *goja.Runtime
	errorCtr goja.Value // the Error constructor, captured before the author's code runs

	// phase names the call running ("render", "top level", "post
	// reducer"); io says whether it may start I/O and timers.
	phase string
	io    bool

	timers  []*timer // pending, in no order
	timerID int64
	calls   []*hostCall // host calls in flight, oldest first
	started time.Time   // when the running call began
	wait    *time.Timer // wakes the loop at the next timer; reused

	mu      sync.Mutex
	gen     uint64   // the running call; posted work of another is dropped
	posted  []posted // completions of host calls, in arrival order
	expired bool     // the budget ran out
	ctx     context.Context
	cancel  context.CancelCauseFunc
	wake    chan struct{} // capacity 1: something was posted or the budget ran out
}

type posted struct {
	gen  uint64
	call *hostCall
	fn   func() error
}

// timer is one setTimeout or setInterval.
type timer struct {
	id     int64
	when   time.Time
	every  time.Duration // > 0 for setInterval
	fn     goja.Callable
	args   []goja.Value
	unref  bool // does not keep a top level waiting (AbortSignal.timeout)
	delay  time.Duration
	kind   string // "setTimeout" or "setInterval", for messages
	fired  bool
	active bool
}

// hostCall is one host operation in flight.
type hostCall struct {
	what  string       // e.g. `fetch("https://api.example.com/x")`, for messages
	site  *goja.Object // an Error made where JavaScript called: its stack locates the call
	since time.Time
}

func newLoop(vm *goja.Runtime) *loop {
	return &loop{vm: vm, errorCtr: vm.Get("Error"), wake: make(chan struct{}, 1)}
}

// begin starts a call: I/O is allowed when io is true, phase names the call
// in messages.
func (l *loop) begin(phase string, io bool) {
	l.phase, l.io = phase, io
	l.started = time.Now()
	l.mu.Lock()
	l.gen++
	l.expired = false
	l.mu.Unlock()
}

// end finishes a call: its context is cancelled (stopping its host
// goroutines), its timers dropped, and anything it posted or will post is
// dropped.
func (l *loop) end() {
	l.mu.Lock()
	l.gen++
	if l.cancel != nil {
		l.cancel(errCallEnded)
	}
	l.ctx, l.cancel = nil, nil
	clear(l.posted)
	l.posted = l.posted[:0]
	l.mu.Unlock()
	clear(l.timers)
	l.timers = l.timers[:0]
	clear(l.calls)
	l.calls = l.calls[:0]
	if l.wait != nil {
		l.wait.Stop()
	}
	select { // an old wake-up must not end the next call's first wait
	case <-l.wake:
	default:
	}
	l.phase, l.io = "", false
}

// errCallEnded is the cause of a call's context once the call returned.
var errCallEnded = fmt.Errorf("the call that started it has ended")

// context returns the running call's context, made on first use (a render
// that does no I/O never pays for one). Safe from any goroutine.
func (l *loop) context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancelCause(context.Background())
		if l.expired {
			l.cancel(errBudget)
		}
	}
	return l.ctx
}

// expire is called by the budget timer: the call's context is cancelled
// and the loop woken. Safe from any goroutine.
func (l *loop) expire() {
	l.mu.Lock()
	l.expired = true
	if l.cancel != nil {
		l.cancel(errBudget)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// post hands fn (the completion of call, started in call gen) to the loop.
// Safe from any goroutine; it never blocks.
func (l *loop) post(gen uint64, call *hostCall, fn func() error) {
	l.mu.Lock()
	if gen != l.gen {
		l.mu.Unlock()
		return
	}
	l.posted = append(l.posted, posted{gen: gen, call: call, fn: fn})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// hostResult builds, on the loop, the value a host call's promise resolves
// with. An error rejects it: a rejectWith is rejected with its value, any
// other error with the call's site Error carrying the error's message.
type hostResult func() (goja.Value, error)

// rejectWith rejects a host call's promise with a JavaScript value.
type rejectWith struct{ v goja.Value }

func (r rejectWith) Error() string { return r.v.String() }

// ioError is thrown when a call that may not do I/O tries to.
func (l *loop) ioError(what string) *goja.Object {
	hint := "do I/O and use timers in render (or the module's top level)"
	if l.phase != "" && l.phase != "render" && l.phase != "top level" {
		hint = "reducers must be synchronous and pure (they are replayed from the journal): " + hint
	}
	where := l.phase
	if where == "" {
		where = "this call"
	}
	return l.vm.NewTypeError(fmt.Sprintf("%s is not allowed in the %s: %s", what, where, hint))
}

// async starts work on a goroutine of its own with the running call's
// context and returns a promise the loop settles with its result. what
// names the operation in messages. It throws (a TypeError naming what and
// the phase) when the running call may not do I/O.
func (l *loop) async(what string, work func(ctx context.Context) hostResult) goja.Value {
	if !l.io {
		panic(l.ioError(what))
	}
	site, err := l.vm.New(l.errorCtr, l.vm.ToValue(what))
	if err != nil {
		panic(err)
	}
	call := &hostCall{what: what, site: site, since: time.Now()}
	p, resolve, reject := l.vm.NewPromise()
	l.calls = append(l.calls, call)
	ctx := l.context()
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	go func() {
		res := work(ctx)
		l.post(gen, call, func() error {
			v, err := res()
			if err == nil {
				return resolve(v)
			}
			if r, ok := err.(rejectWith); ok {
				return reject(r.v)
			}
			_ = site.Set("message", what+": "+err.Error())
			return reject(site)
		})
	}()
	return l.vm.ToValue(p)
}

// done removes call from the calls in flight.
func (l *loop) done(call *hostCall) {
	for i, c := range l.calls {
		if c == call {
			copy(l.calls[i:], l.calls[i+1:])
			l.calls[len(l.calls)-1] = nil
			l.calls = l.calls[:len(l.calls)-1]
			return
		}
	}
}

// busy reports whether anything may still settle a promise: a host call in
// flight or a timer (unref timers count only when withUnref).
func (l *loop) busy(withUnref bool) bool {
	if len(l.calls) > 0 {
		return true
	}
	for _, t := range l.timers {
		if withUnref || !t.unref {
			return true
		}
	}
	return false
}

// run drives the loop until settled reports true, or nothing is left that
// could change that (errIdle), or the budget runs out (a *budgetError).
// Errors of callbacks (an uncaught exception in a timer, an interrupt) end
// it too.
func (l *loop) run(settled func() bool) error {
	for !settled() {
		ran, err := l.step()
		if err != nil {
			return err
		}
		if ran {
			continue
		}
		if !l.busy(true) && !l.busyPosted() {
			return errIdle
		}
		if err := l.waitNext(); err != nil {
			return err
		}
	}
	return nil
}

// runIdle drives the loop until no host call or (ref'd) timer is left: a
// module's top level may start work the renders use.
func (l *loop) runIdle() error {
	for {
		ran, err := l.step()
		if err != nil {
			return err
		}
		if ran {
			continue
		}
		if !l.busy(false) && !l.busyPosted() {
			return nil
		}
		if err := l.waitNext(); err != nil {
			return err
		}
	}
}

var errIdle = fmt.Errorf("nothing left to wait for")

func (l *loop) busyPosted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.posted) > 0
}

// step runs what is ready: every posted completion, then the due timers.
// It reports whether it ran anything.
func (l *loop) step() (bool, error) {
	if l.isExpired() {
		return false, l.budgetError()
	}
	l.mu.Lock()
	ready := l.posted
	l.posted = nil
	l.mu.Unlock()
	ran := false
	for i, p := range ready {
		ready[i] = posted{}
		ran = true
		l.done(p.call)
		if err := p.fn(); err != nil {
			return true, err
		}
	}
	now := time.Now()
	for _, t := range l.dueTimers(now) {
		ran = true
		if !t.active {
			continue // cleared by an earlier callback of this step
		}
		if t.every > 0 {
			t.when = now.Add(t.every)
		} else {
			l.removeTimer(t.id)
		}
		if _, err := t.fn(goja.Undefined(), t.args...); err != nil {
			return true, callbackError{kind: t.kind, err: err}
		}
	}
	return ran, nil
}

func (l *loop) isExpired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expired
}

// waitNext blocks until something is posted, the next timer is due or the
// budget runs out.
func (l *loop) waitNext() error {
	var tc <-chan time.Time
	if next, ok := l.nextTimer(); ok {
		d := time.Until(next)
		if d <= 0 {
			return nil
		}
		if l.wait == nil {
			l.wait = time.NewTimer(d)
		} else {
			l.wait.Reset(d)
		}
		tc = l.wait.C
		defer l.wait.Stop()
	}
	select {
	case <-l.wake:
	case <-tc:
	}
	return nil
}

// dueTimers returns the timers due at now, earliest first.
func (l *loop) dueTimers(now time.Time) []*timer {
	var due []*timer
	for _, t := range l.timers {
		if !t.when.After(now) {
			due = append(due, t)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].when.Equal(due[j].when) {
			return due[i].when.Before(due[j].when)
		}
		return due[i].id < due[j].id
	})
	return due
}

func (l *loop) nextTimer() (time.Time, bool) {
	var next time.Time
	for _, t := range l.timers {
		if next.IsZero() || t.when.Before(next) {
			next = t.when
		}
	}
	return next, !next.IsZero()
}

// addTimer is setTimeout and setInterval.
func (l *loop) addTimer(kind string, call goja.FunctionCall, every bool, unref bool) goja.Value {
	if !l.io {
		panic(l.ioError(kind + "()"))
	}
	fn, ok := goja.AssertFunction(call.Argument(0))
	if !ok {
		panic(l.vm.NewTypeError(kind + ": the first argument must be a function"))
	}
	ms := call.Argument(1).ToFloat()
	if ms != ms || ms < 0 { // NaN or negative: at once, as browsers do
		ms = 0
	}
	d := time.Duration(ms * float64(time.Millisecond))
	if every && d < time.Millisecond {
		d = time.Millisecond
	}
	var args []goja.Value
	if len(call.Arguments) > 2 {
		args = append(args, call.Arguments[2:]...)
	}
	l.timerID++
	t := &timer{id: l.timerID, when: time.Now().Add(d), fn: fn, args: args, unref: unref, delay: d, kind: kind, active: true}
	if every {
		t.every = d
	}
	l.timers = append(l.timers, t)
	return l.vm.ToValue(t.id)
}

func (l *loop) removeTimer(id int64) {
	for i, t := range l.timers {
		if t.id == id {
			t.active = false
			last := len(l.timers) - 1
			l.timers[i] = l.timers[last]
			l.timers[last] = nil
			l.timers = l.timers[:last]
			return
		}
	}
}

// budgetError says what a call was still waiting for when its budget ran
// out, and where the oldest of those was started.
func (l *loop) budgetError() error {
	e := &budgetError{elapsed: time.Since(l.started)}
	if len(l.calls) > 0 {
		c := l.calls[0]
		e.waiting = c.what
		e.since = time.Since(c.since)
		e.stack = stackOf(c.site)
	} else if len(l.timers) > 0 {
		t := l.timers[0]
		e.waiting = fmt.Sprintf("a %s of %v", t.kind, t.delay)
	}
	return e
}

// budgetError is a call whose budget ran out while it waited on the loop.
type budgetError struct {
	elapsed time.Duration
	waiting string        // what it waited for, "" if unknown
	since   time.Duration // for how long
	stack   string        // where that was started
}

func (e *budgetError) Error() string { return "time budget exhausted" }

// callbackError is an exception thrown by a timer callback.
type callbackError struct {
	kind string
	err  error
}

func (e callbackError) Error() string { return e.kind + " callback: " + e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }
