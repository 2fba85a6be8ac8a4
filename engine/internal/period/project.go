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

	mu     sync.Mutex
	status Status
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
}

// Load discovers, bundles and loads every source of the project. The error
// lists every problem of every broken source (engine.Diagnostics when they
// are the author's); nothing is returned half-loaded.
func Load(cfg *config.Config, log *slog.Logger) (*Project, error) {
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
	p := &Project{Config: cfg, byName: map[string]*Source{}, log: log}
	for _, out := range outs {
		if len(out.Errors) > 0 {
			continue
		}
		s, ds := loadSource(cfg, out, log)
		if ds != nil {
			diags = append(diags, ds...)
			continue
		}
		p.Sources = append(p.Sources, s)
		p.byName[s.Name] = s
	}
	for name := range cfg.Source {
		if _, ok := p.byName[name]; !ok && !hasSource(srcs, name) {
			diags = append(diags, engine.Diagnostic{File: displayConfig(cfg), Message: fmt.Sprintf("[source.%q] configures a source that does not exist (no file for %s under %s/)", name, engine.URLFor(name), cfg.Sources)})
		}
	}
	if len(diags) > 0 {
		slices.SortStableFunc(diags, func(a, b engine.Diagnostic) int { return strings.Compare(a.File, b.File) })
		return nil, diags
	}
	return p, nil
}

// loadSource loads one bundled source into a runtime with its effective
// settings; the diagnostics say why it could not be.
func loadSource(cfg *config.Config, out bundle.Output, log *slog.Logger) (*Source, engine.Diagnostics) {
	timeout := cfg.SourceTimeout(out.Source.Name)
	mod, err := jsvm.Load(out, jsvm.Options{
		Timeout:   timeout,
		MaxOutput: cfg.MaxSnapshot,
		Log:       log,
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
// once). On error the previous snapshot stays published.
func (s *Source) Evaluate(boundary time.Time) (Result, bool) {
	if !s.busy.CompareAndSwap(false, true) {
		return Result{}, false
	}
	defer s.busy.Store(false)
	start := time.Now()
	out, err := s.mod.Render(jsvm.RenderContext{Now: boundary, Period: s.Period})
	took := time.Since(start)
	s.mu.Lock()
	s.status.Evaluations++
	s.status.EvalMicros = took.Microseconds()
	s.status.LastBoundary = boundary
	if err != nil {
		s.status.Errors++
		s.status.LastError = toDiagnostic(s, err)
		s.status.LastErrorAt = time.Now()
	} else {
		s.status.LastError = nil
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
