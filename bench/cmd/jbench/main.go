//go:build unix

// Command jbench runs the jawas load generator (engine/loadgen) until the
// `jawas bench` subcommand exists: jbench URL --clients N --period 200ms ...
// It must stay a thin wrapper over loadgen.Main. JBENCH_CPUPROFILE=FILE
// writes a CPU profile of the generator itself (to check it is not the
// bottleneck).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/jawas/jawas/internal/loadgen"
)

func main() {
	if path := os.Getenv("JBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "jbench: cpu profile:", err)
			os.Exit(2)
		}
		code := loadgen.Main(os.Args[1:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(loadgen.Main(os.Args[1:], os.Stdout, os.Stderr))
}
