package writes

// This file implements the commit gate, because a promise needs it: a 202
// says "visible at boundary B", B = the first boundary after the record's
// Time. The engine applies at B the records with Time < B that it can read
// at B, so a commit that stamped Time before B must be on the file before
// the engine reads for B, and one stamped at or after B must not be
// mistaken for earlier. Workers stamp and commit holding a shared flock on
// journal/commit.lock; the engine takes it exclusively while it lists and
// sizes the segments for B (journal.Reader.ReadNewGated), then reads the
// bytes up to those sizes after letting go.
// A turnstile lock in front keeps a stream of commits from starving the
// engine (flock has no writer preference).
//
// The gate also carries the journal's commit count (journal.CommitCount):
// a worker's journal.Writer bumps it in Append, before it stamps, so under
// the gate; the engine loads it after entering, before it sizes the
// segments. At a later boundary a
// count unchanged since a read that left nothing behind
// (journal.Reader.LeftBehind) means nothing was stamped since that read,
// so the engine skips the gate and the read altogether: an idle server's
// engine no longer lists the journal and opens every segment for every
// source at every boundary (bench/README.md, "Idle server").

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/jawas/jawas/engine/internal/journal"
)

type gate struct {
	turn, commit *os.File
	count        *journal.CommitCount
}

func openGate(dataDir string) (*gate, error) {
	dir := filepath.Join(dataDir, "journal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("commit gate: %w", err)
	}
	turn, err := os.OpenFile(filepath.Join(dir, "turnstile.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("commit gate: %w", err)
	}
	commit, err := os.OpenFile(filepath.Join(dir, "commit.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		turn.Close()
		return nil, fmt.Errorf("commit gate: %w", err)
	}
	count, err := journal.OpenCommitCount(dataDir)
	if err != nil {
		turn.Close()
		commit.Close()
		return nil, fmt.Errorf("commit gate: %w", err)
	}
	return &gate{turn: turn, commit: commit, count: count}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := sysFlock(int(f.Fd()), how)
		if err != errIntr {
			if err != nil {
				return os.NewSyscallError("flock "+f.Name(), err)
			}
			return nil
		}
	}
}

// enter takes the gate for a worker's commit (shared); exclusive for the
// engine's read.
func (g *gate) enter(exclusive bool) error {
	mode := lockSH
	if exclusive {
		mode = lockEX
	}
	if err := flock(g.turn, mode); err != nil {
		return err
	}
	err := flock(g.commit, mode)
	if exclusive {
		return err // keep the turnstile until leave
	}
	if uerr := flock(g.turn, lockUN); err == nil {
		err = uerr
	}
	return err
}

func (g *gate) leave(exclusive bool) {
	flock(g.commit, lockUN)
	if exclusive {
		flock(g.turn, lockUN)
	}
}

func (g *gate) close() {
	g.turn.Close()
	g.commit.Close()
	g.count.Close()
}
