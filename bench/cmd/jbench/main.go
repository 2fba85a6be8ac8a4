// Command jbench runs the jawas load generator (engine/loadgen) until the
// `jawas bench` subcommand exists: jbench URL --clients N --period 200ms ...
// It must stay a one-liner over loadgen.Main.
package main

import (
	"os"

	"github.com/jawas/jawas/engine/loadgen"
)

func main() { os.Exit(loadgen.Main(os.Args[1:], os.Stdout, os.Stderr)) }
