// Package journal owns the durable write journal: the append-only segments
// that worker processes write accepted POST/PUT events to, the reader the
// engine drains them with at each period boundary, the checkpoints of source
// state that say which journal bytes that state already reflects, and the
// event status table behind GET /_jawas/events/ID.
//
// It must never acknowledge a write that is not on disk (with Durability
// Sync), never apply an event twice across a crash and restart, and never
// silently skip a damaged record: a torn tail (a crash mid-write; never
// acknowledged) is dropped, anything damaged before the tail is an error that
// names the file and byte offset. It knows nothing of HTTP, JavaScript or
// sources beyond their names.
//
// # Files
//
// Everything lives under <dir>/journal/:
//
//	SSS-IIIIIIIIIIIIIIIIIIIIIIII-NNNNNN.seg  a segment: worker slot S, incarnation I, number N
//	checkpoint.json                          the last checkpoint (engine, fsynced)
//	status.json                              event status published for workers (engine)
//	commits.count                            the commit count, mapped by every process (commits.go)
//
// An incarnation is 24 hex digits, the writer's start time in Unix nanoseconds
// followed by its pid, so a restarted worker never appends to a segment whose
// torn tail the engine may be reading. A writer holds an exclusive flock on
// its open segment; a segment nobody holds is dead (its writer rotated or
// exited) and can be deleted once a checkpoint covers it.
//
// # Framing
//
// A segment is a sequence of frames: u32 payload length, u32 CRC-32C
// (Castagnoli) of the payload, both little-endian, then the payload: a
// Record in one of two versioned layouts, told apart by the first byte.
//
//   - '{': version 1, the JSON encoding of a Record (read, no longer written).
//   - 0x02: version 2 (record.go): the fields in a fixed order, integers as
//     varints, strings and the body length-prefixed. It costs a few appends
//     per write and a few slices per read, where JSON cost reflection on
//     both sides. Read, no longer written.
//   - 0x03: version 3, what writers write: version 2 plus the arrival time
//     (Arrived) beside the stamp (Time).
//
// # Group commit
//
// Append buffers a record and returns its ID; Commit writes every buffered
// record with one write(2) and makes them durable with one fdatasync(2). A
// worker's event loop appends the writes of one loop iteration, commits once,
// and only then answers 202 Accepted for each of them.
//
// # Visibility and order
//
// A record's Time is its stamp, set by Append and never decreasing within
// an incarnation; its Arrived, when the worker read the request, is at most
// the commit window earlier and only informs reducers. At boundary B the engine calls
// ReadNew(positions, B) at or after wall time B: it returns every committed
// record with Time < B that follows positions, ordered by (Time, Slot, ID),
// and the positions just past them. A write whose Commit returned before B
// therefore becomes visible at B, so a worker promises
// visible_at = the first boundary strictly after Commit returned.
// A record stamped before B but committed after the engine's read at B is
// applied at the next boundary (earlier than its promise could not happen).
//
// Exactly once: the engine checkpoints source state together with the
// positions it reflects (SaveCheckpoint, atomically), and on start replays
// from the checkpoint's positions. Records applied after the last checkpoint
// are applied again during replay, to the checkpointed state, so each event's
// effect is in the state exactly once. Replay reads all of them in one batch;
// with deterministic reducers the result is the same as the original run,
// except that a record committed late (see above) may sort among the batch
// it was stamped for rather than after it.
//
// # Event status
//
// The engine records each event's fate (applied at a boundary, or rejected
// with the reducer's reason) in a StatusTable, saved in every checkpoint and
// published every period to status.json with PublishStatus (rename, no
// fsync: it is derived data). Workers answer GET /_jawas/events/ID with a
// StatusReader, which rereads that file when it changes. The table keeps the
// last N events in full and, per incarnation, the highest sequence decided,
// so an older event reads as "expired" rather than "pending".
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// Record is one accepted write.
type Record struct {
	ID     string    `json:"id"`     // "<incarnation>-<seq hex>", set by Append
	Slot   int       `json:"slot"`   // worker slot, set by Append
	Seq    uint64    `json:"seq"`    // per-incarnation sequence from 1, set by Append
	Source string    `json:"source"` // source name, e.g. "game/arena"
	Method string    `json:"method"` // "POST" or "PUT"
	Time   time.Time `json:"time"`   // the journal's stamp, by Append; records are applied in its order
	// Arrived is when the worker read the request (Append sets it to Time
	// when zero). Records written before version 3 did not carry it: it
	// reads as Time.
	Arrived     time.Time         `json:"arrived,omitzero"`
	ContentType string            `json:"content_type,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"` // a few, chosen by the server
	Body        []byte            `json:"body,omitempty"`
}

// Positions maps a segment file name to the byte offset just past the last
// record consumed from it.
type Positions map[string]int64

// Clone returns a copy of p (never nil).
func (p Positions) Clone() Positions {
	c := make(Positions, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

const (
	headerSize = 8
	// MaxRecordSize bounds one record's encoded payload; a frame claiming
	// more is damaged.
	MaxRecordSize = 16 << 20

	journalDir = "journal"
	segExt     = ".seg"
	incDigits  = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame for payload to dst.
func appendFrame(dst, payload []byte) []byte {
	var h [headerSize]byte
	putFrameHeader(h[:], payload)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// putFrameHeader writes the frame header of payload into h.
func putFrameHeader(h, payload []byte) {
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(payload, castagnoli))
}

// frameStatus says what parseFrame found at the start of a buffer.
type frameStatus int

const (
	frameOK         frameStatus = iota
	frameIncomplete             // the buffer ends inside a plausible frame
	frameBad                    // impossible length, CRC mismatch or undecodable payload
)

// parseFrame decodes the frame at the start of b, taking repeated strings
// from in (see decodeRecord). n is the frame's size when the status is
// frameOK.
func parseFrame(b []byte, in *interner) (rec Record, n int, st frameStatus, why string) {
	n, st, why = parseFrameInto(b, &rec, in)
	if st != frameOK {
		rec = Record{}
	}
	return rec, n, st, why
}

// parseFrameInto is parseFrame decoding into *rec, which must be zero, so
// that the reader decodes straight into its slice of records; rec is
// undefined unless the status is frameOK.
func parseFrameInto(b []byte, rec *Record, in *interner) (n int, st frameStatus, why string) {
	if len(b) < headerSize {
		return 0, frameIncomplete, "short header"
	}
	size := binary.LittleEndian.Uint32(b[0:4])
	sum := binary.LittleEndian.Uint32(b[4:8])
	if size == 0 || size > MaxRecordSize {
		return 0, frameBad, fmt.Sprintf("impossible record length %d", size)
	}
	if uint64(len(b)) < headerSize+uint64(size) {
		return 0, frameIncomplete, "short record"
	}
	payload := b[headerSize : headerSize+int(size)]
	if crc32.Checksum(payload, castagnoli) != sum {
		return 0, frameBad, "checksum mismatch"
	}
	if err := decodeRecord(payload, rec, in); err != nil {
		return 0, frameBad, "undecodable record: " + err.Error()
	}
	if _, _, ok := ParseID(rec.ID); !ok {
		return 0, frameBad, fmt.Sprintf("record has a malformed id %q", rec.ID)
	}
	return headerSize + int(size), frameOK, ""
}

// countFrames returns how many frames the length fields of b chain
// through, without checking them: about how many records b holds, for
// sizing a slice.
func countFrames(b []byte) int {
	n := 0
	for off := 0; off+headerSize <= len(b); n++ {
		size := binary.LittleEndian.Uint32(b[off : off+4])
		if size == 0 || size > MaxRecordSize {
			break
		}
		off += headerSize + int(size)
	}
	return n
}

// validFrameAfter reports whether any offset of b after the first byte
// starts a complete, valid frame: the test that tells damage before the tail
// (valid data follows) from a torn tail (nothing valid follows).
func validFrameAfter(b []byte) bool {
	for i := 1; i+headerSize < len(b); i++ {
		size := binary.LittleEndian.Uint32(b[i : i+4])
		if size == 0 || size > MaxRecordSize || uint64(len(b)-i) < headerSize+uint64(size) || !isRecordStart(b[i+headerSize]) {
			continue
		}
		if _, _, st, _ := parseFrame(b[i:], nil); st == frameOK {
			return true
		}
	}
	return false
}

// FormatID returns the event ID for sequence seq of incarnation inc.
func FormatID(inc string, seq uint64) string {
	const hexDigits = "0123456789abcdef"
	// Built on the stack (an incarnation is 24 bytes), so the string is
	// the one allocation: a write's ID costs one, not two.
	var buf [64]byte
	b := append(buf[:0], inc...)
	b = append(b, "-0000000000000000"...)
	for i := len(b) - 1; i > len(inc); i-- { // 16 lower-case hex digits
		b[i] = hexDigits[seq&0xf]
		seq >>= 4
	}
	return string(b)
}

// ParseID splits an event ID into its incarnation and sequence: 24 and 16
// lower-case hex digits around a '-', the sequence not zero.
//
// It checks and converts in one pass over a table, without strings.Cut and
// strconv, because the engine parses every record's ID as it reads the
// journal, and one pass takes a fraction of their time per ID (figures in
// bench/README.md).
func ParseID(id string) (inc string, seq uint64, ok bool) {
	if len(id) != incDigits+1+16 || id[incDigits] != '-' {
		return "", 0, false
	}
	bad := byte(0) // OR of the digits' table entries: notHex if any is not a digit
	for i := 0; i < incDigits; i++ {
		bad |= hexValue[id[i]]
	}
	for i := incDigits + 1; i < len(id); i++ {
		v := hexValue[id[i]]
		bad |= v
		seq = seq<<4 | uint64(v&0xf)
	}
	if bad&notHex != 0 || seq == 0 {
		return "", 0, false
	}
	return id[:incDigits], seq, true
}

// hexValue maps a lower-case hex digit to its value, anything else to
// notHex.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = notHex
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

const notHex = 0x80

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if hexValue[s[i]] == notHex {
			return false
		}
	}
	return true
}

// segmentName is the file name of segment n of incarnation inc in slot.
func segmentName(slot int, inc string, n int) string {
	return fmt.Sprintf("%03d-%s-%06d%s", slot, inc, n, segExt)
}

// parseSegmentName returns the slot of a segment file name.
func parseSegmentName(name string) (slot int, inc string, n int, err error) {
	base, ok := strings.CutSuffix(name, segExt)
	parts := strings.Split(base, "-")
	if !ok || len(parts) != 3 || len(parts[1]) != incDigits || !isHex(parts[1]) {
		return 0, "", 0, fmt.Errorf("parse segment name %q: want SSS-<24 hex>-NNNNNN%s", name, segExt)
	}
	slot, err1 := strconv.Atoi(parts[0])
	n, err2 := strconv.Atoi(parts[2])
	if err := errors.Join(err1, err2); err != nil {
		return 0, "", 0, fmt.Errorf("parse segment name %q: %w", name, err)
	}
	return slot, parts[1], n, nil
}

// VisibleAt returns the boundary at which a write whose Commit returned at
// done becomes visible: the first multiple of period (counted from the Unix
// epoch) strictly after done. Workers put it in the 202 Accepted body.
func VisibleAt(done time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return done
	}
	ns := done.UnixNano()
	next := (ns/int64(period) + 1) * int64(period)
	if ns < 0 && ns%int64(period) != 0 {
		next -= int64(period) // division truncates toward zero
	}
	return time.Unix(0, next).UTC()
}

// Accepted is the JSON body of a 202 Accepted answer to a write.
type Accepted struct {
	ID        string    `json:"id"`
	VisibleAt time.Time `json:"visible_at"`
	StatusURL string    `json:"status_url"` // "/_jawas/events/" + ID
}
