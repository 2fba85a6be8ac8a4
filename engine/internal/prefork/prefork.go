// Package prefork owns jawas's process model: the supervisor (restart
// monitor) that `jawas serve` runs, the shared-memory worker table through
// which children report liveness, and the child-side helpers a re-executed
// engine or worker process calls at start.
//
// The supervisor takes the data-directory lock, creates the runtime
// directory fresh, starts one engine process and N worker processes (the same
// binary re-executed, marked by JAWAS_ROLE in the environment, each worker
// receiving the supervisor's listening sockets as fd 3, 4, ...), and then:
//
//   - restarts a child that dies (logging its exit status or signal), at once,
//     or with exponential backoff when it is crash-looping;
//   - SIGKILLs and replaces a worker, or a ready engine, whose heartbeat in
//     shared memory is older than Options.HeartbeatTimeout ("stuck");
//   - recycles a worker that marks its slot StateDraining (max_requests): the
//     replacement starts first, and only when it reports StateReady is the old
//     one sent SIGTERM, so it finishes in-flight responses and exits;
//   - on SIGHUP calls Options.Reload, runs a "validate" child, and only if both
//     succeed restarts the engine and replaces the workers one at a time;
//   - on SIGTERM/SIGINT (or ctx done) sends SIGTERM to every child, waits up
//     to Options.ShutdownTimeout, SIGKILLs stragglers and returns nil;
//   - on SIGUSR1 calls Options.ReopenLogs and forwards SIGUSR1 to children.
//
// A real worker uses it like this:
//
//	prefork.WatchParent()                  // exit if the supervisor is already gone
//	lns, _ := prefork.InheritedListeners() // fd 3, 4, ...
//	shm, me, _ := prefork.OpenSelf()       // my slot in the worker table
//	defer shm.Close()
//	drain := prefork.NotifyDrain()         // closed on SIGTERM
//	me.SetState(prefork.StateReady)        // once accepting
//	// in the loop: me.Beat(now) at least every HeartbeatTimeout/3;
//	// me.AddRequests(1) per response; when me.Requests() >= MaxRequests()
//	// call me.SetState(prefork.StateDraining) once and keep serving.
//	// on <-drain: stop accepting, send "Connection: close" on the next
//	// response of every keep-alive connection, finish in-flight, exit 0
//	// within ShutdownTimeout().
//
// All workers share ONE listening socket bound by the caller and inherited
// (never SO_REUSEPORT): a worker that stops accepting leaves queued
// connections to the others instead of resetting them (with SO_REUSEPORT
// each worker has its own accept queue, and closing a listener resets the
// connections queued on it).
//
// This package must never parse HTTP, evaluate sources or read jawas.toml:
// what a child does is the child's business; the supervisor only starts,
// watches, signals and reaps processes. It must never bind sockets either:
// the caller binds them and passes the files in Options.Listeners.
package prefork

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Environment variables set on every child. Any JAWAS_* variables already in
// Options.Env with these names are replaced.
const (
	EnvRole            = "JAWAS_ROLE"             // RoleEngine | RoleWorker | RoleValidate
	EnvSlot            = "JAWAS_SLOT"             // index of the child's slot in the worker table
	EnvWorker          = "JAWAS_WORKER"           // worker position 0..Workers-1 (stable across restarts)
	EnvRunDir          = "JAWAS_RUN_DIR"          // runtime directory (snapshots, worker table)
	EnvListenFDs       = "JAWAS_LISTEN_FDS"       // number of inherited listeners, starting at fd 3
	EnvInheritFDs      = "JAWAS_INHERIT_FDS"      // number of Options.Inherit files, after the listeners
	EnvMaxRequests     = "JAWAS_MAX_REQUESTS"     // recycle after this many requests; 0 = off
	EnvShutdownTimeout = "JAWAS_SHUTDOWN_TIMEOUT" // Go duration: how long a drain may take
	EnvSupervisorPID   = "JAWAS_SUPERVISOR_PID"   // so a child can tell its supervisor is gone
)

// Roles, the values of EnvRole. An empty role means "I am not a child".
const (
	RoleEngine   = "engine"
	RoleWorker   = "worker"
	RoleValidate = "validate" // check config + sources, print errors on stderr, exit 0 or 1
)

// ListenFD is the first inherited listener's file descriptor.
const ListenFD = 3

// ErrUnsupported is returned on operating systems other than Linux.
var ErrUnsupported = errors.New("prefork: only supported on linux")

// Options configures Supervise. Zero values get the documented defaults.
type Options struct {
	// How to re-execute children. Defaults: os.Executable(), os.Args[1:],
	// os.Environ().
	Exe  string
	Args []string
	Env  []string

	// TimerSlack is the children's timer slack (prctl PR_SET_TIMERSLACK,
	// slack_linux.go); zero: the supervisor's own, as inherited.
	TimerSlack time.Duration
	// EngineTimerSlack is the engine's, when it differs from the
	// workers'; zero: TimerSlack.
	EngineTimerSlack time.Duration

	// Listeners are bound by the caller and passed to every worker as fd 3,
	// 4, ... The supervisor keeps them open while it runs (so the socket
	// survives any worker) and closes them when it starts draining, so the
	// socket closes as soon as the last worker stops accepting. A worker
	// must close its own copy when it stops accepting.
	Listeners []*os.File

	// Inherit are further files passed to every worker, after the
	// listeners (see InheritedFile), such as an eventfd all workers share.
	// The supervisor keeps them open until it exits.
	Inherit []*os.File

	Workers int // number of worker processes; default 1

	// RunDir is the runtime directory (snapshots, worker table). It is created
	// fresh: a stale one left by a killed run is removed, but only if it looks
	// like ours (contains the worker table or is empty).
	RunDir string

	// LockPath, e.g. <data_dir>/jawas.lock, is flocked for the supervisor's
	// life and holds its pid; a second supervisor fails naming the holder.
	LockPath string
	PidFile  string // optional; written after the lock is taken, removed on exit

	MaxRequests      int64         // per worker, passed in EnvMaxRequests; 0 = off
	ShutdownTimeout  time.Duration // drain budget per child; default 10s
	HeartbeatTimeout time.Duration // worker heartbeat age that means "stuck"; default 3s
	ReadyTimeout     time.Duration // a replacement that is not ready by then is killed; default 10s
	ValidateTimeout  time.Duration // budget of the validate child on SIGHUP; default 30s

	// Crash-loop backoff: a position that crashed CrashLoopCount times within
	// CrashLoopWindow is restarted after RestartDelay doubled per further
	// crash, capped at MaxBackoff. Defaults 5, 10s, 100ms, 10s. Restarts
	// outside a crash loop are immediate.
	CrashLoopCount  int
	CrashLoopWindow time.Duration
	RestartDelay    time.Duration
	MaxBackoff      time.Duration

	// Reload is called on SIGHUP, on the supervisor goroutine, before anything
	// is replaced (re-read the config); an error keeps the running set.
	Reload func() error
	// ReopenLogs is called on SIGUSR1, on the supervisor goroutine.
	ReopenLogs func()

	// Where children's stdout and stderr go; default os.Stdout, os.Stderr.
	Stdout, Stderr *os.File

	Log *slog.Logger // default slog.Default()
}

// Role returns the role this process was started with (EnvRole), or "" when
// it is not a jawas child.
func Role() string { return os.Getenv(EnvRole) }

// Slot returns this child's slot index in the worker table, or -1.
func Slot() int { return envInt(EnvSlot, -1) }

// Worker returns this worker's position (0..Workers-1), or -1.
func Worker() int { return envInt(EnvWorker, -1) }

// RunDir returns the runtime directory passed by the supervisor.
func RunDir() string { return os.Getenv(EnvRunDir) }

// MaxRequests returns the per-worker request budget; 0 means no recycling.
func MaxRequests() int64 { return int64(envInt(EnvMaxRequests, 0)) }

// ShutdownTimeout returns the drain budget passed by the supervisor
// (default 10s).
func ShutdownTimeout() time.Duration {
	d, err := time.ParseDuration(os.Getenv(EnvShutdownTimeout))
	if err != nil || d <= 0 {
		return 10 * time.Second
	}
	return d
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return def
	}
	return v
}
