package watch

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder collects batches delivered by a Watcher.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	ch      chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1000)} }

func (r *recorder) on(paths []string) {
	r.mu.Lock()
	r.batches = append(r.batches, paths)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// waitFor waits until some batch contains want.
func (r *recorder) waitFor(t *testing.T, want string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for _, b := range r.batches {
			if slices.Contains(b, want) {
				r.batches = nil
				r.mu.Unlock()
				return time.Since(start)
			}
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no batch with %s within 5s; got %v", want, r.batches)
		}
	}
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.batches = nil
	r.mu.Unlock()
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTreeEvents(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "src")
	write(t, filepath.Join(root, "a.js"), "1")
	cfg := filepath.Join(dir, "jawas.toml")
	write(t, cfg, "")
	r := newRecorder()
	w, err := New([]string{root, cfg}, Options{Debounce: 10 * time.Millisecond}, r.on)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	t.Run("changed", func(t *testing.T) {
		write(t, filepath.Join(root, "a.js"), "2")
		t.Logf("change seen after %v", r.waitFor(t, filepath.Join(root, "a.js")))
	})
	t.Run("created", func(t *testing.T) {
		write(t, filepath.Join(root, "b.js"), "1")
		r.waitFor(t, filepath.Join(root, "b.js"))
	})
	t.Run("removed", func(t *testing.T) {
		os.Remove(filepath.Join(root, "b.js"))
		r.waitFor(t, filepath.Join(root, "b.js"))
	})
	t.Run("saved by rename", func(t *testing.T) {
		tmp := filepath.Join(root, ".a.js.swp")
		write(t, tmp, "3")
		if err := os.Rename(tmp, filepath.Join(root, "a.js")); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, filepath.Join(root, "a.js"))
	})
	t.Run("new sub-folder and a file created with it", func(t *testing.T) {
		// MkdirAll + write races the watch of the new folder: the file must
		// be reported either by its own event or by the folder's scan.
		write(t, filepath.Join(root, "game", "deep", "arena.ts"), "1")
		r.waitFor(t, filepath.Join(root, "game", "deep", "arena.ts"))
		r.reset()
		// and the new folder is watched from now on
		write(t, filepath.Join(root, "game", "deep", "arena.ts"), "2")
		r.waitFor(t, filepath.Join(root, "game", "deep", "arena.ts"))
	})
	t.Run("renamed folder", func(t *testing.T) {
		if err := os.Rename(filepath.Join(root, "game"), filepath.Join(root, "level")); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, filepath.Join(root, "level", "deep", "arena.ts"))
		r.reset()
		write(t, filepath.Join(root, "level", "deep", "arena.ts"), "3")
		r.waitFor(t, filepath.Join(root, "level", "deep", "arena.ts"))
	})
	t.Run("single file root, saved by rename", func(t *testing.T) {
		tmp := filepath.Join(dir, "jawas.toml.tmp")
		write(t, tmp, "period = \"1s\"")
		if err := os.Rename(tmp, cfg); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, cfg)
	})
	t.Run("ignored", func(t *testing.T) {
		r.reset()
		write(t, filepath.Join(root, ".hidden"), "x")
		write(t, filepath.Join(root, "node_modules", "x.js"), "x")
		write(t, filepath.Join(dir, "other.txt"), "x") // next to jawas.toml, not watched
		write(t, filepath.Join(root, "marker.js"), "x")
		r.waitFor(t, filepath.Join(root, "marker.js"))
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, b := range r.batches {
			for _, p := range b {
				if filepath.Base(p) != "marker.js" {
					t.Errorf("ignored path reported: %s", p)
				}
			}
		}
	})
}

func TestDebounceBatches(t *testing.T) {
	root := t.TempDir()
	r := newRecorder()
	w, err := New([]string{root}, Options{Debounce: 50 * time.Millisecond}, r.on)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 5 {
		write(t, filepath.Join(root, string(rune('a'+i))+".js"), "x")
	}
	r.waitFor(t, filepath.Join(root, "e.js"))
	time.Sleep(100 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.batches) > 1 {
		t.Fatalf("5 quick writes gave %d batches, want 1 (debounced): %v", len(r.batches), r.batches)
	}
}

func TestNoDebounceDeliversAtOnce(t *testing.T) {
	root := t.TempDir()
	r := newRecorder()
	w, err := New([]string{root}, Options{}, r.on)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, filepath.Join(root, "x.css"), "a")
	d := r.waitFor(t, filepath.Join(root, "x.css"))
	t.Logf("undebounced event delivered after %v", d)
}

func TestCloseStopsCallbacks(t *testing.T) {
	root := t.TempDir()
	r := newRecorder()
	w, err := New([]string{root}, Options{Debounce: time.Millisecond}, r.on)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close() // twice is fine
	write(t, filepath.Join(root, "late.js"), "x")
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.batches) != 0 {
		t.Fatalf("callback after Close: %v", r.batches)
	}
}

func TestMissingRoot(t *testing.T) {
	if _, err := New([]string{filepath.Join(t.TempDir(), "nope", "deeper")}, Options{}, func([]string) {}); err == nil {
		t.Fatal("a root whose directory does not exist must be an error")
	}
}
