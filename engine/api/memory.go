package api

// This file sets the engine's memory limits: serve.max_memory, less what
// is resident outside Go's heap and a tenth (period.GoLimit), becomes the
// Go runtime's soft memory limit (as GOMEMLIMIT would; an explicit
// GOMEMLIMIT in the environment wins), and the limit the memory pressure
// guard (engine/internal/period/memory.go) keeps the live heap under.

import (
	"context"
	"os"

	"github.com/jawas/jawas/engine/internal/period"
)

// startMemoryGuard applies serve.max_memory to this process and runs the
// pressure guard until ctx ends. Nothing when serve.max_memory is 0.
func (e *Engine) startMemoryGuard(ctx context.Context) {
	limit := e.cfg.Serve.MaxMemory
	if limit <= 0 {
		return
	}
	// The runtime's limit counts the memory Go manages, not what the
	// process's RSS also holds outside it (the binary's pages, mapped
	// files): the guard keeps it at serve.max_memory less that, less a
	// tenth (period.GoLimit), as it changes.
	own := os.Getenv("GOMEMLIMIT") == ""
	if !own {
		e.log.Info("GOMEMLIMIT is set: it, not serve.max_memory, is the Go runtime's memory limit", "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
	}
	g := &period.MemoryGuard{Limit: limit, Sources: func() []*period.Source { return e.sched.Current().Sources }, Log: e.log, SetGoLimit: own}
	go g.Run(ctx) // memory guard goroutine: reads the live heap every 50 ms until ctx ends
	e.log.Debug("memory guard started", "serve.max_memory", limit)
}
