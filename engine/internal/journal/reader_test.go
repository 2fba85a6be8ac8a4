package journal

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// cachingReader is a Reader that trusts its listing for an hour while the
// segment generation stays put, so a missed generation bump shows.
func cachingReader(t *testing.T, dir string) *Reader {
	t.Helper()
	r := mustReader(t, dir)
	r.relist = time.Hour
	t.Cleanup(func() { r.Close() })
	return r
}

// readNext reads from *pos, advances it, and returns the bodies read.
func readNext(t *testing.T, r *Reader, pos *Positions) []string {
	t.Helper()
	recs, next, err := r.ReadNew(*pos, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	*pos = next
	return bodies(recs)
}

// TestReaderSeesEveryNewSegment: a Reader that keeps its listing between
// calls still reads, at the very next call, a segment created since: a new
// incarnation's first, a rotation's next, a reset's; and it drops the
// segments another Reader's Compact deleted. (With the generation bump
// removed from Writer.openSegment, the first three fail; from Compact,
// the last.)
func TestReaderSeesEveryNewSegment(t *testing.T) {
	dir := t.TempDir()
	r := cachingReader(t, dir)
	var pos Positions
	if got := readNext(t, r, &pos); len(got) != 0 {
		t.Fatalf("empty journal read %v", got)
	}

	writeRecords(t, dir, 0, WriterOptions{}, false, "a1", "a2")
	if got := fmt.Sprint(readNext(t, r, &pos)); got != "[a1 a2]" {
		t.Fatalf("new incarnation: read %s, want [a1 a2]", got)
	}

	// Every commit of 100 bytes rotates at 150.
	w, err := OpenWriter(dir, 1, WriterOptions{Durability: None, SegmentSize: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 5 {
		b := "rot" + strconv.Itoa(i) + string(make([]byte, 60))
		if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := readNext(t, r, &pos); len(got) != 1 || got[0] != b {
			t.Fatalf("after rotation %d: read %q", i, got)
		}
	}
	if len(pos) < 6 {
		t.Fatalf("want a segment per rotation, have positions %v", pos)
	}

	if _, _, err := AppendReset(dir, "s"); err != nil {
		t.Fatal(err)
	}
	if recs, next, err := r.ReadNew(pos, time.Time{}); err != nil || len(recs) != 1 || recs[0].Method != MethodReset {
		t.Fatalf("after a reset: read %v, %v", recs, err)
	} else {
		pos = next
	}

	// Dead segments read to their end are not kept open: only the one
	// segment still written is.
	if len(r.files) != 1 {
		t.Errorf("%d segments kept open, want 1 (the live one): %v", len(r.files), r.files)
	}

	other := mustReader(t, dir)
	defer other.Close()
	if err := other.Compact(&Checkpoint{Positions: pos}); err != nil {
		t.Fatal(err)
	}
	names, err := segments(filepath.Join(dir, journalDir))
	if err != nil || len(names) != 1 {
		t.Fatalf("after compaction: %v, %v; want the live segment only", names, err)
	}
	if got := readNext(t, r, &pos); len(got) != 0 || len(pos) != 1 {
		t.Errorf("after another reader's compaction: read %v, positions %v; want nothing and the live segment only", got, pos)
	}
}

// TestReadWhileSegmentsAppear: writers keep starting (new incarnations)
// and rotating while a caching Reader reads in a loop; every record is
// read once, each incarnation's in sequence.
func TestReadWhileSegmentsAppear(t *testing.T) {
	dir := t.TempDir()
	const writers, perWriter = 12, 40
	done := make(chan error, 1)
	go func() {
		for k := range writers {
			w, err := OpenWriter(dir, k%3, WriterOptions{Durability: None, SegmentSize: 400})
			if err != nil {
				done <- err
				return
			}
			for i := range perWriter {
				if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(strconv.Itoa(i))}); err == nil {
					err = w.Commit()
				}
				if err != nil {
					done <- err
					return
				}
			}
			if err := w.Close(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	r := cachingReader(t, dir)
	total, last := readWhileWriting(t, r, done, nil)
	if total != writers*perWriter || len(last) != writers {
		t.Errorf("read %d records of %d incarnations, want %d of %d", total, len(last), writers*perWriter, writers)
	}
	if len(r.files) != 0 {
		t.Errorf("%d segments kept open after every writer closed, want 0", len(r.files))
	}
}

// readWhileWriting reads r in a loop until done says the writers finished
// (failing on their error), then once more, and returns how many records
// it read and the last sequence of each incarnation; every incarnation's
// records must come in sequence, and each must pass check (when not nil).
func readWhileWriting(t *testing.T, r *Reader, done <-chan error, check func(Record) bool) (int, map[string]uint64) {
	t.Helper()
	var pos Positions
	last := map[string]uint64{}
	total := 0
	read := func() {
		recs, next, err := r.ReadNew(pos, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			inc, seq, _ := ParseID(rec.ID)
			if seq != last[inc]+1 || (check != nil && !check(rec)) {
				t.Fatalf("record %s after seq %d", rec.ID, last[inc])
			}
			last[inc] = seq
			total++
		}
		pos = next
	}
	for writing := true; writing; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			writing = false
		default:
		}
		read()
	}
	read()
	return total, last
}
