package period

// This file lets the writes path use a source's module between
// evaluations: a Hook's BeforeRender runs before Evaluate takes the source,
// so a hook that calls reducers must hold the source itself, or it could
// run inside a render still going from an earlier boundary.

// TryHold marks s busy, as an evaluation does, and reports whether it could
// (false while s is being evaluated). While held, the caller may use
// Module(); it must call Unhold.
// It fails too while the memory guard is claiming s (see claimed).
func (s *Source) TryHold() bool { return !s.claimed.Load() && s.busy.CompareAndSwap(false, true) }

// Unhold ends a TryHold.
func (s *Source) Unhold() { s.busy.Store(false) }
