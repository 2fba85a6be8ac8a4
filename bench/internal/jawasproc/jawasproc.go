//go:build unix

// Package jawasproc holds what the bench programs do to a `jawas serve`
// they started: find its URL in its log, stop it, and note the machine's
// load beside their figures. (Reading CPU time is package proc's, which
// never signals a process.)
package jawasproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

var urlRe = regexp.MustCompile(`msg=serving url=(http://127\.0\.0\.1:\d+)/`)

// ServerURL reads the server's log until it names its URL (20 s at most).
func ServerURL(r io.Reader) (string, error) {
	found := make(chan string, 1)
	go func() { // reads the log until the URL line; the caller drains the rest
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := urlRe.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				return
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			return "", fmt.Errorf("jawas exited before logging its URL")
		}
		return u, nil
	case <-time.After(20 * time.Second):
		return "", fmt.Errorf("jawas did not log its URL within 20 s")
	}
}

// Stop ends the server cmd started: SIGTERM, then SIGKILL to the process
// group it was started in after 15 s.
func Stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group we started
		<-done
	}
}

// LoadAvg is the 1, 5 and 15 minute load averages, "?" when unknown.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
