package jsvm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine"
)

// reduceEach is the reference: the same events through Reduce, one by one,
// on a fresh module.
func reduceEach(t *testing.T, name string, opt Options, evs []Event) ([]error, string) {
	t.Helper()
	m := load(t, name, opt)
	errs := make([]error, len(evs))
	for i, ev := range evs {
		errs[i] = m.Reduce(ev)
	}
	return errs, string(m.State())
}

// checkBatch runs evs through ReduceBatch and asserts the same outcome as
// Reduce one by one: which events fail, with the same diagnostic, and the
// same state (reported and in JavaScript). wantFail lists the events that
// must fail, with a part of their message.
// alone is how many events ReduceBatch may run alone through Reduce (-1:
// any number).
func checkBatch(t *testing.T, name string, opt Options, evs []Event, wantFail map[int]string, alone int) *Module {
	t.Helper()
	m := load(t, name, opt)
	errs := m.ReduceBatch(evs)
	if alone >= 0 && m.alone != alone {
		t.Errorf("%d events ran alone through Reduce, want %d", m.alone, alone)
	}
	if len(errs) != len(evs) {
		t.Fatalf("ReduceBatch returned %d errors for %d events", len(errs), len(evs))
	}
	refErrs, refState := reduceEach(t, name, opt, evs)
	for i, err := range errs {
		want, fail := wantFail[i]
		switch {
		case !fail && err != nil:
			t.Errorf("event %d: %v, want it applied", i, err)
		case fail && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("event %d: error %v, want one containing %q", i, err, want)
		case fail && refErrs[i] != nil && err.Error() != refErrs[i].Error():
			t.Errorf("event %d: error\n%v\nwant Reduce's\n%v", i, err, refErrs[i])
		}
	}
	if got := string(m.State()); got != refState {
		t.Errorf("State() = %s\nwant       %s (Reduce one by one)", got, refState)
	}
	if got := render(t, m, 0); got != refState {
		t.Errorf("render = %s\nwant     %s", got, refState)
	}
	return m
}

func post(id string, body any) Event {
	return Event{ID: id, Method: "POST", Time: time.UnixMilli(1234), Body: body, Headers: map[string]string{"User-Agent": "t"}}
}

func TestReduceBatchInPlaceAndReturned(t *testing.T) {
	evs := []Event{
		post("e1", map[string]any{"item": "a"}),
		post("e2", json.RawMessage(`{"item":"b"}`)),
		{ID: "e3", Method: "put", Body: map[string]any{"items": []any{"x", 1.5, nil}}},
		post("e4", map[string]any{"item": `quote " and é`}),
	}
	m := checkBatch(t, "reducers", Options{}, evs, nil, 0)
	want := `{"items":["x",1.5,null,"quote \" and é"],"version":1,"last":{"id":"e4","method":"POST","t":1234,"isDate":true,"ua":"t"}}`
	if got := string(m.State()); got != want {
		t.Errorf("State() = %s\nwant       %s", got, want)
	}
	// The next batch starts from there.
	if errs := m.ReduceBatch([]Event{{ID: "e5", Method: "PUT", Body: map[string]any{"items": []any{}}}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := string(m.State()); got != `{"items":[],"version":2}` {
		t.Errorf("State() = %s", got)
	}
}

func TestReduceBatchThrowRollsBackOnlyThatEvent(t *testing.T) {
	evs := []Event{
		post("e1", map[string]any{"item": "a"}),
		post("e2", map[string]any{"item": "b", "fail": true}),
		post("e3", map[string]any{"item": "c"}),
		post("e4", map[string]any{"item": "d", "fail": true}),
		post("e5", map[string]any{"item": "e"}),
	}
	m := checkBatch(t, "reducers", Options{}, evs, map[int]string{1: "refused b", 3: "refused d"}, 2)
	if got := string(m.State()); !strings.Contains(got, `"items":["a","c","e"]`) {
		t.Errorf("State() = %s, want items a, c, e (no half-done)", got)
	}
	// Diagnostics name the author's file and line, with a code frame.
	errs := load(t, "reducers", Options{}).ReduceBatch(evs)
	d := diag(t, errs[1], "sources/reducers.js", 6, "post reducer threw Error: refused b")
	if d.Column != 11 || !strings.Contains(d.Frame, "> 6 |") {
		t.Errorf("column %d, frame:\n%s", d.Column, d.Frame)
	}
	// The first event failing, and every event failing.
	checkBatch(t, "reducers", Options{}, evs[1:], map[int]string{0: "refused b", 2: "refused d"}, 2)
	checkBatch(t, "reducers", Options{}, []Event{evs[1], evs[3]}, map[int]string{0: "refused b", 1: "refused d"}, 2)
}

func TestReduceBatchNonJSONState(t *testing.T) {
	evs := []Event{
		post("e1", map[string]any{"item": "a"}),
		{ID: "e2", Method: "PUT", Body: map[string]any{"bad": true}},
		post("e3", map[string]any{"item": "c"}),
	}
	m := checkBatch(t, "reducers", Options{}, evs, map[int]string{1: `the state after put contains a function (at key "f")`}, len(evs))
	if got := string(m.State()); !strings.Contains(got, `"items":["a","c"]`) {
		t.Errorf("State() = %s", got)
	}
}

func TestReduceBatchTimeout(t *testing.T) {
	opt := Options{Timeout: 100 * time.Millisecond}
	evs := []Event{
		post("e1", map[string]any{"item": "a"}),
		post("e2", map[string]any{"loop": true}),
		post("e3", map[string]any{"item": "c"}),
	}
	m := checkBatch(t, "reducers", opt, evs, map[int]string{1: "did not finish within its 100ms budget"}, 1)
	if got := string(m.State()); !strings.Contains(got, `"items":["a","c"]`) {
		t.Errorf("State() = %s", got)
	}
	// Still usable after the rebuilt runtime.
	if errs := m.ReduceBatch([]Event{post("e4", map[string]any{"item": "d"})}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := string(m.State()); !strings.Contains(got, `"items":["a","c","d"]`) {
		t.Errorf("State() = %s", got)
	}
}

// TestReduceBatchBudgetPerEvent: the budget is each event's, not the
// batch's: six events of 60 ms each fit a 200 ms budget.
func TestReduceBatchBudgetPerEvent(t *testing.T) {
	m := load(t, "slow", Options{Timeout: 200 * time.Millisecond})
	var evs []Event
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		evs = append(evs, post(id, map[string]any{"ms": 60}))
	}
	for i, err := range m.ReduceBatch(evs) {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if m.alone != 0 {
		t.Errorf("%d events ran alone, want the batch in one call", m.alone)
	}
	if got := string(m.State()); got != `{"done":["a","b","c","d","e","f"]}` {
		t.Errorf("State() = %s", got)
	}
}

func TestReduceBatchAsyncAndMissingReducers(t *testing.T) {
	evs := []Event{
		post("a", map[string]any{"ms": 0}),
		{ID: "b", Method: "PUT", Body: nil},
		{ID: "c", Method: "DELETE"},
		post("d", map[string]any{"ms": 0}),
	}
	m := checkBatch(t, "slow", Options{}, evs, map[int]string{1: "returned a Promise", 2: "no reducer for DELETE"}, 1)
	if got := string(m.State()); got != `{"done":["a","d"]}` {
		t.Errorf("State() = %s", got)
	}
	var d engine.Diagnostic
	if errs := m.ReduceBatch(evs[2:3]); !errors.As(errs[0], &d) || d.File != "sources/slow.js" {
		t.Errorf("missing reducer: %v", errs[0])
	}
	if errs := m.ReduceBatch(nil); len(errs) != 0 {
		t.Errorf("empty batch: %v", errs)
	}
}

// BenchmarkReduce applies 1,000 events of a one-line reducer (the write
// benchmark's) per op: one Reduce per event, and ReduceBatch, in the same run.
func BenchmarkReduce(b *testing.B) {
	evs := make([]Event, 1000)
	for i := range evs {
		evs[i] = Event{ID: "e", Method: "POST", Time: time.UnixMilli(1234), Body: json.RawMessage(`{"id":1}`), Headers: map[string]string{"content-type": "application/json"}}
	}
	b.Run("each", func(b *testing.B) {
		m := load(b, "loop", Options{})
		for b.Loop() {
			for _, ev := range evs {
				if err := m.Reduce(ev); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	})
	b.Run("batch", func(b *testing.B) {
		m := load(b, "loop", Options{})
		for b.Loop() {
			for _, err := range m.ReduceBatch(evs) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	})
}

// TestDecodeJSONLikeParse: decodeJSON gives what JSON.parse gives, and
// refuses what it refuses.
func TestDecodeJSONLikeParse(t *testing.T) {
	m := load(t, "reducers", Options{})
	vm := m.rt.vm
	good := []string{`{"a":[1,-0.5,2e3,true,false,null],"b":{"c":"d\"\\\/\u00e9\ud83d\ude00","__proto__":{"x":1}},"a":"dup"}`, ` [ ] `, `"é"`, `{}`, `-0`, `0.1e-2`}
	stringify := vm.Get("JSON").ToObject(vm).Get("stringify")
	str, _ := goja.AssertFunction(stringify)
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	for _, s := range good {
		v, err := decodeJSON(vm, []byte(s))
		if err != nil {
			t.Errorf("decodeJSON(%s): %v", s, err)
			continue
		}
		want, _ := parse(goja.Undefined(), vm.ToValue(s))
		got, _ := str(goja.Undefined(), v)
		w, _ := str(goja.Undefined(), want)
		if got.String() != w.String() {
			t.Errorf("decodeJSON(%s) = %s, JSON.parse = %s", s, got, w)
		}
	}
	for _, s := range []string{``, `{`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `+1`, `"a`, "\"\x01\"", `tru`, `nul`, `{"a" 1}`, `1 2`, `1e400`, `NaN`, `'a'`} {
		if _, err := decodeJSON(vm, []byte(s)); err == nil {
			t.Errorf("decodeJSON(%q) accepted it", s)
		}
	}
	if _, err := decodeJSON(vm, []byte(strings.Repeat("[", 1000)+strings.Repeat("]", 1000))); err == nil {
		t.Error("decodeJSON accepted nesting deeper than maxDepth")
	}
}

// TestReduceBatchLargeWithinBudget: a large batch of a one-line reducer
// goes in one call, and decoding it is not charged to the author's budget:
// the batch is sized so that decoding its bodies alone takes longer than
// the budget. The budget is long enough that no scheduling stall on a busy
// machine makes a one-line event overrun it. (That the budget is each
// event's, not the batch's, is TestReduceBatchBudgetPerEvent's.)
func TestReduceBatchLargeWithinBudget(t *testing.T) {
	const budget = 500 * time.Millisecond
	m := load(t, "loop", Options{Timeout: budget})
	const body = `{"id":1}` + "\n"
	// Time decoding 50,000 bodies here and now, then scale the batch so
	// that its decoding takes 1.5 budgets.
	const probe = 50000
	start := time.Now()
	if _, err := appendJSONArray(nil, m.rt.vm, []byte("["+strings.Repeat(body+",", probe-1)+body+"]")); err != nil {
		t.Fatal(err)
	}
	perEvent := time.Since(start) / probe
	n := max(probe, int(3*budget/2/max(perEvent, 1)))
	if n > 1<<21 {
		t.Fatalf("decoding takes %v per event here: %d events would be needed for decoding to outlast the %v budget", perEvent, n, budget)
	}
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = post("e", json.RawMessage(body))
	}
	start = time.Now()
	for i, err := range m.ReduceBatch(evs) {
		if err != nil {
			t.Fatalf("event %d of %d: %v", i, n, err)
		}
	}
	if m.alone != 0 {
		t.Errorf("%d events ran alone, want the batch in one call", m.alone)
	}
	if got, want := string(m.State()), fmt.Sprintf(`{"n":%d}`, n+1); got != want {
		t.Errorf("State() = %s, want %s", got, want)
	}
	t.Logf("%d events (decoding %v each when probed) in %v", n, perEvent, time.Since(start))
	// The batch's buffers, grown for the large batch, are not kept for one.
	if errs := m.ReduceBatch(evs[:1]); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if c := cap(m.batch.ids); c > maxKeptEvents {
		t.Errorf("after a batch of one, the batch keeps room for %d events", c)
	}
}

// TestReduceBatchKeptEvents: event objects a reducer keeps in the state
// stay as they were while later batches reuse the module's buffers and
// take new event objects.
func TestReduceBatchKeptEvents(t *testing.T) {
	ev := func(id string, n int, keep bool) Event {
		body, _ := json.Marshal(map[string]any{"n": n, "keep": keep})
		return post(id, json.RawMessage(body))
	}
	batches := [][]Event{{ev("a", 1, true), ev("b", 2, false)}, nil, {ev("z", 9, true)}}
	keepAt := slabEvents + slabEvents/2 // inside the batch's second slab
	for i := range 3 * slabEvents {
		batches[1] = append(batches[1], ev("m", i, i == keepAt))
	}
	m := load(t, "keep", Options{})
	var all []Event
	for _, evs := range batches {
		for i, err := range m.ReduceBatch(evs) {
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		all = append(all, evs...)
	}
	want := fmt.Sprintf(`["a:1","m:%d","z:9"]`, keepAt)
	if got := render(t, m, 0); got != want {
		t.Errorf("render = %s, want %s", got, want)
	}
	_, refState := reduceEach(t, "keep", Options{}, all)
	if got := string(m.State()); got != refState {
		t.Errorf("State() = %s\nwant       %s (Reduce one by one)", got, refState)
	}
}

// TestEventObjectLikePlain: the event a reducer gets (event.go) behaves as
// the plain object it stands for, through Reduce and through ReduceBatch:
// JSON, keys and their order, spread, for...in, in, descriptors, a cached
// Date, headers with a __proto__ header as an own property, adding,
// changing and deleting properties. Object.freeze is the one difference
// (a TypeError), and an event kept in the state is saved in full.
func TestEventObjectLikePlain(t *testing.T) {
	ev := func(id string) Event {
		return Event{ID: id, Method: "post", Time: time.UnixMilli(1700000000123), Committed: time.UnixMilli(1700000000130), Body: json.RawMessage(`{"a":[1,"x"],"b":{"c":null}}`),
			Headers: map[string]string{"User-Agent": "ua", "__proto__": "p", "Origin": "http://o"}}
	}
	type seen struct {
		Host   map[string]any `json:"host"`
		Plain  map[string]any `json:"plain"`
		Freeze string         `json:"freeze"`
	}
	var st struct {
		Seen []seen         `json:"seen"`
		Kept map[string]any `json:"kept"`
	}
	check := func(how string, m *Module, n int) {
		t.Helper()
		if err := json.Unmarshal(m.State(), &st); err != nil {
			t.Fatalf("%s: state: %v", how, err)
		}
		if len(st.Seen) != n {
			t.Fatalf("%s: %d events seen, want %d", how, len(st.Seen), n)
		}
		for i, s := range st.Seen {
			h, _ := json.Marshal(s.Host)
			p, _ := json.Marshal(s.Plain)
			if string(h) != string(p) {
				t.Errorf("%s, event %d: the event object differs from a plain one:\nhost  %s\nplain %s", how, i, h, p)
			}
			if s.Freeze != "TypeError" {
				t.Errorf("%s, event %d: Object.freeze(event): %s, want a TypeError", how, i, s.Freeze)
			}
		}
		want := `{"id":"e1","method":"POST","time":"2023-11-14T22:13:20.123Z","timeMs":1700000000123,"committed":"2023-11-14T22:13:20.130Z","committedMs":1700000000130,"body":{"a":[1,"x"],"b":{"c":null}},"headers":{"__proto__":"p","origin":"http://o","user-agent":"ua"}}`
		if got := st.Seen[0].Host["json"]; got != want {
			t.Errorf("%s: JSON.stringify(event) = %v\nwant %s", how, got, want)
		}
		if got, _ := json.Marshal(st.Kept); !strings.Contains(string(got), `"time":"1970-01-01T00:00:00.000Z"`) || !strings.Contains(string(got), `"extra":1`) || !strings.Contains(string(got), `"added":"yes"`) {
			t.Errorf("%s: the event kept in the state = %s, want it as the reducer left it", how, got)
		}
	}
	one := load(t, "events", Options{})
	if err := one.Reduce(ev("e1")); err != nil {
		t.Fatal(err)
	}
	check("Reduce", one, 1)
	batch := load(t, "events", Options{})
	for i, err := range batch.ReduceBatch([]Event{ev("e1"), ev("e2")}) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	check("ReduceBatch", batch, 2)
}
