package loadgen

// This file implements a log-linear (HDR-style) histogram with atomic
// counters, because every connection goroutine records into one shared
// histogram: per-connection histograms would cost 10,000 × 36 KB, and a
// mutex would serialise the clients.

import (
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits    = 7 // 128 linear sub-buckets per power of two: relative error < 0.8 %
	subCount   = 1 << subBits
	maxBits    = 42 // values up to 2^42 ns (~73 minutes) are kept; larger ones clamp
	histBucket = (maxBits-subBits)*subCount + subCount
)

// Hist is a log-linear histogram of non-negative durations in nanoseconds.
// Record is safe for concurrent use and allocates nothing; reading methods
// see a consistent-enough view while recording continues.
type Hist struct {
	counts [histBucket]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
	sum    atomic.Int64
}

// bucketOf maps v to its bucket: values below 256 have their own bucket;
// above, each power of two is split into 128 equal sub-buckets.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	idx := (shift+1)*subCount + int(v>>uint(shift)) - subCount
	if idx >= histBucket {
		idx = histBucket - 1
	}
	return idx
}

// bucketRange returns the smallest and largest value that land in bucket idx.
func bucketRange(idx int) (lo, hi uint64) {
	if idx < 2*subCount {
		return uint64(idx), uint64(idx)
	}
	shift := idx/subCount - 1
	m := uint64(idx%subCount + subCount)
	return m << uint(shift), (m+1)<<uint(shift) - 1
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// Count is the number of observations.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Max is the largest observation.
func (h *Hist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average observation (0 when empty).
func (h *Hist) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value at quantile q (0..1): the midpoint of the
// bucket holding the ceil(q·n)-th smallest observation, never above Max.
// It returns 0 when the histogram is empty.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			if m := h.Max(); v > m {
				v = m
			}
			return v
		}
	}
	return h.Max()
}
