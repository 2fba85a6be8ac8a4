package journal

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStatusTable(t *testing.T) {
	inc := strings.Repeat("1", 24)
	other := strings.Repeat("2", 24)
	b := time.Unix(100, 0).UTC()
	s := NewStatusTable(3)
	for seq := uint64(1); seq <= 5; seq++ {
		st := Status{ID: FormatID(inc, seq), State: StateApplied, Boundary: b}
		if seq == 4 {
			st = Status{ID: st.ID, State: StateRejected, Boundary: b, Reason: "Error: no"}
		}
		s.Record(st)
	}
	for _, tc := range []struct {
		id    string
		ok    bool
		state string
	}{
		{FormatID(inc, 5), true, StateApplied},
		{FormatID(inc, 4), true, StateRejected},
		{FormatID(inc, 3), true, StateApplied},
		{FormatID(inc, 2), true, StateExpired}, // evicted: only 3 kept
		{FormatID(inc, 1), true, StateExpired},
		{FormatID(inc, 6), true, StatePending},
		{FormatID(other, 1), true, StatePending},
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

	// Round trip through JSON (checkpoints and status files).
	b2, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back StatusTable
	if err := json.Unmarshal(b2, &back); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 6; seq++ {
		id := FormatID(inc, seq)
		a, _ := s.Get(id)
		c, _ := back.Get(id)
		if a != c {
			t.Errorf("%s: %+v before JSON, %+v after", id, a, c)
		}
	}
}

func TestStatusReader(t *testing.T) {
	dir := t.TempDir()
	inc := strings.Repeat("a", 24)
	id := FormatID(inc, 1)
	sr := NewStatusReader(dir)
	if st, ok, err := sr.Lookup(id); err != nil || !ok || st.State != StatePending {
		t.Fatalf("before any publish: %+v %v %v", st, ok, err)
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
}

// TestStatusTableJSONMatchesReflection checks the hand-written encoder
// against encoding/json, and that a clone encodes the same.
func TestStatusTableJSONMatchesReflection(t *testing.T) {
	tab := NewStatusTable(3)
	b1 := time.Date(2026, 1, 2, 3, 4, 5, 200e6, time.UTC)
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 1), State: StateApplied, Boundary: b1})
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 2), State: StateRejected, Boundary: b1, Reason: "a \"quoted\" <reason>\n\u00e9"})
	tab.Record(Status{ID: FormatID("0123456789abcdef01234567", 3), State: StateApplied, Boundary: b1.Add(200 * time.Millisecond)})
	tab.Record(Status{ID: FormatID("fedcba9876543210fedcba98", 1), State: StatePending})
	for _, tt := range []*StatusTable{NewStatusTable(0), tab, tab.Clone()} {
		got, err := tt.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(statusTableJSON{Max: tt.max, Events: tt.events, Done: tt.done})
		if string(got) != string(want) {
			t.Errorf("MarshalJSON:\n got %s\nwant %s", got, want)
		}
	}
}
