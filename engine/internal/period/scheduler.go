package period

import (
	"context"
	"encoding/json"
	"errors"
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

	latest   map[string][]byte     // source name → last published JSON; publisher only
	boundary map[*Source]time.Time // source → boundary of its published result; publisher only
	good     map[string]time.Time  // source name → when it last published a good result; publisher only
	live     *Project              // the project results are accepted from; publisher only
	current  atomic.Pointer[Project]
	pageErr  atomic.Pointer[error]

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
	sc.boundary = map[*Source]time.Time{}
	sc.good = map[string]time.Time{}
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

	// Evaluations run on sc.Parallel long-lived goroutines rather than one
	// new goroutine each: goja needs a deep Go stack, and a fresh goroutine
	// grew (copied) its stack on every render, ~10% of the CPU of 1,000
	// trivial sources at 200 ms (profile of bench/engine, issue 18).
	work := make(chan func())
	defer close(work)
	for range sc.Parallel {
		go func() {
			for f := range work {
				f()
			}
		}()
	}
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
				sc.evaluateBatch(batch, bounds, work, ticks, now)
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
// hands their results to the publisher as one tick, so one boundary is one
// manifest commit. A source awaiting I/O may take up to its budget: the
// batch waits for it only half the time to its sources' earliest next
// boundary (so the others' results go out before their next ones); what is
// done by then is published together, and each source still running is
// published alone when it finishes.
func (sc *Scheduler) evaluateBatch(batch []*Source, bounds []time.Time, work chan<- func(), ticks chan<- tick, at time.Time) {
	type done struct {
		i int
		r Result
	}
	finished := make(chan done, len(batch))
	var mu sync.Mutex // guards late
	late := false     // the batch's tick is gone: results go alone
	var wg sync.WaitGroup
	for i, s := range batch {
		wg.Add(1)
		work <- func() {
			defer wg.Done()
			for _, h := range sc.Hooks {
				if h.BeforeRender != nil {
					h.BeforeRender(s, bounds[i])
				}
			}
			prev := s.Status()
			r, ok := s.Evaluate(bounds[i])
			if !ok { // still running from an earlier boundary: skip, never queue
				s.mu.Lock()
				s.status.Skipped++
				s.mu.Unlock()
				finished <- done{i: i}
				return
			}
			sc.logOutcome(s, prev, r)
			mu.Lock()
			alone := late
			mu.Unlock()
			if alone {
				ticks <- tick{at: time.Now(), results: []Result{r}}
				return
			}
			finished <- done{i: i, r: r}
		}
	}
	// Half the time to the earliest next boundary: the batch's results are
	// out before any of its sources renders again (a first evaluation may
	// start late in its period).
	wait := time.Duration(1<<63 - 1)
	for i, s := range batch {
		wait = min(wait, bounds[i].Add(s.Period).Sub(at)/2)
	}
	deadline := time.NewTimer(max(wait, 0))
	defer deadline.Stop()
	results := make([]Result, 0, len(batch))
	for n := 0; n < len(batch); n++ {
		select {
		case d := <-finished:
			results = append(results, d.r)
			continue
		case <-deadline.C:
		}
		mu.Lock()
		late = true
		mu.Unlock()
		// Results that arrived meanwhile still go in this tick.
		for {
			select {
			case d := <-finished:
				results = append(results, d.r)
				continue
			default:
			}
			break
		}
		break
	}
	ticks <- tick{at: at, results: results}
	wg.Wait()
	// A straggler may have sent to finished after late was read as false
	// but before it was set: publish those alone.
	for {
		select {
		case d := <-finished:
			if d.r.Source != nil {
				ticks <- tick{at: time.Now(), results: []Result{d.r}}
			}
			continue
		default:
		}
		return
	}
}

// publish puts one tick's results into the store, re-renders templates when
// a snapshot changed, and commits once.
func (sc *Scheduler) publish(t tick) {
	changed := false
	if t.reload != nil {
		changed = sc.applyReload(t)
	}
	for _, r := range t.results {
		if r.Source == nil {
			continue
		}
		if sc.live.Source(r.Source.Name) != r.Source {
			continue // evaluated before a reload replaced or removed it
		}
		if r.Err != nil {
			// The last good snapshot stays; workers say how old it is. A
			// source that never published answers 503 with its error.
			if at, ok := sc.good[r.Source.Name]; ok {
				sc.Store.MarkStale(r.Source.URL, at)
			} else {
				sc.publishFailure(r.Source, r.Err)
			}
			continue
		}
		s := r.Source
		if b, ok := sc.boundary[s]; ok && r.Boundary.Before(b) {
			continue // a newer boundary of it is published already
		}
		sc.boundary[s] = r.Boundary
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
		sc.good[s.Name] = time.Now()
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

// publishFailure publishes, for a source that has nothing published yet,
// a 503 naming the source and its error (see snapshot.Meta.Status), so
// its URL says why instead of a 404; a source that published once keeps
// its last good snapshot. Publisher goroutine.
func (sc *Scheduler) publishFailure(s *Source, err error) {
	if st, ok := sc.Store.Status(s.URL); ok && st == 0 {
		return
	}
	_, _, perr := sc.Store.Put(s.URL, FailureBody(s.Name, err), snapshot.Meta{
		ContentType: "application/json",
		Period:      s.Period,
		Status:      503,
	})
	if perr != nil {
		sc.Log.Error("publish failed", "source", s.Name, "error", perr)
	}
}

// FailureBody is the JSON a failing source's URL answers with until it
// first publishes: {"error", "source", "diagnostic"} (the diagnostic when
// err is one, with file, line and message).
func FailureBody(source string, err error) []byte {
	body := struct {
		Error      string             `json:"error"`
		Source     string             `json:"source"`
		Diagnostic *engine.Diagnostic `json:"diagnostic,omitempty"`
	}{Error: "source " + source + " has nothing published yet: " + err.Error(), Source: source}
	var d engine.Diagnostic
	if errors.As(err, &d) {
		d.Frame = ""
		body.Diagnostic = &d
	}
	b, _ := json.Marshal(&body) // strings only
	return b
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

// logOutcome logs a source's error once per failure streak (an upstream
// down for an hour is one line, not one per period), with its code frame,
// and logs when the source works again. prev is the status before this
// evaluation. The status page and dev.json keep the current error meanwhile.
func (sc *Scheduler) logOutcome(s *Source, prev Status, r Result) {
	if r.Err == nil {
		if prev.Failures > 0 {
			sc.Log.Info("source works again; publishing", "source", s.Name,
				"failed_evaluations", prev.Failures, "failing_for", time.Since(prev.FailingSince).Round(time.Millisecond).String())
		}
		return
	}
	st := s.Status()
	d := st.LastError
	if d == nil || prev.Failures > 0 {
		return
	}
	what := "source failed; previous snapshot stays published"
	if st.Versions == 0 {
		what = "source failed; nothing published for it yet (its URL answers 503 with the error until it works)"
	}
	args := []any{"source", s.Name, "error", d.Error()}
	if d.Frame != "" {
		args = append(args, "frame", "\n"+d.Frame)
	}
	sc.Log.Error(what, args...)
}
