package snapshot_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/period"
)

// gameSource loads testdata/game.js (the deltas goal workload) as a
// source of a project of its own and returns it: each Evaluate is one
// period's render, a new ~100 KB version.
func gameSource(tb testing.TB) *period.Source {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile("testdata/game.js")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sources"), 0o755); err != nil {
		tb.Fatal(err)
	}
	// a generous budget: a render descheduled on a shared machine must not fail the run
	if err := os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte("timeout = \"5s\"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sources", "game.js"), src, 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	proj, err := period.Load(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	return proj.Sources[0]
}

// render evaluates s once and returns its JSON.
func render(tb testing.TB, s *period.Source) []byte {
	tb.Helper()
	r, ok := s.Evaluate(time.Now())
	if !ok || r.Err != nil {
		tb.Fatalf("render: ok=%v err=%v", ok, r.Err)
	}
	return r.JSON
}

// gameVersions returns n consecutive versions of the workload.
func gameVersions(tb testing.TB, n int) [][]byte {
	s := gameSource(tb)
	out := make([][]byte, n)
	for i := range out {
		out[i] = render(tb, s)
	}
	return out
}

var (
	osMkdirTemp = os.MkdirTemp
	osRemoveAll = os.RemoveAll
)
