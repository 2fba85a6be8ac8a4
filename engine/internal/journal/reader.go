package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jawas/jawas/internal/atomicfile"
)

// CorruptError reports damage before the tail of a segment: a record that
// does not check out and is followed by valid records. The engine must stop
// rather than skip it.
type CorruptError struct {
	File   string // path of the segment
	Offset int64  // byte offset of the damaged frame
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal corrupt: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Reader reads the segments of every worker, for the engine and for the
// cluster forwarder.
//
// Between calls it keeps the live segments open, remembers the size of
// the dead ones (final: a dead segment never grows), and lists the
// journal directory again only when the segment generation moved
// (commits.go) or listRefresh passed: a call that finds nothing new
// costs a flock test, an fstat and a read per live segment, nothing for
// a dead segment read to its end. The forwarder reads once per group
// commit, and a listing plus an open and close of every segment was
// more than half of its CPU (bench/README.md, "Cluster").
//
// Threading: a Reader belongs to one goroutine (the engine's period loop).
type Reader struct {
	dir     string          // <data dir>/journal
	dead    map[string]bool // segments known to have no writer (final)
	suspect map[string]suspicion
	strs    interner // repeated strings of the records read

	count    *CommitCount        // its segment generation (nil: always list)
	names    []string            // the last listing
	gen      uint64              // segment generation loaded before it
	listedAt time.Time           // when it was taken (zero: list next call)
	files    map[string]*os.File // segments kept open between calls
	ends     map[string]int64    // final sizes of the dead segments
	relist   time.Duration       // listRefresh (tests set it longer)

	// Buffers reused from call to call, because allocating them anew was
	// a large share of the bytes the engine's apply path allocated per
	// boundary (BenchmarkApply in engine/internal/writes; figures in
	// bench/README.md): the
	// bytes of a segment and the records parsed from them, before they are
	// merged into the caller's slice. Records are cleared once merged; see
	// trim for the bound.
	data []byte
	recs []Record
	runs [][]Record

	// left: the last ReadNew or ReadNewGated stopped short of a segment's
	// end (see LeftBehind).
	left bool

	// SuspectFor is how long damage in a live segment must persist before
	// it is reported: a write in progress can be seen half copied.
	SuspectFor time.Duration
}

// suspicion is damage seen in a live segment, not yet reported.
type suspicion struct {
	off   int64
	since time.Time
}

// DefaultSuspectFor is the default of Reader.SuspectFor.
const DefaultSuspectFor = 2 * time.Second

// OpenReader opens the journal under the data directory dir, creating it if
// needed.
func OpenReader(dir string) (*Reader, error) {
	jdir := filepath.Join(dir, journalDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return nil, fmt.Errorf("open journal reader: %w", err)
	}
	count, err := OpenCommitCount(dir)
	if err != nil {
		return nil, fmt.Errorf("open journal reader: %w", err)
	}
	return &Reader{dir: jdir, dead: map[string]bool{}, suspect: map[string]suspicion{}, SuspectFor: DefaultSuspectFor,
		count: count, files: map[string]*os.File{}, ends: map[string]int64{}, relist: listRefresh}, nil
}

// Close closes the segments the Reader keeps open. It is not usable after.
func (r *Reader) Close() error {
	for name, f := range r.files {
		f.Close()
		delete(r.files, name)
	}
	r.listedAt = time.Time{}
	if r.count != nil {
		err := r.count.Close()
		r.count = nil
		return err
	}
	return nil
}

// listRefresh bounds how long a Reader trusts its last listing while the
// segment generation stays put: a writer that does not bump it (another
// build's, during a reload) has its new segments read at most this late.
const listRefresh = time.Second

// list returns the segment names: the last listing while the segment
// generation has not moved since it was loaded before that listing,
// else a new one, after which it forgets what it kept of segments gone.
func (r *Reader) list() ([]string, error) {
	var gen uint64
	ok := false
	if r.count != nil {
		gen, ok = r.count.Segments()
	}
	if ok && gen == r.gen && !r.listedAt.IsZero() && time.Since(r.listedAt) < r.relist {
		return r.names, nil
	}
	now := time.Now()
	names, err := segments(r.dir)
	if err != nil {
		r.listedAt = time.Time{}
		return nil, err
	}
	r.names, r.gen, r.listedAt = names, gen, now
	if !ok {
		r.listedAt = time.Time{}
	}
	if len(r.files)+len(r.ends) > 0 {
		listed := make(map[string]bool, len(names))
		for _, name := range names {
			listed[name] = true
		}
		for name, f := range r.files {
			if !listed[name] {
				f.Close()
				delete(r.files, name)
			}
		}
		for name := range r.ends {
			if !listed[name] {
				delete(r.ends, name)
			}
		}
	}
	return names, nil
}

// forget drops what the Reader kept of segment name (deleted).
func (r *Reader) forget(name string) {
	if f := r.files[name]; f != nil {
		f.Close()
		delete(r.files, name)
	}
	delete(r.ends, name)
	delete(r.dead, name)
	delete(r.suspect, name)
}

// segments lists the segment file names in order.
func segments(jdir string) ([]string, error) {
	ents, err := os.ReadDir(jdir)
	if err != nil {
		return nil, fmt.Errorf("list journal: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), segExt) {
			if _, _, _, err := parseSegmentName(e.Name()); err != nil {
				return nil, fmt.Errorf("list journal: %w", err)
			}
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadNew returns the committed records that follow from in every segment
// and have Time before before (all of them when before is zero), ordered by
// (Time, Slot, ID), and the positions just past them. Segments missing from
// from are read from their start; positions of segments that no longer
// exist are dropped from next.
//
// The tail of a segment that ends inside a record, or in a record that does
// not check out with nothing valid after it, is not returned and not an
// error: its writer is mid-write (it is read next time) or died mid-write
// (it was never acknowledged). Damage followed by valid records is a
// *CorruptError; in a live segment it is reported only when it is still
// there on a later call, SuspectFor after it was first seen, since a
// concurrent write can be seen half done.
func (r *Reader) ReadNew(from Positions, before time.Time) (records []Record, next Positions, err error) {
	return r.ReadNewGated(nil, from, before, nil)
}

// ReadNewGated is ReadNew for a journal that live writers append to behind
// a gate the caller holds (see engine/writes): it lists the segments and
// takes their sizes, calls release (when not nil), and only then reads and
// parses the bytes up to those sizes. Whatever was committed when the gate
// was taken is read; the gate is held for a directory listing and a stat
// per segment, not for the reading. release is called exactly once, also
// on error. The records are appended to dst (records is dst on error), so
// a caller that is done with them can pass the same slice again.
func (r *Reader) ReadNewGated(dst []Record, from Positions, before time.Time, release func()) (records []Record, next Positions, err error) {
	released := false
	done := func() {
		if !released && release != nil {
			release()
		}
		released = true
	}
	defer done()
	r.left = true // until the read below gets to every end
	names, err := r.list()
	if err != nil {
		return dst, nil, err
	}
	next = make(Positions, len(names))
	sized := make([]sizedSegment, 0, len(names))
	for _, name := range names {
		if end, ok := r.ends[name]; ok && from[name] == end {
			next[name] = end // dead, read to its end: nothing more, ever
			continue
		}
		s, ok, err := r.size(name, from[name])
		if err != nil {
			return dst, nil, err
		}
		if ok {
			sized = append(sized, s)
		}
	}
	done()
	defer r.trim()
	// Every segment's records go to the end of r.recs, which may move as it
	// grows: runs get their lengths here and their place after the last.
	r.recs, r.data = r.recs[:0], r.data[:0]
	runs := r.runs[:0]
	left := false
	for _, s := range sized {
		n := len(r.recs)
		var pos int64
		if r.recs, pos, err = r.readSized(r.recs, s, from[s.name], before); err != nil {
			return dst, nil, err
		}
		if len(r.recs) > n {
			runs = append(runs, r.recs[n:])
		}
		next[s.name] = pos
		left = left || pos < s.size
		if !s.live && pos == s.size {
			r.finished(s.name, pos)
		}
	}
	r.left = left
	off := 0
	for i, run := range runs {
		runs[i] = r.recs[off : off+len(run)]
		off += len(run)
	}
	r.runs = runs
	return mergeRuns(dst, runs), next, nil
}

// LeftBehind reports whether the last ReadNew or ReadNewGated left bytes
// of a segment unread, up to the size it took: records stamped at or
// after its boundary, damage not reported yet, a torn tail. It is true
// after an error. A read that left nothing behind got every record
// committed before it took the sizes, so the engine may skip the next
// read while no commit was counted since (CommitCount).
func (r *Reader) LeftBehind() bool { return r.left }

// Bounds on what a Reader keeps between calls: a buffer is dropped when it
// is over 4 times what the call just made needed and over 4 MiB (about
// maxKeptRecords records), so one huge read does not keep its memory for
// good.
const (
	maxKeptBytes   = 4 << 20
	maxKeptRecords = 1 << 15
)

// trim empties the reused buffers after a call, so they keep no string or
// body of the records read, and drops those far larger than the call
// needed.
func (r *Reader) trim() {
	clear(r.recs)
	clear(r.runs)
	if cap(r.recs) > max(4*len(r.recs), maxKeptRecords) {
		r.recs = nil
	}
	if cap(r.data) > max(4*len(r.data), maxKeptBytes) {
		r.data = nil
	}
	r.recs, r.runs, r.data = r.recs[:0], r.runs[:0], r.data[:0]
}

// maxMergeRuns bounds how many runs mergeRuns merges, looking at every
// run's head for each record; more (a replay over many segments) are
// sorted.
const maxMergeRuns = 8

// mergeRuns returns the records of runs (the segments' records, in segment
// order) in apply order, as a stable sort of their concatenation by less
// orders them. A segment's records are already in that order (its writer
// stamps times in order, under one incarnation), so they are merged:
// sort.SliceStable moving whole records was a large share of
// BenchmarkReadNew (figures in bench/README.md). Runs out of order
// (the wall clock stepped back) or too many are sorted as before. It
// appends the records to dst and consumes runs (the slice, not the
// records).
func mergeRuns(dst []Record, runs [][]Record) []Record {
	if len(runs) == 0 {
		return dst
	}
	n := 0
	merge := len(runs) <= maxMergeRuns
	for _, run := range runs {
		n += len(run)
		merge = merge && inOrder(run)
	}
	out := slices.Grow(dst, n)
	if !merge || len(runs) == 1 {
		for _, run := range runs {
			out = append(out, run...)
		}
		if !merge {
			added := out[len(dst):]
			sort.SliceStable(added, func(i, j int) bool { return less(&added[i], &added[j]) })
		}
		return out
	}
	for len(runs) > 0 {
		// The least head; on a tie the earlier run's, as a stable sort
		// keeps them.
		m := 0
		for i := 1; i < len(runs); i++ {
			if less(&runs[i][0], &runs[m][0]) {
				m = i
			}
		}
		out = append(out, runs[m][0])
		if runs[m] = runs[m][1:]; len(runs[m]) == 0 {
			runs = append(runs[:m], runs[m+1:]...)
		}
	}
	return out
}

// inOrder reports whether recs are in apply order.
func inOrder(recs []Record) bool {
	for i := 1; i < len(recs); i++ {
		if less(&recs[i], &recs[i-1]) {
			return false
		}
	}
	return true
}

// less is the apply order: arrival time, then worker slot, then ID
// (incarnation, then sequence).
func less(a, b *Record) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.Slot != b.Slot {
		return a.Slot < b.Slot
	}
	return a.ID < b.ID
}

// finished notes that dead segment name was read to its end, size: later
// calls skip it without opening it, and its file is closed.
func (r *Reader) finished(name string, size int64) {
	r.ends[name] = size
	if f := r.files[name]; f != nil {
		f.Close()
		delete(r.files, name)
	}
}

// sizedSegment is a segment opened and measured under the gate.
type sizedSegment struct {
	name, path string
	f          *os.File // the Reader's (r.files): not to be closed
	size       int64
	live       bool
}

// size opens segment name (or takes it from the files kept open) and
// takes its size; ok is false when it was deleted since the listing.
func (r *Reader) size(name string, pos int64) (s sizedSegment, ok bool, err error) {
	path := filepath.Join(r.dir, name)
	f := r.files[name]
	if f == nil {
		f, err = os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			r.listedAt = time.Time{} // deleted since the listing: list again next time
			return s, false, nil
		}
		if err != nil {
			return s, false, fmt.Errorf("read journal: %w", err)
		}
		r.files[name] = f
	}
	live := false
	if !r.dead[name] {
		// Check liveness before the size: a segment seen dead here has
		// all of its bytes on the file already.
		if live, err = isLive(f); err != nil {
			return s, false, fmt.Errorf("read journal %s: %w", path, err)
		}
		if !live {
			r.dead[name] = true
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return s, false, fmt.Errorf("read journal: %w", err)
	}
	if pos > fi.Size() {
		return s, false, &CorruptError{File: path, Offset: pos, Reason: fmt.Sprintf("segment is %d bytes, shorter than the position already applied", fi.Size())}
	}
	return sizedSegment{name: name, path: path, f: f, size: fi.Size(), live: live}, true, nil
}

// readSized reads the bytes of s from pos up to its size (into r.data,
// which the records do not refer to) and appends the records parsed from
// them to dst.
func (r *Reader) readSized(dst []Record, s sizedSegment, pos int64, before time.Time) ([]Record, int64, error) {
	n := int(s.size - pos)
	data := slices.Grow(r.data[:0], n)[:n]
	r.data = data[:max(n, len(r.data))] // its length: the most a segment needed, for trim
	if _, err := io.ReadFull(io.NewSectionReader(s.f, pos, int64(n)), data); err != nil {
		return dst, pos, fmt.Errorf("read journal %s: %w", s.path, err)
	}
	return r.scan(dst, s.path, s.name, data, pos, before, s.live)
}

// countSegment returns how many records segment name holds from pos.
func (r *Reader) countSegment(name string, pos int64, before time.Time) (int, int64, error) {
	s, ok, err := r.size(name, pos)
	if err != nil || !ok {
		return 0, pos, err
	}
	defer r.trim()
	r.recs, pos, err = r.readSized(r.recs[:0], s, pos, before)
	return len(r.recs), pos, err
}

// scan parses the bytes of segment name that start at pos (see ReadNew for
// the rules) and appends the records to recs (recs as it was on error); it
// is countSegment without the file system. The records do not refer to
// data.
func (r *Reader) scan(recs []Record, path, name string, data []byte, pos int64, before time.Time, live bool) ([]Record, int64, error) {
	// The records are decoded in place, into a slice grown once by the
	// frame headers: growing it, and parseFrame's record (on the heap, as
	// json.Unmarshal may keep a pointer to it) copied into it, was a large
	// share of BenchmarkReadNew (figures in bench/README.md).
	start := len(recs)
	if len(data) > 0 {
		recs = slices.Grow(recs, countFrames(data))
	}
	off := 0
	for off < len(data) {
		recs = append(recs, Record{})
		rec := &recs[len(recs)-1]
		n, st, why := parseFrameInto(data[off:], rec, &r.strs)
		if st == frameOK && (before.IsZero() || rec.Time.Before(before)) {
			off += n
			continue
		}
		*rec = Record{} // what was decoded of it
		recs = recs[:len(recs)-1]
		if st == frameOK {
			break // not visible yet; the writer stamps times in order
		}
		at := pos + int64(off)
		if !validFrameAfter(data[off:]) {
			break // torn or unfinished tail
		}
		if live {
			// Maybe a write seen half done: report it only when it is still
			// there on a later call, SuspectFor after it was first seen.
			s, seen := r.suspect[name]
			if !seen || s.off != at {
				r.suspect[name] = suspicion{off: at, since: time.Now()}
				break
			}
			if time.Since(s.since) < r.SuspectFor {
				break
			}
		}
		clear(recs[start:])
		return recs[:start], pos, &CorruptError{File: path, Offset: at, Reason: why + ", followed by valid records"}
	}
	if s, ok := r.suspect[name]; ok && s.off < pos+int64(off) {
		delete(r.suspect, name)
	}
	return recs, pos + int64(off), nil
}

// Compact deletes the segments that cp fully covers and that no writer holds
// any more. Call it only after SaveCheckpoint(cp) returned nil.
func (r *Reader) Compact(cp *Checkpoint) error {
	r.listedAt = time.Time{} // a fresh listing, which also closes the files of segments gone
	names, err := r.list()
	if err != nil {
		return fmt.Errorf("compact journal: %w", err)
	}
	removed := false
	for _, name := range names {
		// Live segments are not read here: a read may catch a write half
		// done, and that is ReadNew's business.
		if dead, err := r.isDead(name); err != nil {
			return fmt.Errorf("compact journal: %w", err)
		} else if !dead {
			continue
		}
		n, _, err := r.countSegment(name, cp.Positions[name], time.Time{})
		if err != nil {
			return fmt.Errorf("compact journal: %w", err)
		}
		if n > 0 || !r.dead[name] {
			continue
		}
		if err := os.Remove(filepath.Join(r.dir, name)); err != nil {
			return fmt.Errorf("compact journal: %w", err)
		}
		r.forget(name)
		removed = true
	}
	if removed {
		if r.count != nil {
			r.count.BumpSegments() // every Reader lists again (commits.go)
		}
		if err := atomicfile.SyncDir(r.dir); err != nil {
			return fmt.Errorf("compact journal: %w", err)
		}
	}
	return nil
}

// isDead reports whether no writer holds segment name (a final answer).
func (r *Reader) isDead(name string) (bool, error) {
	if r.dead[name] {
		return true, nil
	}
	path := filepath.Join(r.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("check segment: %w", err)
	}
	defer f.Close()
	live, err := isLive(f)
	if err != nil {
		return false, fmt.Errorf("check segment %s: %w", path, err)
	}
	if !live {
		r.dead[name] = true
	}
	return !live, nil
}

// PendingBytes returns how many journal bytes the engine has not applied
// yet, by the positions in the last published status (or the checkpoint when
// none was published). Workers compare it with a cap and answer 503 with
// Retry-After above it; it costs a stat per segment, so call it once in a
// while, not per request.
func PendingBytes(dir string) (int64, error) {
	jdir := filepath.Join(dir, journalDir)
	var applied Positions
	if p, found, err := readStatusPositions(dir); err != nil {
		return 0, fmt.Errorf("pending journal bytes: %w", err)
	} else if found {
		applied = p
	} else if cp, err := LoadCheckpoint(dir); err != nil {
		return 0, fmt.Errorf("pending journal bytes: %w", err)
	} else {
		applied = cp.Positions
	}
	names, err := segments(jdir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pending journal bytes: %w", err)
	}
	var total int64
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(jdir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("pending journal bytes: %w", err)
		}
		if d := fi.Size() - applied[name]; d > 0 {
			total += d
		}
	}
	return total, nil
}
