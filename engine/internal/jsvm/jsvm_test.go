package jsvm

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/bundle"
)

var (
	bundleOnce sync.Once
	bundles    map[string]bundle.Output
	bundleErr  error
)

// output returns the bundle of testdata/proj/sources/<name>.*.
func output(t testing.TB, name string) bundle.Output {
	t.Helper()
	bundleOnce.Do(func() {
		srcs, err := bundle.Discover("testdata/proj", "sources")
		if err != nil {
			bundleErr = err
			return
		}
		outs, err := bundle.Bundle("testdata/proj", srcs)
		if err != nil {
			bundleErr = err
			return
		}
		bundles = map[string]bundle.Output{}
		for _, o := range outs {
			bundles[o.Source.Name] = o
		}
	})
	if bundleErr != nil {
		t.Fatal(bundleErr)
	}
	out, ok := bundles[name]
	if !ok {
		t.Fatalf("no source %q in testdata/proj", name)
	}
	return out
}

func load(t testing.TB, name string, opt Options) *Module {
	t.Helper()
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Timeout == 0 {
		// Tests that are not about the budget get a generous one: this
		// machine is shared, and a starved goroutine must not fail them.
		opt.Timeout = 5 * time.Second
	}
	m, err := Load(output(t, name), opt)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return m
}

func render(t *testing.T, m *Module, nowMs int64) string {
	t.Helper()
	out, err := m.Render(RenderContext{Now: time.UnixMilli(nowMs), Period: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Render(%d): %v", nowMs, err)
	}
	return string(out)
}

// diag asserts err is an engine.Diagnostic at file:line whose message
// contains msg, and returns it.
func diag(t *testing.T, err error, file string, line int, msg string) engine.Diagnostic {
	t.Helper()
	var d engine.Diagnostic
	if !errors.As(err, &d) {
		t.Fatalf("error %v (%T) is not an engine.Diagnostic", err, err)
	}
	if d.File != file || d.Line != line || !strings.Contains(d.Message, msg) {
		t.Errorf("got %q\nwant %s:%d: ...%s...", d.Error(), file, line, msg)
	}
	return d
}

func TestRenderGood(t *testing.T) {
	tests := []struct{ name, want string }{
		{"async", `{"total":12,"rejected":"no","source":"async","periodMs":200,"year":2001}`},
		{"view", `{"tag":"p","props":{"id":"x"},"children":[{"tag":"b","props":null,"children":["world"]}]}`},
		{"pkg", `{"padded":"007"}`},
		{"thrower", `{"ok":true}`},
		{"results", `{"kind":"ok","when":"1970-01-01T00:00:00.000Z","nan":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, tt.name, Options{})
			if got := render(t, m, 1_000_000_000_000); got != tt.want {
				t.Errorf("render = %s\nwant     %s", got, tt.want)
			}
		})
	}
}

func TestThrowInHelperReportsOriginalFile(t *testing.T) {
	m := load(t, "thrower", Options{})
	if err := m.SetState([]byte(`{"armed":true}`)); err != nil {
		t.Fatal(err)
	}
	_, err := m.Render(RenderContext{Now: time.UnixMilli(0)})
	d := diag(t, err, "sources/_lib/boom.ts", 4, "Error: kaboom: armed")
	if d.Column != 9 {
		t.Errorf("column = %d, want 9", d.Column)
	}
	if !strings.Contains(d.Frame, `> 4 |   throw new Error(message);`) || !strings.Contains(d.Frame, "\n    |         ^") {
		t.Errorf("frame:\n%s", d.Frame)
	}
}

func TestRejectedPromiseReportsLocation(t *testing.T) {
	m := load(t, "rejects", Options{})
	_, err := m.Render(RenderContext{Now: time.UnixMilli(0)})
	diag(t, err, "sources/rejects.js", 3, "RangeError: late failure")
}

func TestTimeouts(t *testing.T) {
	const budget = 50 * time.Millisecond
	tests := []struct {
		name   string
		nowMs  int64
		lines  []int // acceptable lines (an interrupt lands on any instruction of the loop); nil: no location
		want   string
		good   int64
		expect string
	}{
		{"infinite loop", 1, []int{5, 6}, "did not finish within its 50ms budget", 2, `{"n":1}`},
		{"never-settling promise", 1, nil, "never settles", 0, `{"n":1}`},
		{"endless await loop", 2, []int{6}, "did not finish within its 50ms budget", 0, `{"n":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "loop"
			if tt.name != "infinite loop" {
				name = "pending"
			}
			m := load(t, name, Options{Timeout: budget})
			start := time.Now()
			_, err := m.Render(RenderContext{Now: time.UnixMilli(tt.nowMs)})
			if took := time.Since(start); took > 4*budget+100*time.Millisecond {
				t.Errorf("render took %v with a budget of %v", took, budget)
			}
			var d engine.Diagnostic
			if !errors.As(err, &d) {
				t.Fatalf("error %v (%T) is not an engine.Diagnostic", err, err)
			}
			lineOK := len(tt.lines) == 0 && d.Line == 0
			for _, l := range tt.lines {
				lineOK = lineOK || d.Line == l
			}
			if d.File != "sources/"+name+".js" || !lineOK || !strings.Contains(d.Message, tt.want) {
				t.Errorf("got %q, want sources/%s.js at line %v: ...%s...", d.Error(), name, tt.lines, tt.want)
			}
			// The module still works, with its last good state.
			if got := render(t, m, tt.good); got != tt.expect {
				t.Errorf("after the failure, render = %s, want %s", got, tt.expect)
			}
		})
	}
}

func TestTimeoutKeepsReducedState(t *testing.T) {
	m := load(t, "loop", Options{Timeout: 100 * time.Millisecond})
	if err := m.Reduce(Event{Method: "POST"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Render(RenderContext{Now: time.UnixMilli(1)}); err == nil {
		t.Fatal("infinite loop did not fail")
	}
	if got := render(t, m, 2); got != `{"n":2}` {
		t.Errorf("after interrupt, render = %s, want the reduced state {\"n\":2}", got)
	}
	if err := m.Reduce(Event{Method: "POST"}); err != nil {
		t.Fatal(err)
	}
	if got := string(m.State()); got != `{"n":3}` {
		t.Errorf("state = %s", got)
	}
}

func TestNonJSONResults(t *testing.T) {
	tests := []struct{ kind, want string }{
		{"undefined", "the render result is undefined"},
		{"function", "the render result contains a function"},
		{"symbol", "the render result contains a symbol"},
		{"nested-function", `contains a function (at key "f")`},
		{"bigint", `contains a BigInt (at key "big")`},
		{"cycle", "contains a cycle"},
		{"big", "over the limit of 1000 bytes"},
		{"recurse", "maximum call stack size exceeded"},
	}
	// A generous budget: these are about messages, not time, on a busy machine.
	m := load(t, "results", Options{MaxOutput: 1000, Timeout: 5 * time.Second})
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if err := m.SetState([]byte(`{"kind":"` + tt.kind + `"}`)); err != nil {
				t.Fatal(err)
			}
			out, err := m.Render(RenderContext{Now: time.UnixMilli(0)})
			if err == nil {
				t.Fatalf("render = %s, want an error", out)
			}
			var d engine.Diagnostic
			if !errors.As(err, &d) || d.File != "sources/results.js" || !strings.Contains(d.Message, tt.want) {
				t.Errorf("error %q (%T), want a diagnostic in sources/results.js containing %q", err, err, tt.want)
			}
		})
	}
	// Still usable.
	if err := m.SetState([]byte(`{"kind":"fine"}`)); err != nil {
		t.Fatal(err)
	}
	if got := render(t, m, 0); !strings.Contains(got, `"kind":"fine"`) {
		t.Errorf("render after failures = %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		line int
		want string
	}{
		{"nodefault", 0, "no default export"},
		{"badperiod", 0, `export "period" = "fast" is not a duration`},
		{"negperiod", 0, `export "period" = -5 must be a positive number`},
		{"toplevel", 4, "top level threw Error: top-level failure"},
		{"toploop", 2, "top level did not finish within its 1s budget"}, // MinTopLevelBudget, not the 50ms timeout
		{"badinitial", 0, `export "initial" contains a symbol (at key "at")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := 5 * time.Second
			if tt.name == "toploop" {
				budget = 50 * time.Millisecond
			}
			m, err := Load(output(t, tt.name), Options{Timeout: budget})
			if err == nil {
				t.Fatalf("Load = %v, want an error", m)
			}
			d := diag(t, err, "sources/"+tt.name+".js", tt.line, tt.want)
			if tt.name == "toplevel" && !strings.Contains(d.Frame, "> 4 |   throw new Error") {
				t.Errorf("frame:\n%s", d.Frame)
			}
		})
	}

	broken := bundle.Output{Source: engine.Source{Name: "x", File: "sources/x.js"}, Errors: engine.Diagnostics{{File: "sources/x.js", Line: 1, Message: "syntax"}}}
	if _, err := Load(broken, Options{}); err == nil || !strings.Contains(err.Error(), "sources/x.js:1: syntax") {
		t.Errorf("Load of a broken bundle = %v, want its diagnostics", err)
	}
}

func TestPeriodAndReducers(t *testing.T) {
	tests := []struct {
		name      string
		period    time.Duration
		post, put bool
	}{
		{"numperiod", 250 * time.Millisecond, false, false},
		{"strperiod", 1500 * time.Millisecond, false, false},
		{"async", 0, false, false},
		{"reducers", 0, true, true},
		{"loop", 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, tt.name, Options{})
			if m.Period() != tt.period || m.HasReducer("POST") != tt.post || m.HasReducer("put") != tt.put {
				t.Errorf("period %v post %v put %v, want %v %v %v", m.Period(), m.HasReducer("POST"), m.HasReducer("put"), tt.period, tt.post, tt.put)
			}
			if m.Source().Name != tt.name {
				t.Errorf("Source() = %+v", m.Source())
			}
		})
	}
}

func TestReducers(t *testing.T) {
	m := load(t, "reducers", Options{Timeout: 100 * time.Millisecond})
	at := time.UnixMilli(1234)
	steps := []struct {
		name    string
		ev      Event
		wantErr string
		state   string
	}{
		{"post in place", Event{ID: "e1", Method: "POST", Time: at, Body: map[string]any{"item": "a"}, Headers: map[string]string{"User-Agent": "t"}},
			"", `{"items":["a"],"version":0,"last":{"id":"e1","method":"POST","t":1234,"isDate":true,"ua":"t"}}`},
		{"post throws: only this event rolls back", Event{ID: "e2", Method: "post", Body: map[string]any{"item": "b", "fail": true}},
			"post reducer threw Error: refused b", `{"items":["a"],"version":0,"last":{"id":"e1","method":"POST","t":1234,"isDate":true,"ua":"t"}}`},
		{"post again", Event{ID: "e3", Method: "POST", Time: at, Body: map[string]any{"item": "c"}},
			"", `{"items":["a","c"],"version":0,"last":{"id":"e3","method":"POST","t":1234,"isDate":true}}`},
		{"post times out: rolled back", Event{ID: "e4", Method: "POST", Body: map[string]any{"loop": true}},
			"did not finish within its 100ms budget", `{"items":["a","c"],"version":0,"last":{"id":"e3","method":"POST","t":1234,"isDate":true}}`},
		{"put returns a new state", Event{ID: "e5", Method: "PUT", Body: map[string]any{"items": []any{"x", 1.5, nil}}},
			"", `{"items":["x",1.5,null],"version":1}`},
		{"put returns non-JSON: rolled back", Event{ID: "e6", Method: "PUT", Body: map[string]any{"bad": true}},
			`the state after put contains a function (at key "f")`, `{"items":["x",1.5,null],"version":1}`},
		{"no such reducer", Event{ID: "e7", Method: "DELETE"}, "no reducer for DELETE", `{"items":["x",1.5,null],"version":1}`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := m.Reduce(s.ev)
			if s.wantErr == "" && err != nil {
				t.Fatalf("Reduce: %v", err)
			}
			if s.wantErr != "" {
				var d engine.Diagnostic
				if !errors.As(err, &d) || !strings.Contains(d.Message, s.wantErr) {
					t.Errorf("Reduce error = %v, want a diagnostic containing %q", err, s.wantErr)
				}
			}
			if got := string(m.State()); got != s.state {
				t.Errorf("State() = %s\nwant      %s", got, s.state)
			}
			// The JS state matches the reported state (render returns it).
			if got := render(t, m, 0); got != s.state {
				t.Errorf("render = %s\nwant     %s", got, s.state)
			}
		})
	}
	err := m.Reduce(Event{Method: "POST", Body: map[string]any{"item": "z", "fail": true}})
	d := diag(t, err, "sources/reducers.js", 6, "refused z")
	if d.Column != 11 || !strings.Contains(d.Frame, "> 6 |") {
		t.Errorf("column %d, frame:\n%s", d.Column, d.Frame)
	}
}

func TestSetState(t *testing.T) {
	m := load(t, "reducers", Options{})
	if err := m.SetState([]byte(`{"items":["restored"],"version":9}`)); err != nil {
		t.Fatal(err)
	}
	if got := render(t, m, 0); got != `{"items":["restored"],"version":9}` {
		t.Errorf("render = %s", got)
	}
	if err := m.SetState([]byte(`{nope`)); err == nil {
		t.Error("SetState accepted invalid JSON")
	}
	if got := string(m.State()); got != `{"items":["restored"],"version":9}` {
		t.Errorf("State after a rejected SetState = %s", got)
	}
	if got := string(load(t, "async", Options{}).State()); got != "null" {
		t.Errorf("State of a source without initial = %s, want null", got)
	}
}

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	m := load(t, "console", Options{Log: log})
	render(t, m, 0)
	got := buf.String()
	for _, want := range []string{
		`level=INFO msg=loaded source=console`,
		`level=INFO msg="rendering console {\"a\":1} [1,2] 3 undefined null" source=console`,
		`level=WARN msg=careful source=console`,
		`level=ERROR msg="Error: shown\n\tat render (sources/console.js:5:16(`,
		`level=DEBUG msg=details source=console`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, got)
		}
	}
}

func TestNoHostLeaks(t *testing.T) {
	m := load(t, "globals", Options{})
	got := render(t, m, 0)
	for _, leak := range []string{"require", "process", "fs", "Buffer", "setImmediate", "module", "exports"} {
		if strings.Contains(got, `"`+leak+`"`) {
			t.Errorf("globalThis has %q: %s", leak, got)
		}
	}
	// The web globals are there on purpose (README: "What a source can use").
	for _, want := range []string{`"console"`, `"JSON"`, `"` + bundle.GlobalName + `"`,
		`"setTimeout"`, `"clearTimeout"`, `"setInterval"`, `"clearInterval"`, `"queueMicrotask"`,
		`"fetch"`, `"Headers"`, `"Response"`, `"AbortController"`, `"AbortSignal"`, `"URL"`, `"URLSearchParams"`,
		`"TextEncoder"`, `"TextDecoder"`, `"structuredClone"`, `"atob"`, `"btoa"`, `"crypto"`, `"performance"`} {
		if !strings.Contains(got, want) {
			t.Errorf("globalThis lacks %s: %s", want, got)
		}
	}
}

func TestModulesRunConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A generous budget: this tests isolation, not speed, on a shared machine.
			m, err := Load(output(t, "bench"), Options{Timeout: 5 * time.Second, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Error(err)
				return
			}
			for j := range 50 {
				if _, err := m.Render(RenderContext{Now: time.UnixMilli(int64(i*1000 + j))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestNullishReadMessages: goja says "Cannot read property 'p' of
// undefined" also when the value was null; the diagnostic says what was
// read and that it is undefined or null, never a plain "undefined".
func TestNullishReadMessages(t *testing.T) {
	m := load(t, "nullish", Options{})
	for _, tc := range []struct {
		nowMs int64
		line  int
		msg   string
	}{
		{1, 6, "TypeError: Cannot read property 'depth' of state.config, which is undefined or null"},
		{2, 7, "TypeError: Cannot read property 'name' of state.rows[0], which is undefined or null"},
		{3, 8, "TypeError: Cannot read property 'x' of state.rows[1], which is undefined or null"},
		{4, 9, "TypeError: Cannot read property 'value' of (ctx as any).missing, which is undefined or null"},
	} {
		_, err := m.Render(RenderContext{Now: time.UnixMilli(tc.nowMs), Period: time.Second})
		d := diag(t, err, "sources/nullish.ts", tc.line, tc.msg)
		if strings.HasSuffix(d.Message, "of undefined") {
			t.Errorf("case %d: %s", tc.nowMs, d.Message)
		}
	}
	if got := nullishMessage("TypeError: Cannot read property 'p' of undefined", "", 0, 0); got != "TypeError: Cannot read property 'p' of undefined or null" {
		t.Errorf("without a position: %q", got)
	}
}
