package prefork_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/internal/timerslack"
)

// timerSlack returns the timer slack of process pid's main thread, in ns.
func timerSlack(t *testing.T, pid int) int64 {
	t.Helper()
	d, err := timerslack.Of(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d.Nanoseconds()
}

// TestChildrenTimerSlack: the children (engine, workers) run with
// Options.TimerSlack, and so every thread they start (the runtime's
// sysmon included), whatever the supervisor's; zero leaves them the
// supervisor's own. Options.EngineTimerSlack sets the engine's alone.
// (Fails with cmd.Start in place of startWithSlack, and with the engine's
// slack given to every child.)
func TestChildrenTimerSlack(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		env                        []string
		supervisor, engine, worker int64 // 0: this test process's
	}{
		{"default", nil, 0, 0, 0},
		{"children 1 ms", []string{"TEST_CHILD_SLACK=1ms"}, 0, 1_000_000, 1_000_000},
		{"supervisor 1 ms, children 200 us", []string{"TEST_SLACK=1", "TEST_CHILD_SLACK=200us"}, 1_000_000, 200_000, 200_000},
		{"supervisor 1 ms, children inherit", []string{"TEST_SLACK=1"}, 1_000_000, 1_000_000, 1_000_000},
		{"engine 1 ms, workers inherit", []string{"TEST_ENGINE_SLACK=1ms"}, 0, 1_000_000, 0},
		{"engine 1 ms, workers 200 us", []string{"TEST_ENGINE_SLACK=1ms", "TEST_CHILD_SLACK=200us"}, 0, 1_000_000, 200_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startSupervisor(t, 2, tc.env...)
			p.waitReady(2, 10*time.Second)
			workers, engine := ready(p.shm())
			for name, c := range map[string]struct {
				pid  int
				want int64
			}{
				"supervisor": {p.cmd.Process.Pid, tc.supervisor},
				"engine":     {engine, tc.engine},
				"worker 0":   {workers[0], tc.worker},
				"worker 1":   {workers[1], tc.worker},
			} {
				if c.want == 0 {
					c.want = timerSlack(t, os.Getpid())
				}
				if got := timerSlack(t, c.pid); got != c.want {
					t.Errorf("%s (pid %d): timer slack %d ns, want %d", name, c.pid, got, c.want)
				}
			}
		})
	}
}

// TestExecWithTimerSlack: the process re-executes itself once, keeping its
// pid, and then runs with the slack asked for (1 ms); the marker of the re-execution
// is gone from its environment (its children must not see it).
func TestExecWithTimerSlack(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "JAWAS_TEST_SLACK_EXEC=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := fmt.Sprintf("pid=%d slack=%d marker=\"\" err=<nil>", cmd.Process.Pid, time.Millisecond.Nanoseconds())
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
