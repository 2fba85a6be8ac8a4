package prefork

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ChildTimerSlack is the timer slack the children (engine, workers) run
// with: how late the kernel may fire a timer of theirs, to batch wake-ups
// (prctl PR_SET_TIMERSLACK; Linux's default is 50 us).
//
// It is for the Go runtime's monitor thread (sysmon), which polls every
// 20 us while the process is busy and it keeps retaking processors from
// threads blocked in system calls (fsync, and any call the kernel
// deschedules on a loaded machine): under the cluster write load
// (bench/cluster, 64 writers) sysmon was ~25 % of all the jawas processes'
// CPU, each of the twelve polling thousands of times a second. The slack
// stretches each 20 us sleep to about 1 ms. Go's own timers are already
// rounded to milliseconds (its poller waits in whole milliseconds), and
// the children wait for events, not timers, on every request's path; a
// timer may now fire up to a millisecond later (the commit window, a
// period boundary). Measured: bench/README.md, "Cluster".
const ChildTimerSlack = time.Millisecond

// startWithSlack starts cmd with the timer slack slack: a child inherits
// the slack of the thread that forks it, and keeps it across exec, and
// every thread it starts inherits it in turn (the runtime's sysmon
// included), so the forking thread takes it for the fork and gives it
// back after.
func startWithSlack(cmd *exec.Cmd, slack time.Duration) error {
	if slack <= 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0, 0, 0) != nil {
		return cmd.Start() // no slack then; nothing else depends on it
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	return cmd.Start()
}

// envSlackExec marks the re-execution of ExecWithTimerSlack, so it
// happens once even if the slack did not stick.
const envSlackExec = "JAWAS_TIMER_SLACK_EXEC"

// ExecWithTimerSlack re-executes this process (same pid, arguments and
// environment) with ChildTimerSlack unless it already runs with at least
// that much: the runtime's sysmon thread, started before main, keeps the
// slack it started with, and only a new image started from a thread with
// the slack gets it everywhere. Call it first thing in main, before any
// file or socket is opened; when it cannot, it returns and the process
// goes on with the slack it had.
func ExecWithTimerSlack() {
	if os.Getenv(envSlackExec) != "" {
		os.Unsetenv(envSlackExec) // the children get the slack by fork
		return
	}
	want := ChildTimerSlack.Nanoseconds()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || int64(cur) >= want {
		return
	}
	if unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0) != nil {
		return
	}
	// /proc/self/exe: this very binary, even if its path was replaced.
	err = syscall.Exec("/proc/self/exe", os.Args, append(os.Environ(), envSlackExec+"=1"))
	unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(cur), 0, 0, 0) // exec failed: as before
	_ = err
}
