package period

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// project writes a project with the given sources (name → code) and config.
func project(t *testing.T, toml string, sources map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, code := range sources {
		p := filepath.Join(dir, "sources", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run runs the scheduler for d and returns the project and a reader of
// what it published.
func run(t *testing.T, cfg *config.Config, d time.Duration) (*Project, *snapshot.Reader) {
	t.Helper()
	proj, err := Load(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	store, err := snapshot.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sc := &Scheduler{Project: proj, Store: store, Log: quiet}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := sc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := snapshot.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return proj, r
}

func TestBoundaryIsEpochAligned(t *testing.T) {
	for _, tc := range []struct {
		at     int64 // unix ms
		period time.Duration
		want   int64
	}{
		{1_700_000_000_123, 200 * time.Millisecond, 1_700_000_000_000},
		{1_700_000_000_200, 200 * time.Millisecond, 1_700_000_000_200},
		{1_700_000_000_199, 200 * time.Millisecond, 1_700_000_000_000},
		{1_700_000_001_999, time.Second, 1_700_000_001_000},
		{1_700_000_007_000, 3 * time.Second, 1_700_000_007_000 - 1_700_000_007_000%3000},
	} {
		got := Boundary(time.UnixMilli(tc.at), tc.period).UnixMilli()
		if got != tc.want {
			t.Errorf("Boundary(%d, %v) = %d, want %d", tc.at, tc.period, got, tc.want)
		}
	}
}

func TestSchedulerPublishesAtEpochBoundaries(t *testing.T) {
	cfg := project(t, `period = "50ms"`+"\ntimeout = \"1s\"\n", map[string]string{
		"clock.js":      `export default function (s, ctx) { return { now: ctx.nowMs, period: ctx.period } }`,
		"slow/tick.ts":  `export const period = "100ms"; export default (s: any, ctx: any) => ({ now: ctx.nowMs })`,
		"_lib/never.js": `throw new Error("a helper is never a source")`,
	})
	proj, r := run(t, cfg, 600*time.Millisecond)
	if len(proj.Sources) != 2 {
		t.Fatalf("sources = %d, want 2 (helpers are not sources)", len(proj.Sources))
	}
	v := r.View()
	for _, tc := range []struct {
		url    string
		period int64
	}{{"/clock.json", 50}, {"/slow/tick.json", 100}} {
		e := v.Lookup(tc.url)
		if e == nil {
			t.Fatalf("%s not published", tc.url)
		}
		var got struct{ Now int64 }
		if err := json.Unmarshal(e.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Now%tc.period != 0 {
			t.Errorf("%s: ctx.now %d is not a multiple of its period %d ms", tc.url, got.Now, tc.period)
		}
		if e.Period != time.Duration(tc.period)*time.Millisecond {
			t.Errorf("%s: published period %v", tc.url, e.Period)
		}
	}
	st := proj.Source("clock").Status()
	// 600 ms at 50 ms is 12 boundaries (13 counting the first, immediate one);
	// a loaded machine may skip a few, but a scheduler that evaluates once or
	// runs a backlog is wrong.
	if st.Evaluations < 6 || st.Evaluations > 14 {
		t.Errorf("clock evaluated %d times in 600ms at 50ms", st.Evaluations)
	}
	if st.Versions < 2 {
		t.Errorf("clock published %d versions; its output changes every period", st.Versions)
	}
}

func TestFailureKeepsPreviousSnapshot(t *testing.T) {
	// Good on the first evaluation, then throwing from a helper every time.
	cfg := project(t, `period = "40ms"`+"\ntimeout = \"1s\"\n", map[string]string{
		"flaky.ts": `import { boom } from "./_lib/boom";
let calls = 0;
export default function (s: any, ctx: any) {
  calls++;
  if (calls > 1) boom();
  return { first: true };
}`,
		"_lib/boom.ts": "export function boom(): never {\n  throw new Error(\"broken on purpose\");\n}\n",
	})
	proj, r := run(t, cfg, 300*time.Millisecond)
	e := r.View().Lookup("/flaky.json")
	if e == nil || string(e.Body) != `{"first":true}` {
		t.Fatalf("the last good snapshot must stay published, got %+v", e)
	}
	st := proj.Source("flaky").Status()
	if st.Errors == 0 || st.LastError == nil {
		t.Fatalf("errors not recorded: %+v", st)
	}
	if st.LastError.File != "sources/_lib/boom.ts" || st.LastError.Line != 2 || !strings.Contains(st.LastError.Message, "broken on purpose") {
		t.Errorf("last error = %+v, want sources/_lib/boom.ts:2 with the message", st.LastError)
	}
}

func TestOverrunSkipsBoundariesWithoutBacklog(t *testing.T) {
	// Each render takes ~130 ms of a 40 ms period: the scheduler must skip
	// the boundaries it missed, never queue them, never run it twice at once.
	// The 130 ms are spent inside the render, in its console.log (see
	// evalWatch), so the overlap check sees the evaluations themselves, each
	// 130 ms wide, not a hook that runs before the busy check.
	cfg := project(t, `period = "40ms"`+"\ntimeout = \"2s\"\n", map[string]string{
		"slow.js": `export default function (s, ctx) {
  console.log("evaluating");
  return { now: ctx.nowMs };
}`,
	})
	var w evalWatch
	proj, err := Load(cfg, slog.New(&w))
	if err != nil {
		t.Fatal(err)
	}
	s := proj.Source("slow")
	store, err := snapshot.Create(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sc := &Scheduler{Project: proj, Store: store, Log: quiet, Parallel: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	if err := sc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if st.Skipped == 0 {
		t.Errorf("no skipped periods counted for a source that overruns its period: %+v", st)
	}
	// 800 ms / 130 ms per render: at most ~7 evaluations; a backlog would
	// try to run all 20 boundaries.
	if st.Evaluations > 8 {
		t.Errorf("%d evaluations: boundaries were queued instead of skipped", st.Evaluations)
	}
	if w.entered.Load() == 0 {
		t.Fatalf("the render never reported entering: the overlap check saw nothing")
	}
	if n := w.overlap.Load(); n != 0 {
		t.Errorf("the source was evaluated twice at once (%d times)", n)
	}
}

// evalWatch is a slog.Handler that receives the render's
// console.log("evaluating") and holds it there for 130 ms, counting the
// renders inside at once. It holds the render in Go rather than in a
// JavaScript busy loop so that, with the guard removed, two renders overlap
// here and fail the assertion instead of crashing the shared goja runtime.
type evalWatch struct {
	running, entered, overlap atomic.Int32
}

func (w *evalWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *evalWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *evalWatch) WithGroup(string) slog.Handler            { return w }
func (w *evalWatch) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "evaluating":
		w.entered.Add(1)
		if w.running.Add(1) > 1 {
			w.overlap.Add(1)
		}
		time.Sleep(130 * time.Millisecond)
		w.running.Add(-1)
	}
	return nil
}
