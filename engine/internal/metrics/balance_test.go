package metrics

import (
	"testing"
	"time"
)

func TestBalanceAllowsOnlyUpToAShare(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenServe(ServeFileName(dir, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	self := ServeFileName(dir, 1, 0)

	b := NewBalance(dir, time.Hour, 0)
	defer b.Close()
	if !b.Allow(self, 1000) {
		t.Fatal("a loop alone must always be allowed to accept")
	}

	peer, err := OpenServe(ServeFileName(dir, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	b.refresh()
	for _, tc := range []struct {
		mine, peer int64
		want       bool
	}{
		{0, 0, true},
		{10, 10, true},
		{20, 0, false}, // avg 10: allowed up to 10+1+0
		{11, 9, true},
		{12, 8, false},
		{83, 77, true}, // avg 80: up to 83
		{84, 76, false},
		{0, 500, true}, // the emptiest loop is always allowed
	} {
		peer.C.Open.Store(tc.peer)
		if got := b.Allow(self, tc.mine); got != tc.want {
			t.Errorf("mine %d, peer %d: Allow = %v, want %v", tc.mine, tc.peer, got, tc.want)
		}
	}

	// A peer whose process is gone does not count.
	peer.word(16).Store(1 << 30) // no such pid
	b.refresh()
	peer.C.Open.Store(0)
	if !b.Allow(self, 50) {
		t.Error("a dead peer's file still counts")
	}
	if n := len(*b.peers.Load()); n != 1 {
		t.Errorf("peers = %d, want 1 (self only)", n)
	}
}

// TestBalanceRefreshesWhenAccepting: after its start-up phase the peer set
// is refreshed only when a loop has accepted, and a peer that appeared
// meanwhile is then seen.
func TestBalanceRefreshesWhenAccepting(t *testing.T) {
	dir := t.TempDir()
	self := ServeFileName(dir, 1, 0)
	a, err := OpenServe(self)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := newBalance(dir, time.Millisecond, 0, 0) // no start-up phase
	defer b.Close()
	peer, err := OpenServe(ServeFileName(dir, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.C.Open.Store(0)
	// Alone, a loop holding 20 may accept; beside an empty peer it holds
	// twice its share and may not, once the refresh its accept asked for
	// has found the peer.
	for deadline := time.Now().Add(10 * time.Second); b.Allow(self, 20); time.Sleep(time.Millisecond) {
		b.Accepted()
		if time.Now().After(deadline) {
			t.Fatalf("peer not seen after 10s of accepts: peers %d", len(*b.peers.Load()))
		}
	}
}

// TestBalanceWaitsForAnExpectedPeer: a worker that starts before its
// sibling has created its counters file counts the sibling as an empty
// peer during the start-up phase, so it takes only its share of a burst
// (one that took all 32 of an e2e burst was the flake this fixes); once
// the sibling's file appears its real count is used, and after the
// start-up phase a sibling that never came does not count.
func TestBalanceWaitsForAnExpectedPeer(t *testing.T) {
	dir := t.TempDir()
	self := ServeFileName(dir, 1, 0)
	a, err := OpenServe(self)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	b := NewBalance(dir, time.Hour, 2)
	defer b.Close()
	if !b.Allow(self, 0) || !b.Allow(self, 1) {
		t.Fatal("a loop below its share must be allowed")
	}
	if b.Allow(self, 3) {
		t.Fatal("with its sibling not started, a loop holding 3 was allowed to take more (avg 1: up to 2)")
	}
	// The sibling starts late: its file appears, and the fast start-up
	// refresh finds it.
	peer, err := OpenServe(ServeFileName(dir, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.C.Open.Store(3)
	for deadline := time.Now().Add(10 * time.Second); !b.Allow(self, 3); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the late sibling's counters were not seen: peers %d", len(*b.peers.Load()))
		}
	}
	if b.Allow(self, 20) {
		t.Fatal("a loop holding 20 beside a sibling with 3 was allowed")
	}

	// After the start-up phase, a loop expected but never seen is ignored.
	dir2 := t.TempDir()
	self2 := ServeFileName(dir2, 1, 0)
	a2, err := OpenServe(self2)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	b2 := newBalance(dir2, time.Hour, time.Millisecond, 2)
	defer b2.Close()
	for deadline := time.Now().Add(10 * time.Second); !b2.Allow(self2, 100); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a lone loop is still held back by a sibling that never came, long after the start-up phase")
		}
	}
}
