package api

// This file assembles a worker: the HTTP core's loops on a listening
// socket, with the write path (the journal acceptor) and operability (the
// admin endpoints' counters, the access log) plugged in.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/engine/internal/cluster"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/prefork"
	"github.com/jawas/jawas/engine/internal/serve"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/writes"
)

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	Config *Config
	Log    *slog.Logger

	ListenFD    int    // a listening socket (netpoll.Listen, or inherited)
	SnapshotDir string // the Engine's EngineOptions.SnapshotDir
	MetricsDir  string // counters for /_jawas/metrics; the Engine's too
	Loops       int    // epoll loops in this process (default 1)
	Dev         bool   // dev mode: HTML site files get the live-reload tag, as rendered pages do

	// Set by the supervised worker process (process.go) only.
	slot      int            // the worker table slot: the journal file and the counters are per slot
	child     *prefork.Child // nil when not supervised
	hintFD    int            // the supervisor's accept-hint eventfd, or -1
	rateTable string         // the write rate limit's shared table ("": in-process)
}

// Worker serves one process's share of the listening socket: snapshots,
// pages and site files from the snapshot store, writes into the journal,
// and the admin endpoints.
type Worker struct {
	opt     WorkerOptions
	srv     *serve.Server
	sopt    serve.Options
	acc     *writes.Acceptor
	store   *snapshot.Reader
	link    *cluster.WorkerLink // cluster mode: the node's forwarder
	timeout time.Duration
}

// NewWorker opens the snapshot store's reader, a journal acceptor and the
// access log, and makes the HTTP core. Call Run.
func NewWorker(opt WorkerOptions) (*Worker, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Loops <= 0 {
		opt.Loops = 1
	}
	if opt.child == nil {
		opt.hintFD = -1
	}
	w := &Worker{opt: opt, timeout: opt.Config.Serve.ShutdownTimeout.Duration}
	w.sopt = serverOptions(opt.Config, opt.ListenFD, opt.SnapshotDir, opt.Dev, opt.Log)
	w.sopt.Loops = opt.Loops
	w.sopt.Balance = true // even out connections between the loops sharing the socket
	if opt.child != nil {
		// Every worker has as many loops as this one.
		w.sopt.BalanceLoops = opt.Config.Workers() * opt.Loops
		w.sopt.CloseListener = true // refuse, rather than queue, once this worker stops accepting
		if opt.hintFD >= 0 {
			w.sopt.AcceptHintFD = opt.hintFD // the supervisor's: shared by every worker
		}
	}
	if err := w.openOps(); err != nil {
		return nil, err
	}
	if err := w.openWrites(); err != nil {
		w.close()
		return nil, err
	}
	srv, err := serve.New(w.sopt)
	if err != nil {
		w.close()
		return nil, err
	}
	w.srv = srv
	return w, nil
}

// Run serves until ctx is done, then stops accepting and drains within
// serve.shutdown_timeout; it closes the journal after the loops stopped,
// so every write they accepted is answered.
func (w *Worker) Run(ctx context.Context) error {
	defer w.close()
	served := make(chan error, 1)
	go func() { served <- w.srv.Serve() }() // the loops; returns after Shutdown drained them
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	err := w.srv.Shutdown(sctx)
	<-served
	if err != nil {
		w.opt.Log.Warn("drain cut short", "error", err)
	}
	return nil
}

// Progress is when a loop last made progress (zero before the first).
func (w *Worker) Progress() time.Time { return w.srv.Progress() }

// Requests is the number of requests answered so far.
func (w *Worker) Requests() uint64 { return w.srv.Requests() }

// serverOptions maps the config onto the HTTP core's options; in dev mode
// HTML site files get the live-reload tag as rendered pages do.
func serverOptions(cfg *Config, lfd int, snapDir string, dev bool, log *slog.Logger) serve.Options {
	s := cfg.Serve
	var siteHTML func([]byte) []byte
	if dev {
		siteHTML = period.InjectDevTag
	}
	if cfg.Cluster.Enabled && s.MaxBody > cluster.MaxBody {
		s.MaxBody = cluster.MaxBody // a record must fit in one stream message
	}
	return serve.Options{
		SiteHTML:    siteHTML,
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
func proxiesOf(cfg *Config) serve.Proxies {
	h, _ := serve.ParseForwardedHeader(cfg.Serve.ForwardedHeader)
	return serve.Proxies{Trusted: cfg.TrustedProxies(), Protocol: cfg.Serve.ProxyProtocol, Header: h}
}

// cachePolicyOf maps [serve.cache_control] onto the HTTP core's options.
func cachePolicyOf(cc config.CacheControl) serve.CachePolicy {
	span := func(s config.Span) serve.Span { return serve.Span{Periods: s.Periods, Duration: s.Duration} }
	return serve.CachePolicy{SMaxage: cc.SMaxage.Duration,
		StaleWhileRevalidate: span(cc.StaleWhileRevalidate), StaleIfError: span(cc.StaleIfError)}
}

// siteDir is the static files directory, or "" (serve none) when the
// project has none: a project without site/ is valid.
func siteDir(cfg *Config, log *slog.Logger) string {
	dir := cfg.Path(cfg.Site)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		log.Debug("no site directory; serving snapshots and pages only", "site", dir)
		return ""
	}
	return dir
}

// openWrites makes the server accept writes: it opens the snapshot store's
// reader (shared with the HTTP core) and a journal acceptor for the slot.
func (w *Worker) openWrites() error {
	cfg, log := w.opt.Config, w.opt.Log
	store, err := snapshot.OpenReader(w.opt.SnapshotDir)
	if err != nil {
		return err
	}
	w.store, w.sopt.Store = store, store
	var replica writes.Replica
	var replicaWait time.Duration
	if cfg.Cluster.Enabled && w.opt.child != nil {
		link, err := cluster.OpenWorkerLink(prefork.RunDir(), w.opt.slot)
		if err != nil {
			return err
		}
		w.link, replica = link, link
		if cfg.Cluster.WriteAck == "replicated" {
			replicaWait = cfg.Cluster.WriteTimeout.Duration
		}
	}
	acc, err := writes.NewAcceptor(writes.AcceptorOptions{
		DataDir:    cfg.Path(cfg.Serve.DataDir),
		Slot:       max(w.opt.slot, 0),
		Durability: cfg.Serve.Durability,
		Store:      store,
		Token:      cfg.SourceWriteToken,
		Rate:       cfg.Serve.WriteRate,
		Burst:      cfg.WriteBurstOrDefault(),
		RateTable:  w.opt.rateTable,
		MaxPending: cfg.Serve.MaxPendingJournal,
		Log:        log,

		CommitWindow: cfg.Serve.CommitWindow.Duration,
		Replica:      replica,
		ReplicaWait:  replicaWait,
	})
	if err != nil {
		return err
	}
	w.acc = acc
	w.sopt.Write = acc.Write
	w.sopt.WriteFlush = acc.Flush
	w.sopt.WriteMethods = acc.Methods
	w.sopt.Events = acc.Events
	w.sopt.JournalStats = func() (int64, int64, int64) {
		st := acc.Stats()
		return st.Commits.Load(), st.Fsyncs.Load(), st.FsyncNanos.Load()
	}
	return nil
}

// openOps fills the operability options: the admin endpoints' counters,
// the supervisor's process table (when supervised), and the access log,
// reopened on SIGUSR1.
func (w *Worker) openOps() error {
	cfg, log := w.opt.Config, w.opt.Log
	w.sopt.Admin = serve.Admin{
		Networks:        cfg.AdminNetworks(),
		Token:           cfg.Serve.AdminToken,
		MetricsDir:      w.opt.MetricsDir,
		Slot:            w.opt.slot,
		HealthMaxMissed: cfg.Serve.HealthMaxMissed,
		State:           stateHandler(cfg.Path(cfg.Serve.DataDir)), // `jawas state` against this server
	}
	if c := w.opt.child; c != nil {
		w.sopt.Admin.Processes = func() ([]metrics.Process, *metrics.Supervisor) { return processTable(c.Shared()) }
	}
	var al *serve.AccessLog
	if cfg.Serve.AccessLog != "" {
		path := cfg.Path(cfg.Serve.AccessLog)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("access log (serve.access_log): %w", err)
		}
		var err error
		if al, err = serve.OpenAccessLog(path, log); err != nil {
			return fmt.Errorf("access log (serve.access_log): %w", err)
		}
		w.sopt.AccessLog = al
	}
	// SIGUSR1 is taken even without an access log: its default action
	// would kill the process.
	sig := prefork.NotifyReopen()
	go func() { // signal goroutine for the process's life: forwards SIGUSR1 to the access log
		for range sig {
			if al != nil {
				log.Info("SIGUSR1: reopening the access log")
				al.Reopen()
			}
		}
	}()
	return nil
}

// close ends the journal acceptor (answering what is queued), the store
// reader and the access log; after the server stopped.
func (w *Worker) close() {
	if w.acc != nil {
		if err := w.acc.Close(); err != nil {
			w.opt.Log.Error("closing the journal", "error", err)
		}
		st := w.acc.Stats()
		w.opt.Log.Info("journal closed", "accepted", st.Accepted.Load(), "rejected", st.Rejected.Load(),
			"commits", st.Commits.Load(), "fsyncs", st.Fsyncs.Load())
		w.acc = nil
	}
	if w.store != nil {
		w.store.Close()
		w.store = nil
	}
	if w.link != nil {
		w.link.Close()
		w.link = nil
	}
	if w.sopt.AccessLog != nil {
		w.sopt.AccessLog.Close()
		w.sopt.AccessLog = nil
	}
}

// processTable reads the supervisor's worker table: every slot that ever
// held a process (free ones keep their restart counts).
func processTable(shm *prefork.Shared) ([]metrics.Process, *metrics.Supervisor) {
	var out []metrics.Process
	for i := 0; i < shm.Len(); i++ {
		w := shm.Slot(i)
		if w.Generation() == 0 {
			continue
		}
		role := "worker"
		if i == 0 {
			role = "engine"
		}
		out = append(out, metrics.Process{Role: role, Slot: i, Position: w.Position(), PID: w.PID(),
			State: w.State().String(), Started: w.Started(), LastBeat: w.LastBeat(),
			Requests: w.Requests(), Restarts: w.Restarts()})
	}
	return out, &metrics.Supervisor{PID: shm.SupervisorPID(), Recycles: shm.Recycles()}
}
