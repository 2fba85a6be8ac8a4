package writes

// This file implements a source's state lifecycle: which state a freshly
// loaded module starts from, given the state and metadata the engine kept
// for its name (the checkpoint at start; the running code's state at a dev
// reload). The rules, in order:
//
//  1. No state kept (or a state of null): the module starts from its
//     `initial` (or null when it exports none).
//  2. A different `export const version`: migrate(oldState, oldVersion)
//     turns the kept state into the new one; without a migrate the state
//     starts over from `initial`. A failing migrate keeps the kept state
//     and its version untouched: at a dev reload the old code keeps running
//     with it; at an engine start the source is quarantined (not evaluated,
//     its writes wait) until its code changes.
//  3. The same version: the kept state is restored as it is. A changed
//     `initial` is then reported once (it is not used: the state exists),
//     unless the state is still the old `initial` byte for byte (nothing
//     ever changed it): then it starts from the new one.
//
// A migration is checkpointed at once, with the journal positions it
// happened at, so a crash replays it at the same point: the events before
// it (the checkpointed state, and at a dev reload everything journaled
// until the reload, applied by the old code first) are applied before it,
// those after it by the new code.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/jsvm"
	"github.com/jawas/jawas/engine/internal/period"
)

// adoptAll adopts the kept state of every source of proj (OpenApplier). It
// reports whether any state was migrated or started over (to be
// checkpointed at once). A failing migrate quarantines its source; the
// error is for a state the module cannot take at all.
func (a *Applier) adoptAll(proj *period.Project) (changed bool, err error) {
	for _, s := range proj.Sources {
		st, had := a.states[s.Name]
		res, err := Adopt(s.Module(), s.Name, st, had, a.meta[s.Name])
		a.owner[s.Name] = s
		if err != nil {
			if res.Kept {
				s.Quarantine(err.Error())
				a.opt.Log.Error("state migration failed; the source is quarantined and its state kept as it was", "source", s.Name, "error", err)
				continue
			}
			return false, fmt.Errorf("restore the state of %s: %w", s.Name, err)
		}
		a.commitAdopt(s.Name, res)
		changed = changed || res.Checkpoint
	}
	return changed, nil
}

// commitAdopt records an adopted state. Under mu or before the applier is
// shared.
func (a *Applier) commitAdopt(name string, res Adopted) {
	if res.Note != "" {
		a.opt.Log.Warn(res.Note, "source", name)
	}
	a.states[name] = res.State
	a.meta[name] = res.Meta
	a.dirty = true
	a.changes++
}

// Adopt hands the state of old's code to s, its replacement at a dev
// reload (old nil: a source added since the engine started), following the
// lifecycle rules. The events journaled until now that old has not applied
// are applied by old first. When the migration fails, nothing changes (old
// keeps running with its state) and the error says why. Watcher goroutine;
// s must not be running yet.
func (a *Applier) Adopt(old, s *period.Source) error {
	if old != nil {
		for !old.TryHold() { // a render of old is in progress: it ends within its budget
			time.Sleep(time.Millisecond)
		}
		defer old.Unhold()
		a.applyHeld(old, time.Now())
	}
	a.mu.Lock()
	st, had := a.states[s.Name]
	meta := a.meta[s.Name]
	a.mu.Unlock()
	res, err := Adopt(s.Module(), s.Name, st, had, meta)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.commitAdopt(s.Name, res)
	a.owner[s.Name] = s // old's module stops taking this source's records
	a.mu.Unlock()
	if res.Checkpoint {
		if err := a.Checkpoint(); err != nil {
			a.opt.Log.Error("checkpoint after a migration failed (retried next period)", "source", s.Name, "error", err)
		}
	}
	return nil
}

// Adopted is the outcome of Adopt.
type Adopted struct {
	State      json.RawMessage    // the state the module now holds
	Meta       journal.SourceMeta // what it is for
	Checkpoint bool               // migrated or started over: checkpoint at once
	Note       string             // a warning to log once ("" none)
	Kept       bool               // with an error: the kept state is untouched (a failed migrate)
}

// Adopt applies the lifecycle rules to mod, freshly loaded (holding its
// `initial`), for the state st kept for it (had: there is one) with meta.
// It sets mod's state and returns what to record. Used by the engine and
// by the read-only replay of `jawas state` and `jawas build
// --from-data-dir`.
func Adopt(mod *jsvm.Module, name string, st json.RawMessage, had bool, meta journal.SourceMeta) (Adopted, error) {
	cur := journal.SourceMeta{Version: mod.Version(), Initial: mod.InitialHash()}
	switch {
	case !had || bytes.Equal(bytes.TrimSpace(st), []byte("null")):
		return Adopted{State: mod.State(), Meta: cur}, nil
	case meta.Version != cur.Version && mod.HasMigrate():
		next, err := mod.Migrate(st, meta.Version)
		if err != nil {
			return Adopted{Kept: true}, err
		}
		if err := mod.SetState(next); err != nil {
			return Adopted{Kept: true}, err
		}
		return Adopted{State: next, Meta: cur, Checkpoint: true,
			Note: fmt.Sprintf("state migrated from version %d to %d", meta.Version, cur.Version)}, nil
	case meta.Version != cur.Version:
		return Adopted{State: mod.State(), Meta: cur, Checkpoint: true,
			Note: fmt.Sprintf("version changed from %d to %d and %s exports no migrate(oldState, oldVersion): its state starts over from initial", meta.Version, cur.Version, name)}, nil
	}
	if meta.Initial != "" && meta.Initial != cur.Initial && jsvm.HashJSON(bytes.TrimSpace(st)) == meta.Initial {
		// Still the old initial, byte for byte: nothing to keep.
		return Adopted{State: mod.State(), Meta: cur,
			Note: fmt.Sprintf("%s's initial changed and its state was still the old initial: it starts from the new one", name)}, nil
	}
	if err := mod.SetState(st); err != nil {
		return Adopted{}, err
	}
	res := Adopted{State: append(json.RawMessage(nil), st...), Meta: cur}
	if meta.Initial != "" && meta.Initial != cur.Initial {
		res.Note = fmt.Sprintf("%s's initial changed but its version did not (%d): the state it has is kept and the new initial is not used; to use it, bump `export const version` (with a migrate to convert the state, or without one to start over from initial) or run `jawas state reset %s`", name, cur.Version, name)
	}
	return res, nil
}

// resetState sets mod's state back to its `initial` (null when it exports
// none): a reset record.
func resetState(mod *jsvm.Module) error {
	init := mod.Initial()
	if init == nil {
		init = []byte("null")
	}
	return mod.SetState(init)
}

// noteMemory counts a memory-limit hit of s's reducers.
func noteMemory(s *period.Source, errs []error) {
	for _, err := range errs {
		if err != nil && jsvm.IsMemoryError(err) {
			s.MemoryHit(err.Error())
			return
		}
	}
}

// Drain applies, to every source of proj, the records journaled until now
// that are still queued, with the code running now, before the engine
// stops: the next engine (new code, maybe a new version to migrate to)
// starts from a state that has them. Call after the scheduler stopped,
// before Close.
func (a *Applier) Drain(proj *period.Project) {
	now := time.Now()
	for _, s := range proj.Sources {
		if s.TryHold() {
			a.applyHeld(s, now)
			s.Unhold()
		}
	}
}
