package prefork

// This file implements the child-side helpers: what an engine or worker
// calls at start to pick up what the supervisor handed it.

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// InheritedListeners returns the listening sockets passed by the supervisor
// as fd 3, 4, ... (EnvListenFDs of them). The files are the caller's to close;
// closing a worker's copy only stops that worker from accepting.
func InheritedListeners() ([]*os.File, error) {
	n := envInt(EnvListenFDs, 0)
	if n <= 0 {
		return nil, fmt.Errorf("prefork: no inherited listeners (%s=%q)", EnvListenFDs, os.Getenv(EnvListenFDs))
	}
	files := make([]*os.File, 0, n)
	for i := 0; i < n; i++ {
		fd := ListenFD + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("prefork: inherited listener fd %d: %w", fd, os.NewSyscallError("fcntl", err))
		}
		unix.CloseOnExec(fd) // do not leak it into anything this child execs
		files = append(files, os.NewFile(uintptr(fd), "jawas-listener-"+strconv.Itoa(i)))
	}
	return files, nil
}

// InheritedFile returns the fd of Options.Inherit[i] in a worker, and false
// when the supervisor passed fewer files.
func InheritedFile(i int) (fd int, ok bool) {
	if i < 0 || i >= envInt(EnvInheritFDs, 0) {
		return -1, false
	}
	fd = ListenFD + envInt(EnvListenFDs, 0) + i
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return -1, false
	}
	unix.CloseOnExec(fd)
	return fd, true
}

// WatchParent makes this child exit when its supervisor is gone. The
// supervisor already sets Pdeathsig=SIGKILL on every child; this closes the
// race where the supervisor died between fork and prctl (the child would
// then already be reparented), and keeps watching as a second line of
// defence: a pidfd of the supervisor, which the Go poller reports readable
// when it exits (no wake-up until then), or, where pidfds are missing
// (Linux < 5.3), a getppid poll every parentPoll.
func WatchParent() {
	want := envInt(EnvSupervisorPID, 0)
	if want == 0 {
		return
	}
	check := func() {
		if os.Getppid() != want {
			fmt.Fprintf(os.Stderr, "jawas %s: supervisor pid %d is gone, exiting\n", Role(), want)
			os.Exit(1)
		}
	}
	check()
	// Threading: one goroutine for the process's life; it only waits on
	// the pidfd, or reads getppid.
	go func() {
		if waitExit(want) {
			check() // exits: the supervisor is gone, its children reparented
		}
		for range time.Tick(parentPoll) {
			check()
		}
	}()
}

// parentPoll is WatchParent's poll when it cannot wait on a pidfd. It was
// 250 ms (4 wake-ups a second per child, bench/README.md "Idle server");
// Pdeathsig is the fast path, this only catches what it would miss.
const parentPoll = 2 * time.Second

// waitExit waits until process pid has exited and reports true, or
// reports false at once when it cannot wait for it (no pidfd support).
func waitExit(pid int) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), "supervisor-pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	// A pidfd is never read: the first call asks the poller to wait for
	// readability (the process exited), the second ends the wait.
	waited := false
	err = rc.Read(func(uintptr) bool {
		if waited {
			return true
		}
		waited = true
		return false
	})
	return err == nil
}

// DoorbellSignal is what a child sends its supervisor after it stores a
// new state in its slot (ready, draining), so the supervisor acts on it at
// once instead of polling the table. SIGWINCH, because its default action
// is to ignore it: a ring reaching a process that does not listen for it
// (a supervisor that has stopped, a terminal's process group) harms nobody.
const DoorbellSignal = unix.SIGWINCH

var supervisorPID = sync.OnceValue(func() int { return envInt(EnvSupervisorPID, 0) })

// ring tells this child's supervisor that its slot changed. It does
// nothing in a process that is not a supervised child (the supervisor
// itself), or whose supervisor is gone (its pid may be another process's).
func ring() {
	if pid := supervisorPID(); pid != 0 && os.Getppid() == pid {
		unix.Kill(pid, DoorbellSignal)
	}
}

var (
	drainOnce sync.Once
	drainCh   chan struct{}
)

// NotifyDrain returns a channel closed when the supervisor asks this child
// to stop (SIGTERM, or SIGINT from a terminal): stop accepting, finish
// in-flight work within ShutdownTimeout(), exit 0. Every call returns the
// same channel.
func NotifyDrain() <-chan struct{} {
	drainOnce.Do(func() {
		drainCh = make(chan struct{})
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		// Threading: one goroutine; it closes drainCh once and stops.
		go func() {
			<-sigs
			close(drainCh)
		}()
	})
	return drainCh
}

// NotifyReopen returns a channel that receives a value on every SIGUSR1
// (the supervisor forwards it: reopen log files). A child must call it (or
// otherwise handle SIGUSR1): a Go program's default action on SIGUSR1 is
// to exit.
func NotifyReopen() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	return ch
}

// ChildOOMScoreAdj is how much more a child's oom_score_adj is than its
// supervisor's (capped at 1000, the most).
const ChildOOMScoreAdj = 500

// YieldToOOMKiller raises this child's oom_score_adj ChildOOMScoreAdj
// above the value it inherited from the supervisor, so that when memory
// runs out the kernel's OOM killer takes a child, which the supervisor
// restarts, rather than the supervisor, whose death takes every child
// with it. Measured in a 200 MiB memory cgroup (TestE2EOOMKillReported):
// the engine was killed, and 25 ms later, before its memory was released,
// a second OOM event killed the supervisor (8 MB resident, the largest
// left) in about one run in ten. Raising one's own value needs no
// privilege; errors are ignored (the value stays as inherited).
func YieldToOOMKiller() {
	const path = "/proc/self/oom_score_adj"
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	os.WriteFile(path, []byte(strconv.Itoa(min(cur+ChildOOMScoreAdj, 1000))), 0)
}
