package prefork

// This file implements the worker table's layout and atomic accessors. The
// table is a small file under RunDir mapped MAP_SHARED by the supervisor and
// every child, because a heartbeat must cost a store, not a syscall or a pipe
// write, on the worker's hot loop.

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"
)

// SharedFile is the worker table's file name under RunDir.
const SharedFile = "workers.shm"

const (
	shmMagic      = 0x4a41574153534d31 // "JAWASSM1"
	headerSize    = 64
	slotSize      = 64 // one cache line per slot: no false sharing between workers
	engineSlot    = 0  // slot 0 is the engine's; workers use 1..
	offMagic      = 0
	offNSlots     = 8
	offSupPID     = 16
	offRecycles   = 24 // workers replaced after max_requests (supervisor only writes)
	fieldPID      = 0
	fieldPos      = 8
	fieldStart    = 16
	fieldBeat     = 24
	fieldReqs     = 32
	fieldState    = 40
	fieldRestarts = 48
	fieldGen      = 56
)

// State is a slot's lifecycle state.
type State int64

const (
	StateFree     State = iota // no process
	StateStarting              // spawned, not yet serving (set by the supervisor)
	StateReady                 // serving (set by the child)
	StateDraining              // asks for a replacement, still serving (set by the child)
	StateStopping              // sent SIGTERM, finishing in-flight work (set by the supervisor)
)

func (s State) String() string {
	switch s {
	case StateFree:
		return "free"
	case StateStarting:
		return "starting"
	case StateReady:
		return "ready"
	case StateDraining:
		return "draining"
	case StateStopping:
		return "stopping"
	}
	return fmt.Sprintf("state(%d)", int64(s))
}

// Shared is the mmapped worker table. Its methods are safe for concurrent
// use by any number of goroutines and processes.
type Shared struct {
	data     []byte
	writable bool
}

// Len returns the number of slots (slot 0 is the engine's).
func (s *Shared) Len() int { return int(s.word(offNSlots).Load()) }

// SupervisorPID returns the pid of the supervisor that created the table.
func (s *Shared) SupervisorPID() int { return int(s.word(offSupPID).Load()) }

// Recycles is how many workers the supervisor replaced because they
// reached max_requests.
func (s *Shared) Recycles() int64 { return s.word(offRecycles).Load() }

// Engine returns the engine's slot.
func (s *Shared) Engine() *WorkerSlot { return s.Slot(engineSlot) }

// Slot returns slot i (0 <= i < Len()); it panics when i is out of range.
func (s *Shared) Slot(i int) *WorkerSlot {
	if i < 0 || i >= s.Len() {
		panic(fmt.Sprintf("prefork: slot %d out of range [0,%d)", i, s.Len()))
	}
	off := headerSize + i*slotSize
	return &WorkerSlot{b: s.data[off : off+slotSize : off+slotSize], index: i}
}

// Workers returns the slots of live workers (state not free), for status
// pages and tests.
func (s *Shared) Workers() []*WorkerSlot {
	var out []*WorkerSlot
	for i := 1; i < s.Len(); i++ {
		if w := s.Slot(i); w.State() != StateFree {
			out = append(out, w)
		}
	}
	return out
}

func (s *Shared) word(off int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Pointer(&s.data[off]))
}

// WorkerSlot is one process's entry in the table. Methods are atomic loads
// and stores on shared memory; writers must have opened the table writable.
type WorkerSlot struct {
	b     []byte
	index int
}

func (w *WorkerSlot) word(off int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Pointer(&w.b[off]))
}

// Index is the slot's index in the table.
func (w *WorkerSlot) Index() int { return w.index }

// PID of the process in the slot (0 when free).
func (w *WorkerSlot) PID() int { return int(w.word(fieldPID).Load()) }

// Position is the worker position (0..Workers-1), or -1 for the engine.
func (w *WorkerSlot) Position() int { return int(w.word(fieldPos).Load()) }

// Started is when the supervisor spawned the process.
func (w *WorkerSlot) Started() time.Time { return time.UnixMilli(w.word(fieldStart).Load()) }

// Beat records a heartbeat at now. Call it from the loop whose progress it
// proves (not from a separate ticker goroutine), at least every third of the
// heartbeat timeout.
func (w *WorkerSlot) Beat(now time.Time) { w.word(fieldBeat).Store(now.UnixMilli()) }

// LastBeat is the time of the last heartbeat.
func (w *WorkerSlot) LastBeat() time.Time { return time.UnixMilli(w.word(fieldBeat).Load()) }

// AddRequests adds n served requests and returns the new total.
func (w *WorkerSlot) AddRequests(n int64) int64 { return w.word(fieldReqs).Add(n) }

// Requests is the number of requests served by the process in the slot.
func (w *WorkerSlot) Requests() int64 { return w.word(fieldReqs).Load() }

// SetState stores the slot's state. In a supervised child it then rings
// the supervisor (DoorbellSignal), which acts on a new state at once.
// Becoming ready is also a heartbeat, stored first: a child that spent
// longer than the heartbeat timeout starting (the engine loading a
// project does not beat) would otherwise be seen ready with its spawn
// time as its last beat, and killed as stuck the moment it said so.
func (w *WorkerSlot) SetState(st State) {
	if st == StateReady {
		w.Beat(time.Now())
	}
	w.word(fieldState).Store(int64(st))
	ring()
}

// State loads the slot's state.
func (w *WorkerSlot) State() State { return State(w.word(fieldState).Load()) }

// Restarts is how many times the supervisor has restarted this position
// after a crash.
func (w *WorkerSlot) Restarts() int64 { return w.word(fieldRestarts).Load() }

// Generation increases each time the slot is given to a new process.
func (w *WorkerSlot) Generation() int64 { return w.word(fieldGen).Load() }

// reset prepares the slot for a new process (supervisor only).
func (w *WorkerSlot) reset(pos int, restarts int64, now time.Time) {
	w.word(fieldPID).Store(0)
	w.word(fieldPos).Store(int64(pos))
	w.word(fieldStart).Store(now.UnixMilli())
	w.word(fieldBeat).Store(now.UnixMilli())
	w.word(fieldReqs).Store(0)
	w.word(fieldRestarts).Store(restarts)
	w.word(fieldGen).Add(1)
	w.SetState(StateStarting)
}

func (w *WorkerSlot) setPID(pid int) { w.word(fieldPID).Store(int64(pid)) }
