package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/internal/atomicfile"
)

// Durability says whether Commit waits for the disk.
type Durability int

const (
	// Sync makes every Commit durable with fdatasync before it returns.
	Sync Durability = iota
	// None writes without fsync: acknowledged writes survive a process crash
	// but the most recent ones are lost on power loss or a kernel crash.
	None
)

// String returns the configuration word: "sync" or "none".
func (d Durability) String() string {
	switch d {
	case Sync:
		return "sync"
	case None:
		return "none"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// MarshalText implements encoding.TextMarshaler: "sync" or "none".
func (d Durability) MarshalText() ([]byte, error) {
	if d != Sync && d != None {
		return nil, fmt.Errorf("journal: unknown durability %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the configuration
// words "sync" and "none" (serve.durability in jawas.toml).
func (d *Durability) UnmarshalText(b []byte) error {
	switch string(b) {
	case "sync":
		*d = Sync
	case "none":
		*d = None
	default:
		return fmt.Errorf("expected \"sync\" or \"none\", got %q", b)
	}
	return nil
}

// DefaultSegmentSize is the size at which a writer starts a new segment.
const DefaultSegmentSize = 64 << 20

// WriterOptions configure OpenWriter.
type WriterOptions struct {
	Durability  Durability
	SegmentSize int64 // rotate before a commit would pass it; 0 means DefaultSegmentSize
}

// Stats count a writer's work, for metrics. Read them from any goroutine.
type Stats struct {
	Records    atomic.Int64 // records committed
	Bytes      atomic.Int64 // bytes written
	Commits    atomic.Int64 // non-empty commits
	Fsyncs     atomic.Int64 // fdatasync calls
	FsyncNanos atomic.Int64 // total time spent in fdatasync
}

// Writer appends records to one worker's segments.
//
// Threading: a Writer belongs to one goroutine (the worker's event loop);
// only Stats may be read concurrently.
type Writer struct {
	dir  string // <data dir>/journal
	slot int
	inc  string
	opt  WriterOptions

	f     *os.File // open segment, flock held
	name  string
	size  int64
	segNo int

	seq     uint64
	last    time.Time // latest Time stamped, so Time never decreases
	buf     []byte    // frames appended since the last Commit
	pending int       // records in buf
	err     error     // sticky: set when a write or fsync failed

	count *CommitCount // bumped before a batch is stamped and after it is committed (commits.go)
	stats Stats
}

// OpenWriter creates a new incarnation for worker slot under the data
// directory dir and opens its first segment.
func OpenWriter(dir string, slot int, opt WriterOptions) (*Writer, error) {
	if slot < 0 {
		return nil, fmt.Errorf("open journal writer: negative slot %d", slot)
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = DefaultSegmentSize
	}
	jdir := filepath.Join(dir, journalDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return nil, fmt.Errorf("open journal writer: %w", err)
	}
	count, err := OpenCommitCount(dir)
	if err != nil {
		return nil, fmt.Errorf("open journal writer: %w", err)
	}
	w := &Writer{
		dir:   jdir,
		slot:  slot,
		inc:   fmt.Sprintf("%016x%08x", uint64(time.Now().UnixNano()), uint32(os.Getpid())),
		opt:   opt,
		count: count,
	}
	if err := w.openSegment(); err != nil {
		count.Close()
		return nil, fmt.Errorf("open journal writer: %w", err)
	}
	return w, nil
}

// Incarnation returns the writer's incarnation, the prefix of its event IDs.
func (w *Writer) Incarnation() string { return w.inc }

// Stats returns the writer's counters.
func (w *Writer) Stats() *Stats { return &w.stats }

// openSegment creates the next segment. It is created under a temporary
// name, locked, then renamed, so a reader never sees an unlocked live
// segment; the directory is fsynced so the entry survives power loss.
func (w *Writer) openSegment() error {
	w.segNo++
	name := segmentName(w.slot, w.inc, w.segNo)
	tmp := filepath.Join(w.dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("lock segment %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, name)); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("create segment: %w", err)
	}
	w.count.BumpSegments() // a new name for readers to list (commits.go)
	if w.opt.Durability == Sync {
		if err := atomicfile.SyncDir(w.dir); err != nil {
			f.Close()
			return fmt.Errorf("create segment %s: %w", name, err)
		}
	}
	old := w.f
	w.f, w.name, w.size = f, name, 0
	if old != nil {
		// Everything in old was committed; closing releases its lock, which
		// tells readers the segment is complete.
		if err := old.Close(); err != nil {
			return fmt.Errorf("close segment: %w", err)
		}
	}
	return nil
}

// Append stamps r with its ID, slot, sequence and time (and Arrived, when
// zero), and buffers it. It is not durable, and must not be acknowledged, until
// Commit returns nil.
func (w *Writer) Append(r *Record) (id string, err error) {
	if w.err != nil {
		return "", w.err
	}
	if w.f == nil {
		return "", fmt.Errorf("journal append: writer is closed")
	}
	if w.pending == 0 {
		w.count.Bump() // before the batch's first stamp (commits.go)
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	if t.Before(w.last) {
		t = w.last
	}
	r.Time = t.Round(0).UTC()
	if r.Arrived.IsZero() {
		r.Arrived = r.Time
	} else {
		r.Arrived = r.Arrived.Round(0).UTC()
	}
	r.Slot = w.slot
	r.Seq = w.seq + 1
	r.ID = FormatID(w.inc, r.Seq)
	// Encode straight into the batch buffer after a header placeholder.
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, headerSize)...)
	w.buf = appendRecord(w.buf, r)
	size := len(w.buf) - start - headerSize
	if size > MaxRecordSize {
		w.buf = w.buf[:start]
		return "", fmt.Errorf("journal append: record of %d bytes exceeds %d", size, MaxRecordSize)
	}
	putFrameHeader(w.buf[start:], w.buf[start+headerSize:])
	w.seq++
	w.last = t
	w.pending++
	return r.ID, nil
}

// Buffered returns the number of records appended since the last Commit.
func (w *Writer) Buffered() int { return w.pending }

// Commit writes every buffered record with one write and, with Durability
// Sync, makes them durable with one fdatasync. After an error the writer is
// unusable: none of the buffered records may be acknowledged, and the worker
// should close it and open a new incarnation.
func (w *Writer) Commit() error {
	if w.err != nil {
		return w.err
	}
	if w.pending == 0 {
		return nil
	}
	if w.f == nil {
		return fmt.Errorf("journal commit: writer is closed")
	}
	if w.size > 0 && w.size+int64(len(w.buf)) > w.opt.SegmentSize {
		if err := w.openSegment(); err != nil {
			return w.fail(fmt.Errorf("journal commit: rotate: %w", err))
		}
	}
	n, err := w.f.Write(w.buf)
	if err != nil {
		// Cut the partial batch off so the segment does not end in damage
		// followed by nothing; if this fails too, the reader sees a torn tail.
		w.f.Truncate(w.size)
		return w.fail(fmt.Errorf("journal commit: write %s: %w", w.name, err))
	}
	if w.opt.Durability == Sync {
		start := time.Now()
		err := fdatasync(w.f)
		w.stats.FsyncNanos.Add(int64(time.Since(start)))
		w.stats.Fsyncs.Add(1)
		if err != nil {
			// After a failed fsync the page cache may no longer hold what is
			// on disk; nothing can be promised about this segment any more.
			return w.fail(fmt.Errorf("journal commit: %s: %w", w.name, err))
		}
	}
	w.size += int64(n)
	w.stats.Records.Add(int64(w.pending))
	w.stats.Bytes.Add(int64(n))
	w.stats.Commits.Add(1)
	w.buf = w.buf[:0]
	w.pending = 0
	w.count.Bump() // on the file: for a writer outside the commit gate (commits.go)
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.buf = w.buf[:0]
	w.pending = 0
	return err
}

// Close commits what is buffered and closes the segment, which releases its
// lock: the engine may delete it once a checkpoint covers it.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.Commit()
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close journal writer: %w", cerr)
	}
	w.f = nil
	w.count.Close()
	return err
}
