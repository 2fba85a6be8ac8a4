package writes

// This file implements the engine side. The invariant that makes events
// apply exactly once: under mu, every record the reader has passed (up to
// pos) is either still in its source's queue or reflected in states[source];
// a checkpoint saves pos, states and the queues together. A source takes
// records off its queue only after their effect is in states.

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/jsvm"
	"github.com/jawas/jawas/engine/internal/period"
)

// ApplierOptions configure OpenApplier.
type ApplierOptions struct {
	DataDir         string        // the journal lives in DataDir/journal
	CheckpointEvery time.Duration // default 1s
	LockWait        time.Duration // how long to wait for another engine's lock; default 15s
	// OnFatal, when set, is called once when the journal is damaged; the
	// engine must stop (Err says why). Called from an evaluating goroutine.
	OnFatal func(err error)
	Log     *slog.Logger

	// Feed, when set, is where records come from instead of the local
	// journal (cluster mode: the leader reads the cluster's stream), and
	// the positions are the feed's. Then no engine lock or gate is taken,
	// the state starts from Initial (not the local checkpoint file),
	// checkpoints go to Save, and the event status is not published to
	// the journal directory (the cluster node does that).
	Feed    Feed
	Initial *journal.Checkpoint
	Save    func(*journal.Checkpoint) error
	// Decided, when set, is told each boundary's fates of events as they
	// are decided (cluster mode: the leader ships them to every node's
	// /_jawas/events/ID). Called on an evaluating goroutine; sts is
	// reused after the call returns.
	Decided func(sts []journal.Status)
}

// Feed is a source of journal records other than the local segments.
type Feed interface {
	// Read appends to dst the records that follow from and are due by
	// boundary, in apply order, and returns the positions just past
	// them. An error stops the engine: return one only for damage.
	Read(dst []journal.Record, from journal.Positions, boundary time.Time) ([]journal.Record, journal.Positions, error)
}

// Applier applies journal records to sources. Its BeforeRender and
// AfterPublish methods are period.Scheduler hooks.
//
// Threading: BeforeRender runs on the scheduler's evaluating goroutines
// (several at once, never twice at once for one source while it holds the
// source); AfterPublish on its publisher goroutine; all shared state is
// under mu.
type Applier struct {
	opt     ApplierOptions
	reader  *journal.Reader // under mu
	compact *journal.Reader // under cpRunning: a Reader belongs to one goroutine
	lock    *os.File
	gate    *gate

	mu        sync.Mutex
	pos       journal.Positions
	queues    map[string][]journal.Record   // source name → read, not applied, in apply order
	states    map[string]json.RawMessage    // source name → state reflecting everything applied
	meta      map[string]journal.SourceMeta // source name → what states[name] is for (lifecycle.go)
	owner     map[string]*period.Source     // source name → the one *Source whose module holds its state (lifecycle.go)
	events    *journal.StatusTable
	boundary  time.Time // latest boundary applied
	dirty     bool      // changed since the last checkpoint
	lastCP    time.Time
	fatal     error
	closed    bool
	cpRunning sync.Mutex // one checkpoint at a time

	// changes counts changes to what AfterPublish publishes (positions,
	// statuses, boundary); published is its value at the last publish
	// (-1: none yet), so an idle engine does not rewrite the status file
	// (up to 10,000 statuses, ~240 KB) every period. Under mu.
	changes, published int64

	// read is the journal's commit count loaded under the gate at the
	// last read of the journal, valid when that read left nothing behind
	// (readOK): while the count stays there, take skips the read (gate.go).
	// Under mu.
	read   uint64
	readOK bool

	recs  []journal.Record // take's buffer for the records read, under mu; empty between calls
	spare []*applyBuf      // BeforeRender's buffers not in use, under mu: at most one per evaluating goroutine
}

// applyBuf holds what BeforeRender builds per record. It, the queues'
// arrays and take's buffer are reused from boundary to boundary, because
// allocating them anew was a large share of the bytes the apply path
// allocated (BenchmarkApply; figures in bench/README.md).
type applyBuf struct {
	errs     []error
	evs      []jsvm.Event
	at       []int
	statuses []journal.Status
}

// maxKeptRecords bounds the per-record buffers an Applier keeps between
// boundaries: one over 4 times what the last boundary needed and over
// maxKeptRecords records (up to 4.5 MB) is dropped, so one huge boundary
// does not keep its memory for good.
const maxKeptRecords = 1 << 15

// kept reports whether a buffer of capacity c is kept after a boundary
// that needed n.
func kept(c, n int) bool { return c <= max(4*n, maxKeptRecords) }

// reset empties b after a boundary of n records, so it keeps no body,
// header or reason of them.
func (b *applyBuf) reset(n int) {
	clear(b.errs)
	clear(b.evs)
	clear(b.statuses)
	if !kept(cap(b.evs), n) {
		*b = applyBuf{}
	}
	b.errs, b.evs, b.at, b.statuses = b.errs[:0], b.evs[:0], b.at[:0], b.statuses[:0]
}

// OpenApplier takes the engine's journal lock (so two engines never apply
// the same journal), loads the checkpoint and restores each source's state
// from it. Records after the checkpoint are applied at the first boundary.
func OpenApplier(proj *period.Project, opt ApplierOptions) (*Applier, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = time.Second
	}
	if opt.LockWait <= 0 {
		opt.LockWait = 15 * time.Second
	}
	if opt.Feed != nil {
		return openFed(proj, opt)
	}
	reader, err := journal.OpenReader(opt.DataDir)
	if err != nil {
		return nil, fmt.Errorf("writes: open applier: %w", err)
	}
	compact, err := journal.OpenReader(opt.DataDir)
	if err != nil {
		reader.Close()
		return nil, fmt.Errorf("writes: open applier: %w", err)
	}
	lock, err := lockEngine(filepath.Join(opt.DataDir, "journal", "engine.lock"), opt.LockWait)
	if err != nil {
		reader.Close()
		compact.Close()
		return nil, fmt.Errorf("writes: open applier: %w", err)
	}
	g, err := openGate(opt.DataDir)
	if err != nil {
		lock.Close()
		reader.Close()
		compact.Close()
		return nil, fmt.Errorf("writes: open applier: %w", err)
	}
	cp, err := journal.LoadCheckpoint(opt.DataDir)
	if err != nil {
		g.close()
		lock.Close()
		reader.Close()
		compact.Close()
		return nil, fmt.Errorf("writes: open applier: %w", err)
	}
	a := &Applier{opt: opt, reader: reader, compact: compact, lock: lock, gate: g}
	migrated, err := a.restore(proj, cp)
	if err != nil {
		g.close()
		lock.Close()
		reader.Close()
		compact.Close()
		return nil, err
	}
	opt.Log.Info("journal loaded", "checkpoint_boundary", cp.Boundary, "segments_applied", len(cp.Positions), "pending", len(cp.Pending))
	if migrated {
		// The migrated states and their versions are checkpointed at the
		// positions they were migrated at before anything else is applied,
		// so a crash replays the same migration at the same point.
		if err := a.Checkpoint(); err != nil {
			a.Close()
			return nil, fmt.Errorf("writes: open applier: checkpoint the migrated states: %w", err)
		}
	}
	return a, nil
}

// openFed opens an Applier on opt.Feed, starting from opt.Initial.
func openFed(proj *period.Project, opt ApplierOptions) (*Applier, error) {
	cp := opt.Initial.Filled()
	a := &Applier{opt: opt}
	if _, err := a.restore(proj, cp); err != nil {
		return nil, err
	}
	opt.Log.Info("state loaded from the cluster", "checkpoint_boundary", cp.Boundary, "pending", len(cp.Pending))
	return a, nil
}

// restore takes cp as the applier's state and gives each source the state
// it starts from (Adopt: the checkpointed one, migrated when its version
// changed, or its initial); migrated reports whether any was migrated.
func (a *Applier) restore(proj *period.Project, cp *journal.Checkpoint) (migrated bool, err error) {
	a.pos, a.states, a.events, a.boundary = cp.Positions, cp.States, cp.Events, cp.Boundary
	a.meta = cp.Meta
	a.owner = map[string]*period.Source{}
	a.queues = map[string][]journal.Record{}
	a.lastCP = time.Now()
	a.published = -1
	for name := range cp.States {
		if proj.Source(name) == nil {
			a.opt.Log.Warn("checkpointed state of a source that is gone is kept, not applied", "source", name)
		}
	}
	if migrated, err = a.adoptAll(proj); err != nil {
		return false, fmt.Errorf("writes: open applier: %w", err)
	}
	for _, r := range cp.Pending {
		a.queues[r.Source] = append(a.queues[r.Source], r)
	}
	return migrated, nil
}

// lockEngine takes an exclusive flock on path, waiting up to wait for an
// engine that is still exiting.
func lockEngine(path string, wait time.Duration) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("engine lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("engine lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := sysFlock(int(f.Fd()), lockEX|lockNB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, errWouldBlock) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("engine lock %s (another engine applies this journal): %w", path, os.NewSyscallError("flock", err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Err returns the fatal error that stopped the applier, if any.
func (a *Applier) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

// BeforeRender applies the records for s stamped before boundary, in
// order, through its reducers: the period.Scheduler hook.
func (a *Applier) BeforeRender(s *period.Source, boundary time.Time) {
	if !s.TryHold() {
		return // still rendering an earlier boundary: its records wait in the queue
	}
	defer s.Unhold()
	a.applyHeld(s, boundary)
}

// applyHeld is BeforeRender for a source the caller holds.
func (a *Applier) applyHeld(s *period.Source, boundary time.Time) {
	if s.Quarantined() != "" {
		return // not evaluated: its records wait in the queue
	}
	todo := a.take(s, boundary)
	if len(todo) == 0 {
		return
	}
	mod := s.Module()
	b := a.buf()
	defer a.putBuf(b, len(todo))
	// One ReduceBatch for the records that reach a reducer, in order; the
	// others are rejected here. errs[i] is record i's outcome.
	errs := append(b.errs[:0], make([]error, len(todo))...)
	evs := b.evs[:0]
	at := b.at[:0] // evs[j] is todo[at[j]]
	for i := range todo {
		r := &todo[i]
		if r.Method == journal.MethodReset {
			// The events before it, then the reset, in journal order.
			for j, err := range mod.ReduceBatch(evs) {
				errs[at[j]] = err
			}
			noteMemory(s, errs)
			evs, at = evs[:0], at[:0]
			errs[i] = resetState(mod)
			a.opt.Log.Info("state reset to initial", "source", s.Name, "id", r.ID)
			continue
		}
		ev, err := eventOf(r)
		switch {
		case err != nil:
			errs[i] = err
		case !mod.HasReducer(r.Method):
			errs[i] = fmt.Errorf("%s has no %s reducer any more", s.Name, r.Method)
		default:
			evs = append(evs, ev)
			at = append(at, i)
		}
	}
	for j, err := range mod.ReduceBatch(evs) { // a failing event rolls back only itself
		errs[at[j]] = err
	}
	noteMemory(s, errs)
	statuses := b.statuses[:0]
	for i := range todo {
		r := &todo[i]
		st := journal.Status{ID: r.ID, State: journal.StateApplied, Boundary: boundary}
		if err := errs[i]; err != nil {
			st = journal.Status{ID: r.ID, State: journal.StateRejected, Boundary: boundary, Reason: err.Error()}
			a.opt.Log.Warn("event rejected by its reducer", "source", s.Name, "id", r.ID, "reason", err.Error())
		}
		statuses = append(statuses, st)
	}
	b.errs, b.evs, b.at, b.statuses = errs, evs, at, statuses
	state := mod.State()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queues[s.Name] = dropApplied(a.queues[s.Name], len(todo))
	a.states[s.Name] = state
	for _, st := range statuses {
		a.events.Record(st)
	}
	if boundary.After(a.boundary) {
		a.boundary = boundary
	}
	a.dirty = true
	a.changes++
	if a.opt.Decided != nil {
		a.opt.Decided(statuses)
	}
}

// buf returns a spare applyBuf, or a new one.
func (a *Applier) buf() *applyBuf {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.spare)
	if n == 0 {
		return new(applyBuf)
	}
	b := a.spare[n-1]
	a.spare = a.spare[:n-1]
	return b
}

// putBuf makes b, used for a boundary of n records, spare again.
func (a *Applier) putBuf(b *applyBuf, n int) {
	b.reset(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.spare = append(a.spare, b)
}

// take reads what is new in the journal (up to boundary) into the queues
// and returns source's records stamped before boundary, leaving them queued.
func (a *Applier) take(s *period.Source, boundary time.Time) []journal.Record {
	source := s.Name
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fatal != nil || a.closed {
		return nil
	}
	recs := a.recs[:0]
	next := a.pos
	var err error
	if a.opt.Feed != nil {
		recs, next, err = a.opt.Feed.Read(recs, a.pos, boundary)
	} else if n, ok := a.gate.count.Load(); ok && a.readOK && n == a.read {
		// Nothing stamped since the last read, which left nothing
		// behind: nothing to read (gate.go).
	} else if err = a.gate.enter(true); err == nil {
		// No commit stamped before boundary may be in flight while we
		// read. The gate is held while the reader sizes the segments,
		// not while it reads them: everything up to those sizes was
		// committed, and counted by n (loaded here, under the gate).
		n, ok := a.gate.count.Load()
		recs, next, err = a.reader.ReadNewGated(recs, a.pos, boundary, func() { a.gate.leave(true) })
		a.read, a.readOK = n, ok && err == nil && !a.reader.LeftBehind()
	}
	defer func() {
		// The records are copied into the queues: drop them from the buffer.
		clear(recs)
		if a.recs = recs[:0]; !kept(cap(recs), len(recs)) {
			a.recs = nil
		}
	}()
	if err != nil {
		a.fatal = err
		a.opt.Log.Error("journal damaged: the engine stops", "error", err)
		if a.opt.OnFatal != nil {
			go a.opt.OnFatal(err)
		}
		return nil
	}
	// A run of records for one source is queued with one append: a map
	// access and append per record were a fifth of take's own time.
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].Source == recs[i].Source {
			j++
		}
		a.queues[recs[i].Source] = append(a.queues[recs[i].Source], recs[i:j]...)
		i = j
	}
	markRead(a.events, recs)
	if len(recs) > 0 || !samePositions(a.pos, next) {
		a.changes++
	}
	a.pos = next
	if o := a.owner[source]; o != nil && o != s {
		return nil // code being replaced: the records wait for the new module (lifecycle.go)
	}
	q := a.queues[source]
	n := 0
	for n < len(q) && q[n].Time.Before(boundary) {
		n++
	}
	// The caller's slice keeps these n records even if appends move the
	// queue: other takes only append, and only the caller, holding the
	// source, drops them from the queue (dropApplied), once done.
	return q[:n:n]
}

// dropApplied removes the first n records of the queue q, which its
// source's holder has applied, and returns the queue. The rest move to the
// front, so q's array is reused for the records to come, unless it is far
// larger than what this boundary needed (see kept); the records dropped are
// cleared, so the array keeps no body of theirs.
func dropApplied(q []journal.Record, n int) []journal.Record {
	live := copy(q, q[n:])
	clear(q[live:])
	switch {
	case kept(cap(q), len(q)):
		return q[:live]
	case live == 0:
		return nil
	}
	return slices.Clone(q[:live])
}

// AfterPublish publishes event statuses for workers and checkpoints every
// CheckpointEvery: the period.Scheduler OnPublish hook (publisher goroutine).
func (a *Applier) AfterPublish(time.Time) {
	a.mu.Lock()
	if a.fatal != nil || a.closed {
		a.mu.Unlock()
		return
	}
	var pub *journal.Published
	seq := a.changes
	if seq != a.published && a.opt.Feed == nil {
		pub = &journal.Published{Boundary: a.boundary, Positions: a.pos.Clone(), Events: a.events}
	}
	due := a.dirty && time.Since(a.lastCP) >= a.opt.CheckpointEvery
	a.mu.Unlock()
	if pub != nil {
		if err := journal.PublishStatus(a.opt.DataDir, pub); err != nil {
			a.opt.Log.Warn("cannot publish event status", "error", err)
		} else {
			a.mu.Lock()
			a.published = seq
			a.mu.Unlock()
		}
	}
	if due {
		if err := a.Checkpoint(); err != nil {
			a.opt.Log.Error("checkpoint failed (the journal is kept; retried next period)", "error", err)
		}
	}
}

// Checkpoint saves every source's state with the journal positions and the
// records read but not applied yet, atomically, then deletes the segments
// it covers.
func (a *Applier) Checkpoint() error {
	a.cpRunning.Lock()
	defer a.cpRunning.Unlock()
	a.mu.Lock()
	if a.fatal != nil {
		a.mu.Unlock()
		return fmt.Errorf("writes: checkpoint: %w", a.fatal)
	}
	cp := &journal.Checkpoint{
		Boundary:  a.boundary,
		Positions: a.pos.Clone(),
		States:    make(map[string]json.RawMessage, len(a.states)),
	}
	for k, v := range a.states {
		cp.States[k] = v
	}
	cp.Meta = make(map[string]journal.SourceMeta, len(a.meta))
	for k, v := range a.meta {
		cp.Meta[k] = v
	}
	for _, q := range a.queues {
		cp.Pending = append(cp.Pending, q...)
	}
	// Copy the status table now, under mu, so it matches the states.
	cp.Events = a.events.Clone()
	a.dirty = false
	a.lastCP = time.Now()
	a.mu.Unlock()
	save := func(cp *journal.Checkpoint) error { return journal.SaveCheckpoint(a.opt.DataDir, cp) }
	if a.opt.Save != nil {
		save = a.opt.Save
	}
	if err := save(cp); err != nil {
		a.mu.Lock()
		a.dirty = true
		a.mu.Unlock()
		return fmt.Errorf("writes: %w", err)
	}
	if a.opt.Feed != nil {
		return nil // the feed's records are not local segments
	}
	if err := a.compact.Compact(cp); err != nil {
		return fmt.Errorf("writes: %w", err)
	}
	return nil
}

// Close checkpoints (unless the journal was damaged) and releases the
// engine lock. The scheduler must have stopped.
func (a *Applier) Close() error {
	var err error
	if a.Err() == nil {
		err = a.Checkpoint()
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	if a.opt.Feed != nil {
		return err
	}
	// The readers keep segments open between reads (journal.Reader).
	a.mu.Lock()
	a.reader.Close()
	a.mu.Unlock()
	a.cpRunning.Lock()
	a.compact.Close()
	a.cpRunning.Unlock()
	a.gate.close()
	if cerr := a.lock.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("writes: close applier: %w", cerr)
	}
	return err
}

// samePositions reports whether a and b hold the same segments at the same
// offsets.
func samePositions(a, b journal.Positions) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
