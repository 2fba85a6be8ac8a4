package epollhttp

import "sync/atomic"

// Counts are one load's answers.
type Counts struct {
	OK   atomic.Int64 // answers with the wanted status
	Late atomic.Int64 // paced sends that went out after their fire time

	// Mark, when set (before Load), is a header line, e.g.
	// "X-Jawas-Replicated: yes": Marked counts the answers with the wanted
	// status whose head holds it (compared without regard to case).
	Mark   string
	Marked atomic.Int64
}
