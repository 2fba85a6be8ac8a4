package writes

// This file implements a read-only replay of a data directory's state, for
// `jawas state` against a stopped server and `jawas build --from-data-dir`:
// the checkpoint, then every journal record after it, applied through the
// sources' reducers exactly as the engine would, with nothing written, no
// lock taken and no segment deleted, so it is safe while a server runs.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/period"
)

// Replayed is what ReplayDataDir found.
type Replayed struct {
	Boundary time.Time // the checkpoint's last boundary (zero: no checkpoint)
	Records  int       // journal records applied after the checkpoint (pending ones included)
	Meta     map[string]journal.SourceMeta
	Errors   map[string]error // per source: a migrate that failed (its kept state is shown)
	Pending  map[string]int   // per source: records applied after the checkpoint
	States   map[string]json.RawMessage
}

// ReplayDataDir sets the state of every source of proj (freshly loaded) to
// what the engine would have after applying everything journaled under the
// data directory dir, following the lifecycle rules (lifecycle.go) with
// migrations done in memory only.
func ReplayDataDir(proj *period.Project, dir string) (*Replayed, error) {
	cp, recs, err := readConsistent(dir)
	if err != nil {
		return nil, err
	}
	out := &Replayed{Boundary: cp.Boundary, Meta: map[string]journal.SourceMeta{}, Errors: map[string]error{},
		Pending: map[string]int{}, States: map[string]json.RawMessage{}}
	for _, s := range proj.Sources {
		st, had := cp.States[s.Name]
		res, err := Adopt(s.Module(), s.Name, st, had, cp.Meta[s.Name])
		if err != nil {
			out.Errors[s.Name] = err
			out.Meta[s.Name] = cp.Meta[s.Name]
			out.States[s.Name] = st
			continue
		}
		out.Meta[s.Name] = res.Meta
	}
	all := append(cp.Pending, recs...)
	for i := range all {
		r := &all[i]
		s := proj.Source(r.Source)
		if s == nil || out.Errors[r.Source] != nil {
			continue
		}
		out.Records++
		out.Pending[r.Source]++
		if r.Method == journal.MethodReset {
			if err := resetState(s.Module()); err != nil {
				return nil, fmt.Errorf("replay: reset %s: %w", r.Source, err)
			}
			continue
		}
		if !s.Module().HasReducer(r.Method) {
			continue
		}
		ev, err := eventOf(r)
		if err != nil {
			continue // rejected by the engine too
		}
		_ = s.Module().Reduce(ev) // a rejected event is rolled back, as in the engine
	}
	for _, s := range proj.Sources {
		if out.Errors[s.Name] == nil {
			out.States[s.Name] = s.Module().State()
		}
	}
	return out, nil
}

// readConsistent reads the checkpoint and the journal records after it,
// again if a running engine checkpointed (and deleted segments) meanwhile.
func readConsistent(dir string) (*journal.Checkpoint, []journal.Record, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		cp, err := journal.LoadCheckpoint(dir)
		if err != nil {
			return nil, nil, err
		}
		var recs []journal.Record
		if _, err := os.Stat(filepath.Join(dir, "journal")); err == nil {
			r, err := journal.OpenReader(dir)
			if err != nil {
				return nil, nil, err
			}
			recs, _, err = r.ReadNew(cp.Positions, time.Time{})
			r.Close()
			if err != nil {
				var ce *journal.CorruptError
				if errors.As(err, &ce) {
					return nil, nil, err
				}
				lastErr = err // a segment deleted under the reader: read again
				continue
			}
		}
		again, err := journal.LoadCheckpoint(dir)
		if err != nil {
			return nil, nil, err
		}
		if again.Boundary.Equal(cp.Boundary) && samePositions(again.Positions, cp.Positions) {
			return cp, recs, nil
		}
	}
	if lastErr == nil {
		lastErr = errors.New("the engine kept checkpointing while it was read")
	}
	return nil, nil, fmt.Errorf("read the data directory %s: %w", dir, lastErr)
}

// EngineRunning reports whether an engine holds the journal of the data
// directory dir (a server runs on it).
func EngineRunning(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "journal", "engine.lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := sysFlock(int(f.Fd()), lockEX|lockNB); err != nil {
		return errors.Is(err, errWouldBlock)
	}
	sysFlock(int(f.Fd()), lockUN)
	return false
}

// CheckpointSummary is one source's checkpointed state, for the state
// endpoints of a running server (which read the engine's checkpoint).
type CheckpointSummary struct {
	Source  string          `json:"source"`
	Version int             `json:"version"`
	Bytes   int             `json:"bytes"`
	Pending int             `json:"pending"` // records read but not applied yet at the checkpoint
	State   json.RawMessage `json:"state,omitempty"`
}

// SummarizeCheckpoint lists the sources of the checkpoint under dir, sorted
// by name, with their states when withState, and its boundary.
func SummarizeCheckpoint(dir string, withState bool) ([]CheckpointSummary, time.Time, error) {
	cp, err := journal.LoadCheckpoint(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, err
	}
	pending := map[string]int{}
	for _, r := range cp.Pending {
		pending[r.Source]++
	}
	out := make([]CheckpointSummary, 0, len(cp.States))
	for name, st := range cp.States {
		c := CheckpointSummary{Source: name, Version: cp.Meta[name].Version, Bytes: len(st), Pending: pending[name]}
		if withState {
			c.State = st
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, cp.Boundary, nil
}
