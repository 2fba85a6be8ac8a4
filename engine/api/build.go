package api

// This file implements `jawas build`: every source evaluated once, pages
// rendered, site files copied, into a plain static directory.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/client"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/sqlhost"
	"github.com/jawas/jawas/engine/internal/tmpl"
	"github.com/jawas/jawas/internal/atomicfile"
)

// BuildRow is one file Build wrote.
type BuildRow struct {
	URL         string
	Bytes, Gzip int           // size, and size gzipped (what a static host would send)
	Eval        time.Duration // the source's render; 0 for other files
}

// BuildOptions are Build's choices beside the config.
type BuildOptions struct {
	// FromDataDir renders from the state in serve.data_dir (its checkpoint
	// and the journal after it, read-only: safe while a server runs)
	// instead of each source's initial state.
	FromDataDir bool
}

// BuildResult is what BuildWith wrote, and from which state.
type BuildResult struct {
	Rows  []BuildRow
	State string // where the sources' state came from, in words for the user
}

// Build writes the static site for cfg from each source's initial state.
// The error lists every broken source and template (engine.Diagnostics)
// or names the failed operation.
func Build(cfg *Config, logw io.Writer) ([]BuildRow, error) {
	res, err := BuildWith(cfg, logw, BuildOptions{})
	if err != nil {
		return nil, err
	}
	return res.Rows, nil
}

// BuildWith is Build with options.
func BuildWith(cfg *Config, logw io.Writer, opt BuildOptions) (*BuildResult, error) {
	log := slog.New(slog.NewTextHandler(logw, nil)) // console.log of sources shows
	var (
		proj *period.Project
		err  error
		from = "each source's initial state (the journal in serve.data_dir is not read; --from-data-dir uses it)"
	)
	if opt.FromDataDir {
		var rep replayed
		var db *sqlhost.DB
		proj, rep, db, err = replayDataDir(cfg, log)
		defer db.Close()
		if err == nil {
			from = rep.from(cfg)
			for name, e := range rep.Errors {
				return nil, fmt.Errorf("build --from-data-dir: %s: %w", name, e)
			}
		}
	} else {
		var db *sqlhost.DB
		proj, db, err = loadProject(cfg, log)
		defer db.Close()
	}
	if err != nil {
		return nil, err
	}
	rows, err := build(cfg, logw, proj)
	if err != nil {
		return nil, err
	}
	return &BuildResult{Rows: rows, State: from}, nil
}

// build evaluates proj's sources as they are and writes the site.
func build(cfg *Config, logw io.Writer, proj *period.Project) ([]BuildRow, error) {
	pages, err := tmpl.Load(cfg.Path(cfg.Templates), cfg.Dir)
	if err != nil {
		return nil, err
	}
	outDir := cfg.Path(cfg.Output)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	now := time.Now()
	var rows []BuildRow
	var diags engine.Diagnostics
	data := map[string][]byte{}
	files := map[string][]byte{} // URL → bytes, written at the end
	for _, s := range proj.Sources {
		r, _ := s.Evaluate(now)
		if r.Err != nil {
			if d := s.Status().LastError; d != nil {
				diags = append(diags, *d)
			} else {
				diags = append(diags, engine.Diagnostic{File: s.File, Message: r.Err.Error()})
			}
			continue
		}
		data[s.Name] = r.JSON
		files[s.URL] = r.JSON
		rows = append(rows, BuildRow{URL: s.URL, Bytes: len(r.JSON), Gzip: gzipSize(r.JSON), Eval: r.Took})
	}
	if len(diags) > 0 {
		return nil, diags
	}
	rendered, err := pages.RenderAll(data)
	if err != nil {
		return nil, err
	}
	for url, html := range rendered {
		files[url] = html
		rows = append(rows, BuildRow{URL: url, Bytes: len(html), Gzip: gzipSize(html)})
	}
	// The client library, so pages work on any static host.
	for url, b := range map[string][]byte{"/_jawas/client.js": clientJS(), "/_jawas/client.d.ts": client.DTS} {
		files[url] = b
		rows = append(rows, BuildRow{URL: url, Bytes: len(b), Gzip: gzipSize(b)})
	}
	// site/ files; a template page wins over a site file of the same URL.
	site := cfg.Path(cfg.Site)
	err = filepath.WalkDir(site, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == site {
				return fs.SkipDir
			}
			return err
		}
		name := d.Name()
		if p != site && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(site, p)
		url := "/" + filepath.ToSlash(rel)
		if _, ok := files[url]; ok {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[url] = b
		rows = append(rows, BuildRow{URL: url, Bytes: len(b), Gzip: gzipSize(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build: copy site: %w", err)
	}
	urls := slices.Sorted(maps.Keys(files))
	for _, u := range urls {
		dst := filepath.Join(outDir, filepath.FromSlash(strings.TrimPrefix(u, "/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if err := writeIfChanged(dst, files[u]); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	if err := removeStale(outDir, urls, logw); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	slices.SortFunc(rows, func(a, b BuildRow) int { return strings.Compare(a.URL, b.URL) })
	return rows, nil
}

// buildManifest, in the output directory, lists the files the last build
// wrote (one URL path per line), so the next build can remove those it no
// longer writes — a deleted source's snapshot, a deleted site file —
// without touching anything else in the directory.
const buildManifest = ".jawas-build"

// removeStale removes the files the previous build listed in outDir's
// manifest that urls (this build's, sorted) no longer has, and the
// directories that leaves empty, then writes the new manifest. A line
// that is not a clean path inside outDir is ignored: the manifest only
// ever names what jawas wrote.
func removeStale(outDir string, urls []string, logw io.Writer) error {
	path := filepath.Join(outDir, buildManifest)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, line := range strings.Split(string(old), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, found := slices.BinarySearch(urls, line); found {
			continue
		}
		rel := filepath.FromSlash(strings.TrimPrefix(line, "/"))
		if !strings.HasPrefix(line, "/") || !filepath.IsLocal(rel) || rel == buildManifest {
			continue
		}
		switch err := os.Remove(filepath.Join(outDir, rel)); {
		case err == nil:
			fmt.Fprintf(logw, "jawas build: removed %s (no longer built)\n", line)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		// Empty directories it leaves go too; os.Remove keeps a non-empty one.
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			if os.Remove(filepath.Join(outDir, d)) != nil {
				break
			}
		}
	}
	var b strings.Builder
	b.WriteString("# jawas build wrote these files; the next build removes those it no longer writes.\n")
	for _, u := range urls {
		b.WriteString(u + "\n")
	}
	return writeIfChanged(path, []byte(b.String()))
}

// writeIfChanged keeps the file (and its mtime) when the bytes are equal, so
// rebuilding an unchanged project changes nothing on disk.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return atomicfile.WriteFile(path, b, 0o644, atomicfile.Options{})
}

func gzipSize(b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Len()
}
