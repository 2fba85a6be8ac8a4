package period

import (
	"context"
	"github.com/jawas/jawas/engine"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/tmpl"
)

// Scheduler evaluates every source of a project at its epoch-aligned
// boundaries and publishes the results.
//
// Threading: Run owns the timing loop; evaluations run on up to Parallel
// goroutines; one publisher goroutine owns the store and the templates, so
// the results of one boundary are committed together in one manifest.
type Scheduler struct {
	Project  *Project
	Store    *snapshot.Store
	Pages    *tmpl.Set // may be nil
	Log      *slog.Logger
	Parallel int // evaluations at once; default the number of cores

	// Hooks are the other parts of the engine that take part in each
	// period (the writes path, dev mode, the status recorder). At each of
	// a Hook's points the scheduler calls every hook's function in list
	// order; set the list before Run.
	Hooks []Hook

	// PageFilter, when set, rewrites every rendered page before it is
	// published (dev mode injects its live-reload tag). Publisher goroutine.
	PageFilter func(url string, html []byte) []byte

	latest  map[string][]byte // source name → last published JSON; publisher only
	live    *Project          // the project results are accepted from; publisher only
	current atomic.Pointer[Project]
	pageErr atomic.Pointer[error]

	reloadMu  sync.Mutex
	reloadReq *reload
	reloadC   chan struct{}
	reloadOne sync.Once
}

type tick struct {
	at      time.Time
	results []Result
	reload  *reload  // applied before results, when set
	removed []string // URLs of sources the reload dropped
}

// reload is a change of the running project or pages (see Reload).
type reload struct {
	proj  *Project  // nil: keep
	pages *tmpl.Set // nil: keep
	after []func()  // run by the publisher once the change is applied
}

func (sc *Scheduler) reloads() chan struct{} {
	sc.reloadOne.Do(func() { sc.reloadC = make(chan struct{}, 1) })
	return sc.reloadC
}

// Reload replaces the running project and/or the pages (nil keeps the
// current one) while Run runs; safe from any goroutine. Sources of proj that
// are not the very *Source objects running now are evaluated at once;
// sources that are gone stop being published (their URLs 404); new pages
// are rendered at once and pages that are gone are deleted. after, when not
// nil, runs on the publisher once the change is applied, before the commit
// that makes it visible (so a dev build counter never runs ahead of the
// pages it announces). Reloads requested faster than Run applies them are
// merged.
func (sc *Scheduler) Reload(proj *Project, pages *tmpl.Set, after func()) {
	sc.reloadMu.Lock()
	r := sc.reloadReq
	if r == nil {
		r = &reload{}
		sc.reloadReq = r
	}
	if proj != nil {
		r.proj = proj
	}
	if pages != nil {
		r.pages = pages
	}
	if after != nil {
		r.after = append(r.after, after)
	}
	sc.reloadMu.Unlock()
	select {
	case sc.reloads() <- struct{}{}:
	default:
	}
}

// Current returns the project being evaluated now (Project until the first
// Reload with a new project). Safe from any goroutine.
func (sc *Scheduler) Current() *Project {
	if p := sc.current.Load(); p != nil {
		return p
	}
	return sc.Project
}

// PageError returns the error of the last page rendering, nil when every
// page rendered. Safe from any goroutine.
func (sc *Scheduler) PageError() error {
	if p := sc.pageErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Run evaluates until ctx is done. It returns nil on cancellation.
func (sc *Scheduler) Run(ctx context.Context) error {
	if sc.Log == nil {
		sc.Log = slog.Default()
	}
	if sc.Parallel <= 0 {
		sc.Parallel = runtime.NumCPU()
	}
	sc.latest = map[string][]byte{}
	sc.live = sc.Current()
	sources := sc.live.Sources
	due := make([]time.Time, len(sources))
	now := time.Now()
	for i, s := range sources {
		due[i] = Boundary(now, s.Period) // first evaluation right away
	}

	ticks := make(chan tick, 64)
	var pubDone sync.WaitGroup
	pubDone.Add(1)
	go func() { // publisher: owns Store, Pages and latest
		defer pubDone.Done()
		for t := range ticks {
			sc.publish(t)
		}
	}()

	sem := make(chan struct{}, sc.Parallel)
	var evals sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			evals.Wait()
			close(ticks)
			pubDone.Wait()
			return nil
		case <-timer.C:
		case <-sc.reloads():
			sc.reloadMu.Lock()
			r := sc.reloadReq
			sc.reloadReq = nil
			sc.reloadMu.Unlock()
			if r == nil {
				break
			}
			var removed []string
			if r.proj != nil {
				sources, due, removed = swapSources(sources, due, r.proj, time.Now())
				sc.current.Store(r.proj)
			}
			ticks <- tick{at: time.Now(), reload: r, removed: removed}
		}
		now := time.Now()
		var batch []*Source
		var bounds []time.Time
		next := now.Add(time.Hour)
		for i, s := range sources {
			if !now.Before(due[i]) {
				b := Boundary(now, s.Period)
				if missed := int64(b.Sub(due[i]) / s.Period); missed > 0 {
					s.mu.Lock()
					s.status.Skipped += uint64(missed)
					s.mu.Unlock()
				}
				due[i] = b.Add(s.Period)
				batch = append(batch, s)
				bounds = append(bounds, b)
			}
			if due[i].Before(next) {
				next = due[i]
			}
		}
		if len(batch) > 0 {
			evals.Add(1)
			go func() {
				defer evals.Done()
				sc.evaluateBatch(batch, bounds, sem, ticks, now)
			}()
		}
		timer.Reset(time.Until(next))
	}
}

// swapSources returns next's sources with their due times: a source that is
// the same *Source as before keeps its schedule, any other is due now. It
// also returns the URLs of sources that are gone.
func swapSources(sources []*Source, due []time.Time, next *Project, now time.Time) ([]*Source, []time.Time, []string) {
	old := make(map[*Source]time.Time, len(sources))
	for i, s := range sources {
		old[s] = due[i]
	}
	nextDue := make([]time.Time, len(next.Sources))
	for i, s := range next.Sources {
		if d, ok := old[s]; ok {
			nextDue[i] = d
		} else {
			nextDue[i] = Boundary(now, s.Period)
		}
	}
	var removed []string
	for _, s := range sources {
		if n := next.Source(s.Name); n == nil || n.URL != s.URL {
			removed = append(removed, s.URL)
		}
	}
	return next.Sources, nextDue, removed
}

// evaluateBatch evaluates the sources due at one instant in parallel and
// hands their results to the publisher as one tick.
func (sc *Scheduler) evaluateBatch(batch []*Source, bounds []time.Time, sem chan struct{}, ticks chan<- tick, at time.Time) {
	results := make([]Result, len(batch))
	var wg sync.WaitGroup
	for i, s := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, h := range sc.Hooks {
				if h.BeforeRender != nil {
					h.BeforeRender(s, bounds[i])
				}
			}
			prev := s.Status().LastError
			r, ok := s.Evaluate(bounds[i])
			if !ok { // still running from an earlier boundary: skip, never queue
				s.mu.Lock()
				s.status.Skipped++
				s.mu.Unlock()
				return
			}
			sc.logOutcome(s, prev, r)
			results[i] = r
		}()
	}
	wg.Wait()
	ticks <- tick{at: at, results: results}
}

// publish puts one tick's results into the store, re-renders templates when
// a snapshot changed, and commits once.
func (sc *Scheduler) publish(t tick) {
	changed := false
	if t.reload != nil {
		changed = sc.applyReload(t)
	}
	for _, r := range t.results {
		if r.Source == nil || r.Err != nil {
			continue
		}
		if sc.live.Source(r.Source.Name) != r.Source {
			continue // evaluated before a reload replaced or removed it
		}
		s := r.Source
		etag, ch, err := sc.Store.Put(s.URL, r.JSON, snapshot.Meta{
			ContentType: "application/json",
			Period:      s.Period,
			Boundary:    r.Boundary,
		})
		if err != nil {
			sc.Log.Error("publish failed", "source", s.Name, "error", err)
			continue
		}
		sc.latest[s.Name] = r.JSON
		s.mu.Lock()
		s.status.LastPublish = time.Now()
		s.status.ETag = etag
		s.status.Size = len(r.JSON)
		if ch {
			s.status.Versions++
		}
		s.mu.Unlock()
		changed = changed || ch
	}
	if changed && sc.Pages != nil {
		sc.renderPages(t.at)
	}
	if t.reload != nil {
		for _, f := range t.reload.after {
			f()
		}
	}
	for _, h := range sc.Hooks {
		if h.BeforeCommit != nil {
			h.BeforeCommit(sc.Store)
		}
	}
	for _, h := range sc.Hooks {
		if h.Fence != nil {
			if err := h.Fence(sc.Store, t.at); err != nil {
				sc.Log.Warn("boundary not published", "hook", h.Name, "error", err)
				return
			}
		}
	}
	sc.Store.Heartbeat(time.Now())
	if err := sc.Store.Commit(); err != nil {
		sc.Log.Error("commit of the snapshot manifest failed", "error", err)
		return
	}
	for _, h := range sc.Hooks {
		if h.AfterPublish != nil {
			h.AfterPublish(t.at)
		}
	}
}

// applyReload applies a reload tick on the publisher; it reports whether
// pages must be rendered again.
func (sc *Scheduler) applyReload(t tick) bool {
	changed := false
	if t.reload.proj != nil {
		sc.live = t.reload.proj
		for _, u := range t.removed {
			sc.Store.Delete(u)
		}
		for name := range sc.latest {
			if sc.live.Source(name) == nil {
				delete(sc.latest, name)
				changed = true
			}
		}
	}
	if p := t.reload.pages; p != nil {
		keep := map[string]bool{}
		for _, u := range p.URLs() {
			keep[u] = true
		}
		if sc.Pages != nil {
			for _, u := range sc.Pages.URLs() {
				if !keep[u] {
					sc.Store.Delete(u)
				}
			}
		}
		sc.Pages = p
		changed = true
	}
	return changed
}

func (sc *Scheduler) renderPages(now time.Time) {
	// Pages follow the project's default period: they change when any
	// snapshot does, so they are as fresh as the sources that default.
	var period time.Duration
	if p := sc.Current(); p != nil && p.Config != nil {
		period = p.Config.Period.Duration
		sc.Pages.Period = period
	}
	pages, err := sc.Pages.RenderAll(sc.latest)
	if err != nil {
		sc.Log.Error("template failed; previous pages stay published", "error", err)
	}
	sc.pageErr.Store(&err)
	for url, html := range pages {
		if sc.PageFilter != nil {
			html = sc.PageFilter(url, html)
		}
		if _, _, err := sc.Store.Put(url, html, snapshot.Meta{ContentType: "text/html; charset=utf-8", Period: period, Boundary: now}); err != nil {
			sc.Log.Error("publish page failed", "url", url, "error", err)
		}
	}
}

// logOutcome logs a source's error once, when it first appears or changes
// (not every period while it lasts), with its code frame, and logs when the
// source works again. The status page and dev.json keep the error meanwhile.
func (sc *Scheduler) logOutcome(s *Source, prev *engine.Diagnostic, r Result) {
	if r.Err == nil {
		if prev != nil {
			sc.Log.Info("source works again; publishing", "source", s.Name)
		}
		return
	}
	d := s.Status().LastError
	if d == nil || (prev != nil && prev.Error() == d.Error()) {
		return
	}
	what := "source failed; previous snapshot stays published"
	if s.Status().Versions == 0 {
		what = "source failed; nothing published for it yet (404 until it works)"
	}
	args := []any{"source", s.Name, "error", d.Error()}
	if d.Frame != "" {
		args = append(args, "frame", "\n"+d.Frame)
	}
	sc.Log.Error(what, args...)
}
