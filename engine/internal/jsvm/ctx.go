package jsvm

// This file implements the ctx object a render receives as a host object,
// for the reason event.go gives for the event: built as a plain object,
// with a Date and an accessor for previous, it was a twelfth of an idle
// engine's CPU (perf, bench/README "Idle server"), where most renders read
// one field of it or none. To the render it behaves as the plain object it
// replaces: own, enumerable, writable, deletable data properties now (a
// Date: the period's boundary), nowMs, period and periodMs (ms), source
// and previous (the value last published, parsed on first read; null
// before the first publish), in that order, then any it adds.
// Object.freeze(ctx) throws a TypeError, as for the event.

import (
	"time"

	"github.com/dop251/goja"
)

// ctxKeys are ctx's own properties, in order.
var ctxKeys = [...]string{"now", "nowMs", "period", "periodMs", "source", "previous"}

const (
	cxNow = iota
	cxNowMs
	cxPeriod
	cxPeriodMs
	cxSource
	cxPrevious
	cxFields
)

// ctxObject is a goja.DynamicObject whose fixed properties' values are
// built on first read (Get); the rest is its hostProps'.
type ctxObject struct {
	rt       *runtime
	nowMs    int64
	periodMs float64
	source   string
	previous []byte               // JSON; nil: none
	arr      [cxFields]goja.Value // hostProps.vals
	hostProps
}

// newCtx returns render's ctx argument for c, for the source named source.
func newCtx(rt *runtime, c RenderContext, source string) *goja.Object {
	o := &ctxObject{rt: rt, nowMs: c.Now.UnixMilli(), periodMs: float64(c.Period) / float64(time.Millisecond),
		source: source, previous: c.Previous}
	o.hostProps = hostProps{names: ctxKeys[:], index: ctxKey, vals: o.arr[:]}
	return rt.vm.NewDynamicObject(o)
}

func ctxKey(k string) int {
	switch k {
	case "now":
		return cxNow
	case "nowMs":
		return cxNowMs
	case "period":
		return cxPeriod
	case "periodMs":
		return cxPeriodMs
	case "source":
		return cxSource
	case "previous":
		return cxPrevious
	}
	return -1
}

func (c *ctxObject) Get(k string) goja.Value {
	i, v := c.lookup(k)
	if i < 0 || v != nil {
		return v
	}
	vm := c.rt.vm
	switch i {
	case cxNow:
		d, err := vm.New(c.rt.date, vm.ToValue(c.nowMs))
		if err != nil {
			panic(err) // the captured Date constructor with a number does not throw
		}
		v = d
	case cxNowMs:
		v = vm.ToValue(c.nowMs)
	case cxPeriod, cxPeriodMs:
		v = vm.ToValue(c.periodMs)
	case cxSource:
		v = vm.ToValue(c.source)
	case cxPrevious:
		if c.previous == nil {
			v = goja.Null()
			break
		}
		p, err := c.rt.parseJSON(goja.Undefined(), vm.ToValue(string(c.previous)))
		if err != nil {
			panic(err) // what this source published is JSON; a throw reaches the render
		}
		v = p
	}
	c.vals[i] = v
	return v
}
