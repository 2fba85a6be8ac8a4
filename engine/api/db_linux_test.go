package api

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/sqldb"
)

// openFDsTo counts this process's file descriptors open on path.
func openFDsTo(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == path {
			n++
		}
	}
	return n
}

// TestDevReloadSwapsDatabases: in dev mode, pointing [db.main] at another
// SQLite file in jawas.toml makes the running source read the new file,
// and the old file's connections are closed (no pool leaks per reload);
// stopping the engine closes the rest.
func TestDevReloadSwapsDatabases(t *testing.T) {
	dir := t.TempDir()
	mkdb := func(name, val string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := sqldb.New(dir, []sqldb.Database{{Name: "x", URL: "sqlite:" + name}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, q := range []string{"CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('" + val + "')"} {
			if _, err := p.Query(context.Background(), "x", q, nil, sqldb.ReadWrite); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	a, b := mkdb("a.db", "from a"), mkdb("b.db", "from b")
	toml := func(file string) {
		body := "period = \"50ms\"\ntimeout = \"2s\"\n[db.main]\nurl = \"sqlite:" + file + "\"\n"
		if err := os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	toml("a.db")
	if err := os.MkdirAll(filepath.Join(dir, "sources"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sources", "v.js"), []byte(`import { db } from "jawas";
export default async () => (await db("main").query("SELECT v FROM t"))[0].v;
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	snaps := filepath.Join(t.TempDir(), "snapshots")
	eng, err := NewEngine(EngineOptions{Config: cfg, Log: log, SnapshotDir: snaps, Dev: true, Diagnostics: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	var r *snapshot.Reader
	waitFor(t, "the store", func() bool { r, err = snapshot.OpenReader(snaps); return err == nil })
	defer r.Close()
	value := func() string {
		if e := r.View().Lookup("/v.json"); e != nil {
			return string(e.Body)
		}
		return ""
	}
	waitFor(t, "a's value", func() bool { return value() == `"from a"` })
	if openFDsTo(t, a) == 0 {
		t.Fatalf("no connection to %s while its value is served", a)
	}

	toml("b.db")
	waitFor(t, "b's value after the reload", func() bool { return value() == `"from b"` })
	waitFor(t, "a.db's connections closed", func() bool { return openFDsTo(t, a) == 0 })

	cancel()
	if err := <-done; err != nil {
		t.Errorf("engine: %v", err)
	}
	done <- nil
	if n := openFDsTo(t, b); n != 0 {
		t.Errorf("%d descriptors still open on %s after the engine stopped", n, b)
	}
}
