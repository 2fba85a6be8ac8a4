// Package period owns time: it loads a project's sources (bundle → goja
// modules), evaluates each at epoch-aligned boundaries, and publishes the
// results through the snapshot store, then renders templates from them.
//
// It is the only package that calls both jsvm and snapshot; it must never
// serve HTTP or touch a socket.
package period

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/bundle"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/fetch"
	"github.com/jawas/jawas/engine/internal/jsvm"
)

// Source is one loaded source: its module and its effective settings.
//
// Threading: a Source is evaluated by at most one goroutine at a time
// (guarded by busy); its status is read by any goroutine under mu.
type Source struct {
	engine.Source
	Period  time.Duration
	Timeout time.Duration

	mod  *jsvm.Module
	busy atomic.Bool
	// claimed: the memory guard is waiting to hold s (memory.go); no
	// evaluation or hold starts meanwhile, so it cannot be starved.
	claimed atomic.Bool
	last    []byte // JSON of the last successful render (ctx.previous); only while busy

	mu     sync.Mutex
	status Status
	hits   []time.Time // memory-limit hits, recent first dropped (quarantine.go); under mu
}

// Status is what the status endpoint shows for one source.
type Status = engine.SourceStatus

// Status returns a copy of the source's status.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Module is the source's JS module (not safe for concurrent use; only
// touch it while holding the source busy).
func (s *Source) Module() *jsvm.Module { return s.mod }

// Project is a loaded set of sources.
type Project struct {
	Config  *config.Config
	Sources []*Source
	byName  map[string]*Source
	log     *slog.Logger
	host    jsvm.Host // what every source shares: files, env, databases (Fetch is per source)
}

// Options are what a project's sources are given beyond its config.
type Options struct {
	Log *slog.Logger // default slog.Default()
	// DB answers db(name).query() for every source (engine/jsvm's DB
	// interface); nil: no database, and db() rejects naming [db.NAME].
	DB jsvm.DB
	// Reconfigure, when set, is called by dev mode with a changed
	// jawas.toml that validates, before the sources are reloaded with it
	// (the engine replaces its database pools there). An error is shown
	// as a config error and the running config is kept. Watcher goroutine.
	Reconfigure func(*config.Config) error
}

// hostFor is what cfg's sources share outside their runtimes.
func hostFor(cfg *config.Config, db jsvm.DB) jsvm.Host {
	return jsvm.Host{Files: jsvm.NewFiles(cfg.Dir), EnvAllow: cfg.Env.Allow, DB: db}
}

// Load discovers, bundles and loads every source of the project. The error
// lists every problem of every broken source (engine.Diagnostics when they
// are the author's); nothing is returned half-loaded.
func Load(cfg *config.Config, log *slog.Logger) (*Project, error) {
	return LoadWith(cfg, Options{Log: log})
}

// LoadWith is Load with Options.
func LoadWith(cfg *config.Config, opt Options) (*Project, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	srcs, err := bundle.Discover(cfg.Dir, cfg.Path(cfg.Sources))
	if err != nil {
		return nil, err
	}
	outs, berr := bundle.Bundle(cfg.Dir, srcs)
	var diags engine.Diagnostics
	if berr != nil {
		var ds engine.Diagnostics
		if !errors.As(berr, &ds) {
			return nil, berr
		}
		diags = append(diags, ds...)
	}
	p := &Project{Config: cfg, byName: map[string]*Source{}, log: log, host: hostFor(cfg, opt.DB)}
	for _, out := range outs {
		if len(out.Errors) > 0 {
			continue
		}
		s, ds := loadSource(cfg, out, log, p.host)
		if ds != nil {
			diags = append(diags, ds...)
			continue
		}
		p.Sources = append(p.Sources, s)
		p.byName[s.Name] = s
	}
	diags = append(diags, UnknownSourceConfigs(cfg, srcs)...)
	if len(diags) > 0 {
		slices.SortStableFunc(diags, func(a, b engine.Diagnostic) int { return strings.Compare(a.File, b.File) })
		return nil, diags
	}
	return p, nil
}

// loadSource loads one bundled source into a runtime with its effective
// settings; the diagnostics say why it could not be.
func loadSource(cfg *config.Config, out bundle.Output, log *slog.Logger, host jsvm.Host) (*Source, engine.Diagnostics) {
	timeout := cfg.SourceTimeout(out.Source.Name)
	var err error
	// Each source has its own fetch client: its revalidation cache and its
	// cap on concurrent requests (the transport is shared).
	host.Fetch, err = fetch.New(fetch.Options{
		MaxBody:       cfg.Fetch.MaxBody,
		MaxConcurrent: cfg.Fetch.MaxConcurrent,
		Allow:         cfg.Fetch.Allow,
		UserAgent:     "jawas (source " + out.Source.Name + ")",
	})
	if err != nil {
		return nil, engine.Diagnostics{{File: displayConfig(cfg), Message: err.Error()}}
	}
	mod, err := jsvm.Load(out, jsvm.Options{
		Timeout:   timeout,
		MaxOutput: cfg.MaxSnapshot,
		MaxMemory: cfg.SourceMaxMemory(out.Source.Name),
		Log:       log,
		Host:      host,
	})
	if err != nil {
		var d engine.Diagnostic
		var ds engine.Diagnostics
		switch {
		case errors.As(err, &ds):
			return nil, ds
		case errors.As(err, &d):
			return nil, engine.Diagnostics{d}
		default:
			return nil, engine.Diagnostics{{File: out.Source.File, Message: err.Error()}}
		}
	}
	s := &Source{
		Source:  out.Source,
		Period:  cfg.SourcePeriod(out.Source.Name, mod.Period()),
		Timeout: timeout,
		mod:     mod,
	}
	s.status = Status{Name: s.Name, URL: s.URL, File: s.File, PeriodMs: s.Period.Milliseconds()}
	return s, nil
}

// UnknownSourceConfigs reports each [source."NAME"] table of cfg that
// names none of srcs, with its line and the closest source name. The same
// rule everywhere: `jawas serve`, SIGHUP and `jawas build` refuse such a
// config, dev mode shows it (terminal and overlay) until it is fixed.
func UnknownSourceConfigs(cfg *config.Config, srcs []engine.Source) engine.Diagnostics {
	names := make([]string, 0, len(cfg.Source))
	for name := range cfg.Source {
		names = append(names, name)
	}
	slices.Sort(names)
	known := make([]string, len(srcs))
	for i, s := range srcs {
		known[i] = s.Name
	}
	var diags engine.Diagnostics
	for _, name := range names {
		if hasSource(srcs, name) {
			continue
		}
		msg := fmt.Sprintf("[source.%q] configures a source that does not exist (no file for %s under %s/)", name, engine.URLFor(name), cfg.Sources)
		if s := config.Suggest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean [source.%q]?", s)
		}
		diags = append(diags, engine.Diagnostic{File: displayConfig(cfg), Line: cfg.Line("source", name), Message: msg})
	}
	return diags
}

func hasSource(srcs []engine.Source, name string) bool {
	for _, s := range srcs {
		if s.Name == name {
			return true
		}
	}
	return false
}

func displayConfig(cfg *config.Config) string {
	if cfg.File == "" {
		return config.FileName
	}
	return config.FileName
}

// Source returns the named source, or nil.
func (p *Project) Source(name string) *Source { return p.byName[name] }

// Statuses returns every source's status, sorted by name.
func (p *Project) Statuses() []Status {
	out := make([]Status, 0, len(p.Sources))
	for _, s := range p.Sources {
		out = append(out, s.Status())
	}
	return out
}

// Boundary returns the latest epoch-aligned boundary of period at or before t.
func Boundary(t time.Time, period time.Duration) time.Time {
	ns := t.UnixNano()
	p := int64(period)
	return time.Unix(0, ns-ns%p)
}

// Result is one evaluation's outcome.
type Result struct {
	Source   *Source
	Boundary time.Time
	JSON     []byte
	Took     time.Duration
	Err      error
}

// Evaluate renders s for boundary. It returns ok=false without evaluating
// when the source is already being evaluated (a source never runs twice at
// once) or held (TryHold, the memory guard). On error the previous
// snapshot stays published.
func (s *Source) Evaluate(boundary time.Time) (Result, bool) {
	if s.claimed.Load() || !s.busy.CompareAndSwap(false, true) {
		return Result{}, false
	}
	defer s.busy.Store(false)
	if err := s.quarantineErr(); err != nil {
		// Not evaluated. It counts as a failure, so the log says it once
		// (logOutcome), not every period.
		s.mu.Lock()
		s.status.LastBoundary = boundary
		s.status.LastError = toDiagnostic(s, err)
		if s.status.Failures == 0 {
			s.status.FailingSince = time.Now()
		}
		s.status.Failures++
		s.mu.Unlock()
		return Result{Source: s, Boundary: boundary, Err: err}, true
	}
	start := time.Now()
	out, err := s.mod.Render(jsvm.RenderContext{Now: boundary, Period: s.Period, Previous: s.last})
	took := time.Since(start)
	if err == nil {
		s.last = out
	}
	s.mu.Lock()
	if jsvm.IsMemoryError(err) {
		// Under the same lock as the count: whoever sees it quarantined
		// sees this evaluation counted.
		s.memoryHitLocked(err.Error())
	}
	s.status.Evaluations++
	s.status.EvalMicros = took.Microseconds()
	s.status.LastBoundary = boundary
	if err != nil {
		now := time.Now()
		s.status.Errors++
		s.status.LastError = toDiagnostic(s, err)
		s.status.LastErrorAt = now
		if s.status.Failures == 0 {
			s.status.FailingSince = now
		}
		s.status.Failures++
		if s.status.Quarantined != "" { // this call's hit quarantined it: say so
			d := engine.Diagnostic{File: s.File, Message: s.Name + " is quarantined: " + s.status.Quarantined}
			s.status.LastError = &d
		}
	} else {
		s.status.LastError = nil
		s.status.FailingSince = time.Time{}
		s.status.Failures = 0
	}
	s.mu.Unlock()
	return Result{Source: s, Boundary: boundary, JSON: out, Took: took, Err: err}, true
}

func toDiagnostic(s *Source, err error) *engine.Diagnostic {
	var d engine.Diagnostic
	if errors.As(err, &d) {
		return &d
	}
	var ds engine.Diagnostics
	if errors.As(err, &ds) && len(ds) > 0 {
		return &ds[0]
	}
	return &engine.Diagnostic{File: s.File, Message: err.Error()}
}
