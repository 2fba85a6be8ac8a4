package main

// This file implements the supervisor's children: `jawas serve` re-executes
// its own binary with JAWAS_ROLE set (Go cannot fork), and main calls
// runChild first. A child re-reads jawas.toml and the same serve flags the
// supervisor got, so every process agrees on the config.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jawas/jawas/engine/config"
	"github.com/jawas/jawas/engine/netpoll"
	"github.com/jawas/jawas/engine/period"
	"github.com/jawas/jawas/engine/prefork"
	"github.com/jawas/jawas/engine/serve"
)

// runChild runs this process as a supervisor child (engine, worker or
// validate) when the environment says so; ok is false for a normal run.
func runChild() (code int, ok bool) {
	role := prefork.Role()
	if role == "" {
		return 0, false
	}
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	var f serveFlags
	fs := m.serveFlagSet(&f)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "jawas %s: %v\n", role, err)
		return 2, true
	}
	cfg, err := loadServeConfig(&f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jawas %s: %v\n", role, err)
		return 1, true
	}
	log := newLogger(os.Stderr, f.logFormat, f.logLevel).With("role", role, "pid", os.Getpid())
	m.dev = f.dev
	prefork.WatchParent()
	// The supervisor forwards SIGUSR1 (reopen logs). Handle it from the
	// start so it never kills a child; a worker with an access log also
	// reopens that file on it (workerOps in ops.go).
	prefork.NotifyReopen()
	// SIGHUP is the supervisor's (reload). A terminal hangup sends it to the
	// whole process group; children must not die of it: the supervisor
	// replaces them one by one instead.
	signal.Ignore(syscall.SIGHUP)
	switch role {
	case prefork.RoleValidate:
		err = m.validate(cfg, log)
	case prefork.RoleEngine:
		err = m.engineMain(cfg, log)
	case prefork.RoleWorker:
		err = workerMain(cfg, m.dev, log)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		if err != errSilent {
			log.Error("exiting", "error", err)
		}
		return 1, true
	}
	return 0, true
}

// validate loads config, sources and templates without publishing anything:
// SIGHUP runs it before replacing the running set.
func (m *Main) validate(cfg *config.Config, log *slog.Logger) error {
	_, err := m.loadAll(cfg, log)
	return err
}

// engineMain is the engine process: it evaluates and publishes until the
// supervisor asks it to stop.
func (m *Main) engineMain(cfg *config.Config, log *slog.Logger) error {
	period.TuneGC()
	shm, me, err := prefork.OpenSelf()
	if err != nil {
		return err
	}
	defer shm.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := m.startEngine(ctx, cfg, log, filepath.Join(prefork.RunDir(), "snapshots"))
	if err != nil {
		return err
	}
	me.SetState(prefork.StateReady)
	drain := prefork.NotifyDrain()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-drain:
			cancel()
			<-done
			log.Info("engine stopped")
			return nil
		case err := <-done:
			return fmt.Errorf("engine stopped: %v", err)
		case now := <-tick.C:
			me.Beat(now)
		}
	}
}

// workerMain is one worker process: one epoll loop on the inherited
// listener, reporting liveness and requests through the worker table.
func workerMain(cfg *config.Config, dev bool, log *slog.Logger) error {
	shm, me, err := prefork.OpenSelf()
	if err != nil {
		return err
	}
	defer shm.Close()
	if _, err := netpoll.RaiseNoFile(); err != nil {
		log.Warn("cannot raise the open-file limit", "error", err)
	}
	opt := serverOptions(cfg, prefork.ListenFD, filepath.Join(prefork.RunDir(), "snapshots"), dev, log)
	opt.Loops = 1
	opt.CloseListener = true // refuse, rather than queue, once this worker stops accepting
	opt.Balance = true       // even out connections between the workers sharing the socket
	if fd, ok := prefork.InheritedFile(0); ok {
		opt.AcceptHintFD = fd // the supervisor's: shared by every worker
	}
	if err := workerOps(cfg, &opt, shm, log); err != nil {
		return err
	}
	defer closeOps(&opt)
	closeWrites, err := workerWrites(cfg, &opt, prefork.Slot(), log)
	if err != nil {
		return err
	}
	defer closeWrites() // after the server stopped: answers what is queued
	srv, err := serve.New(opt)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }() // the loop; returns after Shutdown drained it
	drain := prefork.NotifyDrain()
	maxReq := prefork.MaxRequests()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var reported uint64
	asked := false
	for {
		select {
		case err := <-served:
			return err
		case <-drain:
			ctx, cancel := context.WithTimeout(context.Background(), prefork.ShutdownTimeout())
			err := srv.Shutdown(ctx)
			cancel()
			<-served
			if err != nil {
				log.Warn("drain cut short", "error", err)
			}
			return nil
		case now := <-tick.C:
			// Beat only while the loop itself makes progress: a stuck loop
			// stops beating and the supervisor replaces this process.
			if p := srv.Progress(); !p.IsZero() && now.Sub(p) < 2*time.Second {
				me.Beat(now)
				if me.State() == prefork.StateStarting {
					me.SetState(prefork.StateReady)
				}
			}
			n := srv.Requests()
			me.AddRequests(int64(n - reported))
			reported = n
			if maxReq > 0 && int64(n) >= maxReq && !asked {
				asked = true
				log.Info("recycling: max_requests reached", "requests", n)
				me.SetState(prefork.StateDraining)
			}
		}
	}
}
