package prefork

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
// environment) with the timer slack slack unless it already runs with at
// least that much: the runtime's sysmon thread, started before main,
// keeps the slack it started with, and only a new image started from a
// thread with the slack gets it everywhere. Call it from the process's
// own main, before anything that must not run twice (a socket bound, a
// server started); when it cannot exec, it returns and the process goes
// on with the slack it had. On the second run it returns at once.
func ExecWithTimerSlack(slack time.Duration) {
	if os.Getenv(envSlackExec) != "" {
		os.Unsetenv(envSlackExec) // the children get the slack by fork
		return
	}
	want := slack.Nanoseconds()
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
