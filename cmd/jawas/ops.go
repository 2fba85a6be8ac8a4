package main

// This file wires operability into `jawas serve`: the engine records its
// sources' status for the admin endpoints after every commit, workers keep
// their counters in the run directory and answer /_jawas/metrics, status and
// health from them, and the optional access log is reopened on SIGUSR1.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/engine/config"
	"github.com/jawas/jawas/engine/journal"
	"github.com/jawas/jawas/engine/metrics"
	"github.com/jawas/jawas/engine/period"
	"github.com/jawas/jawas/engine/prefork"
	"github.com/jawas/jawas/engine/serve"
)

// metricsDir is where every process of one run keeps counters and the
// engine status (under the run directory, tmpfs when available).
func metricsDir(runDir string) string { return filepath.Join(runDir, "metrics") }

// recordStatus makes the engine write its sources' status into dir after
// every commit (chained after any OnPublish already set).
func recordStatus(sched *period.Scheduler, dir, dataDir string, log *slog.Logger) error {
	rec, err := metrics.NewRecorder(dir)
	if err != nil {
		return err
	}
	rec.Journal = func() metrics.JournalStats { // publisher goroutine: a few stats of the journal's segments
		b, err := journal.PendingBytes(dataDir)
		if err != nil {
			return metrics.JournalStats{BacklogBytes: -1}
		}
		return metrics.JournalStats{BacklogBytes: b}
	}
	prev := sched.OnPublish
	failed := false
	sched.OnPublish = func(b time.Time) { // publisher goroutine
		if prev != nil {
			prev(b)
		}
		if err := rec.Record(time.Now(), sourceStatuses(sched.Current().Statuses())); err != nil && !failed {
			failed = true // once: the status page goes stale, serving does not
			log.Error("cannot record the engine status for /_jawas/status", "error", err)
		}
	}
	return nil
}

func sourceStatuses(st []period.Status) []metrics.SourceStatus {
	out := make([]metrics.SourceStatus, len(st))
	for i, s := range st {
		out[i] = metrics.SourceStatus{SourceStatus: s}
	}
	return out
}

// adminOptions fills the operability options of a server whose counters
// live in dir; shm is the supervisor's process table (nil when single
// process). It opens the access log when configured; the caller closes it
// after the server stopped.
func adminOptions(cfg *config.Config, opt *serve.Options, dir string, slot int, shm *prefork.Shared, log *slog.Logger) (*serve.AccessLog, error) {
	opt.Admin = serve.Admin{
		Networks:        cfg.AdminNetworks(),
		Token:           cfg.Serve.AdminToken,
		MetricsDir:      dir,
		Slot:            slot,
		HealthMaxMissed: cfg.Serve.HealthMaxMissed,
	}
	if shm != nil {
		opt.Admin.Processes = func() ([]metrics.Process, *metrics.Supervisor) { return processTable(shm) }
	}
	if cfg.Serve.AccessLog == "" {
		return nil, nil
	}
	path := cfg.Path(cfg.Serve.AccessLog)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("access log (serve.access_log): %w", err)
	}
	al, err := serve.OpenAccessLog(path, log)
	if err != nil {
		return nil, fmt.Errorf("access log (serve.access_log): %w", err)
	}
	opt.AccessLog = al
	return al, nil
}

// reopenOnSignal reopens al on every SIGUSR1 (log rotation) until stop is
// closed. al may be nil: the signal is still taken so it cannot kill us.
func reopenOnSignal(al *serve.AccessLog, log *slog.Logger, stop <-chan struct{}) {
	sig := prefork.NotifyReopen()
	go func() { // signal goroutine: only forwards SIGUSR1 to the access log writer
		for {
			select {
			case <-stop:
				return
			case <-sig:
				if al != nil {
					log.Info("SIGUSR1: reopening the access log")
					al.Reopen()
				}
			}
		}
	}()
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

// workerOps sets up a supervised worker's operability: counters in its
// slot's files, the process table, the access log and SIGUSR1.
func workerOps(cfg *config.Config, opt *serve.Options, shm *prefork.Shared, log *slog.Logger) error {
	al, err := adminOptions(cfg, opt, metricsDir(prefork.RunDir()), prefork.Slot(), shm, log)
	if err != nil {
		return err
	}
	reopenOnSignal(al, log, nil)
	return nil
}

// singleOps sets up operability of a single-process server (runDir is its
// own runtime directory).
func singleOps(cfg *config.Config, opt *serve.Options, runDir string, log *slog.Logger) error {
	al, err := adminOptions(cfg, opt, metricsDir(runDir), 0, nil, log)
	if err != nil {
		return err
	}
	reopenOnSignal(al, log, nil)
	return nil
}

// closeOps flushes and closes the access log once the server has stopped.
func closeOps(opt *serve.Options) {
	if opt.AccessLog != nil {
		opt.AccessLog.Close()
	}
}
