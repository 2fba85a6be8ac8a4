package writes_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/writes"

	"github.com/jawas/jawas/internal/cputime"
)

// BenchmarkApply measures the engine's apply path per boundary: the
// Applier's BeforeRender over 4,000 new records that two workers' writers
// appended interleaved in time (bench/writes' load: small JSON bodies, no
// headers, one-line reducer), from reading the journal to recording each
// event's status. Appending is outside the timer. cpu-ns/event is the
// process's CPU time in BeforeRender, steadier than ns/event on a shared box
// (GC work that runs during the appends is not counted).
func BenchmarkApply(b *testing.B) {
	const perWriter, group = 2000, 64
	dir := b.TempDir()
	check(b, os.MkdirAll(filepath.Join(dir, "sources"), 0o755))
	check(b, os.WriteFile(filepath.Join(dir, "sources", "q.js"), []byte(`
export const initial = { n: 0 };
export function post(state, event) { state.n++; }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n }; }
`), 0o644))
	check(b, os.WriteFile(filepath.Join(dir, "jawas.toml"), nil, 0o644))
	cfg, err := config.Load(dir)
	check(b, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	proj, err := period.Load(cfg, quiet)
	check(b, err)
	src := proj.Source("q")
	if src == nil {
		b.Fatal("source q not loaded")
	}
	data := filepath.Join(dir, "data")
	a, err := writes.OpenApplier(proj, writes.ApplierOptions{DataDir: data, Log: quiet})
	check(b, err)
	defer a.Close()
	var ws [2]*journal.Writer
	for slot := range ws {
		w, err := journal.OpenWriter(data, slot, journal.WriterOptions{Durability: journal.None})
		check(b, err)
		defer w.Close()
		ws[slot] = w
	}
	body := []byte(`{"id":1}` + "\n")
	applied := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		for i := range perWriter {
			for _, w := range ws {
				if _, err := w.Append(&journal.Record{Source: "q", Method: "POST", ContentType: "application/json", Body: body}); err != nil {
					b.Fatal(err)
				}
				if (i+1)%group == 0 || i == perWriter-1 {
					check(b, w.Commit())
				}
			}
		}
		boundary := time.Now().Add(time.Millisecond)
		for time.Now().Before(boundary) {
			time.Sleep(100 * time.Microsecond) // the engine reads at or after the boundary
		}
		b.StartTimer()
		cpu0 := cputime.Process()
		a.BeforeRender(src, boundary)
		cpu += cputime.Process() - cpu0
		applied += 2 * perWriter
	}
	check(b, a.Err())
	var st struct{ N int }
	check(b, json.Unmarshal(src.Module().State(), &st))
	if st.N != applied {
		b.Fatalf("state n = %d, want %d", st.N, applied)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*perWriter), "ns/event")
	if cputime.Process() >= 0 {
		b.ReportMetric(float64(cpu)/float64(b.N*2*perWriter), "cpu-ns/event")
	}
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
