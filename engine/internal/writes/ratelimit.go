package writes

// This file implements the write rate limit per client address, shared by
// every worker process of one server: a client's connections land on any
// worker, and a limit kept per process would let it write workers times
// the configured rate.
//
// The state is a fixed table of 64-bit words in a file every worker maps
// MAP_SHARED (ratelimit_linux.go; a process-local table elsewhere and in
// single-process mode). Each word holds one client: 24 bits of its
// address's hash (the tag) and 40 bits of its theoretical arrival time,
// TAT, in microseconds since the table's epoch, modulo 2^40 (about 12.7
// days). The limit is GCRA, the generic cell rate algorithm (ITU-T I.371),
// which is a token bucket of size burst refilled at rate kept as one time:
// a write is allowed when TAT - now <= tau = (burst-1)/rate, and moves TAT
// to max(TAT, now) + 1/rate. One word per client means one compare-and-
// swap updates it atomically across processes, with no lock.
//
// A client's word is looked for in a few slots after its hash's index. A
// slot whose TAT has passed holds a client back at its full burst, which
// is what a new client starts with, so it may be taken over; when every
// probed slot holds a limited client, the least limited one is evicted
// (it starts again at its full burst). A client hashing to the same index
// and tag as another shares its limit: one chance in 2^24 per probe.

import (
	"sync/atomic"
	"time"
)

const (
	rateSlots   = 1 << 16 // 512 KiB of words: distinct limited clients at once
	rateProbes  = 4
	rateTagBits = 24
	rateTATBits = 64 - rateTagBits
	rateTATMask = 1<<rateTATBits - 1
	// rateHeader is the bytes before the slots: the magic and the epoch.
	rateHeader = 64
	rateMagic  = 0x6a61776173726c31 // "jawasrl1"
	// maxRateSpan bounds tau+interval: far below the 2^39 µs (6.4 days)
	// within which a wrapped TAT still compares right.
	maxRateSpan = 24 * time.Hour
)

// rateTable is a GCRA limit per client address over words, which may be
// shared with other processes.
type rateTable struct {
	words    []uint64 // the slots; accessed atomically only
	epoch    int64    // unix µs that TATs count from
	interval int64    // µs between writes at the rate
	tau      int64    // µs a client may run ahead: (burst-1) × interval
	release  func() error
}

// newRateTable returns the limit over words (rateSlots of them) with the
// epoch stored at *epoch (set to now if still zero: the first process to
// open a shared table sets it for all).
func newRateTable(words []uint64, epoch *int64, rate float64, burst int, release func() error) *rateTable {
	now := time.Now().UnixMicro()
	atomic.CompareAndSwapInt64(epoch, 0, now)
	interval := max(int64(1e6/rate), 1)
	return &rateTable{
		words:    words,
		epoch:    atomic.LoadInt64(epoch),
		interval: interval,
		tau:      int64(max(burst, 1)-1) * interval,
		release:  release,
	}
}

func (t *rateTable) close() error {
	if t == nil || t.release == nil {
		return nil
	}
	return t.release()
}

// allow takes one write for addr at now; when the client is over its
// limit it returns how long until its next write is allowed.
func (t *rateTable) allow(addr string, now time.Time) (time.Duration, bool) {
	h := hashAddr(addr)
	tag := h>>rateTATBits | 1 // 0 marks an empty slot
	at := now.UnixMicro() - t.epoch
	for range 8 { // compare-and-swap retries; more contention than that: allow
		i, old, ahead := t.find(h, tag, at)
		if ahead > t.tau {
			return time.Duration(ahead-t.tau) * time.Microsecond, false
		}
		next := uint64(at+ahead+t.interval) & rateTATMask
		if atomic.CompareAndSwapUint64(&t.words[i], old, tag<<rateTATBits|next) {
			return 0, true
		}
	}
	return 0, true
}

// find returns the slot for tag among the probed ones, the word it holds
// now, and how far the client's TAT is ahead of at (0 for a slot taken
// over).
func (t *rateTable) find(h, tag uint64, at int64) (slot int, word uint64, ahead int64) {
	mask := uint64(len(t.words) - 1)
	free, victim := -1, -1
	var freeWord, victimWord uint64
	var victimAhead int64
	for p := range uint64(rateProbes) {
		i := int((h + p) & mask)
		w := atomic.LoadUint64(&t.words[i])
		a := t.ahead(w, at)
		if w>>rateTATBits == tag {
			return i, w, a
		}
		if a == 0 { // empty, or its client is back at its full burst
			if free < 0 {
				free, freeWord = i, w
			}
		} else if victim < 0 || a < victimAhead {
			victim, victimWord, victimAhead = i, w, a
		}
	}
	if free >= 0 {
		return free, freeWord, 0
	}
	return victim, victimWord, 0
}

// ahead returns how far the TAT in w is ahead of at (0 when it has
// passed). A TAT further ahead than any the limit sets (tau+interval) is
// one that wrapped around 2^40 µs long ago: passed too.
func (t *rateTable) ahead(w uint64, at int64) int64 {
	if w == 0 {
		return 0
	}
	d := int64((w-uint64(at))&rateTATMask) << rateTagBits >> rateTagBits // signed 40-bit difference
	if d <= 0 || d > t.tau+t.interval {
		return 0
	}
	return d
}

// hashAddr is FNV-1a: the same in every process (a seeded hash would not
// be), and allocation-free.
func hashAddr(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// localRateTable is a table for this process only.
func localRateTable(rate float64, burst int) *rateTable {
	var epoch int64
	return newRateTable(make([]uint64, rateSlots), &epoch, rate, burst, nil)
}
