package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatusTable(t *testing.T) {
	inc := strings.Repeat("1", 24)
	other := strings.Repeat("2", 24)
	b := time.Unix(100, 0).UTC()
	s := NewStatusTable(3)
	// Two workers' events interleaved, as the engine applies them by time:
	// each incarnation's consecutive events still make one run.
	for seq := uint64(1); seq <= 5; seq++ {
		st := Status{ID: FormatID(inc, seq), State: StateApplied, Boundary: b}
		if seq == 4 {
			st = Status{ID: st.ID, State: StateRejected, Boundary: b, Reason: "Error: no"}
		}
		s.Record(st)
		s.Record(Status{ID: FormatID(other, seq), State: StateApplied, Boundary: b})
	}
	for _, tc := range []struct {
		id    string
		ok    bool
		state string
	}{
		{FormatID(inc, 5), true, StateApplied},
		{FormatID(inc, 4), true, StateRejected},
		{FormatID(inc, 3), true, StateExpired}, // its run was evicted: only 3 runs kept
		{FormatID(inc, 1), true, StateExpired},
		{FormatID(inc, 6), true, StatePending},
		{FormatID(other, 1), true, StateApplied}, // one run of five
		{FormatID(other, 5), true, StateApplied},
		{FormatID(other, 6), true, StatePending},
		{FormatID(strings.Repeat("3", 24), 1), true, StatePending},
		{"nonsense", false, ""},
		{inc + "-0000000000000000", false, ""}, // sequences start at 1
		{inc + "-000000000000000A", false, ""}, // one spelling per ID: lower-case hex
	} {
		t.Run(tc.id, func(t *testing.T) {
			st, ok := s.Get(tc.id)
			if ok != tc.ok || st.State != tc.state {
				t.Errorf("Get = %+v, %v; want state %q, %v", st, ok, tc.state, tc.ok)
			}
		})
	}
	if s.Len() != 3 {
		t.Errorf("Len %d, want 3", s.Len())
	}
	if st, _ := s.Get(FormatID(inc, 4)); st.Reason != "Error: no" || !st.Boundary.Equal(b) {
		t.Errorf("rejected event: %+v", st)
	}

	// Round trip through JSON (checkpoints and status files).
	b2, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back StatusTable
	if err := json.Unmarshal(b2, &back); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{inc, other} {
		for seq := uint64(1); seq <= 6; seq++ {
			id := FormatID(in, seq)
			a, _ := s.Get(id)
			c, _ := back.Get(id)
			if a != c {
				t.Errorf("%s: %+v before JSON, %+v after", id, a, c)
			}
		}
	}
}

// TestStatusTableOutOfOrder: events of one incarnation bound for sources
// with different periods are decided out of sequence order; one decided
// later reads pending until then, and a later Record of an event wins.
func TestStatusTableOutOfOrder(t *testing.T) {
	inc := strings.Repeat("a", 24)
	b1, b2 := time.Unix(100, 0).UTC(), time.Unix(101, 0).UTC()
	s := NewStatusTable(0)
	for _, seq := range []uint64{1, 3, 4, 6} { // the fast source's events
		s.Record(Status{ID: FormatID(inc, seq), State: StateApplied, Boundary: b1})
	}
	for seq, want := range map[uint64]string{1: StateApplied, 2: StatePending, 3: StateApplied, 5: StatePending, 6: StateApplied, 7: StatePending} {
		if st, _ := s.Get(FormatID(inc, seq)); st.State != want {
			t.Errorf("seq %d: %s, want %s", seq, st.State, want)
		}
	}
	s.Record(Status{ID: FormatID(inc, 2), State: StateApplied, Boundary: b2})
	s.Record(Status{ID: FormatID(inc, 5), State: StateApplied, Boundary: b2})
	for seq, want := range map[uint64]time.Time{2: b2, 3: b1, 5: b2, 6: b1} {
		if st, _ := s.Get(FormatID(inc, seq)); st.State != StateApplied || !st.Boundary.Equal(want) {
			t.Errorf("seq %d: %+v, want applied at %v", seq, st, want)
		}
	}
	s.Record(Status{ID: FormatID(inc, 3), State: StateRejected, Boundary: b2, Reason: "x"})
	if st, _ := s.Get(FormatID(inc, 3)); st.State != StateRejected {
		t.Errorf("a later Record does not win: %+v", st)
	}
}

// TestStatusTableReadsOldFormat: checkpoints written before runs had one
// entry per event and a "done" mark per incarnation.
func TestStatusTableReadsOldFormat(t *testing.T) {
	inc := strings.Repeat("b", 24)
	old := `{"max":10000,"events":[{"id":"` + FormatID(inc, 7) + `","state":"applied","boundary":"2026-01-02T03:04:05Z"},` +
		`{"id":"` + FormatID(inc, 8) + `","state":"rejected","boundary":"2026-01-02T03:04:05Z","reason":"no"}],"done":{"` + inc + `":8}}`
	var s StatusTable
	if err := json.Unmarshal([]byte(old), &s); err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]string{6: StateExpired, 7: StateApplied, 8: StateRejected, 9: StatePending} {
		if st, _ := s.Get(FormatID(inc, seq)); st.State != want {
			t.Errorf("seq %d: %s, want %s", seq, st.State, want)
		}
	}
	if err := json.Unmarshal([]byte(`{"max":3,"runs":[{"inc":"`+inc+`","from":5,"to":2,"state":"applied"}]}`), &s); err == nil {
		t.Error("a run that ends before it starts decoded without error")
	}
}

func TestStatusReader(t *testing.T) {
	dir := t.TempDir()
	inc := strings.Repeat("a", 24)
	id := FormatID(inc, 1)
	sr := NewStatusReader(dir)
	// An incarnation no journal had is unknown; once its worker's segment
	// exists (a writer creates it before its first 202), its events are
	// pending until the engine publishes.
	if st, ok, err := sr.Lookup(id); err != nil || !ok || st.State != StateUnknown {
		t.Fatalf("no segment, nothing published: %+v %v %v; want unknown", st, ok, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, journalDir), 0o755); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, journalDir, segmentName(1, inc, 1))
	if err := os.WriteFile(seg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := sr.Lookup(id); err != nil || !ok || st.State != StatePending {
		t.Fatalf("segment there, nothing published: %+v %v %v; want pending", st, ok, err)
	}
	other := FormatID(strings.Repeat("b", 24), 1)
	if st, _, err := sr.Lookup(other); err != nil || st.State != StateUnknown {
		t.Errorf("another incarnation: %+v %v; want unknown", st, err)
	}
	if _, ok, err := sr.Lookup("../../etc/passwd"); ok || err != nil {
		t.Errorf("malformed id: ok %v err %v", ok, err)
	}
	tab := NewStatusTable(0)
	for i, want := range []string{StateApplied, StateRejected} {
		tab.Record(Status{ID: id, State: want, Boundary: time.Unix(int64(i), 0).UTC(), Reason: map[bool]string{true: "thrown"}[want == StateRejected]})
		if err := PublishStatus(dir, &Published{Boundary: time.Unix(int64(i), 0), Events: tab}); err != nil {
			t.Fatal(err)
		}
		st, ok, err := sr.Lookup(id)
		if err != nil || !ok || st.State != want {
			t.Errorf("after publish %d: %+v %v %v; want %s", i, st, ok, err, want)
		}
	}

	// Compacted away: what the engine has read it knows, applied or not.
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
	if st, _, err := sr.Lookup(FormatID(inc, 2)); err != nil || st.State != StatePending {
		t.Errorf("decided incarnation, later event: %+v %v; want pending", st, err)
	}
	third := strings.Repeat("c", 24)
	tab.MarkRead(third, 5)
	if err := PublishStatus(dir, &Published{Boundary: time.Unix(3, 0), Events: tab}); err != nil {
		t.Fatal(err)
	}
	if st, _, err := sr.Lookup(FormatID(third, 4)); err != nil || st.State != StatePending {
		t.Errorf("read, not decided, segment gone: %+v %v; want pending", st, err)
	}
}

// TestStatusTableJSONMatchesReflection checks the hand-written encoder
// against encoding/json, and that a clone encodes the same.
func TestStatusTableJSONMatchesReflection(t *testing.T) {
	tab := NewStatusTable(3)
	b1 := time.Date(2026, 1, 2, 3, 4, 5, 200e6, time.UTC)
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 1), State: StateApplied, Boundary: b1})
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 2), State: StateRejected, Boundary: b1, Reason: "a \"quoted\" <reason>\n\u00e9"})
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 3), State: StateApplied, Boundary: b1.Add(200 * time.Millisecond)})
	tab.Record(Status{ID: FormatID("fedcba9876543210fedcba98", 1), State: StateApplied, Boundary: b1.In(time.FixedZone("x", 3600))})
	tab.Record(Status{ID: FormatID("fedcba9876543210fedcba98", 2), State: StateApplied, Boundary: b1})
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 4), State: StateApplied, Boundary: b1})
	tab.MarkRead("0123456789abcdef01234567", 9)
	for _, tt := range []*StatusTable{NewStatusTable(0), tab, tab.Clone()} {
		got, err := tt.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(statusTableJSON{Max: tt.max, Runs: tt.runs, Expired: tt.expired, Read: tt.read})
		if string(got) != string(want) {
			t.Errorf("MarshalJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// RecordRange is Record for each event of a range: one run, extended by
// an adjacent range decided alike, overridden by a later range.
func TestStatusTableRecordRange(t *testing.T) {
	inc := strings.Repeat("1", 24)
	b := time.Unix(100, 0).UTC()
	s := NewStatusTable(0)
	s.RecordRange(inc, 1, 1000, Status{State: StateApplied, Boundary: b})
	s.RecordRange(inc, 1001, 2000, Status{State: StateApplied, Boundary: b})
	if s.Len() != 1 {
		t.Fatalf("two adjacent ranges decided alike: %d runs, want 1", s.Len())
	}
	s.RecordRange(inc, 500, 500, Status{State: StateRejected, Boundary: b.Add(time.Second), Reason: "later"})
	s.RecordRange(inc, 0, 3, Status{State: StateApplied}) // no event 0: ignored
	s.RecordRange("not an incarnation", 1, 3, Status{State: StateApplied})
	for _, tc := range []struct {
		seq   uint64
		state string
	}{{1, StateApplied}, {499, StateApplied}, {500, StateRejected}, {2000, StateApplied}, {2001, StatePending}} {
		if st, _ := s.Get(FormatID(inc, tc.seq)); st.State != tc.state {
			t.Errorf("event %d: %+v, want %s", tc.seq, st, tc.state)
		}
	}
	if s.Len() != 2 {
		t.Fatalf("%d runs, want 2 (the bad ranges add none)", s.Len())
	}
}
