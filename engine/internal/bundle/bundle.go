// Package bundle turns an author's data sources into JavaScript that the
// jsvm package can run: it discovers the sources under the sources directory
// and bundles each one with esbuild into a self-contained IIFE whose exports
// are properties of the global GlobalName, with an inline source map that
// names the author's own files (project-relative) and carries their content.
//
// bundle is the only jawas package that imports esbuild. It never runs the
// code it produces and never writes files: bundles live in memory.
package bundle

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/jawas/jawas/engine"
)

// GlobalName is the global variable the bundle's IIFE assigns the source's
// module namespace (its exports) to.
const GlobalName = "__jawas"

// MapBase is the name, relative to the project directory, that bundles are
// built as. The inline source map's "sources" are relative to it, so they are
// project-relative paths ("sources/game/arena.ts"). A runtime that names the
// bundle MapBase resolves them to exactly those paths.
const MapBase = "jawas.bundle.js"

// Output is the bundle of one source. When Errors is not empty, Code is empty
// and the source cannot be run.
type Output struct {
	Source engine.Source
	Code   string             // an IIFE assigning the exports to GlobalName, with an inline source map
	Errors engine.Diagnostics // the author's build errors, located in the author's files
}

// Discover lists the sources under sourcesDir (absolute, or relative to
// projectDir), sorted by name. Files and folders starting with "_" (helpers)
// or "." and anything under node_modules are not sources. Two files that
// would be served at the same URL ("a.js" and "a.ts") are an
// engine.Diagnostics naming both.
func Discover(projectDir, sourcesDir string) ([]engine.Source, error) {
	root := sourcesDir
	if !filepath.IsAbs(root) {
		root = filepath.Join(projectDir, root)
	}
	info, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sources directory not found: %s", root)
		}
		return nil, fmt.Errorf("discover sources: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("sources directory is not a directory: %s", root)
	}

	var srcs []engine.Source
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if rel != "." && (strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") || base == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		name, ok := engine.SourceName(filepath.ToSlash(rel))
		if !ok {
			return nil
		}
		file, err := projectRel(projectDir, p)
		if err != nil {
			return err
		}
		srcs = append(srcs, engine.Source{Name: name, URL: engine.URLFor(name), File: file})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("discover sources in %s: %w", root, err)
	}
	slices.SortFunc(srcs, func(a, b engine.Source) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.File, b.File))
	})

	var dups engine.Diagnostics
	for i := 1; i < len(srcs); i++ {
		if srcs[i].Name == srcs[i-1].Name {
			dups = append(dups, engine.Diagnostic{
				File: srcs[i].File,
				Message: fmt.Sprintf("%s and %s are both served at %s; rename or remove one",
					srcs[i-1].File, srcs[i].File, srcs[i].URL),
			})
		}
	}
	if len(dups) > 0 {
		return nil, dups
	}
	return srcs, nil
}

// projectRel returns p relative to projectDir as a slash path.
func projectRel(projectDir, p string) (string, error) {
	absProject, err := filepath.Abs(projectDir)
	if err != nil {
		return "", fmt.Errorf("resolve project dir: %w", err)
	}
	absP, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	rel, err := filepath.Rel(absProject, absP)
	if err != nil {
		return "", fmt.Errorf("relate %s to project: %w", p, err)
	}
	return filepath.ToSlash(rel), nil
}

// Bundle bundles every source, concurrently. Every source gets an Output, in
// the order of srcs. When any source failed, the error is an
// engine.Diagnostics listing every error of every broken source; the good
// sources' Outputs are usable all the same.
func Bundle(projectDir string, srcs []engine.Source) ([]Output, error) {
	absProject, err := filepath.Abs(projectDir)
	if err != nil {
		return nil, fmt.Errorf("bundle: resolve project dir: %w", err)
	}
	outs := make([]Output, len(srcs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = fromResult(absProject, src, api.Build(buildOptions(absProject, src)))
		}()
	}
	wg.Wait()
	return outs, joinErrors(outs)
}

// joinErrors gathers the diagnostics of every output, or returns nil.
func joinErrors(outs []Output) error {
	var all engine.Diagnostics
	for _, o := range outs {
		all = append(all, o.Errors...)
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

// buildOptions are the esbuild options a source is bundled with. absProject must
// be absolute.
func buildOptions(absProject string, src engine.Source) api.BuildOptions {
	nodeModules := filepath.Join(absProject, "node_modules")
	return api.BuildOptions{
		EntryPoints:   []string{filepath.FromSlash(src.File)},
		AbsWorkingDir: absProject,
		Bundle:        true,
		Write:         false,
		Format:        api.FormatIIFE,
		GlobalName:    GlobalName,
		Platform:      api.PlatformNeutral,
		// The neutral platform resolves no package.json fields by default.
		MainFields: []string{"module", "main"},
		NodePaths:  []string{nodeModules},
		// goja runs ES2017 plus a few later features; esbuild lowers the rest
		// (object spread, class fields, optional chaining, ??, ...).
		Target:         api.ES2017,
		Supported:      map[string]bool{"bigint": true},
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentInclude,
		// Not written; fixes the directory the source map's paths are relative to.
		Outfile:  filepath.Join(absProject, MapBase),
		Charset:  api.CharsetUTF8,
		LogLevel: api.LogLevelSilent,
		Loader: map[string]api.Loader{
			".js": api.LoaderJS, ".mjs": api.LoaderJS, ".jsx": api.LoaderJSX,
			".ts": api.LoaderTS, ".tsx": api.LoaderTSX, ".json": api.LoaderJSON,
		},
		Plugins: []api.Plugin{runtimeModule},
	}
}

// RuntimeModule is the module the runtime provides to sources:
// `import { readFile, readJSON, env, db } from "jawas"`.
const RuntimeModule = "jawas"

// runtimeModuleSrc is what "jawas" bundles to: the exports of the host
// object the runtime installs (engine/jsvm, host.go) under
// Symbol.for("jawas.host"). Importing a name it does not export is a build
// error at the import, with the names it has.
const runtimeModuleSrc = `const h = globalThis[Symbol.for("jawas.host")];
export const readFile = h.readFile;
export const readJSON = h.readJSON;
export const env = h.env;
export const db = h.db;
`

// runtimeModule resolves "jawas" to runtimeModuleSrc instead of looking for
// a package.
var runtimeModule = api.Plugin{
	Name: "jawas-runtime",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: "^" + RuntimeModule + "$"}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
			return api.OnResolveResult{Path: RuntimeModule, Namespace: "jawas-runtime"}, nil
		})
		b.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: "jawas-runtime"}, func(api.OnLoadArgs) (api.OnLoadResult, error) {
			src := runtimeModuleSrc
			return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
		})
	},
}

// fromResult turns an esbuild result into an Output.
func fromResult(absProject string, src engine.Source, res api.BuildResult) Output {
	out := Output{Source: src}
	for _, m := range res.Errors {
		out.Errors = append(out.Errors, diagnostic(absProject, src, m))
	}
	if len(out.Errors) > 0 {
		return out
	}
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, ".js") {
			out.Code = string(f.Contents)
		}
	}
	if out.Code == "" {
		out.Errors = engine.Diagnostics{{File: src.File, Message: "esbuild produced no JavaScript output"}}
	}
	return out
}

// diagnostic turns an esbuild message into a Diagnostic located in the
// author's file, with a code frame.
func diagnostic(absProject string, src engine.Source, m api.Message) engine.Diagnostic {
	d := engine.Diagnostic{File: src.File, Message: m.Text}
	notes := 0
	for _, n := range m.Notes {
		if text := authorNote(n.Text); text != "" {
			d.Message += "\n  note: " + text
			notes++
		}
	}
	if notes == 0 {
		if spec, ok := strings.CutPrefix(m.Text, `Could not resolve "`); ok && (strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../")) {
			d.Message += "\n  note: a relative import names a file next to the importing one (the extension may be left out: .ts, .tsx, .js, .mjs, .jsx, .json, or a folder's index); check the path and the file's name"
		}
	}
	loc := m.Location
	if loc == nil {
		return d
	}
	d.File = filepath.ToSlash(loc.File)
	if filepath.IsAbs(loc.File) {
		if rel, err := projectRel(absProject, loc.File); err == nil {
			d.File = rel
		}
	}
	d.Line = loc.Line
	d.Column = loc.Column + 1
	if text, err := os.ReadFile(filepath.Join(absProject, filepath.FromSlash(d.File))); err == nil {
		d.Frame = CodeFrame(string(text), d.Line, d.Column)
	}
	if d.Frame == "" {
		d.Frame = CodeFrame(loc.LineText, 1, d.Column)
	}
	if loc.Suggestion != "" {
		d.Message += fmt.Sprintf(" (did you mean %q?)", loc.Suggestion)
	}
	return d
}

// authorNote rewrites an esbuild note for a jawas author: esbuild's advice
// is about its own Go API (platforms, externals), which an author cannot
// set; say what to do in jawas terms instead. "" drops the note.
func authorNote(text string) string {
	switch {
	case strings.Contains(text, "is built into node"):
		return "jawas runs sources in its own JavaScript runtime, not in Node.js: Node's built-in modules (fs, path, http, ...) do not exist there. " +
			"A source computes its snapshot from its state, its writes and ctx; data it needs from files can be a .json or .ts module under sources/ (imported, bundled), " +
			"and packages from node_modules/ work when they do not need Node"
	case strings.Contains(text, "as external to exclude it from the bundle"):
		return "jawas bundles packages from node_modules/ next to jawas.toml: install it there (npm install PACKAGE), or check its name"
	}
	return text
}

// CodeFrame renders up to three lines of text around line (1-based) with a
// caret under column (1-based, in bytes), like:
//
//	  2 | const a = 1
//	> 3 | const b = a +
//	    |             ^
//
// It returns "" when line is not in text.
func CodeFrame(text string, line, column int) string {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	first, last := max(line-1, 1), min(line+1, len(lines))
	width := len(fmt.Sprint(last))
	var b strings.Builder
	for n := first; n <= last; n++ {
		l := strings.TrimRight(lines[n-1], "\r")
		mark := "  "
		if n == line {
			mark = "> "
		}
		fmt.Fprintf(&b, "%s%*d | %s\n", mark, width, n, l)
		if n == line && column > 0 {
			// Keep tabs so the caret lines up under the same character.
			pad := []byte(l[:min(column-1, len(l))])
			for i, c := range pad {
				if c != '\t' {
					pad[i] = ' '
				}
			}
			fmt.Fprintf(&b, "  %*s | %s^\n", width, "", pad)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Minify shrinks an ES module (the browser client library) with esbuild:
// whitespace, syntax and local names; exports keep their names.
func Minify(js []byte, sourcefile string) ([]byte, error) {
	res := api.Transform(string(js), api.TransformOptions{
		Sourcefile:        sourcefile,
		Loader:            api.LoaderJS,
		Format:            api.FormatESModule,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
	})
	if len(res.Errors) > 0 {
		m := res.Errors[0]
		loc := sourcefile
		if m.Location != nil {
			loc = fmt.Sprintf("%s:%d:%d", sourcefile, m.Location.Line, m.Location.Column+1)
		}
		return nil, fmt.Errorf("minify %s: %s", loc, m.Text)
	}
	return res.Code, nil
}
