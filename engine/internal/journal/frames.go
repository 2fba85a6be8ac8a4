package journal

import "fmt"

// AppendFrame appends r as one frame, exactly as a segment holds it
// (length, CRC-32C, version 2 record), to dst. The cluster forwards
// records to its stream in this form.
func AppendFrame(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = appendRecord(dst, r)
	payload := dst[start+headerSize:]
	putFrameHeader(dst[start:start+headerSize], payload)
	return dst
}

// ParseFrames appends the records of b, a run of whole frames written by
// AppendFrame, to dst; any damage is an error (a message is never torn).
func ParseFrames(dst []Record, b []byte) ([]Record, error) {
	for off := 0; off < len(b); {
		var rec Record
		n, st, why := parseFrameInto(b[off:], &rec, nil)
		if st != frameOK {
			if st == frameIncomplete {
				why = "ends inside a frame (" + why + ")"
			}
			return dst, fmt.Errorf("journal frames: at byte %d: %s", off, why)
		}
		dst = append(dst, rec)
		off += n
	}
	return dst, nil
}
