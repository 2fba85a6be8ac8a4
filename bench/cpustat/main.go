//go:build unix

// Command cpustat prints the CPU time used so far by a process and its
// descendants, for benchmark scripts: `cpustat PID` prints "USER_US SYS_US".
// Take one sample before a run and one after; CPU µs per request is the
// difference divided by the requests served. It only reads /proc.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/jawas/jawas/bench/internal/proc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cpustat PID")
		os.Exit(2)
	}
	pid, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpustat: bad pid %q: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	c, err := proc.Tree(pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpustat:", err)
		os.Exit(1)
	}
	fmt.Println(c.User.Microseconds(), c.Sys.Microseconds())
}
