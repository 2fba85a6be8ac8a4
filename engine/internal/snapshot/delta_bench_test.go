package snapshot_test

import (
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
	var renderT, patchT time.Duration
	patches := 0
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		body := render(b, src)
		pm.Version(body) // the hash: Put's, with or without patches
		t1 := time.Now()
		n, err := pm.Next(body)
		t2 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		renderT += t1.Sub(t0)
		patchT += t2.Sub(t1)
		patches += n
	}
	n := float64(b.N)
	b.ReportMetric(float64(renderT.Microseconds())/n, "render-µs/op")
	b.ReportMetric(float64(patchT.Microseconds())/n, "patches-µs/op")
	b.ReportMetric(float64(patches)/n, "patches/op")
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
