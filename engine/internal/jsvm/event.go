package jsvm

// This file implements the event object a reducer receives, because
// building it as a plain object cost more than the reducers themselves:
// an object literal of six properties, a Date and a headers object, each
// a map-backed goja object, cost several times this host object, which
// builds time and headers only when a reducer reads them (figures in
// bench/README.md, "The event as a host object"). To the reducer it behaves as the plain object it
// replaces: own, enumerable, writable, deletable data properties id,
// method, time (a Date: arrival), timeMs, committed (a Date: the journal's
// stamp), committedMs, body and headers, in that order, then any it adds; JSON.stringify, Object.keys, spread and for...in see the same.
// What a host object cannot do is take non-configurable properties, so
// Object.freeze(event) throws a TypeError.

import (
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// eventKeys are the event's own properties, in order.
var eventKeys = [...]string{"id", "method", "time", "timeMs", "committed", "committedMs", "body", "headers"}

const (
	evID = iota
	evMethod
	evTime
	evTimeMs
	evCommitted
	evCommittedMs
	evBody
	evHeaders
	evFields
)

// eventObject is a goja.DynamicObject whose fixed properties' values are
// built on first read (Get); the rest is its hostProps'.
type eventObject struct {
	rt     *runtime
	id     string
	method string
	timeMs int64                // arrival
	commMs int64                // committed
	hdrs   []string             // name, value pairs, names lower case, sorted by name
	arr    [evFields]goja.Value // hostProps.vals
	hostProps
}

// newEvent returns the event object for ev, kept in e (which no other
// event object uses), with its body already a JavaScript value; hdrs as
// eventObject.hdrs.
func newEvent(rt *runtime, e *eventObject, id, method string, timeMs, committedMs int64, body goja.Value, hdrs []string) *goja.Object {
	*e = eventObject{rt: rt, id: id, method: method, timeMs: timeMs, commMs: committedMs, hdrs: hdrs}
	e.hostProps = hostProps{names: eventKeys[:], index: fixedKey, vals: e.arr[:]}
	e.vals[evBody] = body
	return rt.vm.NewDynamicObject(e)
}

// slabEvents is how many eventObjects an eventSlab allocates at once: few,
// because an event a reducer keeps keeps its whole slab alive (a state that
// pushes every event would hold slabEvents times its events' memory).
const slabEvents = 16

// eventSlab hands out eventObjects allocated slabEvents at a time: one
// allocation per slabEvents events instead of one per event, on a path
// that allocates per event mostly in goja. What it holds was never
// handed out, so a Module keeps the rest of a chunk for its next batch.
// A chunk stays alive as long as any of its events does (a reducer may
// keep an event in the state): at most slabEvents objects, about 3.3 KB,
// per event kept.
type eventSlab []eventObject

// next returns a zero eventObject.
func (s *eventSlab) next() *eventObject {
	if len(*s) == 0 {
		*s = make([]eventObject, slabEvents)
	}
	e := &(*s)[0]
	*s = (*s)[1:]
	return e
}

// sortedHeaders returns h as name, value pairs, names lower case, sorted
// by name (of two names equal but for case, one wins, as when a plain
// object is built from them).
func sortedHeaders(h map[string]string) []string {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		if lk := strings.ToLower(k); len(out) > 0 && out[len(out)-2] == lk {
			out[len(out)-1] = h[k]
		} else {
			out = append(out, lk, h[k])
		}
	}
	return out
}

func fixedKey(k string) int {
	switch k {
	case "id":
		return evID
	case "method":
		return evMethod
	case "time":
		return evTime
	case "timeMs":
		return evTimeMs
	case "committed":
		return evCommitted
	case "committedMs":
		return evCommittedMs
	case "body":
		return evBody
	case "headers":
		return evHeaders
	}
	return -1
}

func (e *eventObject) Get(k string) goja.Value {
	i, v := e.lookup(k)
	if i < 0 || v != nil {
		return v
	}
	vm := e.rt.vm
	switch i {
	case evID:
		v = vm.ToValue(e.id)
	case evMethod:
		v = vm.ToValue(e.method)
	case evTimeMs:
		v = vm.ToValue(e.timeMs)
	case evCommittedMs:
		v = vm.ToValue(e.commMs)
	case evTime, evCommitted:
		ms := e.timeMs
		if i == evCommitted {
			ms = e.commMs
		}
		d, err := vm.New(e.rt.date, vm.ToValue(ms))
		if err != nil {
			panic(err) // the captured Date constructor with a number does not throw
		}
		v = d
	case evHeaders:
		o := vm.NewObject()
		for j := 0; j+1 < len(e.hdrs); j += 2 {
			// CreateDataProperty semantics, so a header named __proto__
			// is an own property, as in the object literal it replaces.
			_ = o.DefineDataProperty(e.hdrs[j], vm.ToValue(e.hdrs[j+1]), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		}
		v = o
	default:
		v = goja.Undefined() // body is always set by newEvent
	}
	e.vals[i] = v
	return v
}

// hostProps is what makes a host object with fixed properties (the event,
// ctx) behave as the plain object it replaces, its goja.DynamicObject
// methods but Get: the fixed properties in order, writable and deletable
// (a deleted one has its gone bit set), then the properties the script
// adds (in extra, in the order they were added, including a fixed one set
// again after it was deleted: a plain object puts it last too). The
// owner's Get builds a fixed property's value on first read (lookup) and
// keeps it in vals.
type hostProps struct {
	names []string         // the fixed properties, in order (at most 8)
	index func(string) int // a name's index in names, -1 for any other
	vals  []goja.Value     // their values; nil until built
	gone  uint8            // bit i: names[i] was deleted
	extra map[string]goja.Value
	order []string // keys of extra, in the order they were added
}

// fixed returns k's index among the fixed properties when it is one that
// was not deleted, else -1.
func (h *hostProps) fixed(k string) int {
	if i := h.index(k); i >= 0 && h.gone&(1<<i) == 0 {
		return i
	}
	return -1
}

// lookup returns, for a fixed property k, its index and its value (nil
// when not built yet); for any other, -1 and the value the script gave
// it (nil when absent).
func (h *hostProps) lookup(k string) (int, goja.Value) {
	if i := h.fixed(k); i >= 0 {
		return i, h.vals[i]
	}
	return -1, h.extra[k]
}

func (h *hostProps) Set(k string, v goja.Value) bool {
	if i := h.fixed(k); i >= 0 {
		h.vals[i] = v
		return true
	}
	if h.extra == nil {
		h.extra = map[string]goja.Value{}
	}
	if _, ok := h.extra[k]; !ok {
		h.order = append(h.order, k)
	}
	h.extra[k] = v
	return true
}

func (h *hostProps) Has(k string) bool {
	if h.fixed(k) >= 0 {
		return true
	}
	_, ok := h.extra[k]
	return ok
}

func (h *hostProps) Delete(k string) bool {
	if i := h.fixed(k); i >= 0 {
		h.gone |= 1 << i
		h.vals[i] = nil
		return true
	}
	if _, ok := h.extra[k]; ok {
		delete(h.extra, k)
		h.order = slices.DeleteFunc(h.order, func(s string) bool { return s == k })
	}
	return true
}

func (h *hostProps) Keys() []string {
	keys := make([]string, 0, len(h.names)+len(h.order))
	for i, k := range h.names {
		if h.gone&(1<<i) == 0 {
			keys = append(keys, k)
		}
	}
	return append(keys, h.order...)
}
