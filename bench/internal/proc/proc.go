//go:build unix

// Package proc reads the CPU time a server has used from /proc, so a
// benchmark can report server CPU per request. It owns the parsing of
// /proc/PID/stat and the walk of a process tree; it must never signal or
// otherwise touch the processes it reads.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// CPU is user and system time.
type CPU struct {
	User, Sys time.Duration
}

// Total is User + Sys.
func (c CPU) Total() time.Duration { return c.User + c.Sys }

// Sub returns c − o.
func (c CPU) Sub(o CPU) CPU { return CPU{c.User - o.User, c.Sys - o.Sys} }

// stat is one /proc/PID/stat line, the fields this package uses.
type stat struct {
	ppid                         int
	utime, stime, cutime, cstime int64 // clock ticks
}

func readStat(path string) (stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stat{}, fmt.Errorf("read %s: %w", path, err)
	}
	// comm is in parentheses and may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("parse %s: no ')'", path)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime..cstime are 14..17.
	if len(f) < 15 {
		return stat{}, fmt.Errorf("parse %s: %d fields", path, len(f))
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(string(f[k-3]), 10, 64); return n }
	return stat{ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}, nil
}

// Tree returns the CPU used by pid and all its live descendants, plus what
// its reaped children used (cutime/cstime), so restarted workers count too.
// A process's own stat already sums all of its threads, live and exited.
func Tree(pid int) (CPU, error) {
	root, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	children := map[int][]int{}
	stats := map[int]stat{pid: root}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		n, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || n == pid {
			continue
		}
		s, err := readStat(p)
		if err != nil {
			continue // exited while we walked
		}
		stats[n] = s
		children[s.ppid] = append(children[s.ppid], n)
	}
	var ticksU, ticksS int64
	var walk func(int)
	walk = func(p int) {
		s := stats[p]
		ticksU += s.utime + s.cutime
		ticksS += s.stime + s.cstime
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	tick := time.Second / clockTick
	return CPU{User: time.Duration(ticksU) * tick, Sys: time.Duration(ticksS) * tick}, nil
}

// Self returns the CPU used by pid itself (all its threads), without its
// children.
func Self(pid int) (CPU, error) {
	s, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	tick := time.Second / clockTick
	return CPU{User: time.Duration(s.utime) * tick, Sys: time.Duration(s.stime) * tick}, nil
}
