//go:build unix

package proc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestTreeCountsChildren burns CPU in a child shell and checks that the
// parent's tree total grows by about that much.
func TestTreeCountsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' & wait; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	before, err := Tree(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var after CPU
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if after, err = Tree(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		if after.Sub(before).Total() >= 50*time.Millisecond {
			return
		}
	}
	t.Fatalf("tree CPU grew by %v only (before %v after %v)", after.Sub(before).Total(), before, after)
}

// TestTreeSelf checks the parsing against getrusage on this process: both
// read the same kernel counters, so they must agree to a few ticks.
func TestTreeSelf(t *testing.T) {
	var ru syscall.Rusage
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // burn at least 100 ms of CPU
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		if time.Duration(ru.Utime.Nano()) >= 100*time.Millisecond {
			break
		}
	}
	c, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if d := c.Total() - want; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("/proc says %v, getrusage %v", c.Total(), want)
	}
	if _, err := Tree(1 << 30); err == nil {
		t.Fatal("no error for a missing pid")
	}
}
