package jsvm

// The encoder's proof: every value here, hand-written edge cases and a
// seeded random corpus, is encoded by the encoder and by goja's own
// JSON.stringify (plain, and with the checking replacer jsvm used before
// the encoder), and the texts or error messages must be equal byte for
// byte.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ftoa"
)

// checkedRefSrc is the checked encoding jsvm used before the encoder
// (json.go, without its unchanged-text shortcut): JSON.stringify with a
// replacer that throws for functions, symbols and BigInts, and a cycle
// error that names what. It is the reference for checked mode.
const checkedRefSrc = `(function (stringify) {
  "use strict";
  function at(key) { return key === "" ? "" : " (at key " + stringify(String(key)) + ")"; }
  return function toJSON(value, what) {
    function check(key, v) {
      switch (typeof v) {
      case "function":
        throw new TypeError(what + " contains a function" + at(key) + ", which JSON cannot hold");
      case "symbol":
        throw new TypeError(what + " contains a symbol" + at(key) + ", which JSON cannot hold");
      case "bigint":
        throw new TypeError(what + " contains a BigInt" + at(key) + ", which JSON cannot hold; convert it with String(x) or Number(x)");
      }
      return v;
    }
    try {
      return stringify(value, check);
    } catch (e) {
      if (e instanceof TypeError && /circular/i.test(e.message)) {
        throw new TypeError(what + " contains a cycle (an object that contains itself), which JSON cannot hold");
      }
      throw e;
    }
  };
})`

// differ evaluates JavaScript expressions and encodes their values both
// ways.
type differ struct {
	vm        *goja.Runtime
	enc       *encoder
	stringify goja.Callable
	checked   goja.Callable
}

func newDiffer(t testing.TB) *differ {
	vm := goja.New()
	vm.SetMaxCallStackSize(maxCallStack)
	js := vm.Get("JSON").ToObject(vm)
	d := &differ{vm: vm}
	d.stringify, _ = goja.AssertFunction(js.Get("stringify"))
	enc, err := newEncoder(vm, js.Get("stringify"))
	if err != nil {
		t.Fatal(err)
	}
	d.enc = enc
	mk, err := vm.RunString(checkedRefSrc)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := goja.AssertFunction(mk)
	ref, err := f(goja.Undefined(), js.Get("stringify"))
	if err != nil {
		t.Fatal(err)
	}
	d.checked, _ = goja.AssertFunction(ref)
	// Strings made in Go (as ctx.source is) are of another kind in goja.
	if err := vm.Set("fromGo", "déjà \"vu\"\n😀 ascii"); err != nil {
		t.Fatal(err)
	}
	if err := vm.Set("asciiFromGo", "plain"); err != nil {
		t.Fatal(err)
	}
	return d
}

// outcome is a JSON text, or an error message.
func outcome(v goja.Value, err error) string {
	switch {
	case err != nil:
		if ex, ok := err.(*goja.Exception); ok {
			return "error: " + ex.Value().String()
		}
		return "error: " + err.Error()
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	}
	return "json: " + v.String()
}

// mine is the encoder's outcome in the same terms: its error for an
// undefined result (there is no text) reads as JSON.stringify's undefined.
func mine(b []byte, err error) string {
	if re, ok := err.(resultError); ok && strings.Contains(string(re), " is undefined") {
		return "undefined"
	}
	if ex, ok := err.(*goja.Exception); ok {
		return "error: " + ex.Value().String()
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "json: " + string(b)
}

// compare evaluates expr afresh for each encoding (getters and toJSON may
// count their calls) and fails t if the encoder differs from goja.
func (d *differ) compare(t testing.TB, expr string) {
	t.Helper()
	eval := func() goja.Value {
		v, err := d.vm.RunString("(" + expr + ")")
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return v
	}
	const what = "the value"
	want := outcome(d.stringify(goja.Undefined(), eval()))
	got := mine(d.enc.encode(eval(), what, false, 0, 0))
	if got != want {
		t.Errorf("plain: %s\n got %s\nwant %s", expr, got, want)
	}
	want = outcome(d.checked(goja.Undefined(), eval(), d.vm.ToValue(what)))
	got = mine(d.enc.encode(eval(), what, true, 0, 0))
	if got != want {
		t.Errorf("checked: %s\n got %s\nwant %s", expr, got, want)
	}
}

// edgeCases are values where JSON.stringify has a rule of its own.
var edgeCases = []string{
	`undefined`, `null`, `true`, `false`, `0`, `-0`, `NaN`, `Infinity`, `-Infinity`,
	`1e21`, `1e-7`, `123e-20`, `0.1`, `0.1 + 0.2`, `-1.5e300`, `5e-324`, `1.7976931348623157e308`,
	`2**53`, `2**53 + 2`, `-(2**53)`, `2**64`, `2**31`, `-(2**31)`, `1e20`, `123456789012345680000`, `0.000001`, `1/3`,
	`""`, `"plain"`, `"quote \" backslash \\ slash /"`, `"\b\f\n\r\t\v\0\x01\x1f\x7f"`,
	`"\u2028\u2029"`, `"é中😀"`, `"\ud800"`, `"\udfff"`, `"a\ud800b"`, `"\udc00\ud800"`, `"\ud83d\ude00\ud83d"`, `"\ufffd"`, `"\ufffd\ud800"`,
	`{}`, `[]`, `[undefined, function () {}, Symbol("s")]`, `{a: undefined, b: function () {}, c: Symbol("s"), d: 1}`,
	`[1, , 3]`, `Array(3)`, `(() => { const a = []; a[5] = 1; return a; })()`, `Object.assign([1, 2], {x: 3})`,
	`{b: 1, a: 2, 2: 3, 1: 4, "01": 5, "-1": 6, "1.5": 7, 4294967294: 8, 4294967295: 9, 9007199254740993: 10}`,
	`{["__proto__"]: 1, constructor: 2, toString: 3}`,
	`{"\ud800": 1, b: 2}`, `{"é": {"中": "😀"}}`, `{"a\"b": 1, "\n": 2}`,
	`{toJSON() { return 42; }}`, `{toJSON(k) { return "key:" + k; }}`, `{x: {toJSON(k) { return "key:" + k; }}, y: [{toJSON(k) { return k; }}]}`,
	`{toJSON() { return undefined; }}`, `[{toJSON() { return undefined; }}]`, `{a: {toJSON() { return () => 1; }}}`,
	`{toJSON: 5, a: 1}`, `{toJSON() { return {toJSON() { return 1; }}; }}`, `{toJSON() { return new Number(3); }}`,
	`new Date(0)`, `new Date(1700000000123)`, `new Date(NaN)`, `{when: new Date(-1e15)}`, `[new Date(8.64e15)]`,
	`new Number(5)`, `new Number(-0)`, `new Number(NaN)`, `new String("s\ud800")`, `new Boolean(false)`, `[Object(Symbol("s"))]`, `{b: Object(1n)}`,
	`(() => { const n = new Number(1); n.valueOf = () => 7; return n; })()`,
	`(() => { const s = new String("a"); s.toString = () => "b"; return s; })()`,
	`new Map([[1, 2]])`, `new Set([1])`, `(() => { const m = new Map(); m.x = 1; return m; })()`, `new WeakMap()`,
	`new Error("boom")`, `Object.assign(new Error("boom"), {code: 7})`, `/re/g`, `Object.assign(/re/, {x: 1})`,
	`new Uint8Array([1, 2, 300])`, `new Float64Array([0.5, NaN])`, `new ArrayBuffer(4)`, `new DataView(new ArrayBuffer(2))`,
	`Promise.resolve(1)`, `Math`, `JSON`, `(function () { return arguments; })(1, "a")`,
	`Object.create(null)`, `Object.assign(Object.create(null), {a: 1})`, `Object.assign(Object.create({inherited: 1}), {own: 2})`,
	`new (class P { constructor() { this.x = 1; } get y() { return 2; } })()`, `new (class extends Array {})()`,
	`Object.defineProperty({a: 1}, "hidden", {value: 2, enumerable: false})`, `Object.defineProperty({}, "g", {get() { return 3; }, enumerable: true})`,
	`{get g() { return [1, {h: 2}]; }}`, `(() => { let n = 0; return {get a() { return ++n; }, get b() { return ++n; }}; })()`,
	`{get boom() { throw new Error("getter threw"); }}`, `{toJSON() { throw new RangeError("toJSON threw"); }}`,
	`(() => { const o = {a: 1}; Object.defineProperty(o, "b", {get() { delete o.c; return 2; }, enumerable: true}); o.c = 3; return o; })()`,
	`(() => { const o = {a: 1}; Object.defineProperty(o, "b", {get() { o.z = 1; return 2; }, enumerable: true}); return o; })()`,
	`new Proxy({a: 1, b: [2]}, {})`, `new Proxy([1, 2], {})`, `{p: new Proxy({x: 1}, {get(t, k) { return k === "x" ? 9 : t[k]; }})}`,
	`new Proxy(function () {}, {})`, `{f: new Proxy(function () {}, {})}`,
	`10n`, `{big: 10n}`, `[1n]`, `Symbol("s")`, `function () {}`, `() => 1`, `class {}`, `async function () {}`, `function* () {}`,
	`(() => { const a = {name: "a"}; a.self = a; return a; })()`, `(() => { const a = [1]; a.push(a); return a; })()`,
	`(() => { const a = {x: [1, {}]}; a.x[1].back = a; return a; })()`, `(() => { const s = {v: 1}; return [s, s, {s}]; })()`,
	`(() => { const a = {}; a.p = new Proxy(a, {}); return a; })()`, `(() => { const a = {}; a.m = new Map(); a.m.back = a; return a; })()`,
	`JSON.rawJSON("1e1000")`, `{r: JSON.rawJSON("\"x\"")}`,
	`(() => { let v = 0; for (let i = 0; i < 500; i++) v = [v, {i}]; return v; })()`,
	`fromGo`, `{[fromGo]: fromGo, [asciiFromGo]: [asciiFromGo]}`, `fromGo + "\ud800"`,
	`"x".repeat(5000)`, `Array.from({length: 300}, (_, i) => i * 1.5)`, `Array.from({length: 5000}, (_, i) => i)`,
}

func TestStringifyEdgeCases(t *testing.T) {
	d := newDiffer(t)
	for _, expr := range edgeCases {
		d.compare(t, expr)
	}
}

// TestStringifyOrdinaryNative: ordinary values (what renders return) are
// written by the encoder itself, not handed back to JSON.stringify, or the
// encoder would be no faster than what it replaces.
func TestStringifyOrdinaryNative(t *testing.T) {
	d := newDiffer(t)
	for _, expr := range []string{
		`{a: 1, b: [1.5, "x", true, null, undefined, {c: "é\ud800"}], d: new Date(0), e: {toJSON() { return [1]; }}}`,
		`{get g() { return 1; }, m: new Map(), s: new Set(), err: new Error("x"), re: /x/, n: Object.create(null)}`,
		`[, 1, Array(2), new (class { constructor() { this.x = 1; } })()]`,
	} {
		v, err := d.vm.RunString("(" + expr + ")")
		if err != nil {
			t.Fatal(err)
		}
		before := d.enc.exotics
		if _, err := d.enc.encode(v, "v", true, 0, 0); err != nil {
			t.Fatal(err)
		}
		if n := d.enc.exotics - before; n != 0 {
			t.Errorf("%s: %d values went to JSON.stringify, want 0", expr, n)
		}
	}
}

// TestStringifyBigIntToJSON: an author may give BigInt a toJSON; both call
// it (in a runtime of its own: the prototype change is global).
func TestStringifyBigIntToJSON(t *testing.T) {
	d := newDiffer(t)
	if _, err := d.vm.RunString(`BigInt.prototype.toJSON = function (k) { return this.toString() + "@" + k; }`); err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{`10n`, `{a: 1n, b: [2n]}`, `Object(3n)`} {
		d.compare(t, expr)
	}
	if _, err := d.vm.RunString(`Date.prototype.toJSON = undefined; Object.prototype.toJSON = undefined`); err != nil {
		t.Fatal(err)
	}
	d.compare(t, `new Date(0)`) // a Date without toJSON is an ordinary object: {}
}

// TestStringifyCorpus compares the encoder with goja on random values
// from a seeded generator: the same seeds every run, and a few fresh ones
// (printed, so a failure can be replayed with -seed).
func TestStringifyCorpus(t *testing.T) {
	d := newDiffer(t)
	n := 4000
	if testing.Short() {
		n = 500
	}
	exotic := d.enc.exotics
	for i := range n {
		seed := uint64(i)
		expr := newGen(seed).value(0)
		d.compare(t, expr)
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
	t.Logf("%d values, %d encodings handed a value to JSON.stringify", n, d.enc.exotics-exotic)
}

// FuzzStringify: the generator's value for seed, with s as a string, a key
// and, when it is JSON, the value JSON.parse makes of it.
func FuzzStringify(f *testing.F) {
	f.Add(uint64(1), `"\ud800"`)
	f.Add(uint64(2), `{"1":1,"b":[1.5e300,-0]}`)
	f.Add(uint64(3), "\x00\u2028é")
	d := newDiffer(f)
	f.Fuzz(func(t *testing.T, seed uint64, s string) {
		if !utf8.ValidString(s) {
			return // JavaScript source is text; jsString writes every code unit anyway
		}
		g := newGen(seed)
		lit := jsString(s)
		d.compare(t, "{"+lit+": "+g.value(0)+", s: "+lit+"}")
		d.compare(t, `(() => { try { return JSON.parse(`+lit+`); } catch (e) { return "not JSON"; } })()`)
		d.compare(t, "["+lit+", "+g.value(0)+"]")
	})
}

// gen writes random JavaScript expressions.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, 0x6a61776173))} }

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// value is an expression of any kind; deeper values lean to primitives.
func (g *gen) value(depth int) string {
	if depth > 5 || g.r.IntN(10) < 3+depth {
		return g.primitive()
	}
	switch g.r.IntN(20) {
	case 0, 1, 2, 3, 4, 5:
		return g.object(depth)
	case 6, 7, 8, 9:
		return g.array(depth)
	case 10:
		return fmt.Sprintf("{toJSON(k) { return %s; }}", g.pick("k", "k + '!'", g.value(depth+1), "undefined", "this.v", "() => 1"))
	case 11:
		return fmt.Sprintf("{get g() { return %s; }, a: %s}", g.value(depth+1), g.value(depth+1))
	case 12:
		return g.pick(fmt.Sprintf("new Proxy(%s, {})", g.object(depth)), fmt.Sprintf("new Proxy(%s, {})", g.array(depth)),
			fmt.Sprintf("Object.defineProperty(%s, 'h', {value: 1, enumerable: %v})", g.object(depth), g.r.IntN(2) == 0))
	case 13:
		return g.pick(fmt.Sprintf("new Date(%d)", g.r.Int64N(8.64e15)-4e15), "new Date(NaN)", fmt.Sprintf("new Number(%s)", g.number()),
			fmt.Sprintf("new String(%s)", g.str()), "new Boolean(true)", "Object(Symbol())", "new Map([[1, 2]])", "new Set([3])",
			"new Uint8Array([1, 2])", "/x/", "new Error('e')", "JSON.rawJSON('7')", fmt.Sprintf("Object.assign(Object.create(null), %s)", g.object(depth)))
	case 14:
		// Cycles and shared references.
		inner := g.object(depth + 1)
		return g.pick(
			fmt.Sprintf("(() => { const a = %s; a.self = a; return a; })()", inner),
			fmt.Sprintf("(() => { const a = %s; return [a, {a}, a]; })()", inner),
			fmt.Sprintf("(() => { const a = %s; a.list = [1, {up: a}]; return {a}; })()", inner),
		)
	case 15:
		return g.pick("function () {}", "() => 2", "Symbol('z')", "undefined", "12n", "class {}")
	case 16:
		return fmt.Sprintf("new (class { constructor() { this.x = %s; this[%d] = %s; } })()", g.value(depth+1), g.r.IntN(5), g.value(depth+1))
	default:
		return g.array(depth)
	}
}

func (g *gen) object(depth int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range g.r.IntN(6) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "[%s]: %s", g.key(), g.value(depth+1))
	}
	b.WriteString("}")
	return b.String()
}

func (g *gen) array(depth int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range g.r.IntN(6) {
		if i > 0 {
			b.WriteString(", ")
		}
		if g.r.IntN(12) == 0 {
			continue // a hole
		}
		b.WriteString(g.value(depth + 1))
	}
	b.WriteString("]")
	return b.String()
}

func (g *gen) key() string {
	switch g.r.IntN(4) {
	case 0:
		return g.pick(`"0"`, `"1"`, `"2"`, `"10"`, `"01"`, `"-1"`, `"1.5"`, `"4294967294"`, `"4294967295"`, `"1e3"`, `" 1"`)
	case 1:
		return g.str()
	default:
		return g.pick(`"a"`, `"b"`, `"id"`, `"name"`, `"toJSON"`, `"__proto__"`, `"é"`, `"x y"`, `"length"`)
	}
}

func (g *gen) primitive() string {
	switch g.r.IntN(8) {
	case 0, 1, 2:
		return g.number()
	case 3, 4:
		return g.str()
	case 5:
		return g.pick("true", "false", "null")
	case 6:
		return g.pick("undefined", "null", "0", `""`)
	default:
		return strconv.Itoa(g.r.IntN(1000))
	}
}

func (g *gen) number() string {
	var f float64
	switch g.r.IntN(6) {
	case 0:
		return g.pick("NaN", "Infinity", "-Infinity", "-0", "0", "1e21", "1e-7", "9007199254740993", "2**63", "0.1 + 0.2")
	case 1:
		f = math.Float64frombits(g.r.Uint64()) // any double, including NaNs and denormals
	case 2:
		f = float64(g.r.Int64N(1<<54)) - 1<<53
	case 3:
		f = g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(60)-30))
	case 4:
		f = float64(g.r.IntN(100000)) / 100
	default:
		return strconv.Itoa(g.r.IntN(2000) - 1000)
	}
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return "(" + strconv.FormatFloat(f, 'g', -1, 64) + ")"
}

// str is a string literal of random UTF-16 code units: ASCII, controls,
// quotes, non-ASCII, pairs and lone surrogates.
func (g *gen) str() string {
	units := make([]uint16, g.r.IntN(8))
	for i := range units {
		switch g.r.IntN(8) {
		case 0:
			units[i] = uint16(g.r.IntN(0x20))
		case 1:
			units[i] = uint16(0xD800 + g.r.IntN(0x800)) // lone or paired by chance
		case 2:
			units[i] = uint16(0x80 + g.r.IntN(0xD800-0x80))
		case 3:
			units[i] = []uint16{'"', '\\', '/', 0x7f, 0x2028, 0x2029, 0xfffd, 0xfeff}[g.r.IntN(8)]
		default:
			units[i] = uint16(0x20 + g.r.IntN(0x5f))
		}
	}
	return unitsLiteral(units)
}

// jsString is a literal of the Go string s.
func jsString(s string) string {
	var units []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			units = append(units, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
		} else {
			units = append(units, uint16(r))
		}
	}
	return unitsLiteral(units)
}

func unitsLiteral(units []uint16) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, u := range units {
		if u >= 0x20 && u < 0x7f && u != '"' && u != '\\' {
			b.WriteByte(byte(u))
		} else {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestStringifyLimits: the encoder's own bounds (size, depth, time) are
// errors that name what, where goja would write on or crash.
func TestStringifyLimits(t *testing.T) {
	d := newDiffer(t)
	eval := func(expr string) goja.Value {
		v, err := d.vm.RunString("(" + expr + ")")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr   string
		limit  int
		budget time.Duration
		want   string
	}{
		{`"x".repeat(2000)`, 1000, 0, "the value is over the limit of 1000 bytes of JSON"},
		{`(() => { const a = []; a.length = 2 ** 32 - 1; return a; })()`, 1 << 20, 0, "the value is over the limit of 1048576 bytes of JSON"},
		{`(() => { let v = 0; for (let i = 0; i < 20000; i++) v = [v]; return v; })()`, 0, 0, "nested deeper than 10000 levels"},
		// Every element is the same object of 100,000 undefined values:
		// little text, much work.
		{`(() => { const o = {}; for (let i = 0; i < 1e5; i++) o["k" + i] = undefined; return Array(1e5).fill(o); })()`, 0, 50 * time.Millisecond, "took longer than the 50ms budget"},
	}
	for _, tt := range tests {
		_, err := d.enc.encode(eval(tt.expr), "the value", true, tt.limit, tt.budget)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.expr, err, tt.want)
		}
	}
	// And the runtime is fine afterwards.
	d.compare(t, `{a: [1, "b"]}`)
}

// literal1KB is the trivial source's document (bench/engine's literal
// source): a ~1 KB object literal of strings, numbers, an array and an
// object.
const literal1KB = `{
    title: "a trivial source of about one kilobyte",
    text: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.",
    more: "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit.",
    tail: "At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium voluptatum deleniti atque corrupti.",
    counts: [1, 2, 3, 5, 8, 13, 21, 34], flags: { a: true, b: false }, score: 42
  }`

// BenchmarkStringify encodes the same values with the encoder (checked,
// as Render does) and, in the same run, with goja's JSON.stringify (plain,
// and checked the way jsvm did before: with the checking replacer).
func BenchmarkStringify(b *testing.B) {
	for _, c := range []struct{ name, expr string }{
		{"literal1KB", literal1KB},
		{"players1KB", `{ t: 1700000000000, players: Array.from({ length: 18 }, (_, i) => ({ id: i, name: "player" + i, pos: [i * 3, i * 7], alive: true })) }`},
		{"floats", `Array.from({ length: 100 }, (_, i) => i / 7)`},
		{"unicode", `Array.from({ length: 20 }, (_, i) => ({ ["clé" + i]: "déjà vu — " + i }))`},
	} {
		d := newDiffer(b)
		v, err := d.vm.RunString("(" + c.expr + ")")
		if err != nil {
			b.Fatal(err)
		}
		what := d.vm.ToValue("the render result")
		b.Run(c.name+"/encoder", func(b *testing.B) {
			loopCPU(b, func() {
				if _, err := d.enc.encode(v, "the render result", true, DefaultMaxOutput, time.Second); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(c.name+"/JSON.stringify", func(b *testing.B) {
			loopCPU(b, func() {
				s, err := d.stringify(goja.Undefined(), v)
				if err != nil {
					b.Fatal(err)
				}
				_ = []byte(s.String())
			})
		})
		b.Run(c.name+"/JSON.stringify-checked", func(b *testing.B) {
			loopCPU(b, func() {
				s, err := d.checked(goja.Undefined(), v, what)
				if err != nil {
					b.Fatal(err)
				}
				_ = []byte(s.String())
			})
		})
	}
}

// TestAppendNumber compares appendNumber with goja's own number printing
// (ftoa, what JSON.stringify writes) on a million doubles of every kind:
// random bits, integers, decimals of every magnitude, and the boundaries
// of the fixed and exponent forms.
func TestAppendNumber(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	check := func(f float64) {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		want := string(ftoa.FToStr(f, ftoa.ModeStandard, 0, nil))
		if got := string(appendNumber(nil, f)); got != want {
			t.Fatalf("%v (bits %#x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e21, 1e-7, 1e-6, 9.999999999999999e20, 1e20, 123e-20,
		5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 2, 0.000001234, 1.5e-7, 2.5e21, 100, 1e300} {
		check(f)
		check(-f)
	}
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for range n {
		check(math.Float64frombits(r.Uint64()))
		check(float64(r.Int64N(1<<60)) * math.Pow(10, float64(r.IntN(50)-25)))
		check(math.Round(r.Float64()*1e6) / math.Pow(10, float64(r.IntN(12))))
	}
}
