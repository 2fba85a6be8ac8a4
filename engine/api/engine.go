package api

// This file assembles the engine: everything that turns the project's
// sources and the journal into published snapshots, in one place.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/client"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/sqlhost"
	"github.com/jawas/jawas/engine/internal/tmpl"
	"github.com/jawas/jawas/engine/internal/watch"
	"github.com/jawas/jawas/engine/internal/writes"
)

// EngineOptions configure an Engine.
type EngineOptions struct {
	Config *Config
	Log    *slog.Logger

	// SnapshotDir is where the snapshot store is created (workers mmap it);
	// it must not exist or be empty.
	SnapshotDir string
	// MetricsDir is where the engine writes its sources' status for the
	// admin endpoints ("": not recorded).
	MetricsDir string

	// Dev watches sources, site, templates and jawas.toml and reloads on
	// every change, keeping the last good code running; author errors are
	// printed to Diagnostics (default os.Stderr) and shown in the page.
	Dev         bool
	Diagnostics io.Writer

	// cluster, when set, makes this the leader engine of a cluster node
	// (cluster.go): the node's store, the stream's records, the state
	// and checkpoints in the cluster, and a head swap before each commit.
	cluster *engineCluster
}

// engineCluster is what a cluster node gives the engine it leads with.
type engineCluster struct {
	store   *snapshot.Store // the node's; shared with its mirror, not closed by the engine
	feed    writes.Feed
	initial *journal.Checkpoint
	save    func(*journal.Checkpoint) error
	fence   func(*snapshot.Store, time.Time) error
	every   time.Duration              // checkpoint interval
	decided func(sts []journal.Status) // the events' fates, for every node's /_jawas/events/ID
}

// devDebounce is the quiet time before a batch of changes is handled: long
// enough to see an editor's write+rename (or a `cp -r`) as one change,
// short enough to keep save-to-served well under 100 ms.
const devDebounce = 15 * time.Millisecond

// Engine loads a project and publishes its snapshots: at each source's
// period boundary it applies the source's queued writes (the journal),
// renders it and commits the results to the snapshot store; pages are
// rendered from the snapshots. In dev mode it also reloads on file
// changes; in production it re-renders pages when templates change.
//
// The scheduler's hooks run in this order at each of their points (see
// period.Hook): writes (apply queued events; publish the write routes;
// checkpoint), dev (dev.json), status (the admin endpoints' status file).
type Engine struct {
	opt   EngineOptions
	cfg   *Config
	log   *slog.Logger
	dev   *period.Dev // nil unless opt.Dev
	proj  *period.Project
	store *snapshot.Store
	sched *period.Scheduler
	app   *writes.Applier
	db    *sqlhost.DB // the project's databases, shared by its sources

	fatal     chan struct{} // closed when the journal is damaged: Run must end
	fatalOnce sync.Once
	closeOnce sync.Once
}

// NewEngine loads the project (author errors come back as
// engine.Diagnostics; in dev mode they are printed and the engine starts
// anyway), creates the snapshot store, and opens the journal, restoring
// each source's checkpointed state. Nothing is evaluated until Run. Call
// Run or Close.
func NewEngine(opt EngineOptions) (*Engine, error) {
	e := &Engine{opt: opt, cfg: opt.Config, log: opt.Log, fatal: make(chan struct{})}
	if e.log == nil {
		e.log = slog.Default()
	}
	if opt.Diagnostics == nil {
		e.opt.Diagnostics = os.Stderr
	}
	var pages *tmpl.Set
	var err error
	if opt.Dev {
		if e.db, err = sqlhost.Open(e.cfg); err != nil {
			return nil, err
		}
		// A changed jawas.toml gets new pools (its [db] may have changed);
		// the old ones are closed once their queries are cancelled.
		popt := period.Options{Log: e.log, DB: e.db, Reconfigure: e.db.Reconfigure}
		if e.dev, err = period.NewDevWith(e.cfg, popt, e.printDevDiagnostics); err != nil {
			e.db.Close()
			return nil, err
		}
		e.proj, pages = e.dev.Project(), e.dev.Pages()
	} else if e.proj, pages, e.db, err = load(e.cfg, e.log); err != nil {
		return nil, err
	}
	if opt.cluster != nil {
		e.store = opt.cluster.store
	} else if e.store, err = snapshot.Create(opt.SnapshotDir); err != nil {
		e.closeDev()
		e.db.Close()
		return nil, err
	}
	e.store.SetDeltas(e.cfg.Serve.Deltas)
	// The client library is published like a snapshot: hashed,
	// precompressed once, mmapped by every worker.
	for _, f := range []struct {
		url, typ string
		body     []byte
	}{
		{"/_jawas/client.js", "text/javascript; charset=utf-8", clientJS()},
		{"/_jawas/client.d.ts", "text/plain; charset=utf-8", client.DTS},
	} {
		if _, _, err := e.store.Put(f.url, f.body, snapshot.Meta{ContentType: f.typ}); err != nil {
			e.Close()
			return nil, err
		}
	}
	e.sched = &period.Scheduler{Project: e.proj, Store: e.store, Pages: pages, Log: e.log}
	writesHook, err := e.openWrites()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.sched.Hooks = append(e.sched.Hooks, writesHook)
	if e.dev != nil {
		e.dev.Adopt = e.app.Adopt // a reload's state lifecycle: version, migrate, initial
		e.sched.Hooks = append(e.sched.Hooks, e.dev.Attach(e.sched))
	}
	if opt.MetricsDir != "" {
		statusHook, err := e.statusHook()
		if err != nil {
			e.Close()
			return nil, err
		}
		e.sched.Hooks = append(e.sched.Hooks, statusHook)
	}
	if c := opt.cluster; c != nil {
		e.sched.Hooks = append(e.sched.Hooks, period.Hook{Name: "cluster", Fence: c.fence})
	}
	return e, nil
}

// load loads the project's sources (with its databases, which the caller
// closes) and templates.
func load(cfg *Config, log *slog.Logger) (*period.Project, *tmpl.Set, *sqlhost.DB, error) {
	proj, db, err := loadProject(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	pages, err := tmpl.Load(cfg.Path(cfg.Templates), cfg.Dir)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return proj, pages, db, nil
}

// Check loads the project's config, sources and templates without
// publishing anything (SIGHUP runs it before replacing the running set),
// and runs, in memory only, the migrations the checkpoint in the data
// directory would need (checkMigrations in state.go). Author errors come
// back as engine.Diagnostics.
func Check(cfg *Config, log *slog.Logger) error {
	proj, _, db, err := load(cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	return checkMigrations(cfg, proj)
}

// Sources is the number of sources loaded now.
func (e *Engine) Sources() int { return len(e.sched.Current().Sources) }

// Run evaluates and publishes until ctx is done or the journal is found
// damaged (then it returns that error), then writes a final checkpoint and
// closes the store.
func (e *Engine) Run(ctx context.Context) error {
	defer e.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends the run when the journal is damaged; ends with ctx
		select {
		case <-e.fatal:
			cancel()
		case <-ctx.Done():
		}
	}()
	stopWatch, err := e.watch()
	if err != nil {
		return err
	}
	e.startMemoryGuard(ctx)
	// At the end, queries in flight are cancelled at once rather than
	// waited for: the scheduler waits for its renders before returning.
	stopDB := context.AfterFunc(ctx, e.db.Close)
	defer stopDB()
	e.log.Info("engine started", "sources", e.Sources())
	runErr := e.sched.Run(ctx)
	stopWatch()
	return e.closeWrites(runErr)
}

// Close releases what NewEngine opened; Run calls it. Safe to call twice.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		if e.app != nil {
			e.closeWrites(nil)
		}
		if e.store != nil && e.opt.cluster == nil {
			e.store.Close()
		}
		e.closeDev()
		e.db.Close()
	})
}

func (e *Engine) closeDev() {
	if e.dev != nil {
		e.dev.Close()
	}
}

// openWrites opens the journal applier (restoring checkpointed state into
// the sources) and publishes the write routes; the hook applies queued
// events before each render, republishes the routes whenever the running
// project changes (dev mode swaps sources in: new sources accept writes,
// removed ones stop), and checkpoints after publishing.
func (e *Engine) openWrites() (period.Hook, error) {
	aopt := writes.ApplierOptions{
		DataDir: e.cfg.Path(e.cfg.Serve.DataDir),
		OnFatal: func(error) { e.fatalOnce.Do(func() { close(e.fatal) }) },
		Log:     e.log,
	}
	if c := e.opt.cluster; c != nil {
		aopt.Feed, aopt.Initial, aopt.Save, aopt.CheckpointEvery, aopt.Decided = c.feed, c.initial, c.save, c.every, c.decided
	}
	app, err := writes.OpenApplier(e.proj, aopt)
	if err != nil {
		return period.Hook{}, err
	}
	e.app = app
	routes := func(st *snapshot.Store, p *period.Project) error {
		_, _, err := st.Put(writes.RoutesURL, writes.RoutesOf(p), snapshot.Meta{ContentType: "application/json"})
		return err
	}
	if err := routes(e.store, e.proj); err != nil {
		return period.Hook{}, err
	}
	published := e.proj // publisher goroutine only, after this
	return period.Hook{
		Name:         "writes",
		BeforeRender: app.BeforeRender,
		BeforeCommit: func(st *snapshot.Store) {
			cur := e.sched.Current()
			if cur == published {
				return
			}
			if err := routes(st, cur); err != nil {
				e.log.Error("publish the write routes", "error", err)
				return
			}
			published = cur
		},
		AfterPublish: app.AfterPublish,
	}, nil
}

// closeWrites writes the final checkpoint and turns a damaged journal into
// the engine's error.
func (e *Engine) closeWrites(runErr error) error {
	app := e.app
	if app == nil {
		return runErr
	}
	e.app = nil
	if app.Err() == nil && e.sched != nil {
		app.Drain(e.sched.Current()) // what was journaled until now, by the code running now
	}
	ferr := app.Err()
	if err := app.Close(); err != nil && ferr == nil {
		e.log.Error("final checkpoint failed", "error", err)
	}
	if ferr != nil {
		return errors.Join(ferr, runErr)
	}
	return runErr
}

// statusHook makes the engine write its sources' status (the running
// project's, so dev mode's added and removed sources show) into the
// metrics directory after every commit.
func (e *Engine) statusHook() (period.Hook, error) {
	rec, err := metrics.NewRecorder(e.opt.MetricsDir)
	if err != nil {
		return period.Hook{}, err
	}
	// Counters and times only reach the file once a second (or as often
	// as the health check needs); failures at once (metrics.Recorder).
	rec.Refresh, rec.HealthMaxMissed = time.Second, e.cfg.Serve.HealthMaxMissed
	if rec.HealthMaxMissed <= 0 {
		rec.HealthMaxMissed = 10 // serve's default (admin.go)
	}
	dataDir := e.cfg.Path(e.cfg.Serve.DataDir)
	rec.Journal = func() metrics.JournalStats { // publisher goroutine: a few stats of the journal's segments
		b, err := journal.PendingBytes(dataDir)
		if err != nil {
			return metrics.JournalStats{BacklogBytes: -1}
		}
		return metrics.JournalStats{BacklogBytes: b}
	}
	failed := false
	return period.Hook{Name: "status", AfterPublish: func(time.Time) { // publisher goroutine
		st := e.sched.Current().Statuses()
		out := make([]metrics.SourceStatus, len(st))
		for i, s := range st {
			out[i] = metrics.SourceStatus{SourceStatus: s}
		}
		if err := rec.Record(time.Now(), out); err != nil && !failed {
			failed = true // once: the status page goes stale, serving does not
			e.log.Error("cannot record the engine status for /_jawas/status", "error", err)
		}
	}}, nil
}

// watch starts the engine's file watcher and returns what stops it. Dev
// mode: every change under sources/, site/, templates/ and to jawas.toml
// goes to period.Dev. Production: only templates/ is watched, so a
// deployment that copies new templates gets its pages re-rendered without
// a restart (sources change in production only on SIGHUP, which validates
// them first; site/ files are picked up by the workers themselves).
func (e *Engine) watch() (stop func(), err error) {
	if e.dev != nil {
		w, err := watch.New(e.dev.Roots(), watch.Options{Debounce: devDebounce, MaxDelay: 60 * time.Millisecond}, e.dev.Changed)
		if err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
		e.log.Info("dev mode: watching sources, site, templates and jawas.toml")
		return func() { w.Close() }, nil
	}
	dir := e.cfg.Path(e.cfg.Templates)
	reload := func([]string) { // watcher goroutine
		set, err := tmpl.Load(dir, e.cfg.Dir)
		if err != nil {
			e.log.Error("templates changed but do not parse; the previous pages stay published", "error", err)
			return
		}
		set.Period = e.cfg.Period.Duration
		e.sched.Reload(nil, set, nil)
		e.log.Info("templates reloaded", "pages", len(set.URLs()))
	}
	w, err := watch.New([]string{dir}, watch.Options{Debounce: 50 * time.Millisecond}, reload)
	if err != nil {
		// A project without templates/ (or out of inotify watches) still serves.
		e.log.Warn("templates are not watched; changes need a restart", "error", err)
		return func() {}, nil
	}
	return func() { w.Close() }, nil
}

// printDevDiagnostics prints dev mode's author errors with file:line and
// their code frames (watcher goroutine).
func (e *Engine) printDevDiagnostics(ds engine.Diagnostics) {
	w := e.opt.Diagnostics
	fmt.Fprintf(w, "jawas dev: %d error(s) (the last good code keeps running):\n", len(ds))
	for _, d := range ds {
		printDiagnostic(w, d)
	}
}
