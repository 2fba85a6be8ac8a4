package snapshot_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// BenchmarkDeltaCost measures, in the same loop, the goal workload's
// render (testdata/game.js: 1,000 entities, ~100 KB, 1% changing per
// period; goja render + JSON encoding, as the engine runs it) and making
// the patches to its new version from the previous 4 (diff, encode, gzip
// and brotli, files written to a store, as Put does). Issue 18's goal:
// patches ≤ 25% of the render.
//
//	go test -run XXX -bench DeltaCost -benchtime 200x ./engine/internal/snapshot/
func BenchmarkDeltaCost(b *testing.B) {
	src := gameSource(b)
	pm, err := snapshot.NewPatchMaker(storeDir(b), 4)
	if err != nil {
		b.Fatal(err)
	}
	defer pm.Close()
	for range 5 { // fill the window
		body := render(b, src)
		pm.Version(body)
		if _, err := pm.Next(body); err != nil {
			b.Fatal(err)
		}
	}
	// Wall time, and the thread's CPU time: on the shared machine a
	// descheduled render or patch inflates the first, not the second.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var renderT, patchT, renderCPU, patchCPU time.Duration
	patches := 0
	b.ResetTimer()
	for b.Loop() {
		t0, c0 := time.Now(), threadCPU()
		body := render(b, src)
		pm.Version(body) // the hash: Put's, with or without patches
		t1, c1 := time.Now(), threadCPU()
		n, err := pm.Next(body)
		t2, c2 := time.Now(), threadCPU()
		if err != nil {
			b.Fatal(err)
		}
		renderT += t1.Sub(t0)
		patchT += t2.Sub(t1)
		renderCPU += c1 - c0
		patchCPU += c2 - c1
		patches += n
	}
	n := float64(b.N)
	b.ReportMetric(float64(renderT.Microseconds())/n, "render-µs/op")
	b.ReportMetric(float64(patchT.Microseconds())/n, "patches-µs/op")
	b.ReportMetric(float64(patches)/n, "patches/op")
	if renderCPU > 0 {
		b.ReportMetric(float64(renderCPU.Microseconds())/n, "render-cpu-µs/op")
		b.ReportMetric(float64(patchCPU.Microseconds())/n, "patches-cpu-µs/op")
		b.ReportMetric(100*patchCPU.Seconds()/renderCPU.Seconds(), "cpu-%-of-render")
	}
	pct := 100 * patchT.Seconds() / renderT.Seconds()
	b.ReportMetric(pct, "patches-%-of-render")
	if pct > 25 {
		b.Logf("patches cost %.1f%% of the render, goal ≤ 25%%", pct)
	}
}

// storeDir is a store directory on tmpfs when there is one, as in
// production (the README's advice), else in the test's temp dir.
func storeDir(tb testing.TB) string {
	if d, err := osMkdirTemp("/dev/shm", "jawas-delta-bench"); err == nil {
		tb.Cleanup(func() { osRemoveAll(d) })
		return d
	}
	return tb.TempDir()
}

// BenchmarkDeltaParts times the parts of BenchmarkDeltaCost's patches on
// pre-rendered versions of the workload: parsing a version, and the diff
// and encoding from the previous version and from 4 versions back.
//
//	go test -run XXX -bench DeltaParts ./engine/internal/snapshot/
func BenchmarkDeltaParts(b *testing.B) {
	vs := gameVersions(b, 100)
	trees := make([]snapshot.Tree, len(vs))
	var d snapshot.Differ
	for i, v := range vs {
		if err := snapshot.ParseTree(&trees[i], v); err != nil {
			b.Fatal(err)
		}
		if i > 0 { // expanded as the store's trees are
			d.Encode(&trees[i-1], &trees[i], nil)
		}
	}
	b.Run("parse", func(b *testing.B) {
		var t snapshot.Tree
		b.SetBytes(int64(len(vs[0])))
		i := 0
		cpu := cpuTimer(b)
		for b.Loop() {
			snapshot.ParseTree(&t, vs[i%len(vs)])
			i++
		}
		cpu()
	})
	b.Run("parse-guided", func(b *testing.B) {
		var t snapshot.Tree
		b.SetBytes(int64(len(vs[0])))
		i := 0
		cpu := cpuTimer(b)
		for b.Loop() {
			k := 1 + i%(len(vs)-1)
			snapshot.ParseTreeLike(&t, vs[k], &trees[k-1])
			i++
		}
		cpu()
	})
	b.Run("patches", func(b *testing.B) { // all of PatchMaker.Next: parse, 4 diffs, gzip, the file
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var pm *snapshot.PatchMaker
		var cpu time.Duration
		i := 0
		for b.Loop() {
			k := i % (len(vs) - 4)
			if k == 0 { // from the start again, on a new store: the last version to the first would be a whole new document
				if pm != nil {
					pm.Close()
				}
				var err error
				if pm, err = snapshot.NewPatchMaker(storeDir(b), 4); err != nil {
					b.Fatal(err)
				}
				for _, v := range vs[:4] {
					pm.Version(v)
					pm.Next(v)
				}
			}
			body := vs[k+4]
			c0 := threadCPU()
			pm.Version(body)
			if _, err := pm.Next(body); err != nil {
				b.Fatal(err)
			}
			cpu += threadCPU() - c0
			i++
		}
		pm.Close()
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	})
	for _, back := range []int{1, 4} {
		b.Run(fmt.Sprintf("diff-%d", back), func(b *testing.B) {
			var d snapshot.Differ
			var buf []byte
			i := 0
			cpu := cpuTimer(b)
			for b.Loop() {
				k := back + i%(len(vs)-back)
				buf = d.Encode(&trees[k-back], &trees[k], buf)
				i++
			}
			cpu()
		})
	}
}

// cpuTimer starts counting the thread's CPU time; the function it returns
// reports it per op as cpu-ns/op.
func cpuTimer(b *testing.B) func() {
	runtime.LockOSThread()
	c0 := threadCPU()
	return func() {
		b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}
