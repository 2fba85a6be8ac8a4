package period

// This file implements a source's quarantine: a source that keeps hitting
// its memory limit, or whose migrate failed, is not evaluated (and its
// writes are not applied) until it is loaded again, that is until its file
// changes in dev mode or the engine reloads (SIGHUP, restart). Its last good
// snapshot stays published; the status page and the log say why.

import (
	"fmt"
	"time"

	"github.com/jawas/jawas/engine"
)

// Memory-limit hits that quarantine a source: QuarantineHits within
// QuarantineWindow.
const (
	QuarantineHits   = 3
	QuarantineWindow = 10 * time.Minute
)

// Quarantine stops evaluating s, for reason, until it is loaded again.
// Any goroutine.
func (s *Source) Quarantine(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantineLocked(reason)
}

// quarantineLocked is Quarantine with s.mu held.
func (s *Source) quarantineLocked(reason string) {
	s.status.Quarantined = reason
	d := engine.Diagnostic{File: s.File, Message: s.Name + " is quarantined: " + reason}
	s.status.LastError = &d
	s.status.LastErrorAt = time.Now()
}

// Quarantined returns why s is quarantined, "" when it is not. Any goroutine.
func (s *Source) Quarantined() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.Quarantined
}

// quarantineErr is the error a quarantined source's evaluation reports.
func (s *Source) quarantineErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.Quarantined == "" {
		return nil
	}
	return engine.Diagnostic{File: s.File, Message: s.Name + " is quarantined: " + s.status.Quarantined}
}

// MemoryHit records that s hit a memory limit (what says how) and
// quarantines it when that happened QuarantineHits times within
// QuarantineWindow. It reports whether s is now quarantined. Any goroutine.
func (s *Source) MemoryHit(what string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memoryHitLocked(what)
}

// memoryHitLocked is MemoryHit with s.mu held.
func (s *Source) memoryHitLocked(what string) bool {
	now := time.Now()
	recent := s.hits[:0]
	for _, t := range s.hits {
		if now.Sub(t) < QuarantineWindow {
			recent = append(recent, t)
		}
	}
	s.hits = append(recent, now)
	s.status.MemoryHits = len(s.hits)
	n := len(s.hits)
	if s.status.Quarantined != "" || n < QuarantineHits {
		return s.status.Quarantined != ""
	}
	s.quarantineLocked(fmt.Sprintf("it hit its memory limit %d times within %v (last: %s); not evaluated until its file changes or the engine reloads", n, QuarantineWindow, what))
	return true
}
