package loadgen

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := uint64(0)
	for i := 1; i < histBucket; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d range [%d,%d] maps to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
}

func TestQuantilesOnKnownData(t *testing.T) {
	cases := []struct {
		name string
		gen  func(i int, r *rand.Rand) time.Duration
	}{
		{"uniform 1..10000 µs", func(i int, r *rand.Rand) time.Duration { return time.Duration(i%10000+1) * time.Microsecond }},
		{"small ints", func(i int, r *rand.Rand) time.Duration { return time.Duration(i % 200) }},
		{"lognormal", func(i int, r *rand.Rand) time.Duration {
			return time.Duration(float64(time.Millisecond) * (1 + r.ExpFloat64()*r.ExpFloat64()*20))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Hist
			r := rand.New(rand.NewSource(1))
			vals := make([]time.Duration, 100000)
			for i := range vals {
				vals[i] = c.gen(i, r)
				h.Record(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(q*float64(len(vals))+0.999999999) - 1
				want := vals[rank]
				got := h.Quantile(q)
				diff := float64(got - want)
				if diff < 0 {
					diff = -diff
				}
				if diff > float64(want)*0.01+1 {
					t.Errorf("q%.3f: got %v want %v (±1%%)", q, got, want)
				}
			}
			if h.Max() != vals[len(vals)-1] {
				t.Errorf("max %v want %v", h.Max(), vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count %d", h.Count())
			}
		})
	}
	var empty Hist
	if empty.Quantile(0.99) != 0 {
		t.Error("empty histogram quantile must be 0")
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	var h Hist
	if a := testing.AllocsPerRun(1000, func() { h.Record(123456 * time.Nanosecond) }); a != 0 {
		t.Fatalf("Record allocates %v", a)
	}
}
