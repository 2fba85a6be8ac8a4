package period

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/jawas/jawas/engine/snapshot"
	"github.com/jawas/jawas/engine/tmpl"
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

	// BeforeRender, when set, runs on the evaluating goroutine just before a
	// source renders for boundary (the writes path applies queued events
	// here). It must not block for long.
	BeforeRender func(s *Source, boundary time.Time)

	// OnPublish, when set, is called by the publisher after each commit.
	OnPublish func(boundary time.Time)

	latest map[string][]byte // source name → last published JSON; publisher only
}

type tick struct {
	at      time.Time
	results []Result
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
	sources := sc.Project.Sources
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
			if sc.BeforeRender != nil {
				sc.BeforeRender(s, bounds[i])
			}
			r, ok := sc.Project.Evaluate(s, bounds[i])
			if !ok { // still running from an earlier boundary: skip, never queue
				s.mu.Lock()
				s.status.Skipped++
				s.mu.Unlock()
				return
			}
			if r.Err != nil {
				sc.Log.Error("source failed; previous snapshot stays published", "source", s.Name, "error", r.Err.Error())
			}
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
	for _, r := range t.results {
		if r.Source == nil || r.Err != nil {
			continue
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
	sc.Store.Heartbeat(time.Now())
	if err := sc.Store.Commit(); err != nil {
		sc.Log.Error("commit of the snapshot manifest failed", "error", err)
		return
	}
	if sc.OnPublish != nil {
		sc.OnPublish(t.at)
	}
}

func (sc *Scheduler) renderPages(now time.Time) {
	pages, err := sc.Pages.RenderAll(sc.latest)
	if err != nil {
		sc.Log.Error("template failed; previous pages stay published", "error", err)
	}
	for url, html := range pages {
		if _, _, err := sc.Store.Put(url, html, snapshot.Meta{ContentType: "text/html; charset=utf-8", Boundary: now}); err != nil {
			sc.Log.Error("publish page failed", "url", url, "error", err)
		}
	}
}
