package api

// This file implements `jawas serve`'s process model: a supervisor that
// binds the listening socket once and re-executes this binary (Go cannot
// fork) as one engine process and N worker processes, and those children's
// side: each re-reads jawas.toml and the same flags, so every process
// agrees on the config.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jawas/jawas/engine/internal/cluster"
	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/prefork"
)

// ServeOptions are how `jawas serve` runs, beside the config.
type ServeOptions struct {
	Log *slog.Logger
	// Dev: the engine watches the project and reloads on every change;
	// author errors are printed to Diagnostics (default os.Stderr).
	Dev         bool
	Diagnostics io.Writer
	// Reload re-reads the config when the supervisor gets SIGHUP (the
	// children it then starts read it themselves). Supervisor only.
	Reload func() (*Config, error)
}

// Supervise runs `jawas serve`: it checks the project (author errors come
// back as engine.Diagnostics; dev mode starts anyway and shows them),
// binds the listening socket, and runs the engine and worker processes
// until ctx is done (then drains them). Children are this executable,
// which must call RunChild first thing in main.
func Supervise(ctx context.Context, cfg *Config, opt ServeOptions) error {
	log := opt.Log
	if err := Check(cfg, log); err != nil && !opt.Dev {
		return err
	}
	dataDir := cfg.Path(cfg.Serve.DataDir)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory (serve.data_dir): %w", err)
	}
	// Backlog 0: the kernel's longest accept queue.
	lfd, err := netpoll.Listen(cfg.Serve.Listen, 0, false)
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
	if cfg.Cluster.Enabled && cfg.Cluster.Embed {
		dir := cfg.Cluster.EmbedDir
		if dir == "" {
			dir = filepath.Join(dataDir, "nats")
		} else {
			dir = cfg.Path(dir)
		}
		ns, err := cluster.StartEmbedded(cfg.Cluster, dir, log)
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		log.Info("embedded NATS server started", "clients", cfg.Cluster.EmbedListen, "routes", cfg.Cluster.EmbedCluster)
	}
	pidFile := ""
	if cfg.Serve.PidFile != "" {
		pidFile = cfg.Path(cfg.Serve.PidFile)
	}
	log.Info("serving", "url", "http://"+addr+"/", "workers", cfg.Workers(), "pid", os.Getpid())
	current := cfg
	return prefork.Supervise(ctx, prefork.Options{
		Listeners:        []*os.File{lf},
		Inherit:          []*os.File{hint},
		Workers:          cfg.Workers(),
		RunDir:           RunDir(cfg),
		LockPath:         filepath.Join(dataDir, "jawas.lock"),
		PidFile:          pidFile,
		MaxRequests:      int64(cfg.Serve.MaxRequests),
		ShutdownTimeout:  cfg.Serve.ShutdownTimeout.Duration,
		TimerSlack:       timerSlack(cfg),
		EngineTimerSlack: engineTimerSlack,
		Reload: func() error { // SIGHUP: re-read jawas.toml; children re-read it when replaced
			if opt.Reload == nil {
				return nil
			}
			next, err := opt.Reload()
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

// ChildRole is this process's role when the supervisor started it
// ("engine", "worker" or "validate"), "" otherwise.
func ChildRole() string { return prefork.Role() }

// clusterTimerSlack is the timer slack of every process of a cluster
// node (prctl PR_SET_TIMERSLACK; Linux's default is 50 us): how late the
// kernel may fire a timer of theirs, to batch wake-ups.
//
// It is for the Go runtime's monitor thread (sysmon), which sleeps 20 us
// at a time while the process is busy and it keeps retaking processors
// from threads blocked in system calls (fsync, and any call the kernel
// deschedules on a loaded machine): under the cluster write load
// (bench/cluster, 64 writers) sysmon was ~25 % of all the jawas
// processes' CPU, each of the twelve polling thousands of times a
// second; the slack stretches each sleep to about 1 ms. Timers may fire
// up to 1 ms later (a group's commit window, a boundary, a lease
// renewal). Not on a single node: there its workers' groups, held on a
// commit-window timer, were held longer, and writes with durability
// "sync" fell from 31,000-40,000 to 29,000-31,000/s (bench/writes, 3
// pairs); a single node's engine gets it anyway (engineTimerSlack).
// Measured: bench/README.md, "Cluster".
const clusterTimerSlack = time.Millisecond

// timerSlack is the children's timer slack for cfg (zero: inherited).
func timerSlack(cfg *Config) time.Duration {
	if cfg.Cluster.Enabled {
		return clusterTimerSlack
	}
	return 0
}

// engineTimerSlack is the engine's timer slack on every node: its timers
// are its sources' boundaries, the status file's and its beat, none of
// which a millisecond later changes, and the slack lets the kernel fold
// the wake-ups of an idle engine (sysmon's short sleeps after each
// boundary, the boundary timers of sources due together). The workers
// keep the default on a single node (see clusterTimerSlack). Measured:
// bench/README.md, "Idle server".
const engineTimerSlack = time.Millisecond

// PrepareServe is for the main function of a binary that serves cfg
// with Supervise, before Supervise and before anything that must not run
// twice: on Linux, for a cluster node, it re-executes the process once
// (same pid, arguments and environment) with the timer slack its
// children get, which the process that embeds the NATS server needs as
// much as they do (see clusterTimerSlack). It may replace the process
// image: never call it in a process that hosts anything else.
func PrepareServe(cfg *Config) {
	if s := timerSlack(cfg); s > 0 {
		prefork.ExecWithTimerSlack(s)
	}
}

// RunChild runs this process as the supervisor's child in the role
// ChildRole names, until the supervisor asks it to drain. Author errors
// come back as engine.Diagnostics.
func RunChild(cfg *Config, opt ServeOptions) error {
	prefork.WatchParent()
	prefork.YieldToOOMKiller()
	// The supervisor forwards SIGUSR1 (reopen logs). Take it from the
	// start so it never kills a child.
	prefork.NotifyReopen()
	// SIGHUP is the supervisor's (reload). A terminal hangup sends it to
	// the whole process group; children must not die of it: the
	// supervisor replaces them one by one instead.
	signal.Ignore(syscall.SIGHUP)
	switch role := prefork.Role(); role {
	case prefork.RoleValidate:
		return Check(cfg, opt.Log)
	case prefork.RoleEngine:
		return engineProcess(cfg, opt)
	case prefork.RoleWorker:
		return workerProcess(cfg, opt)
	default:
		return fmt.Errorf("unknown role %q", role)
	}
}

// engineProcess is the engine process: it evaluates and publishes until
// the supervisor asks it to stop, beating all the while.
func engineProcess(cfg *Config, opt ServeOptions) error {
	period.TuneGC()
	child, err := prefork.OpenChild()
	if err != nil {
		return err
	}
	defer child.Close()
	if cfg.Cluster.Enabled {
		child.Slot().SetState(prefork.StateReady)
		err := child.Run(func(ctx context.Context) error {
			return clusterNode(ctx, cfg, opt, prefork.RunDir())
		}, func(time.Time) bool { return true })
		opt.Log.Info("cluster node stopped")
		return err
	}
	eng, err := NewEngine(EngineOptions{
		Config:      cfg,
		Log:         opt.Log,
		SnapshotDir: filepath.Join(prefork.RunDir(), "snapshots"),
		MetricsDir:  metricsDir(prefork.RunDir()),
		Dev:         opt.Dev,
		Diagnostics: opt.Diagnostics,
	})
	if err != nil {
		return err
	}
	child.Slot().SetState(prefork.StateReady)
	drained := false
	err = child.Run(func(ctx context.Context) error {
		err := eng.Run(ctx)
		drained = ctx.Err() != nil
		return err
	}, func(time.Time) bool { return true })
	if drained {
		opt.Log.Info("engine stopped")
		return err
	}
	return fmt.Errorf("engine stopped: %v", err)
}

// workerProcess is one worker process: one epoll loop on the inherited
// listener. It beats from the loop itself (serve.Options.Alive, at each
// iteration, once a second when idle), so a stuck loop stops beating and
// the supervisor replaces the process, and no timer of its own wakes the
// process; it asks to be recycled after serve.max_requests.
func workerProcess(cfg *Config, opt ServeOptions) error {
	child, err := prefork.OpenChild()
	if err != nil {
		return err
	}
	defer child.Close()
	if _, err := netpoll.RaiseNoFile(); err != nil {
		opt.Log.Warn("cannot raise the open-file limit", "error", err)
	}
	// A worker's wake-ups do not preempt its clients (or anything else):
	// it serves requests in batches instead of one or two per wake-up
	// (netpoll.BatchScheduling).
	if err := netpoll.BatchScheduling(); err != nil {
		opt.Log.Warn("cannot set batch scheduling", "error", err)
	}
	hint, ok := prefork.InheritedFile(0)
	if !ok {
		hint = -1
	}
	me := child.Slot()
	maxReq := prefork.MaxRequests()
	var reported uint64
	asked := false
	var w *Worker
	// alive runs on the loop's goroutine (after NewWorker has set w): the
	// loop made progress at p.
	alive := func(p time.Time) {
		n := w.Requests()
		me.AddRequests(int64(n - reported))
		reported = n
		if maxReq > 0 && int64(n) >= maxReq && !asked {
			asked = true
			opt.Log.Info("recycling: max_requests reached", "requests", n)
			me.SetState(prefork.StateDraining)
		}
		if me.State() == prefork.StateStarting {
			me.SetState(prefork.StateReady)
		}
		me.Beat(p)
	}
	w, err = NewWorker(WorkerOptions{
		Config:      cfg,
		Log:         opt.Log,
		ListenFD:    prefork.ListenFD,
		SnapshotDir: filepath.Join(prefork.RunDir(), "snapshots"),
		MetricsDir:  metricsDir(prefork.RunDir()),
		Loops:       1,
		Dev:         opt.Dev,
		slot:        prefork.Slot(),
		child:       child,
		hintFD:      hint,
		rateTable:   filepath.Join(prefork.RunDir(), "write-rate.shm"),
		alive:       alive,
	})
	if err != nil {
		return err
	}
	return child.Run(w.Run, nil)
}
