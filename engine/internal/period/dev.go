package period

// This file implements dev mode's engine side (`jawas serve --dev`): a Dev
// reloads sources, templates and config when files change, keeps running
// what still works while an author's file is broken, and publishes a small
// dev snapshot, /_jawas/dev.json, through the same store as every snapshot.
// Open pages poll it once per period like any snapshot (our epoll core has
// no streaming responses, and a 304 per period costs nothing): a new
// `build` reloads them, a non-empty `errors` shows an overlay.

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/bundle"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/tmpl"
)

// DevURL is where dev mode publishes its state.
const DevURL = "/_jawas/dev.json"

// DevTag is injected into every page's <head> in dev mode: the demo (and
// any page) recognises dev mode by the meta tag, and the module script
// starts the live-reload hook even on pages that do not call it
// themselves (connectDev is idempotent).
const DevTag = `<meta name="jawas-dev"><script type="module">import{connectDev}from"/_jawas/client.js";connectDev()</script>`

// DevState is the body of /_jawas/dev.json.
type DevState struct {
	// Build changes whenever a site file, a template or the config changed:
	// open pages reload when it does. Source changes do not bump it: their
	// data just arrives through the normal watchers.
	Build uint64 `json:"build"`
	// Errors are the author's current errors (bundling, loading, templates,
	// the last evaluation of each source), with file:line and a code frame.
	Errors engine.Diagnostics `json:"errors"`
}

// Dev is the dev-mode controller of one engine.
//
// Threading: Changed is called by the watcher goroutine (never
// concurrently with itself); the dev snapshot is published from the
// Scheduler's publisher goroutine; state shared by both is under mu.
type Dev struct {
	Log *slog.Logger
	// Report, when set, is called with new author errors (to print them in
	// the terminal with their code frames). Watcher goroutine or caller of
	// NewDev.
	Report func(engine.Diagnostics)
	// Adopt, when set, hands the state of a source's running code (old;
	// nil for a new source) to its newly loaded code s, and may refuse (a
	// failed migrate): then old keeps running. The engine sets it to the
	// journal applier's (engine/internal/writes/lifecycle.go); without it
	// the state is carried over as it is. Watcher goroutine.
	Adopt func(old, s *Source) error

	cfg         *config.Config
	reconfigure func(*config.Config) error // Options.Reconfigure
	bundler     *bundle.Bundler
	proj        *Project
	pages       *tmpl.Set
	codes       map[string]string // source name → bundle code its runtime runs
	sched       *Scheduler

	// What the last reload found broken, by kind (watcher goroutine).
	srcErrs, tmplErrs, cfgErrs engine.Diagnostics

	mu        sync.Mutex
	period    time.Duration      // dev.json's period: the project's default
	build     uint64             // published build (publisher applies it)
	loadErrs  engine.Diagnostics // published load errors
	published []byte             // last dev.json body put; publisher only
}

// NewDev loads the project for dev mode. Unlike Load, broken sources and
// templates are not fatal: the rest runs, and their errors are reported and
// published. Only a project that cannot be read at all is an error.
func NewDev(cfg *config.Config, log *slog.Logger, report func(engine.Diagnostics)) (*Dev, error) {
	return NewDevWith(cfg, Options{Log: log}, report)
}

// NewDevWith is NewDev with Options.
func NewDevWith(cfg *config.Config, opt Options, report func(engine.Diagnostics)) (*Dev, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	b, err := bundle.NewBundler(cfg.Dir)
	if err != nil {
		return nil, err
	}
	d := &Dev{Log: log, Report: report, cfg: cfg, bundler: b, codes: map[string]string{}, build: 1, period: cfg.Period.Duration,
		reconfigure: opt.Reconfigure}
	d.proj = &Project{Config: cfg, byName: map[string]*Source{}, log: log, host: hostFor(cfg, opt.DB)}
	d.reloadSources(true)
	d.reloadTemplates()
	d.loadErrs = d.allErrs()
	if len(d.loadErrs) > 0 && report != nil {
		report(d.loadErrs)
	}
	return d, nil
}

// Project is the project as loaded now (watcher goroutine, or before Run).
func (d *Dev) Project() *Project { return d.proj }

// Pages are the templates as loaded now (watcher goroutine, or before Run).
func (d *Dev) Pages() *tmpl.Set { return d.pages }

// Roots are what dev mode watches: sources, site, templates and jawas.toml.
func (d *Dev) Roots() []string {
	return []string{d.cfg.Path(d.cfg.Sources), d.cfg.Path(d.cfg.Site), d.cfg.Path(d.cfg.Templates), filepath.Join(d.cfg.Dir, config.FileName)}
}

// Attach makes sc's pages carry the live-reload tag and returns the hook
// that publishes dev.json with every commit; the caller puts it in
// sc.Hooks. Call before sc.Run.
func (d *Dev) Attach(sc *Scheduler) Hook {
	d.sched = sc
	sc.PageFilter = func(_ string, html []byte) []byte { return InjectDevTag(html) }
	return Hook{Name: "dev", BeforeCommit: d.publish}
}

// Close releases the bundler's esbuild contexts.
func (d *Dev) Close() { d.bundler.Close() }

// InjectDevTag puts DevTag right after the <head> tag; in a page without
// one, after the <html> tag, else after the <!doctype> (and anything
// before it), else at the start. Never before the doctype: a page whose
// doctype is not first is rendered in quirks mode.
func InjectDevTag(html []byte) []byte {
	at := devTagAt(html)
	out := make([]byte, 0, len(html)+len(DevTag))
	out = append(out, html[:at]...)
	out = append(out, DevTag...)
	return append(out, html[at:]...)
}

// devTagAt returns where InjectDevTag inserts the tag (see there). Tag
// names are case-insensitive; "<header" is not "<head".
func devTagAt(html []byte) int {
	lower := bytes.ToLower(html)
	afterTag := func(name string) int {
		for from := 0; ; {
			i := bytes.Index(lower[from:], []byte("<"+name))
			if i < 0 {
				return -1
			}
			i += from
			j := i + 1 + len(name)
			if j < len(lower) && (lower[j] == '>' || lower[j] == ' ' || lower[j] == '\t' || lower[j] == '\n' || lower[j] == '\r' || lower[j] == '/') {
				if end := bytes.IndexByte(lower[j:], '>'); end >= 0 {
					return j + end + 1
				}
				return -1
			}
			from = j
		}
	}
	if at := afterTag("head"); at >= 0 {
		return at
	}
	if at := afterTag("html"); at >= 0 {
		return at
	}
	if i := bytes.Index(lower, []byte("<!doctype")); i >= 0 {
		if end := bytes.IndexByte(lower[i:], '>'); end >= 0 {
			return i + end + 1
		}
	}
	return 0
}

// Changed handles a batch of changed paths from the watcher: it reloads
// what they affect and hands the result to the scheduler.
func (d *Dev) Changed(paths []string) {
	var src, tpl, site, cfg bool
	under := func(p, dir string) bool {
		dir = d.cfg.Path(dir)
		return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
	}
	for _, p := range paths {
		switch {
		case p == filepath.Join(d.cfg.Dir, config.FileName):
			cfg = true
		case under(p, d.cfg.Sources):
			src = true
		case under(p, d.cfg.Templates):
			tpl = true
		case under(p, d.cfg.Site):
			site = true
		}
	}
	bump := site
	if cfg {
		if d.reloadConfig() {
			src, tpl, bump = true, true, true
		}
	}
	var proj *Project
	var pages *tmpl.Set
	if src && d.reloadSources(cfg) {
		proj = d.proj
	}
	if tpl && d.reloadTemplates() {
		pages = d.pages
		bump = true
	}
	errs := d.allErrs()
	newErrs := errs
	d.mu.Lock()
	if sameDiags(errs, d.loadErrs) {
		newErrs = nil
	}
	d.mu.Unlock()
	if len(newErrs) > 0 && d.Report != nil {
		d.Report(newErrs)
	} else if len(errs) == 0 && d.hadErrs() {
		d.Log.Info("dev: every error is fixed")
	}
	d.Log.Info("dev: reloaded", "sources", src, "templates", tpl, "site", site, "config", cfg, "errors", len(errs))
	d.sched.Reload(proj, pages, func() { // on the publisher, with the change
		d.mu.Lock()
		if bump {
			d.build++
		}
		d.loadErrs = errs
		d.mu.Unlock()
	})
}

func (d *Dev) hadErrs() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.loadErrs) > 0
}

func (d *Dev) allErrs() engine.Diagnostics {
	var all engine.Diagnostics
	all = append(all, d.cfgErrs...)
	all = append(all, d.srcErrs...)
	all = append(all, d.tmplErrs...)
	return all
}

func sameDiags(a, b engine.Diagnostics) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reloadConfig re-reads jawas.toml; a broken one is reported and the
// running config kept. Settings that need a restart (serve.*) are only
// taken by a restart.
func (d *Dev) reloadConfig() bool {
	cfg, err := config.Load(d.cfg.Dir)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil && d.reconfigure != nil {
		err = d.reconfigure(cfg)
	}
	if err != nil {
		d.cfgErrs = engine.Diagnostics{{File: config.FileName, Message: err.Error()}}
		return false
	}
	d.cfgErrs = nil
	cfg.Serve = d.cfg.Serve // listen, workers, data_dir…: restart only
	d.cfg = cfg
	d.mu.Lock()
	d.period = cfg.Period.Duration
	d.mu.Unlock()
	d.proj.Config = cfg
	return true
}

// reloadSources rediscovers and rebundles the sources (esbuild reuses the
// parse of unchanged files) and loads a new runtime only for sources whose
// bundle changed (all of them when all is set). A source that no longer
// builds or loads keeps running its last good code. It reports whether the
// set of running sources changed.
func (d *Dev) reloadSources(all bool) bool {
	srcs, err := bundle.Discover(d.cfg.Dir, d.cfg.Path(d.cfg.Sources))
	if err != nil {
		d.srcErrs = asDiags(err, d.cfg.Sources)
		return false
	}
	var diags engine.Diagnostics
	if err := d.bundler.Set(srcs); err != nil {
		d.srcErrs = asDiags(err, d.cfg.Sources)
		return false
	}
	outs, _ := d.bundler.Rebuild() // per-output errors are in outs
	next := &Project{Config: d.cfg, byName: map[string]*Source{}, log: d.Log, host: d.proj.host}
	if all { // the config may have changed: env.allow, fetch.*
		next.host = hostFor(d.cfg, d.proj.host.DB)
	}
	changed := false
	for _, out := range outs {
		old := d.proj.Source(out.Source.Name)
		keep := func() {
			if old != nil && old.Source == out.Source {
				next.Sources = append(next.Sources, old)
				next.byName[old.Name] = old
			} else {
				changed = true
			}
		}
		if len(out.Errors) > 0 {
			diags = append(diags, out.Errors...)
			keep()
			continue
		}
		if !all && old != nil && old.Source == out.Source && d.codes[out.Source.Name] == out.Code {
			keep()
			continue
		}
		s, ds := loadSource(d.cfg, out, d.Log, next.host)
		if ds != nil {
			diags = append(diags, ds...)
			keep()
			continue
		}
		switch {
		case d.Adopt != nil:
			if err := d.Adopt(old, s); err != nil { // a failed migrate: the old code keeps running
				diags = append(diags, asDiags(err, out.Source.File)...)
				keep()
				continue
			}
		case old != nil:
			carryState(old, s)
		}
		d.codes[s.Name] = out.Code
		next.Sources = append(next.Sources, s)
		next.byName[s.Name] = s
		changed = true
	}
	if len(next.Sources) != len(d.proj.Sources) {
		changed = true
	}
	for name := range d.codes {
		if next.Source(name) == nil {
			delete(d.codes, name)
		}
	}
	diags = append(diags, UnknownSourceConfigs(d.cfg, srcs)...)
	slices.SortStableFunc(diags, func(a, b engine.Diagnostic) int { return strings.Compare(a.File, b.File) })
	d.srcErrs = diags
	if changed {
		d.proj = next
	}
	return changed
}

// carryState moves a source's state to its new code, so an edit keeps the
// data (chat messages, players) instead of starting from `initial`. The old
// runtime is touched only when it is not evaluating.
func carryState(old, s *Source) {
	if !old.busy.CompareAndSwap(false, true) {
		return
	}
	state := old.mod.State()
	old.busy.Store(false)
	if len(state) > 0 {
		_ = s.mod.SetState(state) // a state the new code refuses: it starts from initial
	}
}

// reloadTemplates parses the templates again; while any is broken the last
// good set stays published. It reports whether a new set was loaded.
func (d *Dev) reloadTemplates() bool {
	set, err := tmpl.Load(d.cfg.Path(d.cfg.Templates), d.cfg.Dir)
	if err != nil {
		d.tmplErrs = asDiags(err, d.cfg.Templates)
		if d.pages == nil && set != nil {
			set.Period = d.cfg.Period.Duration
			d.pages = set // at start, the pages that did parse
		}
		return false
	}
	set.Period = d.cfg.Period.Duration
	d.tmplErrs = nil
	d.pages = set
	return true
}

func asDiags(err error, file string) engine.Diagnostics {
	var ds engine.Diagnostics
	var d engine.Diagnostic
	switch {
	case errors.As(err, &ds):
		return ds
	case errors.As(err, &d):
		return engine.Diagnostics{d}
	}
	return engine.Diagnostics{{File: file, Message: err.Error()}}
}

// State returns what dev.json says now. Any goroutine.
func (d *Dev) State() DevState {
	d.mu.Lock()
	st := DevState{Build: d.build, Errors: append(engine.Diagnostics{}, d.loadErrs...)}
	d.mu.Unlock()
	if d.sched != nil {
		for _, s := range d.sched.Current().Sources {
			if e := s.Status().LastError; e != nil {
				st.Errors = append(st.Errors, *e)
			}
		}
		if err := d.sched.PageError(); err != nil {
			st.Errors = append(st.Errors, asDiags(err, "templates")...)
		}
	}
	if st.Errors == nil {
		st.Errors = engine.Diagnostics{}
	}
	return st
}

// publish puts dev.json into the store; identical bodies are no-ops, so
// clients get 304s until something changes. Publisher goroutine.
func (d *Dev) publish(st *snapshot.Store) {
	body, err := json.Marshal(d.State())
	if err != nil || bytes.Equal(body, d.published) {
		return
	}
	d.mu.Lock()
	period := d.period
	d.mu.Unlock()
	if _, _, err := st.Put(DevURL, body, snapshot.Meta{ContentType: "application/json", Period: period}); err != nil {
		d.Log.Error("dev: publish dev.json failed", "error", err)
		return
	}
	d.published = body
}
