package main

// This file wires file watching into the engine process: in dev mode every
// change under sources/, site/, templates/ and to jawas.toml goes to the
// period.Dev controller; in production only templates/ is watched, so a
// deployment that copies new templates gets its pages re-rendered without a
// restart (sources change in production only on SIGHUP, which validates
// them first; site/ files are picked up by the workers themselves).

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/config"
	"github.com/jawas/jawas/engine/period"
	"github.com/jawas/jawas/engine/tmpl"
	"github.com/jawas/jawas/engine/watch"
)

// devDebounce is the quiet time before a batch of changes is handled: long
// enough to see an editor's write+rename (or a `cp -r`) as one change,
// short enough to stay well inside the 100 ms save-to-served goal.
const devDebounce = 15 * time.Millisecond

// watchProject starts the engine's watcher (dev: everything; production:
// templates) and returns the function that stops it. Call before sched.Run.
func (m *Main) watchProject(sched *period.Scheduler, dev *period.Dev, cfg *config.Config, log *slog.Logger) (stop func(), err error) {
	if dev != nil {
		dev.Attach(sched)
		w, err := watch.New(dev.Roots(), watch.Options{Debounce: devDebounce, MaxDelay: 60 * time.Millisecond}, dev.Changed)
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("dev mode: %w", err)
		}
		log.Info("dev mode: watching sources, site, templates and jawas.toml")
		return func() { w.Close(); dev.Close() }, nil
	}
	dir := cfg.Path(cfg.Templates)
	reload := func([]string) { // watcher goroutine
		set, err := tmpl.Load(dir, cfg.Dir)
		if err != nil {
			log.Error("templates changed but do not parse; the previous pages stay published", "error", err)
			return
		}
		set.Period = cfg.Period.Duration
		sched.Reload(nil, set, nil)
		log.Info("templates reloaded", "pages", len(set.URLs()))
	}
	w, err := watch.New([]string{dir}, watch.Options{Debounce: 50 * time.Millisecond}, reload)
	if err != nil {
		// A project without templates/ (or out of inotify watches) still serves.
		log.Warn("templates are not watched; changes need a restart", "error", err)
		return func() {}, nil
	}
	return func() { w.Close() }, nil
}

// printDevDiagnostics prints dev mode's author errors in the terminal, with
// file:line and their code frames.
func (m *Main) printDevDiagnostics(ds engine.Diagnostics) {
	fmt.Fprintf(m.Stderr, "jawas dev: %d error(s) (the last good code keeps running):\n", len(ds))
	for _, d := range ds {
		printDiagnostic(m.Stderr, d)
	}
}
