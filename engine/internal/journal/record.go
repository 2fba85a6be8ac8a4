package journal

// This file implements the binary record layouts (see Framing in the
// package comment), because encoding/json cost more per write than the rest
// of the journal together. After the version byte, in order:
//
//	uvarint slot, uvarint seq, varint time (Unix ns, UTC),
//	[version 3 only: varint time − arrived (ns)]
//	string id, string source, string method, string content type,
//	uvarint header count, then that many string name, string value,
//	bytes body
//
// where a string or bytes is a uvarint length and that many bytes. Headers
// are written in name order so equal records encode equally. Version 3 is
// what writers write; version 2 (no arrival) and version 1 (a payload that
// starts with '{': JSON) are still read, their Arrived set to Time, the
// best they know. testdata/ holds a segment of each old version.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jawas/jawas/internal/intern"
)

const (
	recordV2 = 0x02
	recordV3 = 0x03
)

// isRecordStart reports whether c can start a record payload.
func isRecordStart(c byte) bool { return c == recordV3 || c == recordV2 || c == '{' }

// appendRecord appends r's version 3 payload to b.
func appendRecord(b []byte, r *Record) []byte {
	return appendRecordVersion(b, r, recordV3)
}

// appendRecordVersion appends r's payload in binary version v (2 or 3);
// version 2 is written only to make the old-format test segments.
func appendRecordVersion(b []byte, r *Record, v byte) []byte {
	b = append(b, v)
	b = binary.AppendUvarint(b, uint64(r.Slot))
	b = binary.AppendUvarint(b, r.Seq)
	ns := r.Time.UnixNano()
	b = binary.AppendVarint(b, ns)
	if v >= recordV3 {
		var early int64 // zero Arrived: the same as Time
		if !r.Arrived.IsZero() {
			early = ns - r.Arrived.UnixNano()
		}
		b = binary.AppendVarint(b, early)
	}
	b = appendString(b, r.ID)
	b = appendString(b, r.Source)
	b = appendString(b, r.Method)
	b = appendString(b, r.ContentType)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	if len(r.Headers) > 0 {
		var keys [8]string
		ks := keys[:0]
		for k := range r.Headers {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			b = appendString(b, k)
			b = appendString(b, r.Headers[k])
		}
	}
	b = binary.AppendUvarint(b, uint64(len(r.Body)))
	return append(b, r.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortRecord = errors.New("record ends early")

// decodeRecord decodes a version 1, 2 or 3 payload into rec. The strings that
// repeat from record to record (source, method, content type, header names)
// come from in, which may be nil.
func decodeRecord(p []byte, rec *Record, in *interner) error {
	if len(p) == 0 {
		return errShortRecord
	}
	if p[0] == '{' {
		if err := json.Unmarshal(p, rec); err != nil {
			return err
		}
		rec.Arrived = rec.Time
		return nil
	}
	v := p[0]
	if v != recordV2 && v != recordV3 {
		return errors.New("unknown record version")
	}
	d := decoder{b: p[1:]}
	slot := d.uvarint()
	rec.Seq = d.uvarint()
	ns := d.varint()
	var early int64 // how long before its stamp the record arrived
	if v >= recordV3 {
		early = d.varint()
	}
	rec.ID = d.string()
	rec.Source = in.string(d.bytes())
	rec.Method = in.string(d.bytes())
	rec.ContentType = in.string(d.bytes())
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) { // each header takes at least two bytes
			return errShortRecord
		}
		rec.Headers = make(map[string]string, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := in.string(d.bytes())
			rec.Headers[k] = d.string()
		}
	}
	if body := d.bytes(); len(body) > 0 {
		rec.Body = append([]byte(nil), body...)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes after record")
	}
	if d.err != nil {
		return d.err
	}
	if slot > 1<<31 {
		return errors.New("impossible slot")
	}
	rec.Slot = int(slot)
	rec.Time = time.Unix(0, ns).UTC()
	rec.Arrived = rec.Time
	if early != 0 {
		rec.Arrived = time.Unix(0, ns-early).UTC()
	}
	return nil
}

// decoder reads a version 2 payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShortRecord
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// interner hands out one string per distinct value for the fields that
// repeat from record to record, because allocating them per record was a
// good part of the engine's read path: BenchmarkReadNew went from 5 to 3
// allocations per record. A Reader owns one (a Reader belongs to one
// goroutine); a nil *interner allocates every string.
type interner struct{ t intern.Table }

// maxInterned bounds an interner: a journal has a few sources and methods,
// but header names come from clients.
const maxInterned = intern.DefaultMax

// string returns b as a string, the same string for equal b.
func (in *interner) string(b []byte) string {
	// The values every record carries, without a map lookup. A switch on
	// string(b) compares in place, and returning constants allocates
	// nothing.
	switch string(b) {
	case "":
		return ""
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "application/json":
		return "application/json"
	case "application/x-www-form-urlencoded":
		return "application/x-www-form-urlencoded"
	case "text/plain":
		return "text/plain"
	}
	if in == nil {
		return string(b)
	}
	return in.t.String(b)
}
