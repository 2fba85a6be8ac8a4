package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/client"
	"github.com/jawas/jawas/engine/config"
	"github.com/jawas/jawas/engine/http1"
	"github.com/jawas/jawas/engine/netpoll"
	"github.com/jawas/jawas/engine/period"
	"github.com/jawas/jawas/engine/prefork"
	"github.com/jawas/jawas/engine/serve"
	"github.com/jawas/jawas/engine/snapshot"
	"github.com/jawas/jawas/engine/tmpl"
)

// serveFlags are the flags of `jawas serve`; they override jawas.toml.
type serveFlags struct {
	dir, listen, dataDir, logFormat, logLevel string
	workers                                   int
	dev, single                               bool
}

func (m *Main) serveFlagSet(f *serveFlags) *flag.FlagSet {
	fs := m.flags("serve", "[flags]", "Serve the project: snapshots, rendered pages and site files over HTTP/1.1.")
	fs.StringVar(&f.dir, "C", ".", "project directory (where jawas.toml is)")
	fs.StringVar(&f.listen, "listen", "", "address to listen on, host:port (default: serve.listen, \"127.0.0.1:8080\")")
	f.workers = -1 // unset: serve.workers decides
	fs.Var(workersFlag{&f.workers}, "workers", "`N` worker processes (default: serve.workers; 0 = one per core)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory for the journal and runtime files (default: serve.data_dir, \".jawas\")")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.dev, "dev", false, "development mode: watch sources, site and templates; reload open pages")
	fs.BoolVar(&f.single, "single-process", false, "run the engine and the serving loops in this one process (no supervisor; for debugging and benchmarks)")
	return fs
}

// workersFlag is -workers: unset (-1) means "use serve.workers".
type workersFlag struct{ n *int }

func (w workersFlag) String() string {
	if w.n == nil || *w.n < 0 {
		return ""
	}
	return strconv.Itoa(*w.n)
}

func (w workersFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("expected a number of workers (0 = one per core), got %q", v)
	}
	*w.n = n
	return nil
}

// loadServeConfig reads jawas.toml and applies the command-line overrides.
func loadServeConfig(f *serveFlags) (*config.Config, error) {
	cfg, err := config.Load(f.dir)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		cfg.Serve.Listen = f.listen
	}
	if f.workers >= 0 {
		cfg.Serve.Workers = f.workers
	}
	if f.dataDir != "" {
		cfg.Serve.DataDir = f.dataDir
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return nil, usageError{fmt.Sprintf("-log-format: expected text or json, got %q", f.logFormat)}
	}
	switch f.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, usageError{fmt.Sprintf("-log-level: expected debug, info, warn or error, got %q", f.logLevel)}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	return cfg, nil
}

func (m *Main) runServe(ctx context.Context, args []string) error {
	var f serveFlags
	fs := m.serveFlagSet(&f)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadServeConfig(&f)
	if err != nil {
		return err
	}
	log := newLogger(m.Stderr, f.logFormat, f.logLevel)
	m.dev = f.dev
	if f.single {
		return m.serveSingle(ctx, cfg, log)
	}
	return m.supervise(ctx, cfg, &f, log)
}

// supervise is `jawas serve`'s supervisor: it checks the project, binds the
// listening socket once, and runs the engine and worker processes.
func (m *Main) supervise(ctx context.Context, cfg *config.Config, f *serveFlags, log *slog.Logger) error {
	if _, err := m.loadAll(cfg, log); err != nil && !f.dev { // dev mode starts anyway and shows the errors
		return err
	}
	dataDir := cfg.Path(cfg.Serve.DataDir)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory (serve.data_dir): %w", err)
	}
	lfd, err := netpoll.Listen(cfg.Serve.Listen, 4096, false)
	if err != nil {
		return fmt.Errorf("listen on %s (serve.listen): %w", cfg.Serve.Listen, err)
	}
	lf := os.NewFile(uintptr(lfd), "listener")
	// Every worker's loops wait on one eventfd, so a loop that steps back
	// from accepting can wake an idle one (serve.Options.AcceptHintFD).
	hfd, err := netpoll.Eventfd()
	if err != nil {
		return err
	}
	hint := os.NewFile(uintptr(hfd), "accept-hint")
	defer hint.Close()
	addr, _ := netpoll.Addr(lfd)
	pidFile := ""
	if cfg.Serve.PidFile != "" {
		pidFile = cfg.Path(cfg.Serve.PidFile)
	}
	log.Info("serving", "url", "http://"+addr+"/", "workers", cfg.Workers(), "pid", os.Getpid())
	current := cfg
	return prefork.Supervise(ctx, prefork.Options{
		Listeners:       []*os.File{lf},
		Inherit:         []*os.File{hint},
		Workers:         cfg.Workers(),
		RunDir:          runDir(cfg),
		LockPath:        filepath.Join(dataDir, "jawas.lock"),
		PidFile:         pidFile,
		MaxRequests:     int64(cfg.Serve.MaxRequests),
		ShutdownTimeout: cfg.Serve.ShutdownTimeout.Duration,
		Reload: func() error { // SIGHUP: re-read jawas.toml; children re-read it when replaced
			next, err := loadServeConfig(f)
			if err != nil {
				return err
			}
			if next.Serve.Listen != current.Serve.Listen || next.Serve.DataDir != current.Serve.DataDir || next.Workers() != current.Workers() {
				log.Warn("serve.listen, serve.data_dir and serve.workers change only on restart; keeping the running values")
			}
			current = next
			return nil
		},
		Log: log,
	})
}

// loadAll loads the project's sources and templates, printing every author
// error with file:line (the caller exits non-zero).
func (m *Main) loadAll(cfg *config.Config, log *slog.Logger) (*period.Project, error) {
	proj, err := period.Load(cfg, log)
	if err != nil {
		return nil, m.reportDiagnostics("cannot load the project", err)
	}
	if _, err := tmpl.Load(cfg.Path(cfg.Templates), cfg.Dir); err != nil {
		return nil, m.reportDiagnostics("cannot load templates", err)
	}
	return proj, nil
}

// runDir is where the snapshot store and shared memory live. It is rebuilt
// at every start, so it goes on tmpfs (/dev/shm) when there is one: a new
// snapshot version costs ~1 ms there against ~15 ms on a disk (nothing in
// it needs to survive a reboot; the journal and checkpoints stay in
// serve.data_dir). The name is derived from the data directory, so two
// projects never share one.
func runDir(cfg *config.Config) string {
	data := cfg.Path(cfg.Serve.DataDir)
	if writableDir("/dev/shm") {
		sum := sha256.Sum256([]byte(data))
		return filepath.Join("/dev/shm", "jawas-"+hex.EncodeToString(sum[:6]))
	}
	return filepath.Join(data, "run")
}

// startEngine loads the project and runs its scheduler until ctx is done.
// Load errors are printed with file:line and returned.
func (m *Main) startEngine(ctx context.Context, cfg *config.Config, log *slog.Logger, snapDir string) (<-chan error, error) {
	var dev *period.Dev
	var proj *period.Project
	var pages *tmpl.Set
	var err error
	if m.dev {
		if dev, err = period.NewDev(cfg, log, m.printDevDiagnostics); err != nil {
			return nil, err
		}
		proj, pages = dev.Project(), dev.Pages()
	} else {
		if proj, err = period.Load(cfg, log); err != nil {
			return nil, m.reportDiagnostics("cannot load the project", err)
		}
		if pages, err = tmpl.Load(cfg.Path(cfg.Templates), cfg.Dir); err != nil {
			return nil, m.reportDiagnostics("cannot load templates", err)
		}
	}
	store, err := snapshot.Create(snapDir)
	if err != nil {
		return nil, err
	}
	// The client library is published like a snapshot: hashed, precompressed
	// once, mmapped by every worker.
	if _, _, err := store.Put("/_jawas/client.js", clientJS(), snapshot.Meta{ContentType: "text/javascript; charset=utf-8"}); err != nil {
		return nil, err
	}
	if _, _, err := store.Put("/_jawas/client.d.ts", client.DTS, snapshot.Meta{ContentType: "text/plain; charset=utf-8"}); err != nil {
		return nil, err
	}
	sched := &period.Scheduler{Project: proj, Store: store, Pages: pages, Log: log}
	if err := recordStatus(sched, metricsDir(filepath.Dir(snapDir)), cfg.Path(cfg.Serve.DataDir), log); err != nil {
		return nil, err
	}
	ctx, stopEngine := context.WithCancel(ctx) // writes: a damaged journal stops the engine
	finishWrites, err := engineWrites(cfg, proj, store, sched, log, stopEngine)
	if err != nil {
		stopEngine()
		return nil, err
	}
	stopWatch, err := m.watchProject(sched, dev, cfg, log)
	if err != nil {
		stopEngine()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { // the engine's timing loop; ends with ctx
		err := sched.Run(ctx)
		stopWatch()
		done <- err
		store.Close()
	}()
	log.Info("engine started", "sources", len(proj.Sources))
	return writesDone(done, finishWrites), nil
}

func (m *Main) reportDiagnostics(what string, err error) error {
	var ds engine.Diagnostics
	var d engine.Diagnostic
	switch {
	case errors.As(err, &ds):
	case errors.As(err, &d):
		ds = engine.Diagnostics{d}
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(m.Stderr, "jawas: %s: %d error(s):\n", what, len(ds))
	for _, d := range ds {
		printDiagnostic(m.Stderr, d)
	}
	return errSilent
}

// siteDir is the static files directory, or "" (serve none) when the
// project has none: a project without site/ is valid.
func siteDir(cfg *config.Config, log *slog.Logger) string {
	dir := cfg.Path(cfg.Site)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		log.Debug("no site directory; serving snapshots and pages only", "site", dir)
		return ""
	}
	return dir
}

// writableDir reports whether dir exists and this process can create files
// in it.
func writableDir(dir string) bool {
	f, err := os.CreateTemp(dir, ".jawas-probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// serverOptions maps the config onto the HTTP core's options.
func serverOptions(cfg *config.Config, lfd int, snapDir string, log *slog.Logger) serve.Options {
	s := cfg.Serve
	return serve.Options{
		ListenFD:    lfd,
		SnapshotDir: snapDir,
		SiteDir:     siteDir(cfg, log),
		Limits: http1.Limits{
			MaxRequestLine: s.MaxRequestLine,
			MaxHeaderBytes: s.MaxHeaderBytes,
			MaxBody:        int64(s.MaxBody),
		},
		HeaderTimeout: s.HeaderTimeout.Duration,
		IdleTimeout:   s.IdleTimeout.Duration,
		WriteTimeout:  s.WriteTimeout.Duration,
		MaxConns:      s.MaxConns,
		CORSOrigins:   s.CORSOrigins,
		Proxies:       proxiesOf(cfg),
		Cache:         cachePolicyOf(s.CacheControl),
		Log:           log,
	}
}

// proxiesOf maps serve.trusted_proxies, proxy_protocol and
// forwarded_header (validated by config) onto the HTTP core's options.
func proxiesOf(cfg *config.Config) serve.Proxies {
	h, _ := serve.ParseForwardedHeader(cfg.Serve.ForwardedHeader)
	return serve.Proxies{Trusted: cfg.TrustedProxies(), Protocol: cfg.Serve.ProxyProtocol, Header: h}
}

// cachePolicyOf maps [serve.cache_control] onto the HTTP core's options.
func cachePolicyOf(cc config.CacheControl) serve.CachePolicy {
	span := func(s config.Span) serve.Span { return serve.Span{Periods: s.Periods, Duration: s.Duration} }
	return serve.CachePolicy{SMaxage: cc.SMaxage.Duration,
		StaleWhileRevalidate: span(cc.StaleWhileRevalidate), StaleIfError: span(cc.StaleIfError)}
}

// serveSingle runs the engine and the serving loops in this one process.
func (m *Main) serveSingle(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	period.TuneGC() // this process is also the engine
	if _, err := netpoll.RaiseNoFile(); err != nil {
		log.Warn("cannot raise the open-file limit", "error", err)
	}
	rd := runDir(cfg) + "-single" // never mistaken for a supervisor's run dir
	defer os.RemoveAll(rd)
	if err := os.RemoveAll(rd); err != nil {
		return fmt.Errorf("clean runtime directory: %w", err)
	}
	snapDir := filepath.Join(rd, "snapshots")
	ectx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engineDone, err := m.startEngine(ectx, cfg, log, snapDir)
	if err != nil {
		return err
	}
	lfd, err := netpoll.Listen(cfg.Serve.Listen, 4096, false)
	if err != nil {
		return fmt.Errorf("listen on %s (serve.listen): %w", cfg.Serve.Listen, err)
	}
	defer netpoll.Close(lfd)
	opt := serverOptions(cfg, lfd, snapDir, log)
	opt.Loops = cfg.Workers()
	opt.Balance = true // even out connections between the loops sharing the socket
	if err := singleOps(cfg, &opt, rd, log); err != nil {
		return err
	}
	defer closeOps(&opt)
	closeWrites, err := workerWrites(cfg, &opt, 0, log)
	if err != nil {
		return err
	}
	defer closeWrites()
	srv, err := serve.New(opt)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }() // runs the loops until Shutdown
	addr, _ := netpoll.Addr(lfd)
	log.Info("serving", "url", "http://"+addr+"/", "loops", opt.Loops, "pid", os.Getpid())
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	case err := <-engineDone:
		return fmt.Errorf("engine stopped: %v", err)
	}
	log.Info("draining", "timeout", cfg.Serve.ShutdownTimeout.Duration)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Serve.ShutdownTimeout.Duration)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopEngine()
	<-engineDone
	<-served
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	_ = time.Now
	return nil
}
