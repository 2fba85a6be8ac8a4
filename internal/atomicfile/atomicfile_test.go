package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// leftovers lists dir's entries other than the wanted names.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		found := false
		for _, w := range want {
			found = found || e.Name() == w
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestWriteFileReplaces(t *testing.T) {
	for _, opt := range []Options{{}, {Sync: true}, {Sync: true, SyncDir: true}, {TempPattern: ".tmp-*"}} {
		dir := t.TempDir()
		path := filepath.Join(dir, "f.json")
		if err := os.WriteFile(path, []byte("old content, longer than the new"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A reader holding the old file keeps reading the old content: the
		// new one arrives under a new inode, not by rewriting in place.
		old, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, []byte("new"), 0o644, opt); err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "new" {
			t.Fatalf("%+v: read %q, %v; want %q", opt, b, err, "new")
		}
		ob := make([]byte, 64)
		n, _ := old.Read(ob)
		old.Close()
		if got := string(ob[:n]); got != "old content, longer than the new" {
			t.Errorf("%+v: the old file's reader saw %q: the file was rewritten in place", opt, got)
		}
		if extra := leftovers(t, dir, "f.json"); len(extra) > 0 {
			t.Errorf("%+v: temporary files left: %v", opt, extra)
		}
	}
}

func TestWriteFileErrorCleansUp(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty directory: the rename fails after the
	// temporary file was written.
	path := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("data"), 0o644, Options{Sync: true, SyncDir: true})
	if err == nil {
		t.Fatal("WriteFile over a non-empty directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if extra := leftovers(t, dir, "target"); len(extra) > 0 {
		t.Errorf("temporary files left after the error: %v", extra)
	}
	// A missing directory fails at once, naming the path.
	missing := filepath.Join(dir, "no", "such", "f")
	if err := WriteFile(missing, nil, 0o644, Options{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestWriteFileNoReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "control")
	if err := WriteFile(path, []byte("first"), 0o644, Options{NoReplace: true}); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("second"), 0o644, Options{NoReplace: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second NoReplace write: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("content %q after a refused NoReplace write, want %q", b, "first")
	}
	if extra := leftovers(t, dir, "control"); len(extra) > 0 {
		t.Errorf("temporary files left: %v", extra)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("SyncDir of a missing directory succeeded")
	}
}
