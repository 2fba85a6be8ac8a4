package yielder

import (
	"testing"
	"time"
)

// TestYielderPace: the first call yields; waits are cut to end by the next
// yield; YieldEvery after a yield comes the next one.
func TestYielderPace(t *testing.T) {
	var y Yielder
	t0 := int64(10 * time.Second)
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		now        int64
		wait, want time.Duration
	}{
		{t0, 250 * time.Millisecond, YieldEvery},                             // never yielded: yields now
		{t0 + 3*ms, 250 * time.Millisecond, YieldEvery - 3*time.Millisecond}, // ends by the next yield
		{t0 + 3*ms, 2 * time.Millisecond, 2 * time.Millisecond},              // a shorter wait stays
		{t0 + 8*ms, 250 * time.Millisecond, YieldEvery},                      // due: yields, a full span again
		{t0 + 9*ms, 0, 0},
	} {
		if got := y.Pace(tc.now, tc.wait); got != tc.want {
			t.Errorf("Pace(t0+%v, %v) = %v, want %v", time.Duration(tc.now-t0), tc.wait, got, tc.want)
		}
	}
}
