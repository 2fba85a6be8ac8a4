package main

// This file wires the write path (engine/writes) into `jawas serve`: the
// journal applier into the engine's scheduler, the acceptor into a worker's
// HTTP core. It is kept apart from serve.go and child.go so those files only
// call it.

import (
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/engine/config"
	"github.com/jawas/jawas/engine/period"
	"github.com/jawas/jawas/engine/prefork"
	"github.com/jawas/jawas/engine/serve"
	"github.com/jawas/jawas/engine/snapshot"
	"github.com/jawas/jawas/engine/writes"
)

// engineWrites opens the journal applier (restoring checkpointed state into
// proj's sources), publishes the write routes and hooks the applier into
// sched. stop is called when the journal is damaged: the engine must end.
// The returned finish runs after sched.Run returned: it checkpoints, and
// turns a damaged journal into the engine's error.
func engineWrites(cfg *config.Config, proj *period.Project, store *snapshot.Store, sched *period.Scheduler, log *slog.Logger, stop func()) (finish func(runErr error) error, err error) {
	app, err := writes.OpenApplier(proj, writes.ApplierOptions{
		DataDir: cfg.Path(cfg.Serve.DataDir),
		OnFatal: func(error) { stop() },
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	if _, _, err := store.Put(writes.RoutesURL, writes.RoutesOf(proj), snapshot.Meta{ContentType: "application/json"}); err != nil {
		app.Close()
		return nil, err
	}
	sched.BeforeRender = app.BeforeRender
	// Republish the routes whenever the running project changes (dev mode
	// swaps sources in): new sources accept writes, removed ones stop.
	published := proj
	prevCommit := sched.BeforeCommit
	sched.BeforeCommit = func(st *snapshot.Store) { // publisher goroutine
		if prevCommit != nil {
			prevCommit(st)
		}
		if cur := sched.Current(); cur != nil && cur != published {
			if _, _, err := st.Put(writes.RoutesURL, writes.RoutesOf(cur), snapshot.Meta{ContentType: "application/json"}); err != nil {
				log.Error("publish the write routes", "error", err)
				return
			}
			published = cur
		}
	}
	prev := sched.OnPublish
	sched.OnPublish = func(b time.Time) {
		if prev != nil {
			prev(b)
		}
		app.AfterPublish(b)
	}
	return func(runErr error) error {
		ferr := app.Err()
		if err := app.Close(); err != nil && ferr == nil {
			log.Error("final checkpoint failed", "error", err)
		}
		if ferr != nil {
			return errors.Join(ferr, runErr)
		}
		return runErr
	}, nil
}

// writesDone returns a channel that gets the engine's result once finish
// (the applier's final checkpoint) has run on it.
func writesDone(done <-chan error, finish func(error) error) <-chan error {
	out := make(chan error, 1)
	go func() { out <- finish(<-done) }() // forwards the engine's one result
	return out
}

// workerWrites makes opt accept writes: it opens the snapshot store reader
// (shared with the HTTP core) and a journal acceptor for slot. close ends
// both; call it after the server stopped.
func workerWrites(cfg *config.Config, opt *serve.Options, slot int, log *slog.Logger) (close func(), err error) {
	store := opt.Store
	own := false
	if store == nil {
		if store, err = snapshot.OpenReader(opt.SnapshotDir); err != nil {
			return nil, err
		}
		opt.Store, own = store, true
	}
	acc, err := writes.NewAcceptor(writes.AcceptorOptions{
		DataDir:    cfg.Path(cfg.Serve.DataDir),
		Slot:       max(slot, 0),
		Durability: cfg.Serve.Durability,
		Store:      store,
		Token:      cfg.SourceWriteToken,
		Rate:       cfg.Serve.WriteRate,
		Burst:      cfg.WriteBurstOrDefault(),
		RateTable:  rateTable(),
		MaxPending: cfg.Serve.MaxPendingJournal,
		Log:        log,

		CommitWindow: cfg.Serve.CommitWindow.Duration,
	})
	if err != nil {
		if own {
			store.Close()
		}
		return nil, err
	}
	opt.Write = acc.Write
	opt.WriteFlush = acc.Flush
	opt.WriteMethods = acc.Methods
	opt.Events = acc.Events
	opt.JournalStats = func() (int64, int64, int64) {
		st := acc.Stats()
		return st.Commits.Load(), st.Fsyncs.Load(), st.FsyncNanos.Load()
	}
	return func() {
		if err := acc.Close(); err != nil {
			log.Error("closing the journal", "error", err)
		}
		st := acc.Stats()
		log.Info("journal closed", "accepted", st.Accepted.Load(), "rejected", st.Rejected.Load(),
			"commits", st.Commits.Load(), "fsyncs", st.Fsyncs.Load())
		if own {
			store.Close()
		}
	}, nil
}

// rateTable is where the workers of this server share the write rate
// limit's state: a file in the supervisor's runtime directory (fresh each
// start); "" in single-process mode, where the one process keeps it.
func rateTable() string {
	if dir := prefork.RunDir(); dir != "" {
		return filepath.Join(dir, "write-rate.shm")
	}
	return ""
}
