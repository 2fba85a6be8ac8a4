package journal

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"
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
			var in interner // twice through one interner: the second time from it
			for _, strs := range []*interner{nil, &in, &in} {
				got, n, st, why := parseFrame(frame, strs)
				if st != frameOK || n != len(frame) {
					t.Fatalf("%s: parseFrame = %v %d (%s)", name, st, n, why)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %+v, want %+v", name, got, want)
				}
			}
		}
		p := appendRecord(nil, &want)
		for i := 1; i < len(p); i++ {
			var r Record
			if err := decodeRecord(p[:i], &r, nil); err == nil {
				t.Errorf("decodeRecord of %d of %d bytes: no error", i, len(p))
			}
		}
	}
}

// TestInterner: equal bytes give the same string, a full interner starts
// again rather than grow.
func TestInterner(t *testing.T) {
	var in interner
	for _, s := range []string{"", "POST", "text/plain", "game/arena", "user-agent"} {
		if got := in.string([]byte(s)); got != s {
			t.Errorf("string(%q) = %q", s, got)
		}
	}
	a, b := in.string([]byte("game/arena")), in.string([]byte("game/arena"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("equal sources are not the same string")
	}
	for i := range 3 * maxInterned {
		if s := fmt.Sprint(i); in.string([]byte(s)) != s {
			t.Fatalf("string(%q) is wrong", s)
		}
		if in.t.Len() > maxInterned {
			t.Fatalf("interner holds %d strings, more than %d", in.t.Len(), maxInterned)
		}
	}
}

// TestParseIDRejects: what is not 24 and 16 lower-case hex digits around
// a '-', with a sequence above zero, is not an ID.
func TestParseIDRejects(t *testing.T) {
	inc := "0123456789abcdef01234567"
	for _, id := range []string{
		"",
		"-",
		inc,
		inc + "-",
		inc + "0000000000000001",       // no '-'
		inc + "-0000000000000000",      // sequence zero
		inc + "-000000000000001",       // 15 digits
		inc + "-00000000000000001",     // 17 digits
		inc + "-000000000000000A",      // upper case
		inc + "-000000000000000g",      // not hex
		inc + "-+00000000000001",       // a sign
		inc + "-0000000000000001 ",     // trailing space
		inc + "-00000000-0000001",      // a second '-'
		inc[:23] + "-0000000000000001", // short incarnation
		inc + "0-0000000000000001",     // long incarnation
		"0123456789ABCDEF01234567-0000000000000001", // upper-case incarnation
		"0123456789abcdef0123456--0000000000000001",
		"0123456789abcdef0123456\x00-0000000000000001",
	} {
		if gi, gs, ok := ParseID(id); ok || gi != "" || gs != 0 {
			t.Errorf("ParseID(%q) = %q, %d, %v; want it refused", id, gi, gs, ok)
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
