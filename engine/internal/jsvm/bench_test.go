package jsvm

import (
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine/internal/bundle"
)

// BenchmarkRender1KB renders a ~1 KB result and encodes it, through a
// Module (checked JSON by the encoder, budget timer, ctx object) and, as
// the baseline in the same run, through a bare goja runtime calling the
// same render and plain JSON.stringify (what jsvm cost before the
// encoder when the output did not change; a changed output cost a checked
// stringify on top). literal is the trivial source of the engine goal;
// bench builds 18 small objects.
func BenchmarkRender1KB(b *testing.B) {
	for _, name := range []string{"literal", "bench"} {
		out := output(b, name)
		b.Run(name+"/module", func(b *testing.B) {
			m := load(b, name, Options{Timeout: time.Second})
			ctx := RenderContext{Now: time.UnixMilli(1_700_000_000_000), Period: 200 * time.Millisecond}
			js, err := m.Render(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(js) < 900 || len(js) > 1200 {
				b.Fatalf("result is %d bytes, want ~1 KB", len(js))
			}
			b.SetBytes(int64(len(js)))
			loopCPU(b, func() {
				if _, err := m.Render(ctx); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(name+"/baseline-bare-goja-JSON.stringify", func(b *testing.B) {
			vm := goja.New()
			if _, err := vm.RunScript(bundle.MapBase, out.Code); err != nil {
				b.Fatal(err)
			}
			fn, err := vm.RunString(`(function () {
				const m = ` + bundle.GlobalName + `;
				const state = m.initial === undefined ? null : JSON.parse(JSON.stringify(m.initial));
				return function () { return JSON.stringify(m.default(state, { nowMs: 1700000000000 })); };
			})()`)
			if err != nil {
				b.Fatal(err)
			}
			call, _ := goja.AssertFunction(fn)
			v, _ := call(goja.Undefined())
			b.SetBytes(int64(len(v.String())))
			loopCPU(b, func() {
				v, err := call(goja.Undefined())
				if err != nil {
					b.Fatal(err)
				}
				_ = []byte(v.String())
			})
		})
	}
}

// BenchmarkRenderAsync compares, in one run, the same ~1 KB render written
// synchronously (the baseline), as an async function that awaits nothing,
// one that awaits an already-resolved value, and one that awaits a timer
// of 0 ms (a real turn of the event loop). The goal is async ≤ 1.2× sync.
func BenchmarkRenderAsync(b *testing.B) {
	const body = `export const initial = { players: Array.from({ length: 18 }, (_, i) => ({ id: i, name: "player" + i, x: i * 3, y: i * 7, alive: true })) };
const view = (state, ctx) => ({ t: ctx.nowMs, players: state.players.map((p) => ({ id: p.id, name: p.name, pos: [p.x, p.y], alive: p.alive })) });
`
	for _, c := range []struct{ name, render string }{
		{"sync-baseline", `export default function render(state, ctx) { return view(state, ctx); }`},
		{"async-awaits-nothing", `export default async function render(state, ctx) { return view(state, ctx); }`},
		{"async-awaits-value", `export default async function render(state, ctx) { await null; return view(state, ctx); }`},
		{"async-awaits-timer", `export default async function render(state, ctx) { await new Promise((r) => setTimeout(r, 0)); return view(state, ctx); }`},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := mustLoad(b, body+c.render, nil, Options{Timeout: time.Second})
			ctx := RenderContext{Now: time.UnixMilli(1_700_000_000_000), Period: 200 * time.Millisecond}
			js, err := m.Render(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(js)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Render(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
