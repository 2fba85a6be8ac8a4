package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event states, as GET /_jawas/events/ID reports them.
const (
	StatePending  = "pending"  // in the journal (or on its way), not applied yet
	StateApplied  = "applied"  // applied at Boundary
	StateRejected = "rejected" // its reducer threw; Reason says why
	StateExpired  = "expired"  // decided, but too long ago to say how
)

// Status is the fate of one event.
type Status struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Boundary time.Time `json:"boundary,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

// DefaultStatusEvents is how many events a StatusTable keeps in full.
const DefaultStatusEvents = 10000

// maxIncarnations bounds the per-incarnation high-water marks kept.
const maxIncarnations = 4096

// StatusTable holds the fates of the most recent events and, for older ones,
// the highest sequence decided per incarnation. Events of one incarnation are
// decided in sequence order (its records are applied in file order), so an
// event whose sequence is at or below that mark and that is not in the table
// was decided and has expired.
//
// Threading: safe for concurrent use.
type StatusTable struct {
	mu     sync.Mutex
	max    int
	events []Status          // oldest first
	index  map[string]int    // id → position in events + dropped
	drop   int               // events dropped from the front so far
	done   map[string]uint64 // incarnation → highest sequence decided
}

// NewStatusTable returns a table keeping the last max events in full
// (DefaultStatusEvents when max <= 0).
func NewStatusTable(max int) *StatusTable {
	if max <= 0 {
		max = DefaultStatusEvents
	}
	return &StatusTable{max: max, index: map[string]int{}, done: map[string]uint64{}}
}

// Record stores the fate of an event. Record them in apply order.
func (s *StatusTable) Record(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inc, seq, ok := ParseID(st.ID); ok && seq > s.done[inc] {
		if _, known := s.done[inc]; !known && len(s.done) >= maxIncarnations {
			s.forgetOldestIncarnation()
		}
		s.done[inc] = seq
	}
	if i, ok := s.index[st.ID]; ok {
		s.events[i-s.drop] = st
		return
	}
	s.index[st.ID] = len(s.events) + s.drop
	s.events = append(s.events, st)
	for len(s.events) > s.max {
		delete(s.index, s.events[0].ID)
		s.events[0] = Status{}
		s.events = s.events[1:]
		s.drop++
	}
}

// forgetOldestIncarnation drops the smallest incarnation: incarnations start
// with their start time, so that is the oldest.
func (s *StatusTable) forgetOldestIncarnation() {
	oldest := ""
	for inc := range s.done {
		if oldest == "" || inc < oldest {
			oldest = inc
		}
	}
	delete(s.done, oldest)
}

// Get returns the status of event id; ok is false when id is not an event
// ID at all. A well-formed ID that was never decided reads as pending.
func (s *StatusTable) Get(id string) (st Status, ok bool) {
	inc, seq, ok := ParseID(id)
	if !ok {
		return Status{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := s.index[id]; found {
		return s.events[i-s.drop], true
	}
	if seq <= s.done[inc] {
		return Status{ID: id, State: StateExpired}, true
	}
	return Status{ID: id, State: StatePending}, true
}

// Len returns the number of events kept in full.
func (s *StatusTable) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

type statusTableJSON struct {
	Max    int               `json:"max"`
	Events []Status          `json:"events"`
	Done   map[string]uint64 `json:"done"`
}

// MarshalJSON encodes the table for checkpoints and status files.
func (s *StatusTable) MarshalJSON() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(statusTableJSON{Max: s.max, Events: s.events, Done: s.done})
}

// UnmarshalJSON decodes a table written by MarshalJSON.
func (s *StatusTable) UnmarshalJSON(b []byte) error {
	var v statusTableJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode status table: %w", err)
	}
	t := NewStatusTable(v.Max)
	for _, st := range v.Events {
		t.Record(st)
	}
	for inc, seq := range v.Done {
		if seq > t.done[inc] {
			t.done[inc] = seq
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max, s.events, s.index, s.drop, s.done = t.max, t.events, t.index, t.drop, t.done
	return nil
}

// Published is what the engine publishes for workers every period.
type Published struct {
	Boundary  time.Time    `json:"boundary"`  // the last boundary applied
	Positions Positions    `json:"positions"` // journal bytes applied
	Events    *StatusTable `json:"events"`
}

// PublishStatus replaces the status file under the data directory dir
// atomically. It is not fsynced: it is derived from the journal and the
// checkpoint and is rewritten every period.
func PublishStatus(dir string, p *Published) error {
	if err := writeFileAtomic(filepath.Join(dir, journalDir, statusFile), p, false); err != nil {
		return fmt.Errorf("publish event status: %w", err)
	}
	return nil
}

// ReadStatus reads the status file under dir; nil when none was published.
func ReadStatus(dir string) (*Published, error) {
	p := &Published{}
	found, err := readFileChecked(filepath.Join(dir, journalDir, statusFile), p)
	if err != nil {
		return nil, fmt.Errorf("read event status: %w", err)
	}
	if !found {
		return nil, nil
	}
	if p.Events == nil {
		p.Events = NewStatusTable(0)
	}
	return p, nil
}

// StatusReader answers event status lookups in a worker, rereading the
// status file only when it has changed (one stat per lookup).
//
// Threading: safe for concurrent use.
type StatusReader struct {
	dir string

	mu  sync.Mutex
	fi  fs.FileInfo // of the file cur was read from
	cur *Published
}

// NewStatusReader returns a reader of the status published under dir.
func NewStatusReader(dir string) *StatusReader { return &StatusReader{dir: dir} }

// Lookup returns the status of event id; ok is false when id is not an
// event ID.
func (r *StatusReader) Lookup(id string) (st Status, ok bool, err error) {
	if _, _, ok := ParseID(id); !ok {
		return Status{}, false, nil
	}
	p, err := r.load()
	if err != nil {
		return Status{}, false, err
	}
	if p == nil {
		return Status{ID: id, State: StatePending}, true, nil
	}
	st, ok = p.Events.Get(id)
	return st, ok, nil
}

func (r *StatusReader) load() (*Published, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(filepath.Join(r.dir, journalDir, statusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read event status: %w", err)
	}
	// The file is replaced by rename, so a new version is a new inode.
	if r.cur != nil && os.SameFile(fi, r.fi) && fi.ModTime().Equal(r.fi.ModTime()) && fi.Size() == r.fi.Size() {
		return r.cur, nil
	}
	p, err := ReadStatus(r.dir)
	if err != nil {
		return nil, err
	}
	r.cur, r.fi = p, fi
	return p, nil
}
