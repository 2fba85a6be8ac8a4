// Package tmpl owns page templates: html/template files under a project's
// templates/ directory, rendered with every current snapshot as data into
// pseudo-static HTML pages that the engine publishes like snapshots.
//
// It must never publish, serve or fetch anything, and never render per
// request: the engine renders once when a snapshot changed, and only pages
// whose output changed are returned.
//
// # Files and URLs
//
//	templates/index.html        → page "/index.html" (servers map "/" to it)
//	templates/blog/post.html    → page "/blog/post.html"
//	templates/_layout.html      → partial: parsed into every page, not a page
//	templates/_parts/nav.html   → partial too (a folder starting with "_")
//
// Files and folders starting with "." are ignored. Each page is parsed into
// its own clone of the partials, so pages may each {{define}} the same block
// names ("title", "content") for a shared layout. A template is named by its
// path under templates/ ("_layout.html", "blog/post.html"), so
// {{template "_layout.html" .}} also works.
//
// # Data
//
// A page executes with a Data value:
//
//	.Data.clock.now          source "clock": its snapshot JSON, decoded
//	.Data.game.arena         source "game/arena", nested by path segment
//	index .Data "game/arena" the same, always works (flat key)
//	.Now                     the render time
//	.Period                  Set.Period (the project's default period)
//
// JSON is decoded with encoding/json defaults (numbers are float64, so
// {{printf "%.0f" .Data.clock.tick}} prints an integer). When a source name
// is also a prefix of another ("game" and "game/arena"), .Data.game is the
// "game" snapshot and "game/arena" is reachable only by the flat key.
//
// Template functions: json (a value as JSON, safe inside <script> and
// attributes), formatTime (layout, time.Time | unix ms number | RFC 3339
// string; layout may be a Go layout or "RFC3339", "RFC1123", "Kitchen",
// "DateTime", "DateOnly", "TimeOnly").
//
// # Use
//
//	set, err := tmpl.Load(filepath.Join(root, "templates"), root) // err: engine.Diagnostics
//	pages, err := set.RenderAll(latest) // URL → HTML of pages that changed
//
// A Set is used by one goroutine at a time (it remembers the last inputs
// and outputs so that unchanged pages are not returned again).
package tmpl

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jawas/jawas/engine"
)

// Data is what a page template executes with.
type Data struct {
	Data   map[string]any // source name → decoded snapshot, see the package doc
	Now    time.Time
	Period time.Duration
}

// Set is every page of a templates directory, parsed.
type Set struct {
	// Period is passed to templates as .Period; Load sets 200 ms, the caller
	// may set the project's default.
	Period time.Duration

	dir   string // templates directory on disk
	rel   string // its project-relative, slash-separated path, e.g. "templates"
	pages []*page

	lastInputs [32]byte            // hash of the last rendered inputs
	rendered   bool                // lastInputs is valid
	lastOut    map[string][32]byte // URL → hash of the last returned output
}

type page struct {
	url  string // "/blog/post.html"
	name string // "blog/post.html", the template name
	t    *template.Template
}

// Load parses every template under dir. root is the project directory, used
// to name files in diagnostics ("templates/index.html"). A missing dir gives
// an empty Set. Parse errors are returned as engine.Diagnostics with file and
// line; the pages that did parse are still in the returned Set.
func Load(dir, root string) (*Set, error) {
	s := &Set{Period: 200 * time.Millisecond, dir: dir, rel: relTo(root, dir), lastOut: map[string][32]byte{}}
	var partials, pages []string // names relative to dir, slash-separated
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if p == dir {
			return nil
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(base, ".html") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if isPartial(rel) {
			partials = append(partials, rel)
		} else {
			pages = append(pages, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	sort.Strings(partials)
	sort.Strings(pages)

	var diags engine.Diagnostics
	base := template.New("").Funcs(funcs)
	for _, name := range partials {
		if err := s.parseFile(base, name); err != nil {
			diags = append(diags, s.diagnostic(err, name))
		}
	}
	for _, name := range pages {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("load templates: clone partials: %w", err)
		}
		if err := s.parseFile(t, name); err != nil {
			diags = append(diags, s.diagnostic(err, name))
			continue
		}
		s.pages = append(s.pages, &page{url: "/" + name, name: name, t: t})
	}
	if len(diags) > 0 {
		return s, diags
	}
	return s, nil
}

func isPartial(rel string) bool {
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, "_") {
			return true
		}
	}
	return false
}

func relTo(root, dir string) string {
	if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(dir)
}

func (s *Set) parseFile(t *template.Template, name string) error {
	text, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(name)))
	if err != nil {
		return fmt.Errorf("read template: %w", err)
	}
	_, err = t.New(name).Parse(string(text))
	return err
}

// URLs returns the URL of every page, sorted, so the caller can delete
// published pages whose templates are gone.
func (s *Set) URLs() []string {
	urls := make([]string, len(s.pages))
	for i, p := range s.pages {
		urls[i] = p.url
	}
	return urls
}

// RenderAll renders the pages with snapshots (source name → snapshot JSON)
// at the current time. See RenderAt.
func (s *Set) RenderAll(snapshots map[string][]byte) (map[string][]byte, error) {
	return s.RenderAt(snapshots, time.Now())
}

// RenderAt renders every page with snapshots as data and returns the pages
// whose HTML differs from what this Set returned before (all of them on the
// first call). When snapshots are exactly the last rendered ones, nothing is
// rendered and the result is empty. A page that fails is left out (its
// previous HTML stays published) and reported in the returned
// engine.Diagnostics, with file:line when the template names one.
func (s *Set) RenderAt(snapshots map[string][]byte, now time.Time) (map[string][]byte, error) {
	key := inputsKey(snapshots)
	if s.rendered && key == s.lastInputs {
		return map[string][]byte{}, nil
	}
	var diags engine.Diagnostics
	data := Data{Data: map[string]any{}, Now: now, Period: s.Period}
	names := slices.Sorted(maps.Keys(snapshots))
	for _, name := range names {
		var v any
		if err := json.Unmarshal(snapshots[name], &v); err != nil {
			diags = append(diags, engine.Diagnostic{Message: fmt.Sprintf("snapshot %s is not JSON: %v", name, err)})
			continue
		}
		data.Data[name] = v
	}
	nest(data.Data, names)

	out := map[string][]byte{}
	var buf bytes.Buffer
	for _, p := range s.pages {
		buf.Reset()
		if err := p.t.ExecuteTemplate(&buf, p.name, data); err != nil {
			diags = append(diags, s.diagnostic(err, p.name))
			continue
		}
		sum := sha256.Sum256(buf.Bytes())
		if last, ok := s.lastOut[p.url]; ok && last == sum {
			continue
		}
		s.lastOut[p.url] = sum
		out[p.url] = bytes.Clone(buf.Bytes())
	}
	s.lastInputs, s.rendered = key, true
	if len(diags) > 0 {
		return out, diags
	}
	return out, nil
}

// inputsKey hashes the snapshots, names included, independent of map order.
func inputsKey(snapshots map[string][]byte) [32]byte {
	names := slices.Sorted(maps.Keys(snapshots))
	h := sha256.New()
	var n [8]byte
	for _, name := range names {
		for _, b := range [][]byte{[]byte(name), snapshots[name]} {
			l := len(b)
			for i := range n {
				n[i] = byte(l >> (8 * i))
			}
			h.Write(n[:])
			h.Write(b)
		}
	}
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// nest makes "game/arena" reachable as .Data.game.arena when no source owns
// the intermediate names. names is sorted.
func nest(data map[string]any, names []string) {
	for _, name := range names {
		parts := strings.Split(name, "/")
		if len(parts) < 2 {
			continue
		}
		v, ok := data[name]
		if !ok {
			continue // not JSON: reported, left out
		}
		m := data
		for i := range len(parts) - 1 {
			if isSourceName(names, strings.Join(parts[:i+1], "/")) {
				m = nil // "game" is a source itself: "game/arena" stays flat only
				break
			}
			next, ok := m[parts[i]].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[parts[i]] = next
			}
			m = next
		}
		if m != nil {
			m[parts[len(parts)-1]] = v
		}
	}
}

func isSourceName(names []string, name string) bool {
	i := sort.SearchStrings(names, name)
	return i < len(names) && names[i] == name
}

// errLocation matches the location text/template and html/template put in
// their errors: "template: index.html:12:5: ..." or "html/template:index.html:12: ...".
var errLocation = regexp.MustCompile(`(?s)^(?:html/)?template: ?(.+?):(\d+)(?::(\d+))?: (.*)$`)

// diagnostic turns a template error into a Diagnostic located in the
// author's file; fallback names the file when the error does not.
func (s *Set) diagnostic(err error, fallback string) engine.Diagnostic {
	d := engine.Diagnostic{File: path.Join(s.rel, fallback), Message: err.Error()}
	m := errLocation.FindStringSubmatch(err.Error())
	if m == nil {
		return d
	}
	name := m[1]
	// Execution errors read `name:line:col: executing "page" at <.X>: msg`.
	d.File = path.Join(s.rel, name)
	d.Line, _ = strconv.Atoi(m[2])
	d.Column, _ = strconv.Atoi(m[3])
	d.Message = m[4]
	return d
}
