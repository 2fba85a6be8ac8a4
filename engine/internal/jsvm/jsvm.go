// Package jsvm runs bundled data sources: one goja runtime per source, built
// once from the bundle and reused every period. It calls the source's render
// function and reducers under a time budget, turns their results into JSON,
// keeps the source's state (plain JSON) and restores the last good state when
// a call fails, and reports every author mistake as an engine.Diagnostic
// located in the author's original file (through the bundle's source map).
//
// Each runtime has an event loop (loop.go) that runs only inside a call: a
// render or the module's top level may await timers, fetch, files and
// databases (web.go, host.go) within the call's budget; when the budget
// runs out, everything the call started is cancelled. Reducers stay
// synchronous and pure: I/O in a reducer is an error naming it.
//
// jsvm must never give JavaScript access to the host beyond what it installs
// on purpose (console, the web globals, and the "jawas" module over the
// Host it is given). It never schedules anything: the caller decides when
// to render and reduce.
package jsvm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/bundle"
	"github.com/jawas/jawas/engine/internal/fetch"
)

// Defaults for Options.
const (
	DefaultTimeout   = 50 * time.Millisecond
	DefaultMaxOutput = 8 << 20
	// maxCallStack bounds recursion so runaway recursion is an error, not an
	// out-of-memory crash of the engine process.
	maxCallStack = 4096
)

// Options configure a Module.
type Options struct {
	Timeout   time.Duration // budget of one call (top level, render, reducer; in ReduceBatch, of each event); default 50ms
	MaxOutput int           // largest render result in bytes; default 8 MiB
	MaxMemory int64         // bytes one call may allocate before it is interrupted (memory.go); default 256 MiB, <0 off
	Log       *slog.Logger  // console.* goes here with source=<name>; default slog.Default()
	Host      Host          // what fetch, readFile, env and db may reach
}

// RenderContext is what a render call is told about the period it renders.
type RenderContext struct {
	Now    time.Time     // the period's logical time (its boundary)
	Period time.Duration // the period's length
	// Previous is the JSON of the value this source last published (nil:
	// none yet); the render reads it as ctx.previous, parsed on first use.
	Previous []byte
}

// Event is one queued write handed to a reducer.
type Event struct {
	ID     string
	Method string    // "POST" or "PUT"
	Time   time.Time // arrival: when a worker read the request
	// Committed is the journal's stamp (the order events are applied in);
	// zero means Time.
	Committed time.Time
	Body      any // already decoded: map[string]any, []any, string, float64, bool, nil...
	Headers   map[string]string
}

func (ev *Event) committedMs() int64 {
	if ev.Committed.IsZero() {
		return ev.Time.UnixMilli()
	}
	return ev.Committed.UnixMilli()
}

// Module is one loaded source with its own runtime and state.
//
// A Module is not safe for concurrent use: call it from one goroutine at a
// time. Different Modules share nothing and may run on different goroutines
// at once.
type Module struct {
	src     engine.Source
	opt     Options
	prg     *goja.Program
	files   map[string]string // original file (project-relative) -> content, from the source map
	period  time.Duration
	methods map[string]bool // reducers the source exports: "POST", "PUT"

	rt    *runtime      // nil after a failed rebuild; rebuilt on next use
	good  []byte        // JSON of the last good state ("null" if none)
	clock batchClock    // ReduceBatch's progress, for its per-event budget
	alone int           // events ReduceBatch ran alone through Reduce (for tests)
	batch batch         // ReduceBatch's buffers, reused (batch.go)
	slab  eventSlab     // event objects not handed out yet (event.go)
	fetch *fetch.Client // the default fetch client when Host has none
	life  lifecycle     // version, initial, migrate (lifecycle.go)
	mem   memStats      // the memory guard's accounting (memory.go)
}

// runtime is one goja runtime running the bundle, with the handles jsvm uses.
type runtime struct {
	vm         *goja.Runtime
	render     goja.Callable
	reducers   map[string]goja.Callable
	reducerObj *goja.Object  // the same reducers by method, for reduceAll
	reduceAll  goja.Callable // the batch driver (driverSrc)
	enc        *encoder      // the checked JSON encoding (stringify.go)
	parseJSON  goja.Callable // the original JSON.parse
	stringify  goja.Callable // the original JSON.stringify, for console
	date       goja.Value    // the Date constructor
	exports    *goja.Object
	state      goja.Value
	methods    map[string]goja.Value // reducers' methods ("POST", "PUT") as JavaScript strings, for reduceAll
	loop       *loop
}

// errBudget is the value the budget timer interrupts a runtime with.
var errBudget = errors.New("time budget exhausted")

// Load compiles a bundle, runs its top level within the budget and checks
// its exports. Author mistakes are returned as an engine.Diagnostic (or the
// bundle's engine.Diagnostics when it did not build).
func Load(out bundle.Output, opt Options) (*Module, error) {
	if len(out.Errors) > 0 {
		return nil, out.Errors
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.MaxOutput <= 0 {
		opt.MaxOutput = DefaultMaxOutput
	}
	if opt.MaxMemory == 0 {
		opt.MaxMemory = DefaultMaxMemory
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	m := &Module{src: out.Source, opt: opt, files: sourcesContent(out.Code), good: []byte("null")}
	m.clock.base = time.Now()

	ast, err := goja.Parse(bundle.MapBase, out.Code, parser.WithSourceMapLoader(func(string) ([]byte, error) {
		return nil, errors.New("only inline source maps are read")
	}))
	if err == nil {
		m.prg, err = goja.CompileAST(ast, false)
	}
	if err != nil {
		return nil, engine.Diagnostic{File: m.src.File, Message: "the bundle does not compile in goja: " + err.Error()}
	}

	rt, err := m.newRuntime()
	if err != nil {
		return nil, err
	}
	m.rt = rt
	if err := m.readExports(); err != nil {
		return nil, err
	}
	return m, nil
}

// Source returns the source this module runs.
func (m *Module) Source() engine.Source { return m.src }

// Period returns the period the source exports, or 0 if it exports none.
func (m *Module) Period() time.Duration { return m.period }

// HasReducer reports whether the source exports a reducer for method
// ("POST" or "PUT").
func (m *Module) HasReducer(method string) bool { return m.methods[strings.ToUpper(method)] }

// State returns the JSON of the state as of the last successful reducer,
// SetState or Load ("null" if the source has none). The caller may keep it.
func (m *Module) State() []byte { return append([]byte(nil), m.good...) }

// SetState replaces the state with a JSON document, as when restoring a
// checkpoint.
func (m *Module) SetState(state []byte) error {
	if !json.Valid(state) {
		return fmt.Errorf("set state of %s: not valid JSON", m.src.Name)
	}
	prev := m.good
	m.good = append([]byte(nil), state...)
	if err := m.restore(); err != nil {
		m.good = prev
		return fmt.Errorf("set state of %s: %w", m.src.Name, err)
	}
	return nil
}

// newRuntime builds a runtime: host bindings, then the bundle's top level
// within the budget. The state is not set.
func (m *Module) newRuntime() (*runtime, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(maxCallStack)
	rt := &runtime{vm: vm, state: goja.Null(), loop: newLoop(vm)}
	json := vm.Get("JSON").ToObject(vm)
	rt.stringify, _ = goja.AssertFunction(json.Get("stringify"))
	rt.parseJSON, _ = goja.AssertFunction(json.Get("parse"))
	rt.date = vm.Get("Date")
	enc, err := newEncoder(vm, json.Get("stringify"))
	if err != nil {
		return nil, fmt.Errorf("jsvm: install JSON encoder: %w", err)
	}
	rt.enc = enc
	if err := m.installDriver(rt); err != nil {
		return nil, fmt.Errorf("jsvm: install reducer driver: %w", err)
	}
	if err := vm.Set("console", m.console(rt)); err != nil {
		return nil, fmt.Errorf("jsvm: install console: %w", err)
	}
	if err := m.installWeb(rt); err != nil {
		return nil, fmt.Errorf("jsvm: %w", err)
	}

	// The top level may start I/O (a promise the renders await): the loop
	// runs until nothing it started is pending, within the budget.
	err = m.guard(rt, "top level", true, func() error {
		if _, err := vm.RunProgram(m.prg); err != nil {
			return err
		}
		return rt.loop.runIdle()
	})
	if err != nil {
		return nil, m.diagnose(err, "top level")
	}
	ns := vm.Get(bundle.GlobalName)
	if ns == nil || goja.IsUndefined(ns) || goja.IsNull(ns) {
		return nil, engine.Diagnostic{File: m.src.File, Message: "the bundle defined no exports (" + bundle.GlobalName + " is missing)"}
	}
	rt.exports = ns.ToObject(vm)
	return rt, nil
}

// readExports checks the exports of the freshly loaded runtime, and sets the
// period, the reducers and the initial state.
func (m *Module) readExports() error {
	rt := m.rt
	bad := func(format string, args ...any) error {
		return engine.Diagnostic{File: m.src.File, Message: fmt.Sprintf(format, args...)}
	}
	if err := m.bindExports(rt); err != nil {
		return err
	}
	m.methods = map[string]bool{}
	for method := range rt.reducers {
		m.methods[method] = true
	}

	if p := rt.exports.Get("period"); p != nil && !goja.IsUndefined(p) {
		switch v := p.Export().(type) {
		case string:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad(`export "period" = %q is not a duration; use e.g. "200ms", "1s" or a number of milliseconds`, v)
			}
			m.period = d
		case int64:
			if v <= 0 {
				return bad(`export "period" = %d must be a positive number of milliseconds`, v)
			}
			m.period = time.Duration(v) * time.Millisecond
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 1 {
				return bad(`export "period" = %v must be a number of milliseconds, at least 1`, v)
			}
			m.period = time.Duration(v * float64(time.Millisecond))
		default:
			return bad(`export "period" must be a string like "200ms" or a number of milliseconds, not %s`, typeOf(p))
		}
	}

	if init := rt.exports.Get("initial"); init != nil && !goja.IsUndefined(init) {
		js, err := rt.enc.encode(init, `export "initial"`, true, 0, m.opt.Timeout)
		if err != nil {
			return m.diagnose(err, `export "initial"`)
		}
		m.good = js
		if err := m.restore(); err != nil {
			return err
		}
	}
	return m.readLifecycle()
}

// bindExports finds render and the reducers in rt's exports.
func (m *Module) bindExports(rt *runtime) error {
	bad := func(format string, args ...any) error {
		return engine.Diagnostic{File: m.src.File, Message: fmt.Sprintf(format, args...)}
	}
	def := rt.exports.Get("default")
	if def == nil || goja.IsUndefined(def) {
		return bad("no default export; a source must export its render function: export default function render(state, ctx) { ... }")
	}
	var ok bool
	if rt.render, ok = goja.AssertFunction(def); !ok {
		return bad("the default export must be the render function, not %s", typeOf(def))
	}
	rt.reducers = map[string]goja.Callable{}
	rt.reducerObj = rt.vm.NewObject()
	rt.methods = map[string]goja.Value{}
	for _, name := range []string{"post", "put"} {
		v := rt.exports.Get(name)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		fn, ok := goja.AssertFunction(v)
		if !ok {
			return bad("export %q must be a reducer function(state, event), not %s", name, typeOf(v))
		}
		method := strings.ToUpper(name)
		rt.reducers[method] = fn
		rt.methods[method] = rt.vm.ToValue(method)
		_ = rt.reducerObj.Set(method, v)
	}
	return nil
}

// ensure makes sure there is a runtime, rebuilding it if a failure broke it.
func (m *Module) ensure() error {
	m.dropIfAsked()
	if m.rt != nil {
		return nil
	}
	rt, err := m.newRuntime()
	if err == nil {
		err = m.bindExports(rt)
	}
	if err != nil {
		return fmt.Errorf("rebuild runtime of %s: %w", m.src.Name, err)
	}
	m.rt = rt
	return m.restore()
}

// restore re-materialises the last good state in the runtime.
func (m *Module) restore() error {
	if m.rt == nil {
		return m.ensure()
	}
	var st goja.Value
	err := m.guard(m.rt, "", false, func() (err error) {
		st, err = m.rt.parseJSON(goja.Undefined(), m.rt.vm.ToValue(string(m.good)))
		return err
	})
	if err != nil {
		return fmt.Errorf("restore state of %s: %w", m.src.Name, err)
	}
	m.rt.state = st
	return nil
}

// recover puts the module back into a usable state after a failed call.
// The state always goes back to the last good one. The runtime, and with it
// the module-level variables, is kept after a throw and after running out
// of the time budget (the variables stay as the interrupted call left
// them: the same in dev mode and in production); it is dropped and rebuilt
// (top level run again, module-level variables start over) only after the
// memory guard stopped the call, whose memory must be given back, or a
// stack overflow.
func (m *Module) recover(err error) {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	if (errors.As(err, &ie) && ie.Value() != errBudget) || errors.As(err, &so) {
		m.forgetRuntime()
		if err := m.ensure(); err != nil {
			m.opt.Log.Error("jsvm: runtime rebuild failed", "source", m.src.Name, "err", err)
		}
		return
	}
	if err := m.restore(); err != nil {
		m.opt.Log.Error("jsvm: restoring state failed", "source", m.src.Name, "err", err)
		m.forgetRuntime()
	}
}

// guard runs f as the call phase (io: whether it may do I/O and set
// timers) with the budget and the memory guard: when the budget runs out,
// a timer interrupts JavaScript and expires the call's loop (cancelling its
// host calls); the memory watchdog interrupts it when the call allocated
// more than MaxMemory (the budget: Module.budget). On return no interrupt is pending, nothing the
// call started is left running, and the timers no longer reference the
// runtime (see unpin).
// MinTopLevelBudget is the least budget of a module's top level. It runs
// once per load (and again when a runtime is rebuilt), and a project whose
// top level misses its budget does not load: with a render's 50 ms, an
// engine starting on a machine busy enough to stall it for that long
// failed to load the demo and was restarted in a loop (seen in a test run
// on 2 shared cores). A top level that really never ends is still stopped.
const MinTopLevelBudget = time.Second

// budget is phase's time budget: Options.Timeout, and for the top level
// at least MinTopLevelBudget.
func (m *Module) budget(phase string) time.Duration {
	if phase == "top level" {
		return max(m.opt.Timeout, MinTopLevelBudget)
	}
	return m.opt.Timeout
}

func (m *Module) guard(rt *runtime, phase string, io bool, f func() error) error {
	vm, l := rt.vm, rt.loop
	l.begin(phase, io)
	fired := make(chan struct{})
	t := time.AfterFunc(m.budget(phase), func() {
		vm.Interrupt(errBudget)
		l.expire()
		close(fired)
	})
	stopMem := m.watchMemory(vm, phase == "render")
	err := f()
	memFired := stopMem()
	budgetFired := !t.Stop()
	if budgetFired {
		<-fired
	}
	if budgetFired || memFired {
		vm.ClearInterrupt()
	}
	l.end()
	vm, l = nil, nil // unpin: the timer's func has run or never will
	return err
}

// unpin: Go keeps a stopped time.AfterFunc timer, func and all, in its
// timer heap until the timer's deadline or a cleanup of that heap, so a
// timer func that captured a runtime kept it reachable for up to a budget
// after the call. A runtime the engine's memory pressure guard released
// (engine/internal/period/memory.go) then outlived the collection that
// measured what it held, and the guard charged the next source it tried
// for it (TestReleasedRuntimeIsFreedAtOnce). Each timer func reaches the
// runtime through a variable the call clears once the func cannot run.

// Render calls render(state, ctx) and returns its result as JSON. An async
// render is driven until its promise settles. Any failure is an
// engine.Diagnostic; the module stays usable, with its last good state.
func (m *Module) Render(ctx RenderContext) ([]byte, error) {
	if err := m.ensure(); err != nil {
		return nil, err
	}
	rt := m.rt
	var out []byte
	err := m.guard(rt, "render", true, func() error {
		v, err := rt.render(goja.Undefined(), rt.state, newCtx(rt, ctx, m.src.Name))
		if err != nil {
			return err
		}
		if v, err = rt.settle(v); err != nil {
			return err
		}
		out, err = rt.enc.encode(v, "the render result", true, m.opt.MaxOutput, m.opt.Timeout)
		return err
	})
	if err != nil {
		m.recover(err)
		return nil, m.diagnose(err, "render")
	}
	return out, nil
}

// Reduce applies one event through the source's reducer for ev.Method. A
// reducer may change the state in place or return a new one; a returned
// value other than undefined replaces the state. If the reducer throws, runs
// out of time or leaves a state that is not JSON, the state is rolled back
// to what it was before this event and the error returned.
func (m *Module) Reduce(ev Event) error {
	method := strings.ToUpper(ev.Method)
	if !m.methods[method] {
		return engine.Diagnostic{File: m.src.File, Message: fmt.Sprintf("%s has no reducer for %s; export function %s(state, event)", m.src.Name, method, strings.ToLower(method))}
	}
	if err := m.ensure(); err != nil {
		return err
	}
	rt := m.rt
	var next []byte
	err := m.guard(rt, strings.ToLower(method)+" reducer", false, func() error {
		jsEv, err := m.event(rt, ev)
		if err != nil {
			return err
		}
		v, err := rt.reducers[method](goja.Undefined(), rt.state, jsEv)
		if err != nil {
			return err
		}
		if _, ok := v.Export().(*goja.Promise); ok {
			return resultError("reducers must be synchronous, but " + strings.ToLower(method) + " returned a Promise (is it async?)")
		}
		if !goja.IsUndefined(v) {
			rt.state = v
		}
		next, err = rt.enc.encode(rt.state, "the state after "+strings.ToLower(method), true, 0, m.opt.Timeout)
		return err
	})
	if err != nil {
		m.recover(err)
		return m.diagnose(err, strings.ToLower(method)+" reducer")
	}
	m.good = next
	return nil
}

// settle returns the value a promise settled with. Calls into goja drain the
// job queue before they return, so a render that awaited nothing is settled
// already and costs no loop; a pending one runs the loop until it settles,
// nothing is left that could settle it, or the budget runs out.
func (rt *runtime) settle(v goja.Value) (goja.Value, error) {
	// Look at the type before exporting: Export of a plain result would
	// convert the whole object tree to Go values, every period.
	o, ok := v.(*goja.Object)
	if !ok || o.ExportType() != promiseType {
		return v, nil
	}
	p, ok := o.Export().(*goja.Promise)
	if !ok {
		return v, nil
	}
	if p.State() == goja.PromiseStatePending {
		err := rt.loop.run(func() bool { return p.State() != goja.PromiseStatePending })
		if errors.Is(err, errIdle) {
			return nil, resultError("render returned a Promise that never settles: it waits for something nothing will resolve (no timer, request or query is pending)")
		}
		if err != nil {
			return nil, err
		}
	}
	switch p.State() {
	case goja.PromiseStateFulfilled:
		return p.Result(), nil
	default:
		return nil, rejection{p.Result()}
	}
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// rejection is a rejected promise's reason.
type rejection struct{ reason goja.Value }

func (r rejection) Error() string { return "promise rejected: " + r.reason.String() }

// resultError is an author mistake found by jsvm itself, with no location.
type resultError string

func (e resultError) Error() string { return string(e) }

// event builds the JS event argument of a reducer. The body goes through
// JSON so JavaScript gets plain objects, never wrapped Go values.
func (m *Module) event(rt *runtime, ev Event) (goja.Value, error) {
	var body []byte
	if raw, ok := ev.Body.(json.RawMessage); ok && len(raw) > 0 {
		body = raw // already JSON (the journal checked it); JSON.parse below checks again
	} else {
		var err error
		if body, err = json.Marshal(ev.Body); err != nil {
			return nil, fmt.Errorf("encode event body: %w", err)
		}
	}
	jsBody, err := rt.parseJSON(goja.Undefined(), rt.vm.ToValue(string(body)))
	if err != nil {
		return nil, err
	}
	o := newEvent(rt, new(eventObject), ev.ID, strings.ToUpper(ev.Method), ev.Time.UnixMilli(), ev.committedMs(), jsBody, sortedHeaders(ev.Headers))
	return o, nil
}

// console builds the console object: each method logs its arguments,
// formatted roughly like node, at the matching level.
func (m *Module) console(rt *runtime) *goja.Object {
	c := rt.vm.NewObject()
	levels := map[string]slog.Level{
		"log": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug,
		"warn": slog.LevelWarn, "error": slog.LevelError,
	}
	for name, level := range levels {
		_ = c.Set(name, func(call goja.FunctionCall) goja.Value {
			if m.opt.Log.Enabled(context.Background(), level) {
				m.opt.Log.Log(context.Background(), level, m.format(rt, call.Arguments), "source", m.src.Name)
			}
			return goja.Undefined()
		})
	}
	return c
}

// format joins console arguments: strings as they are, errors with their
// stack, other values as JSON when they have one.
func (m *Module) format(rt *runtime, args []goja.Value) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == nil || goja.IsUndefined(a):
			parts[i] = "undefined"
		case goja.IsNull(a):
			parts[i] = "null"
		default:
			if _, ok := a.Export().(string); ok {
				parts[i] = a.String()
				continue
			}
			if o, ok := a.(*goja.Object); ok {
				if o.ClassName() == "Error" {
					if st := o.Get("stack"); st != nil && !goja.IsUndefined(st) {
						parts[i] = st.String()
						continue
					}
				}
				if _, ok := goja.AssertFunction(o); ok {
					parts[i] = "[Function " + o.Get("name").String() + "]"
					continue
				}
			}
			parts[i] = a.String()
			if js, err := rt.stringify(goja.Undefined(), a); err == nil && !goja.IsUndefined(js) {
				parts[i] = js.String()
			}
		}
	}
	return strings.Join(parts, " ")
}

// diagnose turns a failed call into a Diagnostic located at the innermost
// frame in the author's files, with a code frame.
func (m *Module) diagnose(err error, op string) error {
	var me MemoryError
	if errors.As(err, &me) {
		return me
	}
	var d engine.Diagnostic
	if errors.As(err, &d) {
		return d
	}
	d = engine.Diagnostic{File: m.src.File}
	var (
		frames []goja.StackFrame
		ie     *goja.InterruptedError
		so     *goja.StackOverflowError
		ex     *goja.Exception
		rej    rejection
		re     resultError
		be     *budgetError
		ce     callbackError
	)
	switch {
	case errors.As(err, &ie) && ie.Value() == errMemory:
		d.Message = fmt.Sprintf("%s allocated more than its max_memory (%s) in one call and was interrupted; its runtime is rebuilt (module-level variables start over), the state is the last good one", op, memoryLimitText(m.opt.MaxMemory))
		for _, f := range ie.Stack() {
			p := f.Position()
			if m.locate(&d, p.Filename, p.Line, p.Column) {
				break
			}
		}
		return MemoryError{d}
	case errors.As(err, &ie) && ie.Value() == errPressure:
		d.Message = op + " was stopped by the engine's memory pressure guard: the engine's live heap was over its share of serve.max_memory and this source's runtime had allocated the most; its runtime is rebuilt (module-level variables start over), the state is the last good one"
		frames = ie.Stack()
	case errors.As(err, &be):
		d.Message = fmt.Sprintf("%s did not finish within its %v budget", op, m.budget(op))
		if be.waiting != "" {
			d.Message += "; it was still waiting for " + be.waiting
			if be.since > 0 {
				d.Message += fmt.Sprintf(" (started %v before)", be.since.Round(time.Millisecond))
			}
		}
		d.Message += `, which was cancelled; if the upstream is just slow, raise timeout in jawas.toml (e.g. [source."` + m.src.Name + `"] timeout = "2s")`
		if be.stack != "" {
			m.locateString(&d, be.stack)
		}
	case errors.As(err, &ie):
		d.Message = fmt.Sprintf("%s did not finish within its %v budget and was interrupted", op, m.budget(op))
		frames = ie.Stack()
	case errors.As(err, &ce) && errors.As(err, &ex):
		d.Message = op + ": a " + ce.kind + " callback threw " + describe(ex.Value())
		frames = ex.Stack()
	case errors.As(err, &so):
		d.Message = op + ": maximum call stack size exceeded (runaway recursion?)"
		frames = so.Stack()
	case errors.As(err, &re):
		d.Message = string(re)
	case errors.As(err, &rej):
		d.Message = op + " rejected: " + describe(rej.reason)
		if st := stackOf(rej.reason); st != "" {
			m.locateString(&d, st)
		}
	case errors.As(err, &ex):
		d.Message = op + " threw " + describe(ex.Value())
		frames = ex.Stack()
	default:
		d.Message = op + ": " + err.Error()
	}
	for _, f := range frames {
		p := f.Position()
		if m.locate(&d, p.Filename, p.Line, p.Column) {
			break
		}
	}
	d.Message = nullishMessage(d.Message, m.files[d.File], d.Line, d.Column)
	return d
}

// nullishRE matches goja's message for a property read on undefined or
// null, which it words "of undefined" for both.
var nullishRE = regexp.MustCompile(`Cannot read property '([^']*)' of undefined$`)

// nullishMessage rewrites goja's "Cannot read property 'p' of undefined",
// which goja also says when the value was null, so that it is true and
// names what was read: "Cannot read property 'p' of ctx.missing, which is
// undefined or null". The expression comes from the author's line at the
// error's position (the property name); when it cannot be read from
// there, the message just says "of undefined or null".
func nullishMessage(msg, text string, line, column int) string {
	loc := nullishRE.FindStringSubmatchIndex(msg)
	if loc == nil {
		return msg
	}
	prop := msg[loc[2]:loc[3]]
	head := msg[:loc[1]-len("undefined")]
	if expr := readBase(text, line, column, prop); expr != "" {
		return head + expr + ", which is undefined or null"
	}
	return head + "undefined or null"
}

// readBase returns the expression whose property prop is read at
// line:column (1-based; the column of prop in "base.prop", "base?.prop"
// or "base[...]") of text, when it is a plain chain of names, property
// reads and calls, else "".
func readBase(text string, line, column int, prop string) string {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) || column < 2 || column-1 > len(lines[line-1]) {
		return ""
	}
	l := lines[line-1]
	at := column - 1 // 0-based index of prop (or of '[' / the key inside it)
	end := -1
	switch {
	case strings.HasPrefix(l[at:], prop) && at > 0 && l[at-1] == '.':
		end = at - 1
		if end > 0 && l[end-1] == '?' {
			end--
		}
	case at < len(l) && l[at] == '[':
		end = at
	case at > 0 && l[at-1] == '[':
		end = at - 1
	default:
		return ""
	}
	// Walk back over names, dots and balanced (...) / [...].
	i, depth := end, 0
	for i > 0 {
		c := l[i-1]
		switch {
		case c == ')' || c == ']':
			depth++
		case c == '(' || c == '[':
			if depth == 0 {
				goto done
			}
			depth--
		case depth > 0 || c == '.' || c == '_' || c == '$' || c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z':
		default:
			goto done
		}
		i--
	}
done:
	expr := l[i:end]
	if expr == "" || depth != 0 || expr[0] == '.' || expr[0] >= '0' && expr[0] <= '9' || len(expr) > 60 {
		return ""
	}
	return expr
}

// locate sets d's position if file is one of the author's files (or the
// bundle itself, which has no better position). It reports whether it did.
func (m *Module) locate(d *engine.Diagnostic, file string, line, column int) bool {
	file = path.Clean(strings.TrimPrefix(file, "file://"))
	if file == bundle.MapBase {
		return false
	}
	text, ok := m.files[file]
	if !ok {
		return false
	}
	// Source-mapped positions in goja have 0-based columns.
	column++
	d.File, d.Line, d.Column = file, line, column
	d.Frame = bundle.CodeFrame(text, line, column)
	return true
}

// stackFrameRE matches a position in a goja stack string:
// "at fn (sources/x.ts:3:9(12))" or "at sources/x.ts:3:9(12)".
var stackFrameRE = regexp.MustCompile(`at (?:[^\n]*? \()?([^\s()]+):(\d+):(\d+)\(\d+\)`)

// locateString locates d at the first author frame of a goja stack string.
func (m *Module) locateString(d *engine.Diagnostic, stack string) {
	for _, f := range stackFrameRE.FindAllStringSubmatch(stack, -1) {
		line, _ := strconv.Atoi(f[2])
		col, _ := strconv.Atoi(f[3])
		if m.locate(d, f[1], line, col) {
			return
		}
	}
}

// stackOf returns the stack property of an Error object, or "".
func stackOf(v goja.Value) string {
	o, ok := v.(*goja.Object)
	if !ok {
		return ""
	}
	if st := o.Get("stack"); st != nil && !goja.IsUndefined(st) {
		return st.String()
	}
	return ""
}

// describe renders a thrown value: "TypeError: x is not a function" for
// errors, the value itself otherwise.
func describe(v goja.Value) string {
	if v == nil {
		return "undefined"
	}
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Error" {
		return v.String()
	}
	if s, ok := v.Export().(string); ok {
		return strconv.Quote(s)
	}
	return v.String()
}

// typeOf names the JavaScript type of v for messages.
func typeOf(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, ok := goja.AssertFunction(o); ok {
			return "a function"
		}
		return "an object"
	}
	switch v.Export().(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return v.String()
}

// sourcesContent reads the author's files out of the bundle's inline source
// map, keyed by their project-relative path.
func sourcesContent(code string) map[string]string {
	const prefix = "//# sourceMappingURL=data:application/json;base64,"
	files := map[string]string{}
	i := strings.LastIndex(code, prefix)
	if i < 0 {
		return files
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code[i+len(prefix):]))
	if err != nil {
		return files
	}
	var sm struct {
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
	}
	if json.Unmarshal(raw, &sm) != nil {
		return files
	}
	for i, s := range sm.Sources {
		if i < len(sm.SourcesContent) {
			files[path.Clean(s)] = sm.SourcesContent[i]
		}
	}
	return files
}
