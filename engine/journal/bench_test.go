package journal

import (
	"testing"
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
