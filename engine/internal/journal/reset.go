package journal

// This file implements the journal's one record that is not a client's
// write: a state reset (`jawas state reset SOURCE`). It is appended like
// any write, by the admin endpoint of a running server or by the CLI
// against a stopped data directory, so it is durable before it is
// acknowledged, survives crashes, and is applied at the next boundary in
// journal order with the writes around it.

import (
	"fmt"
	"time"
)

// MethodReset is the Method of a reset record: the engine sets the source's
// state back to its `initial` instead of calling a reducer.
const MethodReset = "RESET"

// AdminSlot is the slot of the writers that append reset records: no worker
// has it, so their segments never collide with a worker's.
const AdminSlot = 999

// AppendReset durably appends a reset record for source to the journal
// under the data directory dir, in a segment of its own, and returns the
// record's ID and stamp.
func AppendReset(dir, source string) (id string, at time.Time, err error) {
	w, err := OpenWriter(dir, AdminSlot, WriterOptions{Durability: Sync})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("append reset: %w", err)
	}
	r := Record{Source: source, Method: MethodReset}
	id, err = w.Append(&r)
	if err == nil {
		err = w.Commit()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("append reset: %w", err)
	}
	return id, r.Time, nil
}
