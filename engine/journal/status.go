package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
func (s *StatusTable) MarshalJSON() ([]byte, error) { return s.appendJSON(nil) }

// appendJSON appends what json.Marshal(statusTableJSON{...}) writes, by
// hand: the engine encodes the whole table (DefaultStatusEvents entries)
// every period, and reflection made that most of its CPU under writes.
func (s *StatusTable) appendJSON(b []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b = append(b, `{"max":`...)
	b = strconv.AppendInt(b, int64(s.max), 10)
	b = append(b, `,"events":`...)
	if s.events == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		var lastB time.Time
		var lastJSON []byte
		for i := range s.events {
			st := &s.events[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendJSONString(b, st.ID)
			b = append(b, `,"state":`...)
			b = appendJSONString(b, st.State)
			if !st.Boundary.IsZero() {
				if lastJSON == nil || !st.Boundary.Equal(lastB) || st.Boundary.Location() != lastB.Location() {
					j, err := st.Boundary.MarshalJSON()
					if err != nil {
						return nil, fmt.Errorf("encode status table: %w", err)
					}
					lastB, lastJSON = st.Boundary, j
				}
				b = append(b, `,"boundary":`...)
				b = append(b, lastJSON...)
			}
			if st.Reason != "" {
				b = append(b, `,"reason":`...)
				b = appendJSONString(b, st.Reason)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	done, err := json.Marshal(s.done)
	if err != nil {
		return nil, fmt.Errorf("encode status table: %w", err)
	}
	b = append(b, `,"done":`...)
	b = append(b, done...)
	return append(b, '}'), nil
}

// appendJSONString appends v as a JSON string: as is when it has nothing
// json.Marshal would escape (event IDs and states never do), else through
// json.Marshal.
func appendJSONString(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(v) // a string always encodes
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}

// Clone returns a copy of the table.
func (s *StatusTable) Clone() *StatusTable {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &StatusTable{max: s.max, events: append([]Status(nil), s.events...), drop: s.drop,
		index: make(map[string]int, len(s.index)), done: make(map[string]uint64, len(s.done))}
	for k, v := range s.index {
		c.index[k] = v
	}
	for k, v := range s.done {
		c.done[k] = v
	}
	return c
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

// encode is json.Marshal(p) without re-scanning the event table's output.
func (p *Published) encode() ([]byte, error) {
	b, err := json.Marshal(struct {
		Boundary  time.Time `json:"boundary"`
		Positions Positions `json:"positions"`
	}{p.Boundary, p.Positions})
	if err != nil {
		return nil, err
	}
	return appendEvents(b, p.Events)
}

// appendEvents replaces the closing brace of the JSON object b with an
// "events" member holding t, and closes the object again.
func appendEvents(b []byte, t *StatusTable) ([]byte, error) {
	b = append(b[:len(b)-1], `,"events":`...)
	if t == nil {
		b = append(b, "null"...)
	} else {
		var err error
		if b, err = t.appendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// PublishStatus replaces the status file under the data directory dir
// atomically. It is not fsynced: it is derived from the journal and the
// checkpoint and is rewritten every period.
func PublishStatus(dir string, p *Published) error {
	if err := writeFileAtomic(filepath.Join(dir, journalDir, statusFile), p.encode, false); err != nil {
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

// readStatusPositions returns the positions of the status file under dir
// (nil, false when none was published). It decodes the document only up to
// its "positions" member, which Published encodes before the event table,
// so it costs a checksum of the file, not a decode of its events: workers
// call it several times a second (PendingBytes).
func readStatusPositions(dir string) (Positions, bool, error) {
	path := filepath.Join(dir, journalDir, statusFile)
	body, found, err := readChecked(path)
	if !found || err != nil {
		return nil, false, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, fmt.Errorf("%s: decode: not an object", path)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("%s: decode: %w", path, err)
		}
		if k != "positions" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, false, fmt.Errorf("%s: decode: %w", path, err)
			}
			continue
		}
		var p Positions
		if err := dec.Decode(&p); err != nil {
			return nil, false, fmt.Errorf("%s: decode positions: %w", path, err)
		}
		return p, true, nil
	}
	return nil, true, nil // published without positions: nothing applied yet
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
