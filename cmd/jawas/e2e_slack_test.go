//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/jawas/jawas/internal/timerslack"
)

// TestE2ETimerSlack: on a single node the engine runs with a 1 ms timer
// slack (engine/api's engineTimerSlack: fewer wake-ups idle) and the
// workers with the supervisor's own, the default (a slack held their
// durability = "sync" write groups longer).
func TestE2ETimerSlack(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	engine := s.waitChildren("engine", 1, 10*time.Second)
	workers := s.waitChildren("worker", 2, 10*time.Second)
	slack := func(pid int) int64 {
		t.Helper()
		d, err := timerslack.Of(pid)
		if err != nil {
			t.Fatal(err)
		}
		return d.Nanoseconds()
	}
	own := slack(s.pid)
	if got := slack(engine[0].pid); got != time.Millisecond.Nanoseconds() {
		t.Errorf("engine (pid %d): timer slack %d ns, want 1 ms", engine[0].pid, got)
	}
	for _, w := range workers {
		if got := slack(w.pid); got != own {
			t.Errorf("worker (pid %d): timer slack %d ns, want the supervisor's %d", w.pid, got, own)
		}
	}
}
