package prefork_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/prefork"
)

// timerSlack returns the timer slack of process pid's main thread.
func timerSlack(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChildrenTimerSlack: the engine and the workers run with
// ChildTimerSlack (and so every thread they start, the runtime's sysmon
// included), while the supervisor's thread that forked them is given its
// own slack back. (Fails with cmd.Start in place of startWithSlack.)
func TestChildrenTimerSlack(t *testing.T) {
	p := startSupervisor(t, 2)
	p.waitReady(2, 10*time.Second)
	workers, engine := ready(p.shm())
	want := prefork.ChildTimerSlack.Nanoseconds()
	for name, pid := range map[string]int{"engine": engine, "worker 0": workers[0], "worker 1": workers[1]} {
		if got := timerSlack(t, pid); got != want {
			t.Errorf("%s (pid %d): timer slack %d ns, want %d", name, pid, got, want)
		}
	}
	if got, mine := timerSlack(t, p.cmd.Process.Pid), timerSlack(t, os.Getpid()); got != mine {
		t.Errorf("supervisor's main thread: timer slack %d ns, want its own %d", got, mine)
	}
}

// TestExecWithTimerSlack: the process re-executes itself once, keeping its
// pid, and then runs with ChildTimerSlack; the marker of the re-execution
// is gone from its environment (its children must not see it).
func TestExecWithTimerSlack(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "JAWAS_TEST_SLACK_EXEC=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := fmt.Sprintf("pid=%d slack=%d marker=\"\" err=<nil>", cmd.Process.Pid, prefork.ChildTimerSlack.Nanoseconds())
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
