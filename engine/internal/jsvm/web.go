package jsvm

// This file installs the web globals of a source runtime: timers, URL and
// URLSearchParams (goja_nodejs), and, written here because goja_nodejs has
// none of them, AbortController, TextEncoder/TextDecoder, structuredClone,
// atob/btoa, crypto, performance, queueMicrotask and fetch. The classes
// are JavaScript (web.js); what needs Go (bytes, randomness, clocks, the
// network) is the host object handed to it.

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/url"

	"github.com/jawas/jawas/engine/internal/fetch"
)

//go:embed web.js
var webSrc string

// webPrg is web.js compiled once; every runtime runs it.
var webPrg = goja.MustCompile("jawas:web", webSrc, true)

// installWeb adds the web globals and the "jawas" module's host object to
// rt, before the author's code runs.
func (m *Module) installWeb(rt *runtime) error {
	vm := rt.vm
	l := rt.loop
	set := func(name string, v any) error {
		return vm.GlobalObject().DefineDataProperty(name, vm.ToValue(v), goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}

	// URL and URLSearchParams: goja_nodejs's url module, without its
	// require() registry (sources are bundled; nothing is loaded at run time).
	mod := vm.NewObject()
	_ = mod.Set("exports", vm.NewObject())
	url.Require(vm, mod)
	exports := mod.Get("exports").ToObject(vm)

	origin := time.Now()
	perf := vm.NewObject()
	_ = perf.Set("now", func() float64 { return float64(time.Since(origin).Nanoseconds()) / 1e6 })
	_ = perf.Set("timeOrigin", float64(origin.UnixNano())/1e6)
	crypto := vm.NewObject()
	_ = crypto.Set("randomUUID", func() string { return randomUUID() })

	clear := func(call goja.FunctionCall) goja.Value {
		if id := call.Argument(0); !goja.IsUndefined(id) && !goja.IsNull(id) {
			l.removeTimer(id.ToInteger())
		}
		return goja.Undefined()
	}
	for _, g := range []struct {
		name string
		v    any
	}{
		{"URL", exports.Get("URL")},
		{"URLSearchParams", exports.Get("URLSearchParams")},
		{"setTimeout", func(call goja.FunctionCall) goja.Value { return l.addTimer("setTimeout", call, false, false) }},
		{"setInterval", func(call goja.FunctionCall) goja.Value { return l.addTimer("setInterval", call, true, false) }},
		{"clearTimeout", clear},
		{"clearInterval", clear},
		{"atob", func(call goja.FunctionCall) goja.Value { return atob(vm, call) }},
		{"btoa", func(call goja.FunctionCall) goja.Value { return btoa(vm, call) }},
		{"performance", perf},
		{"crypto", crypto},
	} {
		if err := set(g.name, g.v); err != nil {
			return fmt.Errorf("install %s: %w", g.name, err)
		}
	}

	host := vm.NewObject()
	_ = host.Set("unrefTimeout", func(fn goja.Value, ms goja.Value) goja.Value {
		return l.addTimer("AbortSignal.timeout", goja.FunctionCall{Arguments: []goja.Value{fn, ms}}, false, true)
	})
	_ = host.Set("utf8Encode", func(s string) goja.ArrayBuffer { return vm.NewArrayBuffer([]byte(s)) })
	_ = host.Set("utf8Decode", func(b goja.ArrayBuffer, fatal, stripBOM bool) goja.Value {
		return utf8Decode(vm, b.Bytes(), fatal, stripBOM)
	})
	_ = host.Set("random", func(n int) goja.ArrayBuffer {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return vm.NewArrayBuffer(b)
	})
	_ = host.Set("fetch", m.fetchBinding(rt))
	factory, err := vm.RunProgram(webPrg)
	if err != nil {
		return fmt.Errorf("install web globals: %w", err)
	}
	mk, _ := goja.AssertFunction(factory)
	if _, err := mk(goja.Undefined(), host); err != nil {
		return fmt.Errorf("install web globals: %w", err)
	}
	return m.installJawas(rt)
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// utf8Decode decodes b as TextDecoder does: invalid sequences become
// U+FFFD, or a TypeError when fatal; a leading BOM is dropped unless told.
func utf8Decode(vm *goja.Runtime, b []byte, fatal, stripBOM bool) goja.Value {
	if stripBOM {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	if utf8.Valid(b) {
		return vm.ToValue(string(b))
	}
	if fatal {
		panic(vm.NewTypeError("TextDecoder: the data is not valid UTF-8"))
	}
	return vm.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// btoa encodes a string of Latin-1 characters in base64.
func btoa(vm *goja.Runtime, call goja.FunctionCall) goja.Value {
	s := call.Argument(0).String()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			panic(domException(vm, "btoa: the string has a character outside Latin-1 (U+"+fmt.Sprintf("%04X", r)+"); encode it first, e.g. with TextEncoder", "InvalidCharacterError"))
		}
		b = append(b, byte(r))
	}
	return vm.ToValue(base64.StdEncoding.EncodeToString(b))
}

// atob decodes base64 (forgiving: whitespace and missing padding are fine)
// to a string of Latin-1 characters.
func atob(vm *goja.Runtime, call goja.FunctionCall) goja.Value {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
			return -1
		}
		return r
	}, call.Argument(0).String())
	if len(s)%4 == 0 {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(s)%4 == 1 {
		panic(domException(vm, "atob: the string is not valid base64", "InvalidCharacterError"))
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return vm.ToValue(string(r))
}

// domException makes a DOMException (web.js) or, before it exists, an Error.
func domException(vm *goja.Runtime, msg, name string) *goja.Object {
	if ctor := vm.Get("DOMException"); ctor != nil {
		if o, err := vm.New(ctor, vm.ToValue(msg), vm.ToValue(name)); err == nil {
			return o
		}
	}
	return vm.NewTypeError(msg)
}

// fetchBinding returns host.fetch(url, method, headers, body, redirect,
// noStore) → {promise, abort}: the request runs on a goroutine with the
// call's context; abort() cancels it alone (its AbortSignal fired).
func (m *Module) fetchBinding(rt *runtime) func(goja.FunctionCall) goja.Value {
	vm := rt.vm
	return func(call goja.FunctionCall) goja.Value {
		req := fetch.Request{
			URL:      call.Argument(0).String(),
			Method:   call.Argument(1).String(),
			Redirect: call.Argument(4).String(),
			NoCache:  call.Argument(5).ToBoolean(),
		}
		if list, ok := call.Argument(2).Export().([]any); ok {
			for _, e := range list {
				if kv, ok := e.([]any); ok && len(kv) == 2 {
					req.Header = append(req.Header, [2]string{fmt.Sprint(kv[0]), fmt.Sprint(kv[1])})
				}
			}
		}
		switch b := call.Argument(3).Export().(type) {
		case string:
			req.Body = []byte(b)
		case goja.ArrayBuffer:
			req.Body = append([]byte(nil), b.Bytes()...)
		}
		client := m.client()
		ab := &aborter{}
		what := "fetch(" + quoteJS(req.URL) + ")"
		p := rt.loop.async(what, func(ctx context.Context) hostResult {
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			ab.set(cancel)
			resp, err := client.Do(ctx, req)
			return func() (goja.Value, error) {
				if err != nil {
					return nil, fetchFailure(err)
				}
				o := vm.NewObject()
				_ = o.Set("status", resp.Status)
				_ = o.Set("statusText", resp.StatusText)
				_ = o.Set("url", resp.URL)
				_ = o.Set("redirected", resp.Redirected)
				hs := make([]any, len(resp.Header))
				for i, h := range resp.Header {
					hs[i] = vm.NewArray(h[0], h[1])
				}
				_ = o.Set("headers", vm.NewArray(hs...))
				_ = o.Set("body", vm.NewArrayBuffer(resp.Body))
				return o, nil
			}
		})
		o := vm.NewObject()
		_ = o.Set("promise", p)
		_ = o.Set("abort", func() { ab.abort() })
		return o
	}
}

// fetchFailure is the message a failed fetch rejects with: the URL is in
// the operation's name already.
func fetchFailure(err error) error {
	var fe *fetch.Error
	if errors.As(err, &fe) {
		err = fe.Err
	}
	switch {
	case errors.Is(err, errBudget):
		return errors.New("cancelled: the render's time budget ran out (raise timeout in jawas.toml)")
	case errors.Is(err, errAborted):
		return errors.New("aborted")
	case errors.Is(err, errCallEnded):
		return errors.New("cancelled: the render that started it ended")
	}
	return err
}

var errAborted = errors.New("aborted by its AbortSignal")

// aborter cancels one fetch when its AbortSignal fires, whether that
// happens before or after the request started.
type aborter struct {
	mu      sync.Mutex
	cancel  context.CancelCauseFunc
	aborted bool
}

func (a *aborter) set(c context.CancelCauseFunc) {
	a.mu.Lock()
	a.cancel = c
	if a.aborted {
		c(errAborted)
	}
	a.mu.Unlock()
}

func (a *aborter) abort() {
	a.mu.Lock()
	a.aborted = true
	if a.cancel != nil {
		a.cancel(errAborted)
	}
	a.mu.Unlock()
}

// quoteJS quotes s as a JavaScript string literal for messages.
func quoteJS(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}
