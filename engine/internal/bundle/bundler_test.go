package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawas/jawas/engine"
)

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBundlerRebuild(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sources/a.ts"), `import { v } from "./_lib/v"; export default () => ({ v });`)
	write(t, filepath.Join(dir, "sources/_lib/v.ts"), `export const v: number = 1;`)
	write(t, filepath.Join(dir, "sources/b.js"), `export default () => "b1";`)

	b, err := NewBundler(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	discover := func() {
		t.Helper()
		srcs, err := Discover(dir, "sources")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(srcs); err != nil {
			t.Fatal(err)
		}
	}
	discover()

	steps := []struct {
		name    string
		edit    func()
		rebuild []string
		want    map[string]string // source name -> render JSON, "" for a broken source
		wantErr string
	}{
		{"first build", func() {}, nil, map[string]string{"a": `{"v":1}`, "b": `"b1"`}, ""},
		{"helper edit seen", func() { write(t, filepath.Join(dir, "sources/_lib/v.ts"), `export const v: number = 2;`) },
			[]string{"a"}, map[string]string{"a": `{"v":2}`}, ""},
		{"break a", func() { write(t, filepath.Join(dir, "sources/_lib/v.ts"), `export const v = ;`) },
			nil, map[string]string{"a": "", "b": `"b1"`}, "sources/_lib/v.ts:1:"},
		{"fix a, add c", func() {
			write(t, filepath.Join(dir, "sources/_lib/v.ts"), `export const v = 3;`)
			write(t, filepath.Join(dir, "sources/c.js"), `export default () => "c";`)
			discover()
		}, nil, map[string]string{"a": `{"v":3}`, "b": `"b1"`, "c": `"c"`}, ""},
		{"remove b", func() {
			if err := os.Remove(filepath.Join(dir, "sources/b.js")); err != nil {
				t.Fatal(err)
			}
			discover()
		}, nil, map[string]string{"a": `{"v":3}`, "c": `"c"`}, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.edit()
			outs, err := b.Rebuild(s.rebuild...)
			if s.wantErr == "" && err != nil {
				t.Fatalf("Rebuild: %v", err)
			}
			if s.wantErr != "" {
				var ds engine.Diagnostics
				if !errors.As(err, &ds) || !strings.Contains(err.Error(), s.wantErr) {
					t.Fatalf("Rebuild error = %v, want diagnostics mentioning %q", err, s.wantErr)
				}
			}
			if len(outs) != len(s.want) {
				t.Errorf("got %d outputs, want %d", len(outs), len(s.want))
			}
			for _, o := range outs {
				want, ok := s.want[o.Source.Name]
				if !ok {
					t.Errorf("unexpected output for %s", o.Source.Name)
					continue
				}
				if want == "" {
					if len(o.Errors) == 0 {
						t.Errorf("%s built, want errors", o.Source.Name)
					}
					continue
				}
				if got := run(t, o, "undefined"); got != want {
					t.Errorf("%s renders %s, want %s", o.Source.Name, got, want)
				}
			}
		})
	}
	if _, err := b.Rebuild("nope"); err == nil || !strings.Contains(err.Error(), `no source named "nope"`) {
		t.Errorf("Rebuild(unknown) = %v", err)
	}
}

// BenchmarkRebuild compares an incremental rebuild of one source against a
// full Bundle of it (the baseline), in the same run.
func BenchmarkRebuild(b *testing.B) {
	src := engine.Source{Name: "game/arena", URL: "/game/arena.json", File: "sources/game/arena.ts"}
	b.Run("bundler-rebuild", func(b *testing.B) {
		bd, err := NewBundler("testdata/good")
		if err != nil {
			b.Fatal(err)
		}
		defer bd.Close()
		if err := bd.Set([]engine.Source{src}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := bd.Rebuild(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-bundle", func(b *testing.B) {
		for b.Loop() {
			if _, err := Bundle("testdata/good", []engine.Source{src}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
