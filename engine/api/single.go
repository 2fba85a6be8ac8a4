package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/period"
)

// ServeSingle runs an Engine and a Worker with serve.workers loops in this
// one process, without a supervisor (for debugging, embedding and
// benchmarks), until ctx is done; then it drains the loops and stops the
// engine.
func ServeSingle(ctx context.Context, cfg *Config, opt ServeOptions) error {
	log := opt.Log
	if cfg.Cluster.Enabled {
		return fmt.Errorf("cluster.enabled: a cluster node runs under `jawas serve` (a supervisor with engine and worker processes), not in one process")
	}
	period.TuneGC() // this process is also the engine
	if _, err := netpoll.RaiseNoFile(); err != nil {
		log.Warn("cannot raise the open-file limit", "error", err)
	}
	rd := RunDir(cfg) + "-single" // never mistaken for a supervisor's run dir
	defer os.RemoveAll(rd)
	if err := os.RemoveAll(rd); err != nil {
		return fmt.Errorf("clean runtime directory: %w", err)
	}
	snapDir := filepath.Join(rd, "snapshots")
	eng, err := NewEngine(EngineOptions{Config: cfg, Log: log, SnapshotDir: snapDir, MetricsDir: metricsDir(rd),
		Dev: opt.Dev, Diagnostics: opt.Diagnostics})
	if err != nil {
		return err
	}
	ectx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(ectx) }() // until stopEngine
	// Backlog 0: the kernel's longest accept queue.
	lfd, err := netpoll.Listen(cfg.Serve.Listen, 0, false)
	if err != nil {
		stopEngine()
		<-engineDone
		return fmt.Errorf("listen on %s (serve.listen): %w", cfg.Serve.Listen, err)
	}
	defer netpoll.Close(lfd)
	w, err := NewWorker(WorkerOptions{Config: cfg, Log: log, ListenFD: lfd, SnapshotDir: snapDir,
		MetricsDir: metricsDir(rd), Loops: cfg.Workers(), Dev: opt.Dev})
	if err != nil {
		stopEngine()
		<-engineDone
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	served := make(chan error, 1)
	go func() { served <- w.Run(wctx) }() // until ctx is done, then drains
	addr, _ := netpoll.Addr(lfd)
	log.Info("serving", "url", "http://"+addr+"/", "loops", cfg.Workers(), "pid", os.Getpid())
	select {
	case err := <-served: // drained (ctx done) or failed
		stopEngine()
		<-engineDone
		if err != nil {
			return err
		}
	case err := <-engineDone:
		stopWorker()
		<-served
		return fmt.Errorf("engine stopped: %v", err)
	}
	log.Info("stopped")
	return nil
}
