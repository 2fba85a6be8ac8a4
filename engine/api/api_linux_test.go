package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/netpoll"
)

// TestEmbedEngineAndWorker builds what `jawas serve --single-process`
// runs, from this package alone, the way an embedding program or a
// cluster node would: an Engine and a Worker over one snapshot directory.
// A POST is accepted by the worker, applied by the engine's writes hook at
// the next boundary, and served; the status hook reports the source.
func TestEmbedEngineAndWorker(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("jawas.toml", "period = \"100ms\"\ntimeout = \"2s\"\n[serve]\nlisten = \"127.0.0.1:0\"\n")
	write("sources/count.js", `export const initial = { n: 0 };
export function post(state, event) { state.n += event.body.add; }
export default function render(state) { return { n: state.n }; }
`)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := t.TempDir()
	snaps := filepath.Join(run, "snapshots")
	eng, err := NewEngine(EngineOptions{Config: cfg, Log: log, SnapshotDir: snaps, MetricsDir: metricsDir(run)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(ctx) }()
	lfd, err := netpoll.Listen("127.0.0.1:0", 128, false)
	if err != nil {
		t.Fatal(err)
	}
	defer netpoll.Close(lfd)
	w, err := NewWorker(WorkerOptions{Config: cfg, Log: log, ListenFD: lfd, SnapshotDir: snaps, MetricsDir: metricsDir(run)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("worker: %v", err)
		}
		if err := <-engineDone; err != nil {
			t.Errorf("engine: %v", err)
		}
	}()
	addr, _ := netpoll.Addr(lfd)
	base := "http://" + addr

	// Wait for the first snapshot, then post and wait for it to show.
	get := func() (int, map[string]any) {
		resp, err := http.Get(base + "/count.json")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	waitFor(t, "the first snapshot", func() bool { code, _ := get(); return code == 200 })
	resp, err := http.Post(base+"/count.json", "application/json", strings.NewReader(`{"add":5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d, want 202", resp.StatusCode)
	}
	waitFor(t, "the write applied", func() bool { _, v := get(); return v != nil && v["n"] == float64(5) })

	// The status hook writes the running project's sources.
	waitFor(t, "the source in /_jawas/status", func() bool {
		resp, err := http.Get(base + "/_jawas/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(b), `"count"`)
	})
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
