package prefork

// This file implements the supervisor: one goroutine that owns every child
// and every decision (spawn, restart, recycle, reload, drain), fed by a
// reaper goroutine per child, the doorbell children ring when they change
// their slot's state, and a timer set to the next deadline. Keeping all
// state on one goroutine means no locks and no decision races.
//
// An idle supervisor does not poll: it used to read the worker table every
// 20 ms (50 wake-ups a second, ~1% of a core: bench/README.md, "Idle
// server"). It now wakes only for
//   - a child's exit (its reaper): crash detection stays immediate;
//   - a signal: SIGHUP, SIGTERM/SIGINT, SIGUSR1, and the doorbell
//     (DoorbellSignal), which a child rings after it stores a new state
//     in its slot (ready, draining), so a replacement is swapped in or
//     started as soon as it asks;
//   - the validate child's result during a reload;
//   - the next deadline (nextDeadline): the oldest heartbeat's age
//     reaching HeartbeatTimeout (stuck detection stays exact), a
//     starting worker's ReadyTimeout, a restart's backoff, a drain's
//     overrun; at the latest HeartbeatTimeout from now, a backstop in case
//     a ring is lost.
// With children beating every BeatEvery (a third of the default
// HeartbeatTimeout), the oldest beat reaches the timeout 2 to 3 s after a
// wake-up: the supervisor wakes every 2 to 3 s. (A backstop of 1 s woke
// it every second, before any heartbeat deadline: bench/README.md, "Idle
// server".)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// retryFull is how soon a start delayed by a full worker table is retried.
const retryFull = 20 * time.Millisecond

type child struct {
	role    string
	pos     int // worker position; -1 for the engine
	slot    *WorkerSlot
	cmd     *exec.Cmd
	pid     int
	spawned time.Time
	stopAt  time.Time // when we sent SIGTERM; zero while we want it running
	stuck   bool      // we SIGKILLed it for a stale heartbeat or no readiness
	killed  bool      // we SIGKILLed it for overrunning its drain
	oom     oomCounts // the kernel's OOM-kill counters when it started (oom_linux.go)

	// The engine only: while its heartbeat is late, whether it still runs
	// (see engineRuns).
	probeAt  time.Time     // when cpuAt was read; zero while the beat is fresh
	cpuAt    time.Duration // the process's CPU time then
	lateSaid bool          // "late but running" logged for this lateness
}

type exitEvent struct {
	c     *child
	state *os.ProcessState
	err   error
}

type validateResult struct {
	out string
	err error
}

// position is a stable role in the process set: the engine, or worker i.
// It has at most one current process and one replacement being started.
type position struct {
	name      string
	role      string
	pos       int
	cur, next *child
	crashes   []time.Time
	backoff   time.Duration
	restartAt time.Time
	restarts  int64
}

// reloadPhase is where a SIGHUP reload is; the phases follow each other in
// this order and go back to reloadIdle when done or rejected.
type reloadPhase int

const (
	reloadIdle       reloadPhase = iota // no reload running
	reloadValidating                    // the validate child checks the new config
	reloadEngine                        // the engine is being restarted
	reloadWorkers                       // workers are replaced one by one (reloadQueue)
)

type supervisor struct {
	opt      Options
	log      *slog.Logger
	shm      *Shared
	used     []bool // slot in use, by index
	engine   *position
	workers  []*position
	children map[*child]struct{} // every spawned, not yet reaped child
	exits    chan exitEvent
	sigs     chan os.Signal
	bell     chan os.Signal // DoorbellSignal: a child changed its slot's state
	stopping bool

	reloadPhase     reloadPhase
	reloadAgain     bool
	reloadStart     time.Time
	reloadOldEngine *child
	reloadQueue     []int
	validated       chan validateResult
	cancelValidate  context.CancelFunc
}

// Supervise runs the process set until ctx is done or SIGTERM/SIGINT arrives,
// then drains every child and returns nil. It returns an error at once when
// the lock is held by another supervisor or the runtime directory cannot be
// prepared. Call it from the main goroutine of `jawas serve`; it installs
// handlers for SIGHUP, SIGTERM, SIGINT and SIGUSR1 for its duration.
func Supervise(ctx context.Context, opt Options) error {
	if err := opt.defaults(); err != nil {
		return err
	}
	var lock *dirLock
	if opt.LockPath != "" {
		l, err := acquireLock(opt.LockPath)
		if err != nil {
			return err
		}
		lock = l
		defer lock.release()
	}
	if err := freshRunDir(opt.RunDir); err != nil {
		return err
	}
	// Removed on the way out, before the lock is released (defers run in
	// reverse): the run dir often lives on tmpfs and holds memory.
	defer os.RemoveAll(opt.RunDir)
	if opt.PidFile != "" {
		if err := os.WriteFile(opt.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("prefork: write pid file: %w", err)
		}
		defer os.Remove(opt.PidFile)
	}
	nslots := 1 + 4*opt.Workers + 2 // old + replacement per worker, with room for overlapping reloads
	shm, err := createShared(opt.RunDir, nslots, os.Getpid())
	if err != nil {
		return err
	}
	defer shm.Close()

	s := &supervisor{
		opt:       opt,
		log:       opt.Log,
		shm:       shm,
		used:      make([]bool, nslots),
		children:  map[*child]struct{}{},
		exits:     make(chan exitEvent, nslots),
		sigs:      make(chan os.Signal, 8),
		bell:      make(chan os.Signal, 1), // rings coalesce: one tick reads every slot
		validated: make(chan validateResult, 1),
	}
	s.used[engineSlot] = true
	s.engine = &position{name: "engine", role: RoleEngine, pos: -1}
	for i := 0; i < opt.Workers; i++ {
		s.workers = append(s.workers, &position{name: "worker " + strconv.Itoa(i), role: RoleWorker, pos: i})
	}
	signal.Notify(s.sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(s.sigs)
	// Before any child starts, so no ring is missed. Its default action is
	// to ignore it, so a ring arriving after Stop harms nobody.
	signal.Notify(s.bell, DoorbellSignal)
	defer signal.Stop(s.bell)

	s.log.Info("supervisor starting", "pid", os.Getpid(), "workers", opt.Workers, "run_dir", opt.RunDir,
		"max_requests", opt.MaxRequests)
	return s.run(ctx)
}

func (o *Options) defaults() error {
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("prefork: find own executable: %w", err)
		}
		o.Exe = exe
	}
	if o.Args == nil && len(os.Args) > 1 {
		o.Args = os.Args[1:]
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if len(o.Listeners) == 0 {
		return errors.New("prefork: Options.Listeners is empty: the supervisor passes the caller's sockets to workers")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ShutdownTimeout, 10*time.Second)
	def(&o.HeartbeatTimeout, 3*time.Second)
	def(&o.ReadyTimeout, 10*time.Second)
	def(&o.ValidateTimeout, 30*time.Second)
	def(&o.CrashLoopWindow, 10*time.Second)
	def(&o.RestartDelay, 100*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	if o.CrashLoopCount <= 0 {
		o.CrashLoopCount = 5
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return nil
}

func (s *supervisor) run(ctx context.Context) error {
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	// wakeAt sets the timer for the next deadline; at least a millisecond
	// away, so a deadline the tick found not quite due (heartbeats are
	// stored in milliseconds) cannot spin the loop.
	wakeAt := func(next time.Time) {
		wake.Stop()
		wake.Reset(max(time.Until(next), time.Millisecond))
	}
	wakeAt(s.tick(time.Now())) // engine first, then the workers
	for {
		select {
		case <-ctx.Done():
			return s.shutdown("context done", false)
		case sig := <-s.sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				return s.shutdown(unix.SignalName(sig.(syscall.Signal)), true)
			case syscall.SIGHUP:
				s.startReload()
			case syscall.SIGUSR1:
				s.reopenLogs()
			}
		case ev := <-s.exits:
			s.reaped(ev)
		case res := <-s.validated:
			s.onValidated(res)
		case <-s.bell:
		case <-wake.C:
		}
		wakeAt(s.tick(time.Now()))
	}
}

// tick makes every decision that depends on time or on the worker table,
// and returns when it must run again at the latest (nextDeadline).
func (s *supervisor) tick(now time.Time) time.Time {
	// A pass can move a reload on (engine restarted: workers next; one
	// worker replaced: the next one), which the same pass has already
	// looked at; another pass acts on it now rather than at the next
	// wake-up.
	for {
		phase, queued := s.reloadPhase, len(s.reloadQueue)
		s.decide(now)
		if s.reloadPhase == phase && len(s.reloadQueue) == queued {
			break
		}
	}
	return s.nextDeadline(now)
}

// decide makes every decision that depends on time or on the worker table.
func (s *supervisor) decide(now time.Time) {
	for _, p := range s.positions() {
		if p.cur == nil && p.next == nil && !now.Before(p.restartAt) {
			s.start(p, false, now)
		}
	}
	// The engine beats once it is ready; before that it may be replaying a
	// long journal, and it has no readiness deadline. A frozen engine
	// (SIGSTOP, a frozen cgroup, a wedged process) would otherwise leave
	// the workers serving its last snapshots and queueing writes forever.
	if c := s.engine.cur; c != nil && c.stopAt.IsZero() && !c.stuck && c.slot.State() == StateReady {
		age := now.Sub(c.slot.LastBeat())
		if age <= s.opt.HeartbeatTimeout {
			c.probeAt, c.lateSaid = time.Time{}, false
		} else if runs, measured := s.engineRuns(c, now); runs && age <= 2*s.opt.HeartbeatTimeout {
			if measured && !c.lateSaid {
				c.lateSaid = true
				s.log.Warn("engine heartbeat late but the process is running (an overloaded machine?): waiting up to twice the heartbeat timeout",
					"pid", c.pid, "heartbeat_age", age.Round(time.Millisecond))
			}
		} else {
			s.log.Error("engine stuck: heartbeat too old, killing it", "pid", c.pid,
				"heartbeat_age", age.Round(time.Millisecond), "ran_meanwhile", c.lateSaid)
			s.kill(c)
			c.stuck = true
		}
	}
	for _, p := range s.workers {
		for _, c := range []*child{p.cur, p.next} {
			if c == nil || !c.stopAt.IsZero() || c.stuck {
				continue
			}
			if age := now.Sub(c.slot.LastBeat()); age > s.opt.HeartbeatTimeout {
				s.log.Error("worker stuck: heartbeat too old, killing it", "worker", p.pos, "pid", c.pid,
					"heartbeat_age", age.Round(time.Millisecond), "state", c.slot.State())
				s.kill(c)
				c.stuck = true
			} else if c.slot.State() == StateStarting && now.Sub(c.spawned) > s.opt.ReadyTimeout {
				s.log.Error("worker never became ready, killing it", "worker", p.pos, "pid", c.pid,
					"after", s.opt.ReadyTimeout)
				s.kill(c)
				c.stuck = true
			}
		}
		head := s.reloadPhase == reloadWorkers && len(s.reloadQueue) > 0 && s.reloadQueue[0] == p.pos
		if head && (p.cur == nil || p.cur.spawned.After(s.reloadStart)) && p.next == nil {
			s.popReload() // already running the new configuration
			head = false
		}
		if p.cur != nil && p.cur.stopAt.IsZero() && p.next == nil && !now.Before(p.restartAt) &&
			(head || p.cur.slot.State() == StateDraining) {
			why := "recycle (max_requests)"
			if head {
				why = "reload"
			} else {
				s.shm.word(offRecycles).Add(1)
			}
			s.log.Info("starting replacement", "worker", p.pos, "old_pid", p.cur.pid, "why", why,
				"requests", p.cur.slot.Requests())
			s.start(p, true, now)
		}
		if p.next != nil && p.next.slot.State() == StateReady {
			old := p.cur
			p.cur, p.next = p.next, nil
			if old != nil {
				s.log.Info("replacement ready, draining old worker", "worker", p.pos, "pid", p.cur.pid,
					"old_pid", old.pid, "ready_after", now.Sub(p.cur.spawned).Round(time.Millisecond))
				s.stop(old, now)
			}
			if head {
				s.popReload()
			}
		}
	}
	for c := range s.children {
		if !c.stopAt.IsZero() && !c.killed && now.Sub(c.stopAt) > s.opt.ShutdownTimeout+time.Second {
			s.log.Warn("child overran its drain, killing it", "role", c.role, "pid", c.pid,
				"shutdown_timeout", s.opt.ShutdownTimeout)
			s.kill(c)
			c.killed = true
		}
	}
	if s.reloadPhase == reloadEngine && s.engine.cur != nil && s.engine.cur != s.reloadOldEngine {
		s.reloadPhase = reloadWorkers
		s.reloadQueue = s.reloadQueue[:0]
		for i := range s.workers {
			s.reloadQueue = append(s.reloadQueue, i)
		}
	}
	if s.reloadPhase == reloadWorkers && len(s.reloadQueue) == 0 {
		s.log.Info("reload complete", "took", now.Sub(s.reloadStart).Round(time.Millisecond))
		s.reloadPhase = reloadIdle
		if s.reloadAgain {
			s.reloadAgain = false
			s.startReload()
		}
	}
}

// nextDeadline is the earliest time at which decide could decide something
// without a child exiting, ringing or a signal arriving: every time
// condition decide tests, at the time it becomes true, or HeartbeatTimeout
// from now: a backstop for a doorbell ring that could be lost (none is known
// to be), no later than a stuck child is found.
func (s *supervisor) nextDeadline(now time.Time) time.Time {
	next := now.Add(s.opt.HeartbeatTimeout)
	due := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	// A heartbeat is stale once strictly older than HeartbeatTimeout, and
	// beats are stored in milliseconds: check a millisecond after.
	stale := func(c *child) time.Time { return c.slot.LastBeat().Add(s.opt.HeartbeatTimeout + time.Millisecond) }
	for _, p := range s.positions() {
		if now.Before(p.restartAt) { // a backoff, or a start delayed by a full table
			due(p.restartAt)
		}
	}
	if c := s.engine.cur; c != nil && c.stopAt.IsZero() && !c.stuck && c.slot.State() == StateReady {
		if c.probeAt.IsZero() {
			due(stale(c))
		} else {
			due(c.probeAt.Add(engineProbe)) // late: watching whether it runs
		}
	}
	for _, p := range s.workers {
		for _, c := range []*child{p.cur, p.next} {
			if c == nil || !c.stopAt.IsZero() || c.stuck {
				continue
			}
			due(stale(c))
			if c.slot.State() == StateStarting {
				due(c.spawned.Add(s.opt.ReadyTimeout + time.Millisecond))
			}
		}
	}
	for c := range s.children {
		if !c.stopAt.IsZero() && !c.killed {
			due(c.stopAt.Add(s.opt.ShutdownTimeout + time.Second + time.Millisecond))
		}
	}
	return next
}

func (s *supervisor) positions() []*position {
	return append([]*position{s.engine}, s.workers...)
}

func (s *supervisor) popReload() { s.reloadQueue = s.reloadQueue[1:] }

// start spawns a process for p, as its current process or as its
// replacement (next).
func (s *supervisor) start(p *position, asNext bool, now time.Time) {
	if s.stopping {
		return
	}
	idx := -1
	if p.role == RoleEngine {
		idx = engineSlot
	} else {
		for i := 1; i < len(s.used); i++ {
			if !s.used[i] {
				idx = i
				break
			}
		}
		if idx < 0 {
			s.log.Warn("worker table full, delaying start", "worker", p.pos)
			p.restartAt = now.Add(retryFull)
			return
		}
	}
	slot := s.shm.Slot(idx)
	slot.reset(p.pos, p.restarts, now)

	cmd := exec.Command(s.opt.Exe, s.opt.Args...)
	env := map[string]string{
		EnvRole:            p.role,
		EnvSlot:            strconv.Itoa(idx),
		EnvWorker:          strconv.Itoa(p.pos),
		EnvRunDir:          s.opt.RunDir,
		EnvMaxRequests:     strconv.FormatInt(s.opt.MaxRequests, 10),
		EnvShutdownTimeout: s.opt.ShutdownTimeout.String(),
		EnvSupervisorPID:   strconv.Itoa(os.Getpid()),
		EnvListenFDs:       "0",
	}
	if p.role == RoleWorker {
		cmd.ExtraFiles = append(append([]*os.File(nil), s.opt.Listeners...), s.opt.Inherit...)
		env[EnvListenFDs] = strconv.Itoa(len(s.opt.Listeners))
		env[EnvInheritFDs] = strconv.Itoa(len(s.opt.Inherit))
	}
	cmd.Env = childEnv(s.opt.Env, env)
	cmd.Stdout, cmd.Stderr = s.opt.Stdout, s.opt.Stderr
	// Pdeathsig fires when the forking OS thread dies; the Go runtime never
	// retires threads unless a goroutine exits while locked to one, which
	// this package never does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	slack := s.opt.TimerSlack
	if p.role == RoleEngine && s.opt.EngineTimerSlack > 0 {
		slack = s.opt.EngineTimerSlack
	}
	if err := startWithSlack(cmd, slack); err != nil {
		slot.SetState(StateFree)
		s.log.Error("cannot start child", "role", p.role, "worker", p.pos, "err", err)
		p.restartAt = now.Add(s.crashed(p, 0, now))
		return
	}
	c := &child{role: p.role, pos: p.pos, slot: slot, cmd: cmd, pid: cmd.Process.Pid, spawned: now, oom: readOOM()}
	slot.setPID(c.pid)
	s.used[idx] = true
	s.children[c] = struct{}{}
	if asNext {
		p.next = c
	} else {
		p.cur = c
	}
	s.log.Info("started", "role", p.role, "worker", p.pos, "pid", c.pid, "slot", idx)
	// Threading: one reaper goroutine per child; it only waits and reports
	// to the supervisor goroutine (exits is buffered for every slot).
	go func() {
		err := cmd.Wait()
		s.exits <- exitEvent{c: c, state: cmd.ProcessState, err: err}
	}()
}

func childEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := set[k]; !ours {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// stop asks c to drain and exit (SIGTERM); decide SIGKILLs it when it
// overruns ShutdownTimeout.
func (s *supervisor) stop(c *child, now time.Time) {
	if !c.stopAt.IsZero() {
		return
	}
	c.stopAt = now
	c.slot.SetState(StateStopping)
	if err := unix.Kill(c.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.Error("cannot signal child", "pid", c.pid, "err", os.NewSyscallError("kill", err))
	}
}

// engineProbe is how long the supervisor watches a late engine's CPU time
// before deciding whether it still runs.
const engineProbe = 250 * time.Millisecond

// engineRuns reports whether the engine c, whose heartbeat is late, used
// CPU in the last engineProbe: its beat comes from a ticker of its own,
// apart from the renders, so a late beat with the process running means
// the machine is starving it (seen once at a load average of 17 on 2
// cores: an engine 22 s into a test was killed with its beat 3.001 s old),
// while a frozen process (SIGSTOP, a frozen cgroup) or a wedged runtime
// uses none. Until a probe has run its course, runs is true and measured
// false; a process whose CPU time cannot be read counts as not running. A
// worker gets no such grace: it beats from its event loop, and a loop
// spinning on a bug uses CPU too.
func (s *supervisor) engineRuns(c *child, now time.Time) (runs, measured bool) {
	if c.probeAt.IsZero() {
		c.probeAt, c.cpuAt = now, taskCPU(c.pid)
		return c.cpuAt >= 0, false
	}
	if now.Sub(c.probeAt) < engineProbe {
		return true, false
	}
	cpu := taskCPU(c.pid)
	runs = cpu >= 0 && cpu > c.cpuAt
	c.probeAt, c.cpuAt = now, cpu
	return runs, true
}

// taskCPU is the CPU time pid's threads have run, from the scheduler's
// per-thread statistics (nanoseconds, unlike /proc/PID/stat's clock
// ticks: a starved process may run only a few milliseconds in a probe);
// -1 when it cannot be read.
func taskCPU(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f, _, _ := strings.Cut(string(b), " ")
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return -1
		}
		sum += time.Duration(ns)
	}
	return sum
}

func (s *supervisor) kill(c *child) {
	if err := unix.Kill(c.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.Error("cannot kill child", "pid", c.pid, "err", os.NewSyscallError("kill", err))
	}
}

// reaped handles a child's exit: free its slot, log why, and schedule a
// restart of its position when it was not asked to stop.
func (s *supervisor) reaped(ev exitEvent) {
	now := time.Now()
	c := ev.c
	delete(s.children, c)
	s.used[c.slot.Index()] = false
	c.slot.SetState(StateFree)
	c.slot.setPID(0)
	why := exitReason(ev.state, ev.err)
	if ws, ok := sysStatus(ev.state); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL && !c.stuck && !c.killed && c.stopAt.IsZero() {
		why += ": " + oomVerdict(c.oom, readOOM())
	}
	lived := now.Sub(c.spawned).Round(time.Millisecond)

	p := s.engine
	if c.role == RoleWorker {
		p = s.workers[c.pos]
	}
	expected := !c.stopAt.IsZero()
	switch {
	case p.cur != c && p.next != c: // a retired worker finished draining
		s.log.Info("old worker exited", "worker", c.pos, "pid", c.pid, "status", why, "lived", lived,
			"drain", now.Sub(c.stopAt).Round(time.Millisecond))
		return
	case expected:
		s.log.Info("stopped", "role", c.role, "worker", c.pos, "pid", c.pid, "status", why)
	case c.stuck:
		s.log.Error("replaced stuck child", "role", c.role, "worker", c.pos, "pid", c.pid, "status", why, "lived", lived)
	default:
		s.log.Error("child died", "role", c.role, "worker", c.pos, "pid", c.pid, "status", why, "lived", lived)
	}
	if p.cur == c {
		p.cur, p.next = p.next, nil // a replacement being started takes over
	} else {
		p.next = nil
	}
	if s.stopping {
		return
	}
	p.restartAt = now
	if !expected {
		p.restartAt = now.Add(s.crashed(p, now.Sub(c.spawned), now))
	}
}

// crashed records a crash of p and returns how long to wait before the
// restart: nothing, unless the position is crash-looping.
func (s *supervisor) crashed(p *position, lived time.Duration, now time.Time) time.Duration {
	p.restarts++
	if lived >= s.opt.CrashLoopWindow {
		p.crashes, p.backoff = p.crashes[:0], 0
	}
	recent := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < s.opt.CrashLoopWindow {
			recent = append(recent, t)
		}
	}
	p.crashes = append(recent, now)
	if p.backoff == 0 && len(p.crashes) < s.opt.CrashLoopCount {
		return 0
	}
	if p.backoff == 0 {
		p.backoff = s.opt.RestartDelay
	} else {
		p.backoff = min(2*p.backoff, s.opt.MaxBackoff)
	}
	s.log.Error("CRASH LOOP: backing off before restarting", "role", p.role, "worker", p.pos,
		"crashes", len(p.crashes), "window", s.opt.CrashLoopWindow, "delay", p.backoff,
		"restarts", p.restarts)
	return p.backoff
}

func exitReason(ps *os.ProcessState, err error) string {
	if ps == nil {
		return err.Error()
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r := "killed by signal " + unix.SignalName(ws.Signal())
		if ws.CoreDump() {
			r += " (core dumped)"
		}
		return r
	}
	return "exit status " + strconv.Itoa(ps.ExitCode())
}

// startReload begins a SIGHUP reload: config, then a validate child, then
// the engine, then the workers one by one.
func (s *supervisor) startReload() {
	if s.reloadPhase != reloadIdle {
		s.log.Info("SIGHUP during a reload: another reload will follow")
		s.reloadAgain = true
		return
	}
	s.log.Info("SIGHUP: reloading")
	if s.opt.Reload != nil {
		if err := s.opt.Reload(); err != nil {
			s.log.Error("reload rejected, keeping the running set", "err", err)
			return
		}
	}
	s.reloadPhase = reloadValidating
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.ValidateTimeout)
	s.cancelValidate = cancel
	// Threading: one goroutine per reload; it only runs the validate child
	// and reports to the supervisor goroutine (validated has room for it).
	go func() { s.validated <- s.validate(ctx) }()
}

func (s *supervisor) validate(ctx context.Context) validateResult {
	cmd := exec.CommandContext(ctx, s.opt.Exe, s.opt.Args...)
	cmd.Env = childEnv(s.opt.Env, map[string]string{
		EnvRole:          RoleValidate,
		EnvRunDir:        s.opt.RunDir,
		EnvSupervisorPID: strconv.Itoa(os.Getpid()),
		EnvSlot:          "-1",
	})
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > 8<<10 {
		text = text[:8<<10] + "\n[...]"
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("validate timed out after %s: %w", s.opt.ValidateTimeout, err)
		}
		return validateResult{out: text, err: fmt.Errorf("prefork: validate: %w", err)}
	}
	return validateResult{out: text}
}

func (s *supervisor) onValidated(res validateResult) {
	s.cancelValidate()
	if s.stopping {
		return
	}
	if res.err != nil {
		s.log.Error("reload rejected: validation failed, keeping the running set", "err", res.err, "output", res.out)
		s.reloadPhase = reloadIdle
		if s.reloadAgain {
			s.reloadAgain = false
			s.startReload()
		}
		return
	}
	now := time.Now()
	s.log.Info("validation passed: restarting the engine, then replacing workers one by one")
	s.reloadPhase = reloadEngine
	s.reloadStart = now
	s.reloadOldEngine = s.engine.cur
	if s.engine.cur != nil {
		s.stop(s.engine.cur, now)
	} else {
		s.engine.restartAt = now
	}
}

func (s *supervisor) reopenLogs() {
	s.log.Info("SIGUSR1: reopening logs")
	if s.opt.ReopenLogs != nil {
		s.opt.ReopenLogs()
	}
	for c := range s.children {
		unix.Kill(c.pid, unix.SIGUSR1)
	}
}

// shutdown drains every child: SIGTERM, ShutdownTimeout, then SIGKILL. A
// second SIGTERM/SIGINT skips the wait. bySignal says whether the first
// one started it: when the caller's context ended instead, as jawas's does
// on SIGTERM (signal.NotifyContext), the same signal also arrives here and
// is the first, not the second (it used to skip the drain now and then).
func (s *supervisor) shutdown(why string, bySignal bool) error {
	s.stopping = true
	if s.cancelValidate != nil {
		s.cancelValidate() // kills a validate child still running
	}
	now := time.Now()
	s.log.Info("shutting down: draining children", "why", why, "children", len(s.children),
		"shutdown_timeout", s.opt.ShutdownTimeout)
	for c := range s.children {
		s.stop(c, now)
	}
	// Drop our copy of the sockets: once the last worker has stopped
	// accepting (and closed its copy), the kernel closes the socket, and late
	// clients are refused at once instead of queued and reset at our exit.
	for _, f := range s.opt.Listeners {
		f.Close()
	}
	killAll := func(reason string) {
		for c := range s.children {
			s.log.Warn("killing child", "role", c.role, "pid", c.pid, "why", reason)
			s.kill(c)
			c.killed = true
		}
	}
	deadline := time.NewTimer(s.opt.ShutdownTimeout)
	defer deadline.Stop()
	killed := false
	signals := 0
	if bySignal {
		signals = 1
	}
	for len(s.children) > 0 {
		select {
		case ev := <-s.exits:
			s.reaped(ev)
		case sig := <-s.sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				if signals++; signals >= 2 && !killed {
					killAll("second " + unix.SignalName(sig.(syscall.Signal)))
					killed = true
				}
			}
		case <-deadline.C:
			if killed {
				return fmt.Errorf("prefork: %d children did not exit after SIGKILL", len(s.children))
			}
			killAll("shutdown timeout")
			killed = true
			deadline.Reset(5 * time.Second)
		}
	}
	s.log.Info("supervisor stopped", "took", time.Since(now).Round(time.Millisecond))
	return nil
}

// sysStatus is ps's wait status, when there is one.
func sysStatus(ps *os.ProcessState) (syscall.WaitStatus, bool) {
	if ps == nil {
		return 0, false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ws, ok
}
