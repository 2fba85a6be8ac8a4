package jsvm

// This file serializes JavaScript values to JSON from Go, because goja's
// JSON.stringify was two thirds of a trivial source's period (36–54 µs of
// a 1 KB render, mostly allocation: a boxed index string per array element,
// a UTF-16 reader per string, a defer and a key slice of Values per object),
// and the checked encoding (json.go's replacer) cost several times that
// whenever the output changed. The encoder here checks and writes in one
// pass, into a buffer the runtime reuses.
//
// Its output is byte for byte what goja's JSON.stringify gives (checked:
// what JSON.stringify with the checking replacer gives), proven by the
// differential test and the fuzz target in stringify_test.go. It follows
// SerializeJSONProperty step by step: read the property (getters run), call
// toJSON if the value has one, check, unwrap, write. It takes goja's own
// paths for anything it does not know to be ordinary: proxies, Go values,
// typed arrays, boxed primitives and other exotic objects go through
// JSON.stringify itself (fallbackSrc), with the same check, so where this
// encoder is unsure it does what JSON.stringify does rather than diverge.
//
// Beyond JSON.stringify it bounds what one call may cost: output over the
// limit stops the encoding at once (a sparse array of length 2^32-1 is
// not written out first), nesting deeper than maxEncodeDepth is an error rather
// than a crash of the engine's Go stack, and an encoding that runs past
// the budget stops (goja's interrupt is not seen by Go code).

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// maxEncodeDepth bounds the nesting of arrays and objects the encoder follows.
// goja's JSON.stringify recurses in Go without a bound; a JavaScript loop
// can build a value nested a million deep in milliseconds.
const maxEncodeDepth = 10000

// fallbackSrc evaluates to a factory that takes the original JSON.stringify
// and returns exotic(value, what, checked): the JSON text of value (or
// undefined) as JSON.stringify writes it at a position whose toJSON has
// already been called and whose value has already been checked: the
// replacer hands value over for the root, so its toJSON is not called
// again, and checks every value under it as the encoder does.
const fallbackSrc = `(function (stringify) {
  "use strict";
  function at(key) { return key === "" ? "" : " (at key " + stringify(String(key)) + ")"; }
  return function exotic(value, what, checked) {
    let root = true;
    function visit(key, v) {
      if (root) { root = false; return value; }
      if (checked) {
        switch (typeof v) {
        case "function":
          throw new TypeError(what + " contains a function" + at(key) + ", which JSON cannot hold");
        case "symbol":
          throw new TypeError(what + " contains a symbol" + at(key) + ", which JSON cannot hold");
        case "bigint":
          throw new TypeError(what + " contains a BigInt" + at(key) + ", which JSON cannot hold; convert it with String(x) or Number(x)");
        }
      }
      return v;
    }
    try {
      return stringify(null, visit);
    } catch (e) {
      if (checked && e instanceof TypeError && /circular/i.test(e.message)) {
        throw new TypeError(what + " contains a cycle (an object that contains itself), which JSON cannot hold");
      }
      throw e;
    }
  };
})`

var fallbackPrg = goja.MustCompile("jawas:json", fallbackSrc, true)

// encoder writes JSON of goja values of one runtime. It is not safe for
// concurrent use (neither is the runtime).
type encoder struct {
	vm       *goja.Runtime
	call     goja.Callable // runs e.run inside goja, so JavaScript errors and interrupts unwind properly
	fallback goja.Callable // fallbackSrc's exotic

	// One call's arguments and state.
	in       goja.Value
	what     string
	checked  bool
	limit    int
	deadline time.Time
	budget   time.Duration
	steps    int // values visited since the deadline was last looked at
	buf      []byte
	stack    []*goja.Object
	keys     []string // keys of the objects being written, outermost first
	fail     error    // set before throwing an error the caller turns into a resultError
	exotics  int      // values handed to fallbackSrc, ever (tests check ordinary ones are not)
	whatVal  goja.Value
	checkVal goja.Value
}

// newEncoder installs the encoder's helpers in vm. stringify must be the
// original JSON.stringify, captured before the author's code runs.
func newEncoder(vm *goja.Runtime, stringify goja.Value) (*encoder, error) {
	e := &encoder{vm: vm}
	factory, err := vm.RunProgram(fallbackPrg)
	if err != nil {
		return nil, err
	}
	mk, _ := goja.AssertFunction(factory)
	exotic, err := mk(goja.Undefined(), stringify)
	if err != nil {
		return nil, err
	}
	e.fallback, _ = goja.AssertFunction(exotic)
	e.call, _ = goja.AssertFunction(vm.ToValue(func(goja.FunctionCall) goja.Value {
		e.run()
		return goja.Undefined()
	}))
	return e, nil
}

// encode returns the JSON of v, a new slice the caller keeps. Errors are
// a *goja.Exception (a TypeError like JSON.stringify's, or whatever a
// getter or toJSON threw), an interrupt, or a resultError for the limits
// of the encoder's own (size, depth, time).
//
// what names v in errors ("the render result"). checked: functions,
// symbols and BigInts anywhere in v are errors naming their key, and a
// cycle is an error naming what; otherwise the result is exactly
// JSON.stringify(v) (undefined at the top is then an error too, since
// there is no JSON text to return). limit > 0 caps the size of the text;
// budget > 0 caps the time the encoding may take.
func (e *encoder) encode(v goja.Value, what string, checked bool, limit int, budget time.Duration) ([]byte, error) {
	if v == nil || goja.IsUndefined(v) {
		return nil, resultError(what + " is undefined; return a JSON value (object, array, string, number, boolean or null)")
	}
	e.in, e.what, e.checked, e.limit, e.budget = v, what, checked, limit, budget
	e.whatVal, e.checkVal = nil, nil
	e.buf, e.stack, e.fail, e.steps = e.buf[:0], e.stack[:0], nil, 0
	if budget > 0 {
		e.deadline = time.Now().Add(budget)
	}
	_, err := e.call(goja.Undefined())
	e.in = nil
	clear(e.stack[:cap(e.stack)])
	e.keys = e.keys[:0]
	if e.fail != nil {
		err = e.fail
	}
	var out []byte
	if err == nil {
		out = append([]byte(nil), e.buf...)
	}
	if cap(e.buf) > 1<<20 { // do not keep a large render's buffer for the small ones
		e.buf = nil
	}
	return out, err
}

// run encodes e.in; it runs inside goja (e.call).
func (e *encoder) run() {
	if !e.value("", e.in, 0) {
		// toJSON returned undefined, or a function or symbol unchecked.
		e.throw(resultError(e.what + " is undefined (its toJSON returned undefined, or it is a function or symbol); return a JSON value (object, array, string, number, boolean or null)"))
	}
}

// throw fails the encoding with err, reported as it is (not as a throw).
func (e *encoder) throw(err error) {
	e.fail = err
	panic(e.vm.NewTypeError("%s", err.Error()))
}

// typeError throws a TypeError in JavaScript, as JSON.stringify does.
func (e *encoder) typeError(msg string) { panic(e.vm.NewTypeError("%s", msg)) } // NewTypeError formats: a key may hold a %

var (
	typeInt     = reflect.TypeOf(int64(0))
	typeFloat   = reflect.TypeOf(float64(0))
	typeBool    = reflect.TypeOf(false)
	typeMap     = reflect.TypeOf(map[string]any(nil))
	typeSlice   = reflect.TypeOf([]any(nil))
	typeEntries = reflect.TypeOf([][2]any(nil))
)

// value writes the JSON of v, found at key of its holder, and reports
// whether it wrote anything (false: undefined, a function or a symbol,
// which an object omits and an array writes as null).
func (e *encoder) value(key string, v goja.Value, depth int) bool {
	if e.budget > 0 {
		if e.steps++; e.steps >= 4096 {
			e.steps = 0
			if time.Now().After(e.deadline) {
				e.throw(resultError(fmt.Sprintf("%s took longer than the %v budget to encode as JSON", e.what, e.budget)))
			}
		}
	}
	if v == nil {
		return false
	}
	// SerializeJSONProperty step 2: toJSON, for objects and BigInts.
	o, isObj := v.(*goja.Object)
	if isObj || goja.IsBigInt(v) {
		v = e.toJSON(key, v, o)
		o, isObj = v.(*goja.Object)
	}
	if isObj {
		return e.object(key, o, depth)
	}
	switch x := v.(type) {
	case goja.String:
		e.quote(x)
	case *goja.Symbol:
		if e.checked {
			e.typeError(e.what + " contains a symbol" + e.at(key) + ", which JSON cannot hold")
		}
		return false
	default:
		switch {
		case goja.IsUndefined(v):
			return false
		case goja.IsNull(v):
			e.buf = append(e.buf, "null"...)
		case goja.IsBigInt(v):
			if e.checked {
				e.typeError(e.what + " contains a BigInt" + e.at(key) + ", which JSON cannot hold; convert it with String(x) or Number(x)")
			}
			e.typeError("Do not know how to serialize a BigInt")
		default:
			switch v.ExportType() {
			case typeInt:
				e.buf = strconv.AppendInt(e.buf, v.ToInteger(), 10)
			case typeFloat:
				f := v.ToFloat()
				if math.IsNaN(f) || math.IsInf(f, 0) {
					e.buf = append(e.buf, "null"...)
				} else {
					e.buf = appendNumber(e.buf, f)
				}
			case typeBool:
				if v.ToBoolean() {
					e.buf = append(e.buf, "true"...)
				} else {
					e.buf = append(e.buf, "false"...)
				}
			default:
				return e.exotic(key, v)
			}
		}
	}
	e.checkSize()
	return true
}

// toJSON calls v.toJSON(key) if v has one (o is v as an object, or nil).
func (e *encoder) toJSON(key string, v goja.Value, o *goja.Object) goja.Value {
	if o == nil {
		o = v.ToObject(e.vm) // a BigInt: BigInt.prototype.toJSON, if an author added one
	}
	f, ok := o.Get("toJSON").(*goja.Object)
	if !ok {
		return v
	}
	call, ok := goja.AssertFunction(f)
	if !ok {
		return v
	}
	r, err := call(v, e.vm.ToValue(key))
	if err != nil {
		panic(err) // a *goja.Exception or an interrupt: goja unwinds either
	}
	return r
}

// object writes an object found at key: a function is checked or dropped,
// an array or ordinary object written here, anything else by goja.
func (e *encoder) object(key string, o *goja.Object, depth int) bool {
	cls := o.ClassName()
	plain := false
	switch cls {
	case "Function":
		if e.checked {
			e.typeError(e.what + " contains a function" + e.at(key) + ", which JSON cannot hold")
		}
		if _, ok := goja.AssertFunction(o); ok {
			return false
		}
		return e.exotic(key, o)
	case "Array":
		if o.ExportType() != typeSlice {
			return e.exotic(key, o) // a Go slice or a proxy
		}
	case "Object":
		switch o.ExportType() {
		case typeMap, typeSlice, typeEntries: // ordinary objects, Sets, Maps
			plain = true
		default:
			return e.exotic(key, o) // a proxy, a Go value
		}
	case "Date", "Error", "RegExp", "Arguments":
		plain = true // written as ordinary objects: their own enumerable properties
	default:
		return e.exotic(key, o) // boxed primitives, typed arrays, raw JSON...
	}
	for _, a := range e.stack {
		if a == o {
			if e.checked {
				e.typeError(e.what + " contains a cycle (an object that contains itself), which JSON cannot hold")
			}
			e.typeError("Converting circular structure to JSON")
		}
	}
	if depth >= maxEncodeDepth {
		e.throw(resultError(fmt.Sprintf("%s is nested deeper than %d levels of arrays and objects", e.what, maxEncodeDepth)))
	}
	if plain {
		start := len(e.keys)
		if !e.ownKeys(o) {
			e.keys = e.keys[:start]
			return e.exotic(key, o)
		}
		e.stack = append(e.stack, o)
		e.members(o, start, depth+1)
		e.keys = e.keys[:start]
	} else {
		e.stack = append(e.stack, o)
		e.elements(o, depth+1)
	}
	e.stack = e.stack[:len(e.stack)-1]
	return true
}

// members writes an ordinary object: its own enumerable string keys, in
// property order (goja orders integer keys first, as the spec does).
func (e *encoder) members(o *goja.Object, start, depth int) {
	e.buf = append(e.buf, '{')
	first := true
	end := len(e.keys)
	for i := start; i < end; i++ {
		k := e.keys[i] // e.keys may grow (and move) while values are written

		mark := len(e.buf)
		if !first {
			e.buf = append(e.buf, ',')
		}
		e.quoteString(k)
		e.buf = append(e.buf, ':')
		if e.value(k, o.Get(k), depth) {
			first = false
		} else {
			e.buf = e.buf[:mark]
		}
	}
	e.buf = append(e.buf, '}')
	e.checkSize()
}

// ownKeys appends o's own enumerable string keys to e.keys, in property
// order (Object.keys: the order JSON.stringify uses). It reports false for
// a key that is not well-formed UTF-16 (a lone surrogate), which a Go
// string cannot name: the caller lets goja write that object.
func (e *encoder) ownKeys(o *goja.Object) bool {
	for _, k := range o.Keys() {
		if strings.ContainsRune(k, utf8.RuneError) {
			return false
		}
		e.keys = append(e.keys, k)
	}
	return true
}

// elements writes an array: length elements, holes and dropped values as
// null.
func (e *encoder) elements(o *goja.Object, depth int) {
	n := o.Get("length").ToInteger()
	if n == 0 {
		e.buf = append(e.buf, "[]"...)
		return
	}
	e.buf = append(e.buf, '[')
	for i := int64(0); i < n; i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		k := index(i)
		if !e.value(k, o.Get(k), depth) {
			e.buf = append(e.buf, "null"...)
			e.checkSize()
		}
	}
	e.buf = append(e.buf, ']')
}

// exotic writes v (past its toJSON and checked at its key) with goja's
// JSON.stringify, for the values the encoder does not know to be ordinary.
func (e *encoder) exotic(key string, v goja.Value) bool {
	if o, ok := v.(*goja.Object); ok {
		for _, a := range e.stack { // a cycle through the encoder's part of the tree
			if a == o {
				if e.checked {
					e.typeError(e.what + " contains a cycle (an object that contains itself), which JSON cannot hold")
				}
				e.typeError("Converting circular structure to JSON")
			}
		}
	}
	e.exotics++
	if e.whatVal == nil {
		e.whatVal, e.checkVal = e.vm.ToValue(e.what), e.vm.ToValue(e.checked)
	}
	r, err := e.fallback(goja.Undefined(), v, e.whatVal, e.checkVal)
	if err != nil {
		panic(err)
	}
	if goja.IsUndefined(r) {
		return false
	}
	e.buf = append(e.buf, r.String()...)
	e.checkSize()
	return true
}

// appendNumber appends a finite f as JavaScript prints it (Number::toString:
// the shortest digits that round-trip, fixed notation from 1e-6 up to
// 1e21, exponent form like 1e+21 or 1.5e-7 outside). The digits come from
// strconv, about twice as fast as goja's ftoa; the differential test
// checks they are goja's.
func appendNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0') // and -0
	}
	var scratch [32]byte
	m := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64) // -d.ddde±dd
	if m[0] == '-' {
		b = append(b, '-')
		m = m[1:]
	}
	ePos := len(m) - 4
	for m[ePos] != 'e' {
		ePos--
	}
	exp, _ := strconv.Atoi(string(m[ePos+1:]))
	var dbuf [24]byte
	digits := append(dbuf[:0], m[0])
	if ePos > 1 {
		digits = append(digits, m[2:ePos]...)
	}
	k, n := len(digits), exp+1 // the spec's k and n
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}

// checkSize stops the encoding once the text is over the limit.
func (e *encoder) checkSize() {
	if e.limit > 0 && len(e.buf) > e.limit {
		e.throw(resultError(fmt.Sprintf("%s is over the limit of %d bytes of JSON (encoding stopped at %d bytes)", e.what, e.limit, len(e.buf))))
	}
}

// at names key in an error message, as json.go's at did.
func (e *encoder) at(key string) string {
	if key == "" {
		return ""
	}
	var b []byte
	b = appendQuoted(b, key)
	return " (at key " + string(b) + ")"
}

// asciiType is the type goja gives strings of ASCII characters only, whose
// String() is free; other strings are UTF-16, and converting them to Go
// strings would cost two allocations and lose lone surrogates.
var asciiType = reflect.TypeOf(goja.New().ToValue("a"))

// quote writes a JavaScript string as goja's JSON.stringify does.
func (e *encoder) quote(s goja.String) {
	if reflect.TypeOf(s) == asciiType {
		e.quoteString(s.String())
		return
	}
	// UTF-16: walk the code units; pairs become UTF-8, lone surrogates
	// \udxxx (well-formed JSON.stringify, as goja does).
	n := s.Length()
	e.buf = append(e.buf, '"')
	for i := 0; i < n; i++ {
		c := rune(s.CharAt(i))
		switch {
		case c < utf8.RuneSelf:
			e.buf = appendASCII(e.buf, byte(c))
		case c < 0xD800 || c >= 0xE000:
			e.buf = utf8.AppendRune(e.buf, c)
		case c < 0xDC00 && i+1 < n && s.CharAt(i+1) >= 0xDC00 && s.CharAt(i+1) < 0xE000:
			e.buf = utf8.AppendRune(e.buf, 0x10000+(c-0xD800)<<10+(rune(s.CharAt(i+1))-0xDC00))
			i++
		default:
			e.buf = append(e.buf, '\\', 'u', hexDigits[c>>12], hexDigits[(c>>8)&0xF], hexDigits[(c>>4)&0xF], hexDigits[c&0xF])
		}
	}
	e.buf = append(e.buf, '"')
}

func (e *encoder) quoteString(s string) { e.buf = appendQuoted(e.buf, s) }

const hexDigits = "0123456789abcdef"

// escape[b] is true for the bytes JSON.stringify escapes.
var escape = func() (t [256]bool) {
	for i := range 0x20 {
		t[i] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// appendQuoted appends s (valid UTF-8) quoted as JSON.stringify does: ",
// \ and control characters escaped, everything else as it is.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if !escape[s[i]] {
			continue
		}
		b = append(b, s[start:i]...)
		b = appendASCII(b, s[i])
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendASCII appends one ASCII character, escaped if JSON needs it.
func appendASCII(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\t':
		return append(b, '\\', 't')
	case '\n':
		return append(b, '\\', 'n')
	case '\f':
		return append(b, '\\', 'f')
	case '\r':
		return append(b, '\\', 'r')
	}
	if c < 0x20 {
		return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
	}
	return append(b, c)
}

// indexNames holds "0" to "4095", so reading an element of an array of
// ordinary size does not allocate its name.
var indexNames = func() (t [4096]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func index(i int64) string {
	if i < int64(len(indexNames)) {
		return indexNames[i]
	}
	return strconv.FormatInt(i, 10)
}
