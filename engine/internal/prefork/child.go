package prefork

// This file implements the child's side of supervision once, for every role:
// a heartbeat in the shared table and the drain signal. The engine and the
// workers differ only in what they run and in when they may beat.

import (
	"context"
	"time"
)

// BeatEvery is how often a ready child reports liveness: a third of the
// supervisor's default stuck timeout (HeartbeatTimeout, 3 s), so a child
// misses it only when it has stopped for two beats and more. It was 100 ms
// (10 wake-ups a second per child, bench/README.md "Idle server"); stuck
// detection does not depend on it, only its margin does: the supervisor
// kills a child whose last beat is HeartbeatTimeout old, however often it
// used to beat.
const BeatEvery = time.Second

// startBeat is how often a starting child's tick runs, until its slot
// leaves StateStarting: a worker reports ready from its tick, and a reload
// or a restart waits for it.
const startBeat = 10 * time.Millisecond

// Child is this process's place in the supervisor's table.
type Child struct {
	shared *Shared
	slot   *WorkerSlot
}

// OpenChild opens the supervisor's table for this child (see OpenSelf).
func OpenChild() (*Child, error) {
	shm, me, err := OpenSelf()
	if err != nil {
		return nil, err
	}
	return &Child{shared: shm, slot: me}, nil
}

// Shared is the supervisor's whole table (the admin endpoints read it).
func (c *Child) Shared() *Shared { return c.shared }

// Slot is this child's own slot.
func (c *Child) Slot() *WorkerSlot { return c.slot }

// Close unmaps the table.
func (c *Child) Close() error { return c.shared.Close() }

// Run runs work until it returns or the supervisor asks this child to
// drain (then work's ctx is cancelled and Run waits for work to return).
// Every BeatEvery (every startBeat while the slot is StateStarting), tick
// is called with the time; when it returns true the slot beats, so a child
// whose real work is stuck can stop beating and be replaced. The beats
// fall on whole multiples of BeatEvery (whole seconds), where the engine's
// period boundaries fall too, so they share its wake-ups. With tick nil,
// work beats the slot itself (a worker's event loop: Slot().Beat) and Run
// sets no timer. Run returns work's error; a drained child whose work
// returned nil returns nil.
//
// Threading: work runs on its own goroutine; tick runs on Run's.
func (c *Child) Run(work func(ctx context.Context) error, tick func(now time.Time) bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(ctx) }() // ends when ctx is cancelled
	drain := NotifyDrain()
	var beat <-chan time.Time // nil without tick: never ready
	var t *time.Timer
	every := BeatEvery
	if tick != nil {
		if c.slot.State() == StateStarting {
			every = startBeat
		}
		t = time.NewTimer(untilNext(time.Now(), every))
		defer t.Stop()
		beat = t.C
	}
	for {
		select {
		case <-drain:
			cancel()
			return <-done
		case err := <-done:
			return err
		case now := <-beat:
			if tick(now) {
				c.slot.Beat(now)
			}
			if every != BeatEvery && c.slot.State() != StateStarting {
				every = BeatEvery
			}
			t.Reset(untilNext(time.Now(), every))
		}
	}
}

// untilNext is how long from now to the next whole multiple of every (a
// millisecond at least, so a timer that fired a little early or late
// never fires twice for one instant).
func untilNext(now time.Time, every time.Duration) time.Duration {
	return max(now.Truncate(every).Add(every).Sub(now), time.Millisecond)
}
