package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		base, want  int
	}{
		{12 * mib, 128 * mib, 400, 966},   // goal (12+116) MiB = the floor
		{64 * mib, 128 * mib, 400, 400},   // 5 × 64 MiB is over the floor
		{25 * mib, 128 * mib, 400, 412},   // just under: the floor wins
		{200 * mib, 128 * mib, 400, 400},  // live over the floor
		{1, 128 * mib, 400, maxPercent},   // capped
		{0, 128 * mib, 400, maxPercent},   // no live heap reported yet
		{12 * mib, 128 * mib, 2000, 2000}, // base already over the floor
		{128 * mib, 128 * mib, 100, 100},  // at the floor
	} {
		if got := Percent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.base, got, tc.want)
		}
	}
}

var sink []byte

// TestTunerCollectsLess runs the real runtime: with a floor of 256 MiB and
// this test's live heap of a few MB, allocating 64 MiB of garbage must
// take at most one collection; with GOGC at base alone it takes several.
func TestTunerCollectsLess(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	garbage := func() uint32 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n := ms.NumGC
		for range 64 << 10 {
			sink = make([]byte, 1024)
		}
		runtime.ReadMemStats(&ms)
		return ms.NumGC - n
	}
	runtime.GC()
	without := garbage()

	tu := Start(100, 256<<20)
	defer tu.Stop()
	runtime.GC() // the tuner sets GOGC after this collection
	deadline := time.Now().Add(5 * time.Second)
	for tu.GCPercent() == 100 {
		if time.Now().After(deadline) {
			t.Fatal("GOGC still at base 5 s after a collection")
		}
		time.Sleep(time.Millisecond)
	}
	if p := debug.SetGCPercent(tu.GCPercent()); p != tu.GCPercent() {
		t.Fatalf("runtime GOGC = %d, tuner says %d", p, tu.GCPercent())
	}
	with := garbage()
	t.Logf("collections for 64 MiB of garbage: %d at GOGC 100, %d with the floor (GOGC %d)", without, with, tu.GCPercent())
	if with > 1 || without < 3 {
		t.Fatalf("collections for 64 MiB of garbage: %d at GOGC 100, %d with a 256 MiB floor; want >= 3 and <= 1", without, with)
	}

	tu.Stop()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("after Stop, GOGC = %d, want base 100", p)
	}
}
