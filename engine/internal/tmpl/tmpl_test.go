package tmpl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine"
)

// project writes files (path → content) under a temp project root and
// returns the root and its templates directory.
func project(t *testing.T, files map[string]string) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, filepath.Join(root, "templates")
}

func load(t *testing.T, files map[string]string) *Set {
	t.Helper()
	root, dir := project(t, files)
	s, err := Load(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var layout = `{{ define "layout" }}<html><title>{{ template "title" . }}</title>{{ template "_parts/nav.html" . }}<main>{{ template "content" . }}</main></html>{{ end }}`

func TestLayoutAndPartials(t *testing.T) {
	s := load(t, map[string]string{
		"templates/_layout.html":    layout,
		"templates/_parts/nav.html": `<nav>{{ len .Data }} sources</nav>`,
		"templates/index.html":      `{{ define "title" }}Home{{ end }}{{ define "content" }}home{{ end }}{{ template "layout" . }}`,
		"templates/blog/post.html":  `{{ define "title" }}Post{{ end }}{{ define "content" }}post{{ end }}{{ template "layout" . }}`,
		"templates/.hidden.html":    `{{ broken`,
		"templates/notes.txt":       `not a template`,
	})
	if got := strings.Join(s.URLs(), " "); got != "/blog/post.html /index.html" {
		t.Fatalf("pages %q", got)
	}
	out, err := s.RenderAll(map[string][]byte{"a": []byte(`1`), "b": []byte(`2`)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ url, want string }{
		{"/index.html", `<html><title>Home</title><nav>2 sources</nav><main>home</main></html>`},
		{"/blog/post.html", `<html><title>Post</title><nav>2 sources</nav><main>post</main></html>`},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			if got := string(out[tc.url]); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDataAccess(t *testing.T) {
	snapshots := map[string][]byte{
		"clock":      []byte(`{"now": 1700000000123, "tick": 8500000000, "iso": "2023-11-14T22:13:20Z"}`),
		"game/arena": []byte(`{"count": 3}`),
		"chat":       []byte(`{"messages": [{"text": "</script><b>hi</b>"}]}`),
		"x":          []byte(`{"y": 1}`),
		"x/z":        []byte(`{"w": 2}`), // "x" is a source: "x/z" stays flat only
	}
	tests := []struct{ name, tmpl, want string }{
		{"field", `{{ .Data.clock.now }}`, `1.700000000123e&#43;12`}, // float64: use printf "%.0f" for integers,
		{"printf integer", `{{ printf "%.0f" .Data.clock.tick }}`, `8500000000`},
		{"nested name", `{{ .Data.game.arena.count }}`, `3`},
		{"flat name", `{{ (index .Data "game/arena").count }}`, `3`},
		{"prefix is a source", `{{ .Data.x.y }} {{ (index .Data "x/z").w }} {{ .Data.x.z }}`, `1 2 `},
		{"missing source", `{{ with .Data.nope }}yes{{ else }}no{{ end }}`, `no`},
		{"html escaped", `{{ range .Data.chat.messages }}{{ .text }}{{ end }}`, `&lt;/script&gt;&lt;b&gt;hi&lt;/b&gt;`},
		{"json in script", `<script>const d = {{ json .Data.chat }};</script>`, `<script>const d = {"messages":[{"text":"\u003c/script\u003e\u003cb\u003ehi\u003c/b\u003e"}]};</script>`},
		{"formatTime ms", `{{ formatTime "RFC3339" .Data.clock.now }}`, `2023-11-14T22:13:20Z`},
		{"formatTime string", `{{ formatTime "15:04:05" .Data.clock.iso }}`, `22:13:20`},
		{"now and period", `{{ formatTime "DateTime" .Now }} {{ .Period }}`, `2024-01-02 03:04:05 200ms`},
	}
	files := map[string]string{}
	for i, tc := range tests {
		files["templates/"+string(rune('a'+i))+".html"] = tc.tmpl
	}
	s := load(t, files)
	out, err := s.RenderAt(snapshots, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(out["/"+string(rune('a'+i))+".html"]); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func diagnostics(t *testing.T, err error) engine.Diagnostics {
	t.Helper()
	var ds engine.Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("error %v (%T) is not engine.Diagnostics", err, err)
	}
	return ds
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		content  string
		wantLine int
		wantMsg  string
	}{
		{"page", "templates/bad.html", "<p>\nok\n{{ if }}\n</p>", 3, "missing value for if"},
		{"partial", "templates/_parts/bad.html", "{{ define \"x\" }}\n{{ .A | nofunc }}{{ end }}", 2, `function "nofunc" not defined`},
		{"unclosed", "templates/sub/open.html", "a\nb\n{{ range .Data }}", 3, "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, dir := project(t, map[string]string{
				tc.file:               tc.content,
				"templates/good.html": `good`,
			})
			s, err := Load(dir, root)
			ds := diagnostics(t, err)
			if len(ds) != 1 {
				t.Fatalf("diagnostics %v", ds)
			}
			d := ds[0]
			if d.File != tc.file || d.Line != tc.wantLine || !strings.Contains(d.Message, tc.wantMsg) {
				t.Errorf("got %s:%d %q, want %s:%d containing %q", d.File, d.Line, d.Message, tc.file, tc.wantLine, tc.wantMsg)
			}
			if s == nil || !strings.Contains(strings.Join(s.URLs(), " "), "/good.html") {
				t.Errorf("the good page is missing after a parse error elsewhere")
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantLine int
		wantMsg  string
	}{
		{"in page", map[string]string{
			"templates/p.html": "<p>\n{{ formatTime \"RFC3339\" .Data.clock.bad }}\n</p>",
		}, "templates/p.html", 2, "formatTime"},
		{"in layout", map[string]string{
			"templates/_layout.html": "{{ define \"layout\" }}\n<ul>\n{{ index .Data.clock.list 5 }}\n</ul>{{ end }}",
			"templates/p.html":       `{{ template "layout" . }}`,
		}, "templates/_layout.html", 3, "index out of range"},
		{"missing block", map[string]string{
			"templates/p.html": "x\n{{ template \"nope\" . }}",
		}, "templates/p.html", 2, "nope"},
	}
	snapshots := map[string][]byte{"clock": []byte(`{"bad": "yesterday", "list": [1, 2]}`)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.files["templates/ok.html"] = `ok`
			s := load(t, tc.files)
			out, err := s.RenderAll(snapshots)
			ds := diagnostics(t, err)
			if len(ds) != 1 {
				t.Fatalf("diagnostics %v", ds)
			}
			d := ds[0]
			if d.File != tc.wantFile || d.Line != tc.wantLine || !strings.Contains(d.Message, tc.wantMsg) {
				t.Errorf("got %s:%d %q, want %s:%d containing %q", d.File, d.Line, d.Message, tc.wantFile, tc.wantLine, tc.wantMsg)
			}
			if _, ok := out["/p.html"]; ok {
				t.Error("a failed page was returned for publishing")
			}
			if string(out["/ok.html"]) != "ok" {
				t.Error("a good page was not rendered because another failed")
			}
		})
	}
}

func TestMissingDir(t *testing.T) {
	root := t.TempDir()
	s, err := Load(filepath.Join(root, "templates"), root)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.RenderAll(map[string][]byte{"a": []byte(`1`)})
	if err != nil || len(out) != 0 || len(s.URLs()) != 0 {
		t.Fatalf("empty set rendered %v, %v", out, err)
	}
}

func TestRenderOnlyChanges(t *testing.T) {
	s := load(t, map[string]string{
		"templates/a.html": `a={{ .Data.a }}`,
		"templates/b.html": `b={{ .Data.b }}`,
	})
	steps := []struct {
		name      string
		snapshots map[string][]byte
		want      string // changed URLs, sorted
	}{
		{"first render returns all", map[string][]byte{"a": []byte(`1`), "b": []byte(`1`)}, "/a.html /b.html"},
		{"same inputs return nothing", map[string][]byte{"a": []byte(`1`), "b": []byte(`1`)}, ""},
		{"only a's input changed", map[string][]byte{"a": []byte(`2`), "b": []byte(`1`)}, "/a.html"},
		{"insignificant change", map[string][]byte{"a": []byte(` 2 `), "b": []byte(`1`)}, ""},
		{"b removed", map[string][]byte{"a": []byte(`2`)}, "/b.html"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, err := s.RenderAll(st.snapshots)
			if err != nil {
				t.Fatal(err)
			}
			var urls []string
			for u := range out {
				urls = append(urls, u)
			}
			if got := strings.Join(sorted(urls), " "); got != st.want {
				t.Errorf("changed %q, want %q", got, st.want)
			}
		})
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestDemoTemplates keeps the repository's own templates loadable and
// renderable, with and without data.
func TestDemoTemplates(t *testing.T) {
	root := filepath.Join("..", "..", "..") // the repository root is the demo project
	dir := filepath.Join(root, "templates")
	if _, err := os.Stat(dir); err != nil {
		// The repository has them: a miss means this test (or the package)
		// moved, and it must fail rather than stop checking them.
		t.Fatalf("the demo templates are not at %s: %v", dir, err)
	}
	s, err := Load(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, snaps := range []map[string][]byte{
		{},
		{"clock": []byte(`{"now": 1700000000000, "period": 200, "tick": 8500000000, "time": "22:13:20.0", "iso": "2023-11-14T22:13:20.000Z"}`)},
	} {
		if _, err := s.RenderAll(snaps); err != nil {
			t.Errorf("render with %d snapshots: %v", len(snaps), err)
		}
	}
}
