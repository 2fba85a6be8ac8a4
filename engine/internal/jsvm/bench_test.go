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
