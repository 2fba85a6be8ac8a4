package journal

import (
	"testing"
	"time"

	"github.com/jawas/jawas/internal/cputime"
)

// BenchmarkCommit measures accepted writes per second when 64 writers'
// requests arrive in one event-loop iteration: group commit (64 appends, one
// Commit) with Sync, against None (no fsync) and against the naive baseline
// of one fdatasync per write, all in the same run.
func BenchmarkCommit(b *testing.B) {
	const writers = 64
	body := []byte(`{"player":"p17","x":12.5,"y":-3.25,"action":"move"}`)
	for _, bc := range []struct {
		name       string
		durability Durability
		perWrite   bool // commit after every append: the baseline
	}{
		{"group64/sync", Sync, false},
		{"group64/none", None, false},
		{"each/sync", Sync, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := OpenWriter(b.TempDir(), 0, WriterOptions{Durability: bc.durability})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.SetBytes(int64(writers * len(body)))
			b.ResetTimer()
			for b.Loop() {
				for range writers {
					if _, err := w.Append(&Record{Source: "game/arena", Method: "POST", ContentType: "application/json", Body: body}); err != nil {
						b.Fatal(err)
					}
					if bc.perWrite {
						if err := w.Commit(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			secs := b.Elapsed().Seconds()
			s := w.Stats()
			b.ReportMetric(float64(s.Records.Load())/secs, "writes/s")
			b.ReportMetric(float64(s.Fsyncs.Load())/secs, "fsyncs/s")
			if n := s.Fsyncs.Load(); n > 0 {
				b.ReportMetric(float64(s.FsyncNanos.Load())/float64(n)/1e3, "µs/fsync")
			}
		})
	}
}

// BenchmarkReadNew measures the engine's read path: ReadNew from the start
// of two live segments whose writers appended 2,000 records each,
// interleaved in time, in commits of 64 (the shape of a flat-out write
// load: two workers, small JSON bodies, no headers). cpu-ns/record is the
// process's CPU time, GC included, steadier than ns/record on a shared box.
func BenchmarkReadNew(b *testing.B) {
	const perWriter, group = 2000, 64
	dir := b.TempDir()
	var ws [2]*Writer
	for slot := range ws {
		w, err := OpenWriter(dir, slot, WriterOptions{Durability: None})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		ws[slot] = w
	}
	body := []byte(`{"id":1}` + "\n")
	for i := range perWriter {
		for _, w := range ws {
			if _, err := w.Append(&Record{Source: "q", Method: "POST", ContentType: "application/json", Body: body}); err != nil {
				b.Fatal(err)
			}
			if (i+1)%group == 0 || i == perWriter-1 {
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	r, err := OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cputime.Process()
	for b.Loop() {
		recs, _, err := r.ReadNew(nil, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) != 2*perWriter {
			b.Fatalf("read %d records, want %d", len(recs), 2*perWriter)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*perWriter), "ns/record")
	if cpu0 >= 0 {
		b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N*2*perWriter), "cpu-ns/record")
	}
}

// BenchmarkReadNewNothing measures a read that finds nothing new, the
// cluster forwarder's most frequent call (it reads after every poke, one
// per group commit): two live segments and four dead ones, all read to
// their ends.
func BenchmarkReadNewNothing(b *testing.B) {
	dir := b.TempDir()
	body := []byte(`{"id":1}` + "\n")
	for slot := range 6 {
		w, err := OpenWriter(dir, slot, WriterOptions{Durability: None})
		if err != nil {
			b.Fatal(err)
		}
		for range 100 {
			if _, err := w.Append(&Record{Source: "q", Method: "POST", ContentType: "application/json", Body: body}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		if slot < 4 {
			w.Close()
		} else {
			defer w.Close()
		}
	}
	r, err := OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	recs, pos, err := r.ReadNew(nil, time.Time{})
	if err != nil || len(recs) != 600 {
		b.Fatalf("read %d records (%v), want 600", len(recs), err)
	}
	cpu0 := cputime.Process()
	for b.Loop() {
		recs, next, err := r.ReadNew(pos, time.Time{})
		if err != nil || len(recs) != 0 {
			b.Fatalf("read %d records (%v), want none", len(recs), err)
		}
		pos = next
	}
	if cpu0 >= 0 {
		b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
