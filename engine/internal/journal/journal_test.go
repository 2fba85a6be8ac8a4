package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeRecords writes bodies as one committed batch each into a new
// incarnation of slot, and closes the writer unless keepOpen.
func writeRecords(t *testing.T, dir string, slot int, opt WriterOptions, keepOpen bool, bodies ...string) (*Writer, []string) {
	t.Helper()
	w, err := OpenWriter(dir, slot, opt)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range bodies {
		id, err := w.Append(&Record{Source: "counter", Method: "POST", Body: []byte(b)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !keepOpen {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return nil, ids
	}
	t.Cleanup(func() { w.Close() })
	return w, ids
}

func readAll(t *testing.T, dir string) ([]Record, Positions) {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, next, err := r.ReadNew(nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return recs, next
}

func bodies(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Body))
	}
	return out
}

// onlySegment returns the path of the single segment under dir.
func onlySegment(t *testing.T, dir string) string {
	t.Helper()
	names, err := segments(filepath.Join(dir, journalDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 {
		t.Fatalf("want 1 segment, have %v", names)
	}
	return filepath.Join(dir, journalDir, names[0])
}

// frameOffsets returns the offset of every valid frame in a segment.
func frameOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off < len(data); {
		_, n, st, why := parseFrame(data[off:], nil)
		if st != frameOK {
			t.Fatalf("frame at %d: %s", off, why)
		}
		offs = append(offs, int64(off))
		off += n
	}
	return offs
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir, 3, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := []*Record{
		{Source: "game/arena", Method: "POST", ContentType: "application/json", Body: []byte(`{"x":1}`), Headers: map[string]string{"user-agent": "t"}},
		{Source: "chat", Method: "PUT", Body: []byte("bin\x00\xff")},
		{Source: "chat", Method: "POST"},
	}
	for _, r := range in {
		if _, err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got, next := readAll(t, dir)
	if len(got) != len(in) {
		t.Fatalf("read %d records, want %d", len(got), len(in))
	}
	for i := range in {
		want := *in[i]
		if !got[i].Time.Equal(want.Time) {
			t.Errorf("record %d time %v, want %v", i, got[i].Time, want.Time)
		}
		got[i].Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
		if got[i].Slot != 3 || got[i].Seq != uint64(i+1) {
			t.Errorf("record %d: slot %d seq %d", i, got[i].Slot, got[i].Seq)
		}
	}
	fi, err := os.Stat(onlySegment(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range next {
		if pos != fi.Size() {
			t.Errorf("next position %d, want segment size %d", pos, fi.Size())
		}
	}
}

func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		durability Durability
		fsyncs     int64
	}{
		{"sync", Sync, 1},
		{"none", None, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := OpenWriter(dir, 0, WriterOptions{Durability: tc.durability})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for i := range 100 {
				if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(strconv.Itoa(i))}); err != nil {
					t.Fatal(err)
				}
			}
			// Nothing is written before Commit.
			if recs, _ := readAll(t, dir); len(recs) != 0 {
				t.Fatalf("%d records visible before Commit", len(recs))
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil { // empty: no write, no fsync
				t.Fatal(err)
			}
			s := w.Stats()
			if s.Fsyncs.Load() != tc.fsyncs || s.Commits.Load() != 1 || s.Records.Load() != 100 {
				t.Errorf("fsyncs %d commits %d records %d; want %d, 1, 100", s.Fsyncs.Load(), s.Commits.Load(), s.Records.Load(), tc.fsyncs)
			}
			if recs, _ := readAll(t, dir); len(recs) != 100 {
				t.Errorf("read %d records, want 100", len(recs))
			}
		})
	}
}

func TestOrderAcrossWriters(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1_700_000_000, 0)
	ws := map[int]*Writer{}
	for _, slot := range []int{2, 0, 1} {
		w, err := OpenWriter(dir, slot, WriterOptions{Durability: None})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws[slot] = w
	}
	// (slot, ms after t0); equal times order by slot.
	plan := []struct{ slot, ms int }{{2, 5}, {0, 10}, {1, 5}, {1, 7}, {2, 10}, {0, 10}, {0, 1}}
	for _, p := range plan {
		// A time before the writer's last is raised to it: time never goes back within a writer.
		if _, err := ws[p.slot].Append(&Record{Source: "s", Method: "POST", Time: t0.Add(time.Duration(p.ms) * time.Millisecond), Body: []byte(fmt.Sprintf("%d@%d", p.slot, p.ms))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := readAll(t, dir)
	want := []string{"1@5", "2@5", "1@7", "0@10", "0@10", "0@1", "2@10"}
	if got := bodies(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if recs[3].Seq != 1 || recs[4].Seq != 2 || recs[5].Seq != 3 {
		t.Errorf("equal times in one writer must keep sequence order: %v %v %v", recs[3].Seq, recs[4].Seq, recs[5].Seq)
	}
}

// TestMergeRunsLikeStableSort: mergeRuns appends records ordered exactly
// as a stable sort of the runs' concatenation orders them, with runs in
// order (merged), out of order (the clock stepped back) and too many to
// merge, with equal times across runs and records equal by every key.
func TestMergeRunsLikeStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Unix(1_700_000_000, 0).UTC()
	for trial := range 500 {
		nruns := 1 + rng.IntN(12)
		var runs, copies [][]Record
		var all []Record
		for k := range nruns {
			slot := rng.IntN(3) // runs may share a slot, so ties reach the ID
			inc := fmt.Sprintf("%024x", k%4)
			var run []Record
			ms, seq := rng.IntN(5), uint64(rng.IntN(3))
			for i := range rng.IntN(20) {
				ms += rng.IntN(3) // equal times are common
				if trial%5 == 0 && rng.IntN(10) == 0 {
					ms -= 3 // the clock stepped back
				}
				if rng.IntN(8) != 0 {
					seq++ // else a duplicate ID: equal by every key
				}
				run = append(run, Record{ID: FormatID(inc, max(seq, 1)), Slot: slot, Time: t0.Add(time.Duration(ms) * time.Millisecond), Body: []byte(fmt.Sprintf("%d.%d", k, i))})
			}
			if len(run) == 0 {
				continue // ReadNewGated passes no empty run
			}
			runs = append(runs, run)
			copies = append(copies, slices.Clone(run))
			all = append(all, run...)
		}
		sort.SliceStable(all, func(i, j int) bool { return less(&all[i], &all[j]) })
		saved := slices.Clone(runs) // mergeRuns consumes runs, not the records
		var dst []Record            // mergeRuns appends to it
		if trial%2 == 1 {
			dst = []Record{{ID: "dst"}}
			all = append(slices.Clone(dst), all...)
		}
		got := mergeRuns(dst, runs)
		if len(all) == 0 {
			all = nil
		}
		if !reflect.DeepEqual(got, all) {
			t.Fatalf("trial %d: mergeRuns gives %v, want %v", trial, bodies(got), bodies(all))
		}
		for k := range copies {
			if !reflect.DeepEqual(saved[k], copies[k]) {
				t.Fatalf("trial %d: mergeRuns changed run %d", trial, k)
			}
		}
	}
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, last int64, size int64)
	}{
		{"cut in header", func(t *testing.T, path string, last, size int64) { truncate(t, path, last+3) }},
		{"cut in payload", func(t *testing.T, path string, last, size int64) { truncate(t, path, size-5) }},
		{"garbage checksum", func(t *testing.T, path string, last, size int64) { flip(t, path, last+5) }},
		{"garbage payload", func(t *testing.T, path string, last, size int64) { flip(t, path, size-2) }},
		{"zeroed tail", func(t *testing.T, path string, last, size int64) { zero(t, path, last, size-last) }},
		{"zeros after end", func(t *testing.T, path string, last, size int64) { truncate(t, path, last); zero(t, path, last, 4096) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecords(t, dir, 0, WriterOptions{}, false, "a", "b", "c")
			path := onlySegment(t, dir)
			offs := frameOffsets(t, path)
			fi, _ := os.Stat(path)
			tc.damage(t, path, offs[2], fi.Size())

			r, err := OpenReader(dir)
			if err != nil {
				t.Fatal(err)
			}
			recs, next, err := r.ReadNew(nil, time.Time{})
			if err != nil {
				t.Fatalf("torn tail is not an error, got %v", err)
			}
			if got := bodies(recs); !reflect.DeepEqual(got, []string{"a", "b"}) {
				t.Errorf("read %v, want [a b]", got)
			}
			if next[filepath.Base(path)] != offs[2] {
				t.Errorf("position %d, want %d (start of the torn record)", next[filepath.Base(path)], offs[2])
			}
			if !r.LeftBehind() {
				t.Error("LeftBehind is false with a torn tail unread")
			}
			// Read again from there: still nothing, still no error.
			recs, _, err = r.ReadNew(next, time.Time{})
			if err != nil || len(recs) != 0 {
				t.Errorf("second read: %d records, %v", len(recs), err)
			}
		})
	}
}

func TestCorruptionBeforeTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     func(off int64) int64
		reason string
	}{
		{"length", func(off int64) int64 { return off + 2 }, "impossible record length"},
		{"checksum", func(off int64) int64 { return off + 4 }, "checksum mismatch"},
		{"payload", func(off int64) int64 { return off + 20 }, "checksum mismatch"},
	} {
		for _, live := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/live=%v", tc.name, live), func(t *testing.T) {
				dir := t.TempDir()
				writeRecords(t, dir, 0, WriterOptions{}, live, "a", "b", "c", "d")
				path := onlySegment(t, dir)
				offs := frameOffsets(t, path)
				flip(t, path, tc.at(offs[1]))
				if tc.name == "length" {
					flip(t, path, tc.at(offs[1])+1) // make the length impossible, not merely wrong
				}
				r, err := OpenReader(dir)
				if err != nil {
					t.Fatal(err)
				}
				r.SuspectFor = 0
				recs, next, err := r.ReadNew(nil, time.Time{})
				if live {
					// A live segment may be read mid-write: damage is
					// reported only when it is still there next time.
					if err != nil || len(recs) != 1 {
						t.Fatalf("first read of live segment: %d records, %v", len(recs), err)
					}
					_, _, err = r.ReadNew(next, time.Time{})
				}
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("want *CorruptError, got %v", err)
				}
				if ce.File != path || ce.Offset != offs[1] || !strings.Contains(ce.Reason, tc.reason) {
					t.Errorf("error %v; want file %s offset %d reason %q", err, path, offs[1], tc.reason)
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), strconv.FormatInt(offs[1], 10)) {
					t.Errorf("message %q must name the file and offset", err)
				}
			})
		}
	}
}

func TestVisibilityCut(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1_700_000_000, 0)
	w, err := OpenWriter(dir, 0, WriterOptions{Durability: None})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 5 {
		if _, err := w.Append(&Record{Source: "s", Method: "POST", Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Body: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pos Positions
	// left: records stamped at or after the cut stay behind, and the
	// reader says so (the engine reads again at the next boundary however
	// idle the journal is).
	for _, step := range []struct {
		before time.Time
		want   []string
		left   bool
	}{
		{t0, nil, true}, // strictly before: nothing at t0
		{t0.Add(200 * time.Millisecond), []string{"0", "1"}, true},
		{t0.Add(200 * time.Millisecond), nil, true}, // same boundary again: exactly once
		{t0.Add(450 * time.Millisecond), []string{"2", "3", "4"}, false},
		{t0.Add(450 * time.Millisecond), nil, false},
	} {
		var recs []Record
		recs, pos, err = r.ReadNew(pos, step.before)
		if err != nil {
			t.Fatal(err)
		}
		if got := bodies(recs); !reflect.DeepEqual(got, step.want) {
			t.Errorf("before %v: %v, want %v", step.before.Sub(t0), got, step.want)
		}
		if r.LeftBehind() != step.left {
			t.Errorf("before %v: LeftBehind %v, want %v", step.before.Sub(t0), r.LeftBehind(), step.left)
		}
	}
}

// TestReadNewResultsStay: the records a ReadNew returned are the caller's:
// later reads, which reuse the Reader's buffers, leave them as they were.
func TestReadNewResultsStay(t *testing.T) {
	dir := t.TempDir()
	w0, _ := writeRecords(t, dir, 0, WriterOptions{Durability: None}, true, "a", "b")
	w1, _ := writeRecords(t, dir, 1, WriterOptions{Durability: None}, true, "c")
	r := mustReader(t, dir)
	first, pos, err := r.ReadNew(nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	saved := slices.Clone(first)
	for _, w := range []*Writer{w0, w1} {
		if _, err := w.Append(&Record{Source: "other", Method: "PUT", Body: []byte("later")}); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	second, _, err := r.ReadNew(pos, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(second); !reflect.DeepEqual(got, []string{"later", "later"}) {
		t.Errorf("second read: %v", got)
	}
	if len(first) != 3 || !reflect.DeepEqual(first, saved) {
		t.Errorf("first read changed by the second: %v, was %v", first, saved)
	}
}

func TestEmptyJournal(t *testing.T) {
	dir := t.TempDir()
	recs, next := readAll(t, dir)
	if len(recs) != 0 || len(next) != 0 {
		t.Errorf("empty journal: %d records, positions %v", len(recs), next)
	}
	cp, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Positions) != 0 || len(cp.States) != 0 || !cp.Boundary.IsZero() {
		t.Errorf("missing checkpoint must load empty, got %+v", cp)
	}
	n, err := PendingBytes(dir)
	if err != nil || n != 0 {
		t.Errorf("pending %d, %v", n, err)
	}
	if n, err := PendingBytes(filepath.Join(dir, "nonexistent")); err != nil || n != 0 {
		t.Errorf("pending in a missing dir: %d, %v", n, err)
	}
}

func TestCheckpointWithoutJournal(t *testing.T) {
	dir := t.TempDir()
	ev := NewStatusTable(10)
	id := FormatID(strings.Repeat("a", 24), 1)
	ev.Record(Status{ID: id, State: StateRejected, Reason: "TypeError: x is undefined", Boundary: time.Unix(10, 0).UTC()})
	in := &Checkpoint{
		Boundary:  time.Unix(10, 0).UTC(),
		Positions: Positions{"000-" + strings.Repeat("a", 24) + "-000001.seg": 123},
		States:    map[string]json.RawMessage{"counter": json.RawMessage(`{"n":3}`)},
		Events:    ev,
	}
	if err := SaveCheckpoint(dir, in); err != nil {
		t.Fatal(err)
	}
	out, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Boundary.Equal(in.Boundary) || !reflect.DeepEqual(out.Positions, in.Positions) || string(out.States["counter"]) != `{"n":3}` {
		t.Errorf("loaded %+v, saved %+v", out, in)
	}
	if st, _ := out.Events.Get(id); st.State != StateRejected || st.Reason != "TypeError: x is undefined" {
		t.Errorf("event status after reload: %+v", st)
	}
	// Positions for segments that no longer exist are harmless and dropped.
	recs, next, err := mustReader(t, dir).ReadNew(out.Positions, time.Time{})
	if err != nil || len(recs) != 0 || len(next) != 0 {
		t.Errorf("read: %d records, %v, %v", len(recs), next, err)
	}
	// No temp files are left behind.
	ents, _ := os.ReadDir(filepath.Join(dir, journalDir))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestCheckpointDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)-3] ^= 0x20; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"no header", func(b []byte) []byte { return []byte(`{"boundary":"2020-01-01T00:00:00Z"}`) }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveCheckpoint(dir, &Checkpoint{States: map[string]json.RawMessage{"s": json.RawMessage(`{"abc":1}`)}}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, journalDir, checkpointFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = LoadCheckpoint(dir)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("want an error naming %s, got %v", path, err)
			}
		})
	}
}

func mustReader(t *testing.T, dir string) *Reader {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// engine is a minimal engine for tests: its state is the sum of the integer
// bodies applied, and the list of IDs applied (to check exactly once).
type engine struct {
	Sum int      `json:"sum"`
	IDs []string `json:"ids"`
}

func (e *engine) apply(recs []Record) {
	for _, r := range recs {
		n, _ := strconv.Atoi(string(r.Body))
		e.Sum += n
		e.IDs = append(e.IDs, r.ID)
	}
}

func TestJournalWithoutCheckpointAndExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	// Two dead incarnations and one live writer.
	writeRecords(t, dir, 0, WriterOptions{}, false, "1", "2")
	writeRecords(t, dir, 1, WriterOptions{}, false, "10")
	live, _ := writeRecords(t, dir, 0, WriterOptions{}, true, "100")

	// Engine run 1: no checkpoint, so everything is read.
	cp, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := mustReader(t, dir)
	var st engine
	recs, pos, err := r.ReadNew(cp.Positions, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st.apply(recs)
	state, _ := json.Marshal(&st)
	cp = &Checkpoint{Positions: pos, States: map[string]json.RawMessage{"sum": state}}
	if err := SaveCheckpoint(dir, cp); err != nil {
		t.Fatal(err)
	}
	if err := r.Compact(cp); err != nil {
		t.Fatal(err)
	}
	if names, _ := segments(filepath.Join(dir, journalDir)); len(names) != 1 {
		t.Errorf("after compaction %v; want only the live segment", names)
	}
	// More writes, applied but not checkpointed, then the engine "crashes".
	for _, b := range []string{"1000", "10000"} {
		if _, err := live.Append(&Record{Source: "sum", Method: "POST", Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := live.Commit(); err != nil {
		t.Fatal(err)
	}
	recs, _, err = r.ReadNew(pos, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st.apply(recs)
	if st.Sum != 11113 {
		t.Fatalf("sum before crash %d", st.Sum)
	}

	// Engine run 2: load the checkpoint, replay after it.
	cp, err = LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st2 engine
	if err := json.Unmarshal(cp.States["sum"], &st2); err != nil {
		t.Fatal(err)
	}
	recs, _, err = mustReader(t, dir).ReadNew(cp.Positions, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st2.apply(recs)
	if st2.Sum != 11113 || len(st2.IDs) != 6 {
		t.Errorf("after replay sum %d over %d events; want 11113 over 6", st2.Sum, len(st2.IDs))
	}
	seen := map[string]bool{}
	for _, id := range st2.IDs {
		if seen[id] {
			t.Errorf("event %s applied twice", id)
		}
		seen[id] = true
	}
}

func TestRotationAndCompact(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir, 4, WriterOptions{SegmentSize: 600})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var want []string
	for i := range 20 {
		b := strconv.Itoa(i)
		want = append(want, b)
		if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := segments(filepath.Join(dir, journalDir))
	if len(names) < 3 {
		t.Fatalf("want several segments at 600 bytes each, have %v", names)
	}
	r := mustReader(t, dir)
	recs, pos, err := r.ReadNew(nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
	// A checkpoint that has not applied the first segment keeps it.
	partial := pos.Clone()
	partial[names[0]] = 0
	if err := r.Compact(&Checkpoint{Positions: partial}); err != nil {
		t.Fatal(err)
	}
	if after, _ := segments(filepath.Join(dir, journalDir)); !reflect.DeepEqual(after, []string{names[0], names[len(names)-1]}) {
		t.Errorf("compaction with the first segment unapplied: %v → %v; want the first and the open one", names, after)
	}
	if err := r.Compact(&Checkpoint{Positions: pos}); err != nil {
		t.Fatal(err)
	}
	after, _ := segments(filepath.Join(dir, journalDir))
	if len(after) != 1 || after[0] != names[len(names)-1] {
		t.Errorf("after compaction %v; want only the open segment %s", after, names[len(names)-1])
	}
}

func TestPendingBytes(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 0, WriterOptions{}, false, "1", "2", "3")
	path := onlySegment(t, dir)
	fi, _ := os.Stat(path)
	n, err := PendingBytes(dir)
	if err != nil || n != fi.Size() {
		t.Fatalf("pending %d, %v; want %d", n, err, fi.Size())
	}
	offs := frameOffsets(t, path)
	if err := SaveCheckpoint(dir, &Checkpoint{Positions: Positions{filepath.Base(path): offs[1]}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := PendingBytes(dir); n != fi.Size()-offs[1] {
		t.Errorf("pending after checkpoint %d, want %d", n, fi.Size()-offs[1])
	}
	// The published status is newer than the checkpoint and wins.
	if err := PublishStatus(dir, &Published{Positions: Positions{filepath.Base(path): fi.Size()}, Events: NewStatusTable(0)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := PendingBytes(dir); n != 0 {
		t.Errorf("pending after publish %d, want 0", n)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func zero(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
}

func TestVisibleAt(t *testing.T) {
	p := 200 * time.Millisecond
	for _, tc := range []struct {
		done, want time.Duration // since the epoch
	}{
		{0, 200 * time.Millisecond}, // at a boundary: the next one
		{1, 200 * time.Millisecond}, // just after one
		{199 * time.Millisecond, 200 * time.Millisecond},
		{200 * time.Millisecond, 400 * time.Millisecond},
		{-1, 0},
		{-200 * time.Millisecond, 0},
	} {
		t.Run(tc.done.String(), func(t *testing.T) {
			got := VisibleAt(time.Unix(0, int64(tc.done)), p)
			if want := time.Unix(0, int64(tc.want)); !got.Equal(want) {
				t.Errorf("VisibleAt(%v) = %v, want %v", tc.done, time.Duration(got.UnixNano()), tc.want)
			}
		})
	}
}

// TestReadWhileWriting reads a live segment in a tight loop while another
// goroutine commits batches of large records (so reads catch writes half
// copied): no error, every record exactly once, in order.
func TestReadWhileWriting(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir, 0, WriterOptions{Durability: None, SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const batches, perBatch = 60, 8
	body := strings.Repeat("x", 9000) // several pages per batch
	done := make(chan error, 1)
	go func() {
		for range batches {
			for range perBatch {
				if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(body)}); err != nil {
					done <- err
					return
				}
			}
			if err := w.Commit(); err != nil {
				done <- err
				return
			}
		}
		done <- w.Close()
	}()
	total, _ := readWhileWriting(t, mustReader(t, dir), done, func(rec Record) bool { return string(rec.Body) == body })
	if total != batches*perBatch {
		t.Errorf("read %d records, want %d", total, batches*perBatch)
	}
}

// TestCommitCount: the count is one number for every process that opens it
// under a data directory (two mappings of the file here), kept in the
// file across opens; a Writer counts each batch twice (before its first
// stamp, and once it is on the file), AppendReset included.
func TestCommitCount(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenCommitCount(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenCommitCount(dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Bump()
	a.Bump()
	b.Bump()
	for name, c := range map[string]*CommitCount{"a": a, "b": b} {
		if n, ok := c.Load(); !ok || n != 3 {
			t.Errorf("%s: count %d (ok %v), want 3", name, n, ok)
		}
	}
	if err := errors.Join(a.Close(), b.Close()); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCommitCount(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, _ := c.Load(); n != 3 {
		t.Errorf("count %d after reopening, want 3", n)
	}
	// A writer counts a batch before its first stamp, not per record, and
	// again once it is committed.
	w, err := OpenWriter(dir, 0, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, want := range []uint64{4, 4} {
		if _, err := w.Append(&Record{Source: "s", Method: "POST"}); err != nil {
			t.Fatal(err)
		}
		if n, _ := c.Load(); n != want {
			t.Errorf("count %d after append %d, want %d", n, i, want)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Load(); n != 5 {
		t.Errorf("count %d after the commit, want 5", n)
	}
	if _, _, err := AppendReset(dir, "s"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Load(); n != 7 {
		t.Errorf("count %d after a reset, want 7", n)
	}
}
