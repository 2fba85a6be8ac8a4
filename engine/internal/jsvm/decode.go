package jsvm

// This file implements a JSON decoder that builds goja values directly,
// because goja's JSON.parse goes through encoding/json's Decoder.Token,
// which formats an error string for every key and scalar it reads: it
// cost more than the reducers it feeds (figures in bench/README.md,
// "Batched reducers"). decodeJSON gives what JSON.parse gives (plain objects
// and arrays, own data properties in text order, last duplicate wins,
// numbers as doubles) for valid JSON, and an error for anything else; the
// callers then fall back to JSON.parse, which words the error for authors.

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// maxDepth bounds nesting so a hostile body cannot exhaust the Go stack.
const maxDepth = 512

var errSyntax = errors.New("jsvm: invalid JSON")

// decodeJSON returns the JavaScript value of the JSON text b.
func decodeJSON(vm *goja.Runtime, b []byte) (goja.Value, error) {
	d := decoder{vm: vm, b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// appendJSONArray appends the elements (goja.Values) of the JSON array
// text b to dst. On error dst may hold some of them.
func appendJSONArray(dst []any, vm *goja.Runtime, b []byte) ([]any, error) {
	d := decoder{vm: vm, b: b}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return dst, errSyntax
	}
	items, err := d.items(dst, 1)
	if err != nil {
		return items, err
	}
	if err := d.end(); err != nil {
		return items, err
	}
	return items, nil
}

// end checks that only white space follows the value read.
func (d *decoder) end() error {
	d.space()
	if d.i != len(d.b) {
		return errSyntax
	}
	return nil
}

type decoder struct {
	vm *goja.Runtime
	b  []byte
	i  int
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (goja.Value, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, errSyntax
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= maxDepth {
			return nil, errSyntax
		}
		return d.array(depth + 1)
	case c == '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return d.vm.ToValue(s), nil
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.lit("true"):
		return d.vm.ToValue(true), nil
	case d.lit("false"):
		return d.vm.ToValue(false), nil
	case d.lit("null"):
		return goja.Null(), nil
	}
	return nil, errSyntax
}

// lit consumes word if the text continues with it.
func (d *decoder) lit(word string) bool {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

func (d *decoder) object(depth int) (goja.Value, error) {
	d.i++ // {
	o := d.vm.NewObject()
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return o, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errSyntax
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		if k == "__proto__" {
			// An own property, as JSON.parse makes it, not the prototype.
			err = o.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		} else {
			err = o.Set(k, v)
		}
		if err != nil {
			return nil, err
		}
		if done, err := d.next('}'); err != nil {
			return nil, err
		} else if done {
			return o, nil
		}
	}
}

func (d *decoder) array(depth int) (goja.Value, error) {
	items, err := d.items(nil, depth)
	if err != nil {
		return nil, err
	}
	return d.vm.NewArray(items...), nil
}

// items reads an array at d.i (its opening bracket) and appends its
// elements to items.
func (d *decoder) items(items []any, depth int) ([]any, error) {
	d.i++ // [
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return items, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return items, err
		}
		items = append(items, v)
		if done, err := d.next(']'); err != nil {
			return items, err
		} else if done {
			return items, nil
		}
	}
}

// next reads what follows a member of an object or array: a comma (more
// to come) or close (done).
func (d *decoder) next(close byte) (done bool, err error) {
	d.space()
	if d.i >= len(d.b) {
		return false, errSyntax
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return false, nil
	case close:
		d.i++
		return true, nil
	}
	return false, errSyntax
}

// str reads a string at d.i (its opening quote).
func (d *decoder) str() (string, error) {
	start := d.i
	d.i++
	plain := true
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			if plain {
				return string(d.b[start+1 : d.i-1]), nil
			}
			var s string // escapes or non-ASCII: encoding/json's rules (as JSON.parse's)
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return "", errSyntax
			}
			return s, nil
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return "", errSyntax
		case c >= utf8.RuneSelf:
			plain = false
			d.i++
		default:
			d.i++
		}
	}
	return "", errSyntax
}

// number reads a number with JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() (goja.Value, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, errSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return nil, errSyntax // out of range: JSON.parse refuses it too
	}
	return d.vm.ToValue(f), nil
}
