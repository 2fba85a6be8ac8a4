package journal

// This file implements the commit count: a number every process that
// appends to the journal under one data directory bumps before it stamps
// a record, so that the engine can tell at a boundary, without listing
// the journal or opening a segment, that nothing was committed since its
// last read (an idle server's engine read the journal for every source
// at every boundary: bench/README.md, "Idle server").
//
// The count is the first 8 bytes of <dir>/journal/commits.count, mapped
// shared by every process (Linux; elsewhere Load reports no count and the engine
// always reads). Every Writer bumps it before it stamps the first record
// of a batch (Append) and again once the batch is on the file (Commit). A
// worker appends under the commit gate (engine/internal/writes/gate.go),
// and the engine loads the count under the same gate, held exclusively,
// before it sizes the segments: a count unchanged since such a load means
// no record was stamped since then, since the bump comes first. The bump
// after the commit is for writers outside the gate (AppendReset): an
// engine that read between the two bumps, and missed the record, reads
// again at its next boundary.
//
// The next 8 bytes are the segment generation: bumped by a Writer once a
// new segment has its name (before any record is written to it) and by
// Reader.Compact once it deleted segments. A Reader loads it before it
// lists the journal, and lists again only when it moved (or a second
// passed): a listing and a name parse per call were a large share of the
// cluster forwarder's reads, one per group commit (bench/README.md,
// "Cluster"). A writer stamps its first record in a segment after the
// bump, so a generation unchanged since the load before a listing means
// every segment that holds a record stamped since is in that listing.

import "fmt"

// commitsFile is the commit count's file under the journal directory.
const commitsFile = "commits.count"

// CommitCount is the journal's shared commit count (see above). Its
// methods are safe for concurrent use; Close must not race with them.
type CommitCount struct {
	c commitMap // per system: commits_linux.go, commits_other.go
}

// OpenCommitCount maps the commit count of the journal under the data
// directory dir, creating it (zero) if needed.
func OpenCommitCount(dir string) (*CommitCount, error) {
	c, err := openCommitMap(dir)
	if err != nil {
		return nil, fmt.Errorf("open journal commit count: %w", err)
	}
	return &CommitCount{c: c}, nil
}

// Bump counts a commit about to be stamped.
func (c *CommitCount) Bump() { c.c.add() }

// Load returns the count; ok is false when there is no shared count (the
// caller must then read the journal as if the count had moved).
func (c *CommitCount) Load() (n uint64, ok bool) { return c.c.load() }

// BumpSegments counts a segment created (after its rename into place) or
// deleted (after its removal): the segment generation.
func (c *CommitCount) BumpSegments() { c.c.addSegs() }

// Segments returns the segment generation; ok is false when there is no
// shared count (the caller must then list the journal).
func (c *CommitCount) Segments() (n uint64, ok bool) { return c.c.loadSegs() }

// Close unmaps the count.
func (c *CommitCount) Close() error { return c.c.close() }
