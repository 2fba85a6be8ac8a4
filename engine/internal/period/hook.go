package period

import (
	"time"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// Hook is one participant in every period, called by the Scheduler at
// three documented points. Any field may be nil. Within one point, hooks
// run in the order of Scheduler.Hooks.
//
// A period, for one boundary:
//  1. for each due source, on its evaluating goroutine: every BeforeRender,
//     then the source's render (Source.Evaluate);
//  2. on the publisher goroutine, once the boundary's renders are in the
//     store: every BeforeCommit, every Fence (any error skips the rest),
//     then one commit of the manifest;
//  3. on the publisher goroutine, after the commit: every AfterPublish.
//
// None may block for long: they hold up that period.
type Hook struct {
	Name string // for logs and docs: "writes", "dev", "status"

	// BeforeRender runs on the evaluating goroutine just before s renders
	// for boundary (the writes path applies s's queued events here).
	BeforeRender func(s *Source, boundary time.Time)

	// BeforeCommit runs on the publisher with the store it owns, just
	// before the commit that makes this boundary visible (extra files
	// published with it: the write routes, dev mode's dev.json).
	BeforeCommit func(st *snapshot.Store)

	// Fence runs on the publisher after every BeforeCommit, as the last
	// thing before the commit; an error skips this boundary's commit and
	// its AfterPublish (cluster mode publishes its head here: an engine
	// that has been deposed must not publish, locally either). at is the
	// instant the boundary's evaluations began.
	Fence func(st *snapshot.Store, at time.Time) error

	// AfterPublish runs on the publisher after the commit (checkpoints,
	// the status file).
	AfterPublish func(boundary time.Time)
}
