package api

// This file sets the engine's memory limits: serve.max_memory becomes the
// Go runtime's soft memory limit (as GOMEMLIMIT would; an explicit
// GOMEMLIMIT in the environment wins) and the limit the memory pressure
// guard (engine/internal/period/memory.go) keeps the live heap under.

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/jawas/jawas/engine/internal/period"
)

// startMemoryGuard applies serve.max_memory to this process and runs the
// pressure guard until ctx ends. Nothing when serve.max_memory is 0.
func (e *Engine) startMemoryGuard(ctx context.Context) {
	limit := e.cfg.Serve.MaxMemory
	if limit <= 0 {
		return
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The runtime's limit counts the memory Go manages; a tenth of
		// the budget is left for what it does not (the binary's code,
		// mapped snapshot files), which the process's RSS includes.
		debug.SetMemoryLimit(limit - limit/10)
	} else {
		e.log.Info("GOMEMLIMIT is set: it, not serve.max_memory, is the Go runtime's memory limit", "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
	}
	g := &period.MemoryGuard{Limit: limit, Sources: func() []*period.Source { return e.sched.Current().Sources }, Log: e.log}
	go g.Run(ctx) // memory guard goroutine: reads the live heap every 50 ms until ctx ends
	e.log.Debug("memory guard started", "serve.max_memory", limit)
}
