package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadSegment feeds arbitrary bytes to the reader as a dead segment. It
// must never panic, never return a record that was not framed and
// checksummed, and must either stop cleanly at a position inside the file or
// report a *CorruptError naming the file.
func FuzzReadSegment(f *testing.F) {
	seedDir := f.TempDir()
	w, err := OpenWriter(seedDir, 0, WriterOptions{Durability: None})
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range []string{"a", `{"x":1}`, strings.Repeat("z", 300)} {
		if _, err := w.Append(&Record{Source: "s", Method: "POST", Body: []byte(b)}); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		f.Fatal(err)
	}
	w.Close()
	names, _ := segments(filepath.Join(seedDir, journalDir))
	valid, err := os.ReadFile(filepath.Join(seedDir, journalDir, names[0]))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(append(append([]byte{}, valid...), make([]byte, 64)...))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, '{'})
	f.Add(append(make([]byte, 16), valid...))

	name := segmentName(0, strings.Repeat("0", 24), 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, live := range []bool{false, true} {
			r := &Reader{dead: map[string]bool{}, suspect: map[string]suspicion{}}
			recs, next, err := r.scan(nil, "seg", name, data, 0, time.Time{}, live)
			if live && err == nil {
				recs, next, err = r.scan(nil, "seg", name, data[next:], next, time.Time{}, live)
			}
			if err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.File != "seg" || ce.Offset < 0 || ce.Offset >= int64(len(data)) {
					t.Fatalf("bad error %v", err)
				}
				continue
			}
			if next < 0 || next > int64(len(data)) {
				t.Fatalf("position %d outside %d bytes", next, len(data))
			}
			for _, rec := range recs {
				if _, _, ok := ParseID(rec.ID); !ok {
					t.Fatalf("record with malformed id %q", rec.ID)
				}
			}
		}
	})
}

func TestPositionBeyondEnd(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 0, WriterOptions{}, false, "a")
	path := onlySegment(t, dir)
	_, _, err := mustReader(t, dir).ReadNew(Positions{filepath.Base(path): 1 << 20}, time.Time{})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path {
		t.Errorf("a segment shorter than its applied position must be an error naming it, got %v", err)
	}
}
