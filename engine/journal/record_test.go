package journal

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestRecordLayouts decodes the same records from version 1 (JSON) and
// version 2 (binary) frames and checks both give back what was written, and
// that a damaged version 2 payload is an error, never a panic.
func TestRecordLayouts(t *testing.T) {
	recs := []Record{
		{ID: FormatID("0123456789abcdef01234567", 1), Slot: 3, Seq: 1, Source: "game/arena", Method: "POST",
			Time: time.Unix(1767225600, 123456789).UTC(), ContentType: "application/json",
			Headers: map[string]string{"user-agent": "x/1", "origin": "http://o", "referer": "r"}, Body: []byte(`{"id":1}`)},
		{ID: FormatID("0123456789abcdef01234567", 2), Seq: 2, Source: "q", Method: "PUT", Time: time.Unix(1, 0).UTC()},
	}
	for _, want := range recs {
		v1, _ := json.Marshal(&want)
		for name, frame := range map[string][]byte{"v1": appendFrame(nil, v1), "v2": appendFrame(nil, appendRecord(nil, &want))} {
			got, n, st, why := parseFrame(frame)
			if st != frameOK || n != len(frame) {
				t.Fatalf("%s: parseFrame = %v %d (%s)", name, st, n, why)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %+v, want %+v", name, got, want)
			}
		}
		p := appendRecord(nil, &want)
		for i := 1; i < len(p); i++ {
			var r Record
			if err := decodeRecord(p[:i], &r); err == nil {
				t.Errorf("decodeRecord of %d of %d bytes: no error", i, len(p))
			}
		}
	}
}

func TestFormatIDRoundTrip(t *testing.T) {
	inc := "0123456789abcdef01234567"
	for _, seq := range []uint64{1, 9, 10, 255, 1 << 32, 0xdeadbeefcafe, ^uint64(0)} {
		id := FormatID(inc, seq)
		if want := inc + "-" + fmt.Sprintf("%016x", seq); id != want {
			t.Errorf("FormatID(%d) = %q, want %q", seq, id, want)
		}
		if gi, gs, ok := ParseID(id); !ok || gi != inc || gs != seq {
			t.Errorf("ParseID(%q) = %q, %d, %v", id, gi, gs, ok)
		}
	}
}
