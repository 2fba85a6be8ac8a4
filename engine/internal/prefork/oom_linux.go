package prefork

// This file tells a child killed by the kernel's OOM killer from one
// killed by anyone else, because both end the same way (SIGKILL) and "killed
// by signal SIGKILL" alone sends an operator looking in the wrong place. The
// kernel counts OOM kills system-wide in /proc/vmstat (oom_kill, Linux
// 4.13+) and per memory cgroup (cgroup v2 memory.events, v1
// memory.oom_control). The supervisor reads them when it starts a child and
// when the child dies of SIGKILL it did not send: a count that rose in
// between says an OOM kill happened meanwhile. It cannot prove the victim
// was this child (another process may have been killed at the same moment);
// the message says what was seen.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomCounts are the kernel's OOM-kill counters this process can read; -1
// when one cannot be read.
type oomCounts struct {
	system, cgroup int64
	cgroupFile     string
}

// readOOM reads the counters.
func readOOM() oomCounts {
	c := oomCounts{system: counterIn("/proc/vmstat", "oom_kill"), cgroup: -1}
	if f := cgroupOOMFile(); f != "" {
		c.cgroupFile = f
		c.cgroup = counterIn(f, "oom_kill")
	}
	return c
}

// cgroupOOMFile finds this process's memory cgroup file that counts OOM
// kills: v2 memory.events, else v1 memory.oom_control.
func cgroupOOMFile() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			if f := filepath.Join("/sys/fs/cgroup", parts[2], "memory.events"); exists(f) {
				return f
			}
		case strings.Contains(","+parts[1]+",", ",memory,"):
			if f := filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control"); exists(f) {
				return f
			}
		}
	}
	return ""
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// counterIn reads "name N" from a kernel key-value file; -1 when absent.
func counterIn(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == name {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// oomVerdict explains a SIGKILL the supervisor did not send, from the
// counters read when the child started (then) and now.
func oomVerdict(then, now oomCounts) string {
	var seen []string
	if then.cgroup >= 0 && now.cgroup > then.cgroup {
		seen = append(seen, fmt.Sprintf("oom_kill in %s rose from %d to %d", now.cgroupFile, then.cgroup, now.cgroup))
	}
	if then.system >= 0 && now.system > then.system {
		seen = append(seen, fmt.Sprintf("oom_kill in /proc/vmstat rose from %d to %d", then.system, now.system))
	}
	if len(seen) > 0 {
		return "killed by the kernel's OOM killer (out of memory: " + strings.Join(seen, "; ") + "); lower serve.max_memory or give the machine more memory"
	}
	if then.system < 0 && then.cgroup < 0 {
		return "SIGKILL not sent by jawas (the kernel's OOM-kill counters cannot be read here, so an OOM kill cannot be told from a kill by another process)"
	}
	return "SIGKILL not sent by jawas, and not by the kernel's OOM killer (its counters did not move): another process or an operator"
}
