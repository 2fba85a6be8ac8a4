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
	StateUnknown  = "unknown"  // well-formed, but no journal ever had it
)

// Status is the fate of one event.
type Status struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Boundary time.Time `json:"boundary,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

// DefaultStatusRuns is how many runs a StatusTable keeps.
const DefaultStatusRuns = 10000

// maxIncarnations bounds the per-incarnation expiry marks kept.
const maxIncarnations = 4096

// statusRun is a run of consecutive sequence numbers of one incarnation
// decided the same way at the same boundary.
type statusRun struct {
	Inc      string    `json:"inc"`
	From     uint64    `json:"from"`
	To       uint64    `json:"to"`
	State    string    `json:"state"`
	Boundary time.Time `json:"boundary,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

// StatusTable holds the fates of recent events as runs: the events of one
// incarnation applied at one boundary are mostly consecutive sequence
// numbers, so a run of thousands of events costs one entry, recording an
// event that extends its incarnation's newest run costs no allocation, and
// the table the engine publishes every period stays small. It keeps the
// last max runs; for runs evicted it keeps the highest sequence per
// incarnation, so an older event reads as expired rather than pending.
//
// Threading: safe for concurrent use.
type StatusTable struct {
	mu      sync.Mutex
	max     int
	runs    []statusRun      // oldest first
	drop    int              // runs evicted from the front so far
	byInc   map[string][]int // incarnation → its runs' positions (+drop), oldest first
	expired map[string]uint64
	read    map[string]uint64 // incarnation → highest sequence the engine has read
}

// NewStatusTable returns a table keeping the last max runs
// (DefaultStatusRuns when max <= 0).
func NewStatusTable(max int) *StatusTable {
	if max <= 0 {
		max = DefaultStatusRuns
	}
	return &StatusTable{max: max, byInc: map[string][]int{}, expired: map[string]uint64{}, read: map[string]uint64{}}
}

// MarkRead notes that the engine has read the events of incarnation inc up
// to seq (applied or not yet), so Knows(inc) holds once their segments are
// compacted away.
func (s *StatusTable) MarkRead(inc string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, known := s.read[inc]; known {
		if seq > old {
			s.read[inc] = seq
		}
		return
	}
	if len(s.read) >= maxIncarnations {
		forgetOldest(s.read)
	}
	s.read[inc] = seq
}

// Knows reports whether the table has heard of incarnation inc at all:
// events of it decided, expired or read.
func (s *StatusTable) Knows(inc string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a := s.byInc[inc]
	_, b := s.expired[inc]
	_, c := s.read[inc]
	return a || b || c
}

// Record stores the fate of an event; a later Record of the same event
// overrides an earlier one. IDs that do not parse are ignored.
func (s *StatusTable) Record(st Status) {
	if inc, seq, ok := ParseID(st.ID); ok {
		s.recordRange(inc, seq, seq, st)
	}
}

// RecordRange stores st's fate (its ID is ignored) for events from..to of
// incarnation inc at once, as Record would one by one (the cluster's
// nodes receive the leader's fates as such ranges).
func (s *StatusTable) RecordRange(inc string, from, to uint64, st Status) {
	if from == 0 || to < from {
		return
	}
	if _, _, ok := ParseID(FormatID(inc, from)); !ok {
		return
	}
	s.recordRange(inc, from, to, st)
}

// recordRange extends the incarnation's last run when the range follows
// it with the same fate, or adds a run.
func (s *StatusTable) recordRange(inc string, from, to uint64, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.byInc[inc]; len(idx) > 0 {
		r := &s.runs[idx[len(idx)-1]-s.drop]
		if r.To+1 == from && r.State == st.State && r.Reason == st.Reason && r.Boundary.Equal(st.Boundary) {
			r.To = to
			return
		}
	}
	s.add(statusRun{Inc: inc, From: from, To: to, State: st.State, Boundary: st.Boundary, Reason: st.Reason})
}

// add appends r and evicts the oldest runs over max. Under mu.
func (s *StatusTable) add(r statusRun) {
	if _, known := s.byInc[r.Inc]; !known {
		s.byInc[r.Inc] = nil
	}
	s.byInc[r.Inc] = append(s.byInc[r.Inc], len(s.runs)+s.drop)
	s.runs = append(s.runs, r)
	for len(s.runs) > s.max {
		old := s.runs[0]
		if old.To > s.expired[old.Inc] {
			if _, known := s.expired[old.Inc]; !known && len(s.expired) >= maxIncarnations {
				forgetOldest(s.expired)
			}
			s.expired[old.Inc] = old.To
		}
		if idx := s.byInc[old.Inc][1:]; len(idx) > 0 {
			s.byInc[old.Inc] = idx
		} else {
			delete(s.byInc, old.Inc)
		}
		s.runs[0] = statusRun{}
		s.runs = s.runs[1:]
		s.drop++
	}
}

// forgetOldest drops the smallest incarnation's mark from m: incarnations
// start with their start time, so that is the oldest.
func forgetOldest(m map[string]uint64) {
	oldest := ""
	for inc := range m {
		if oldest == "" || inc < oldest {
			oldest = inc
		}
	}
	delete(m, oldest)
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
	idx := s.byInc[inc]
	for i := len(idx) - 1; i >= 0; i-- { // newest first: a later Record wins
		if r := &s.runs[idx[i]-s.drop]; r.From <= seq && seq <= r.To {
			return Status{ID: id, State: r.State, Boundary: r.Boundary, Reason: r.Reason}, true
		}
	}
	if seq <= s.expired[inc] {
		return Status{ID: id, State: StateExpired}, true
	}
	return Status{ID: id, State: StatePending}, true
}

// Len returns the number of runs kept.
func (s *StatusTable) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

type statusTableJSON struct {
	Max     int               `json:"max"`
	Runs    []statusRun       `json:"runs"`
	Expired map[string]uint64 `json:"expired"`
	Read    map[string]uint64 `json:"read,omitempty"`
	// Events and Done are the format before runs (one entry per event),
	// still read from old checkpoints.
	Events []Status          `json:"events,omitempty"`
	Done   map[string]uint64 `json:"done,omitempty"`
}

// MarshalJSON encodes the table for checkpoints and status files.
func (s *StatusTable) MarshalJSON() ([]byte, error) { return s.appendJSON(nil) }

// appendJSON appends what json.Marshal(statusTableJSON{...}) writes, by
// hand: the engine encodes the whole table every period, and reflection
// made that a good part of its CPU under writes.
func (s *StatusTable) appendJSON(b []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b = append(b, `{"max":`...)
	b = strconv.AppendInt(b, int64(s.max), 10)
	b = append(b, `,"runs":`...)
	if s.runs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		var lastB time.Time
		var lastJSON []byte
		for i := range s.runs {
			r := &s.runs[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"inc":`...)
			b = appendJSONString(b, r.Inc)
			b = append(b, `,"from":`...)
			b = strconv.AppendUint(b, r.From, 10)
			b = append(b, `,"to":`...)
			b = strconv.AppendUint(b, r.To, 10)
			b = append(b, `,"state":`...)
			b = appendJSONString(b, r.State)
			if !r.Boundary.IsZero() {
				if lastJSON == nil || !r.Boundary.Equal(lastB) || r.Boundary.Location() != lastB.Location() {
					j, err := r.Boundary.MarshalJSON()
					if err != nil {
						return nil, fmt.Errorf("encode status table: %w", err)
					}
					lastB, lastJSON = r.Boundary, j
				}
				b = append(b, `,"boundary":`...)
				b = append(b, lastJSON...)
			}
			if r.Reason != "" {
				b = append(b, `,"reason":`...)
				b = appendJSONString(b, r.Reason)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	expired, err := json.Marshal(s.expired)
	if err != nil {
		return nil, fmt.Errorf("encode status table: %w", err)
	}
	b = append(b, `,"expired":`...)
	b = append(b, expired...)
	if len(s.read) > 0 {
		read, err := json.Marshal(s.read)
		if err != nil {
			return nil, fmt.Errorf("encode status table: %w", err)
		}
		b = append(b, `,"read":`...)
		b = append(b, read...)
	}
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
	c := &StatusTable{max: s.max, runs: append([]statusRun(nil), s.runs...), drop: s.drop,
		byInc: make(map[string][]int, len(s.byInc)), expired: make(map[string]uint64, len(s.expired)),
		read: make(map[string]uint64, len(s.read))}
	for k, v := range s.byInc {
		c.byInc[k] = append([]int(nil), v...)
	}
	for k, v := range s.expired {
		c.expired[k] = v
	}
	for k, v := range s.read {
		c.read[k] = v
	}
	return c
}

// UnmarshalJSON decodes a table written by MarshalJSON (or by the format
// before runs).
func (s *StatusTable) UnmarshalJSON(b []byte) error {
	var v statusTableJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode status table: %w", err)
	}
	t := NewStatusTable(v.Max)
	for _, st := range v.Events {
		t.Record(st)
	}
	for _, r := range v.Runs {
		if _, _, ok := ParseID(FormatID(r.Inc, max(r.From, 1))); !ok || r.From == 0 || r.To < r.From {
			return fmt.Errorf("decode status table: bad run %+v", r)
		}
		t.add(r)
	}
	for _, m := range []map[string]uint64{v.Expired, v.Done} {
		for inc, seq := range m {
			if seq > t.expired[inc] {
				t.expired[inc] = seq
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for inc, seq := range v.Read {
		t.read[inc] = seq
	}
	s.max, s.runs, s.drop, s.byInc, s.expired, s.read = t.max, t.runs, t.drop, t.byInc, t.expired, t.read
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
	st = Status{ID: id, State: StatePending}
	inc, _, _ := ParseID(id)
	if p != nil {
		st, _ = p.Events.Get(id)
		if st.State != StatePending || p.Events.Knows(inc) {
			return st, true, nil
		}
	}
	// Pending, of an incarnation the engine has not heard of: either its
	// worker has written it and the engine has not read it yet (its
	// segment is there: a writer creates it before its first 202), or no
	// journal ever had it.
	if has, err := hasIncarnation(filepath.Join(r.dir, journalDir), inc); err != nil {
		return Status{}, false, fmt.Errorf("event status: %w", err)
	} else if !has {
		return Status{ID: id, State: StateUnknown}, true, nil
	}
	return st, true, nil
}

// hasIncarnation reports whether a segment of incarnation inc is in jdir.
func hasIncarnation(jdir, inc string) (bool, error) {
	names, err := segments(jdir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, name := range names {
		if _, si, _, err := parseSegmentName(name); err == nil && si == inc {
			return true, nil
		}
	}
	return false, nil
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
