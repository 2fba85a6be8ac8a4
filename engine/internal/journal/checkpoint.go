package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/internal/atomicfile"
)

// Checkpoint is the engine's durable state: each source's state and the
// journal positions (and event statuses) that state reflects.
type Checkpoint struct {
	Boundary  time.Time                  `json:"boundary"`  // the last boundary applied
	Positions Positions                  `json:"positions"` // journal bytes reflected in States
	States    map[string]json.RawMessage `json:"states"`    // source name → state JSON
	Events    *StatusTable               `json:"events"`    // fates of recent events
	// Pending holds records covered by Positions but not applied to States
	// yet (a source with a long period has not reached their boundary); on
	// start they are applied before anything read after Positions.
	Pending []Record `json:"pending,omitempty"`
	// Meta says, per source, which version of its code States[source] is
	// for and which `initial` it last saw (engine/internal/writes/lifecycle.go).
	// Saved with the state it describes, so a migration and the positions
	// it happened at are one atomic step.
	Meta map[string]SourceMeta `json:"meta,omitempty"`
}

// SourceMeta describes a source's checkpointed state.
type SourceMeta struct {
	Version int    `json:"version"`           // the source's `export const version` the state is for
	Initial string `json:"initial,omitempty"` // hash of the `initial` it last saw ("" none)
}

const (
	checkpointFile = "checkpoint.json"
	statusFile     = "status.json"
	// fileMagic starts checkpoint and status files; the line carries the
	// CRC-32C of the JSON that follows it, so damage is found, not parsed.
	fileMagic = "jawas-journal 1 crc32c="
)

// encode is json.Marshal(cp) without re-scanning the event table's output
// (the members come in another order; decoding does not care).
func (cp *Checkpoint) encode() ([]byte, error) {
	b, err := json.Marshal(struct {
		Boundary  time.Time                  `json:"boundary"`
		Positions Positions                  `json:"positions"`
		States    map[string]json.RawMessage `json:"states"`
		Pending   []Record                   `json:"pending,omitempty"`
		Meta      map[string]SourceMeta      `json:"meta,omitempty"`
	}{cp.Boundary, cp.Positions, cp.States, cp.Pending, cp.Meta})
	if err != nil {
		return nil, err
	}
	return appendEvents(b, cp.Events)
}

// SaveCheckpoint writes cp under the data directory dir atomically and
// durably: temp file, fsync, rename, fsync of the directory.
func SaveCheckpoint(dir string, cp *Checkpoint) error {
	if err := writeFileAtomic(filepath.Join(dir, journalDir, checkpointFile), cp.encode, true); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint reads the checkpoint under the data directory dir. A
// missing checkpoint is an empty one; a damaged one is an error naming the
// file.
func LoadCheckpoint(dir string) (*Checkpoint, error) {
	cp := &Checkpoint{}
	found, err := readFileChecked(filepath.Join(dir, journalDir, checkpointFile), cp)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	if !found {
		cp = &Checkpoint{}
	}
	return cp.Filled(), nil
}

// Filled gives cp's nil tables empty values (a checkpoint written before a
// table existed, a cluster's, or none at all) and returns cp; nil is an
// empty checkpoint. Every checkpoint the engine starts from goes through it.
func (cp *Checkpoint) Filled() *Checkpoint {
	if cp == nil {
		cp = &Checkpoint{}
	}
	if cp.Positions == nil {
		cp.Positions = Positions{}
	}
	if cp.States == nil {
		cp.States = map[string]json.RawMessage{}
	}
	if cp.Events == nil {
		cp.Events = NewStatusTable(0)
	}
	if cp.Meta == nil {
		cp.Meta = map[string]SourceMeta{}
	}
	return cp
}

// writeFileAtomic writes encode's JSON as a checked file at path by temp file and
// rename; durable also fsyncs the file and the directory.
func writeFileAtomic(path string, encode func() ([]byte, error), durable bool) error {
	body, err := encode()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b := fmt.Appendf(nil, "%s%08x\n", fileMagic, crc32.Checksum(body, castagnoli))
	b = append(b, body...)
	return atomicfile.WriteFile(path, b, 0o600, atomicfile.Options{Sync: durable, SyncDir: durable})
}

// readFileChecked decodes a file written by writeFileAtomic into v. found is
// false when the file does not exist.
func readFileChecked(path string, v any) (found bool, err error) {
	body, found, err := readChecked(path)
	if !found || err != nil {
		return found, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, fmt.Errorf("%s: decode: %w", path, err)
	}
	return true, nil
}

// readChecked returns the JSON body of a file written by writeFileAtomic,
// after checking its header and checksum.
func readChecked(path string) (body []byte, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	line, body, ok := bytes.Cut(data, []byte("\n"))
	var sum uint32
	if !ok || !bytes.HasPrefix(line, []byte(fileMagic)) {
		return nil, false, fmt.Errorf("%s: not a jawas journal file (bad header)", path)
	}
	if _, err := fmt.Sscanf(string(line[len(fileMagic):]), "%08x", &sum); err != nil {
		return nil, false, fmt.Errorf("%s: bad header: %w", path, err)
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, false, fmt.Errorf("%s: checksum mismatch (header %08x, content %08x)", path, sum, got)
	}
	return body, true, nil
}

// EncodeCheckpoint returns cp's JSON, as SaveCheckpoint writes it (without
// the file's checksum line): the cluster ships checkpoints this way.
func EncodeCheckpoint(cp *Checkpoint) ([]byte, error) { return cp.encode() }

// DecodeCheckpoint decodes EncodeCheckpoint's JSON, with the empty
// defaults LoadCheckpoint gives.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	cp := &Checkpoint{}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	return cp.Filled(), nil
}
