package bundle

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine"
)

func TestDiscover(t *testing.T) {
	got, err := Discover("testdata/good", "sources")
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Source{
		{Name: "clock", URL: "/clock.json", File: "sources/clock.js"},
		{Name: "game/arena", URL: "/game/arena.json", File: "sources/game/arena.ts"},
		{Name: "modern", URL: "/modern.json", File: "sources/modern.js"},
		{Name: "pkg", URL: "/pkg.json", File: "sources/pkg.mjs"},
		{Name: "view", URL: "/view.json", File: "sources/view.tsx"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Discover:\n got %+v\nwant %+v", got, want)
	}

	abs, err := filepath.Abs("testdata/good/sources")
	if err != nil {
		t.Fatal(err)
	}
	got2, err := Discover("testdata/good", abs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got2, want) {
		t.Errorf("Discover with absolute sources dir:\n got %+v\nwant %+v", got2, want)
	}
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name, project, sources string
		want                   []string // substrings of the error
		diagnostics            bool
	}{
		{"missing dir", "testdata", "no-such-dir", []string{"sources directory not found", filepath.Join("testdata", "no-such-dir")}, false},
		{"same URL twice", "testdata/dup", "sources", []string{"sources/a.js", "sources/a.ts", "/a.json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs, err := Discover(tt.project, tt.sources)
			if err == nil {
				t.Fatalf("Discover = %v, want error", srcs)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ds engine.Diagnostics
			if errors.As(err, &ds) != tt.diagnostics {
				t.Errorf("error is engine.Diagnostics: %v, want %v", !tt.diagnostics, tt.diagnostics)
			}
		})
	}
}

// run executes a bundle in a fresh goja runtime and returns JSON of
// render(state).
func run(t *testing.T, out Output, state string) string {
	t.Helper()
	vm := goja.New()
	if _, err := vm.RunScript(MapBase, out.Code); err != nil {
		t.Fatalf("%s: run bundle: %v", out.Source.File, err)
	}
	v, err := vm.RunString(`JSON.stringify(` + GlobalName + `.default(` + state + `, {nowMs: 7}))`)
	if err != nil {
		t.Fatalf("%s: render: %v", out.Source.File, err)
	}
	return v.String()
}

func TestBundleGood(t *testing.T) {
	srcs, err := Discover("testdata/good", "sources")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Bundle("testdata/good", srcs)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	want := map[string]string{
		"clock":      `{"now":7}`,
		"game/arena": `{"total":6}`,
		"modern":     `{"answer":42,"zero":0,"deep":"fallback","spread":{"x":1,"y":2},"big":"18446744073709551616"}`,
		"pkg":        `{"said":"HI!"}`,
		"view":       `{"tag":"div","props":{"class":"x"},"children":["hello ",2]}`,
	}
	state := map[string]string{"game/arena": `{players: [{points: [1, 2]}, {points: [3]}]}`}
	for i, out := range outs {
		t.Run(out.Source.Name, func(t *testing.T) {
			if out.Source != srcs[i] {
				t.Fatalf("output %d is for %v, want %v", i, out.Source, srcs[i])
			}
			if len(out.Errors) > 0 {
				t.Fatalf("errors: %v", out.Errors)
			}
			st := state[out.Source.Name]
			if st == "" {
				st = "undefined"
			}
			if got := run(t, out, st); got != want[out.Source.Name] {
				t.Errorf("render = %s, want %s", got, want[out.Source.Name])
			}
		})
	}
}

func TestSourceMapIsProjectRelative(t *testing.T) {
	src := engine.Source{Name: "game/arena", URL: "/game/arena.json", File: "sources/game/arena.ts"}
	outs, err := Bundle("testdata/good", []engine.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	code := outs[0].Code
	const prefix = "//# sourceMappingURL=data:application/json;base64,"
	i := strings.LastIndex(code, prefix)
	if i < 0 {
		t.Fatalf("no inline source map in:\n%s", code)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code[i+len(prefix):]))
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
	}
	if err := json.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	want := []string{"sources/game/arena.ts", "sources/_lib/helper.ts"}
	if !reflect.DeepEqual(sm.Sources, want) {
		t.Errorf("sources = %q, want %q", sm.Sources, want)
	}
	if len(sm.SourcesContent) != 2 || !strings.Contains(sm.SourcesContent[1], "export function score") {
		t.Errorf("sourcesContent missing the helper's text: %q", sm.SourcesContent)
	}
}

func TestBundleBroken(t *testing.T) {
	srcs, err := Discover("testdata/broken", "sources")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Bundle("testdata/broken", srcs)
	var ds engine.Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("Bundle error = %v, want engine.Diagnostics", err)
	}
	byName := map[string]Output{}
	for _, o := range outs {
		byName[o.Source.Name] = o
	}
	if o := byName["ok"]; len(o.Errors) > 0 || !strings.Contains(o.Code, GlobalName) {
		t.Errorf("good source in a broken project: errors %v, code %d bytes", o.Errors, len(o.Code))
	}

	tests := []struct {
		name          string
		file          string
		line, column  int
		message       string
		frameContains string
	}{
		{"syntax error", "sources/bad1.js", 4, 10, `Expected ":" but found "x"`, "> 4 |   return x;\n    |          ^"},
		{"missing helper", "sources/bad2.ts", 1, 22, `Could not resolve "./_missing"` + "\n  note: a relative import names a file next to the importing one", `> 1 | import { nope } from "./_missing";`},
		{"missing package", "sources/bad2.ts", 2, 23, `Could not resolve "no-such-package"` + "\n  note: jawas bundles packages from node_modules/ next to jawas.toml: install it there (npm install PACKAGE)", `  1 | import { nope }`},
		{"node built-in", "sources/bad3.js", 1, 30, `Could not resolve "node:fs"` + "\n  note: jawas runs sources in its own JavaScript runtime, not in Node.js", `> 1 | import { readFileSync } from "node:fs";`},
	}
	for _, d := range ds {
		// esbuild's advice is about its Go API, which authors cannot set.
		if strings.Contains(d.Message, "api.") || strings.Contains(d.Message, "Platform") || strings.Contains(d.Message, "as external") {
			t.Errorf("diagnostic with esbuild's API advice: %s", d.Error())
		}
	}
	if len(ds) != len(tests) {
		t.Errorf("got %d diagnostics, want %d:\n%v", len(ds), len(tests), ds)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var found *engine.Diagnostic
			for i := range ds {
				if ds[i].File == tt.file && ds[i].Line == tt.line {
					found = &ds[i]
				}
			}
			if found == nil {
				t.Fatalf("no diagnostic at %s:%d in:\n%v", tt.file, tt.line, ds)
			}
			if found.Column != tt.column || !strings.Contains(found.Message, tt.message) {
				t.Errorf("got %s, want column %d and message %q", found.Error(), tt.column, tt.message)
			}
			if !strings.Contains(found.Frame, tt.frameContains) {
				t.Errorf("frame does not contain %q:\n%s", tt.frameContains, found.Frame)
			}
		})
	}
}

func TestCodeFrame(t *testing.T) {
	text := "a\n\tbb\nccc\nd"
	tests := []struct {
		line, col int
		want      string
	}{
		{1, 1, "> 1 | a\n    | ^\n  2 | \tbb"},
		{2, 3, "  1 | a\n> 2 | \tbb\n    | \t ^\n  3 | ccc"},
		{4, 0, "  3 | ccc\n> 4 | d"},
		{5, 1, ""},
	}
	for _, tt := range tests {
		if got := CodeFrame(text, tt.line, tt.col); got != tt.want {
			t.Errorf("CodeFrame(%d,%d) =\n%s\nwant\n%s", tt.line, tt.col, got, tt.want)
		}
	}
}
