package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestRecordLayouts decodes the same records from version 1 (JSON),
// version 2 and version 3 (binary) frames and checks each gives back what
// was written (the old versions, without an arrival time, read it as the
// stamp), and that a damaged version 3 payload is an error, never a panic.
func TestRecordLayouts(t *testing.T) {
	recs := []Record{
		{ID: FormatID("0123456789abcdef01234567", 1), Slot: 3, Seq: 1, Source: "game/arena", Method: "POST",
			Time: time.Unix(1767225600, 123456789).UTC(), Arrived: time.Unix(1767225600, 113456000).UTC(), ContentType: "application/json",
			Headers: map[string]string{"user-agent": "x/1", "origin": "http://o", "referer": "r"}, Body: []byte(`{"id":1}`)},
		{ID: FormatID("0123456789abcdef01234567", 2), Seq: 2, Source: "q", Method: "PUT", Time: time.Unix(1, 0).UTC(), Arrived: time.Unix(1, 0).UTC()},
	}
	for _, want := range recs {
		old := want
		old.Arrived = time.Time{}
		v1, _ := json.Marshal(&old)
		for name, frame := range map[string][]byte{
			"v1": appendFrame(nil, v1),
			"v2": appendFrame(nil, appendRecordVersion(nil, &want, recordV2)),
			"v3": appendFrame(nil, appendRecord(nil, &want)),
		} {
			want := want
			if name != "v3" {
				want.Arrived = want.Time
			}
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

// TestOldSegmentsReadable reads segments written by the journal's earlier
// versions (testdata/segment-v1: JSON records; segment-v2: binary records
// without the arrival time, written by the version 2 Writer itself) beside
// one the current Writer appends to, in one ReadNew: every record comes
// back, in stamp order, the old ones with Arrived = Time and the new one
// with the arrival it was given.
func TestOldSegmentsReadable(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "segment-"+v))); err != nil {
				t.Fatal(err)
			}
			w, err := OpenWriter(dir, 3, WriterOptions{Durability: Sync})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			stamp, arrived := time.Unix(1767225601, 0).UTC(), time.Unix(1767225600, 995000000).UTC()
			if _, err := w.Append(&Record{Source: "q", Method: "POST", Time: stamp, Arrived: arrived, ContentType: "application/json", Body: []byte(`{"id":"new"}`)}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			r, err := OpenReader(dir)
			if err != nil {
				t.Fatal(err)
			}
			recs, _, err := r.ReadNew(nil, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				method, ct, body, ua string
				ms                   int64
			}{
				{"POST", "application/json", `{"id":"a"}`, "golden/1", 1767225600100},
				{"PUT", "text/plain", `hello`, "", 1767225600200},
				{"POST", "application/json", ``, "", 1767225600300},
				{"POST", "application/json", `{"id":"new"}`, "", 1767225601000},
			}
			if len(recs) != len(want) {
				t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
			}
			for i, w := range want {
				r := recs[i]
				if r.Method != w.method || r.ContentType != w.ct || string(r.Body) != w.body || r.Headers["user-agent"] != w.ua || r.Time.UnixMilli() != w.ms || r.Source != "q" {
					t.Errorf("record %d: %+v, want %+v", i, r, w)
				}
				wantArrived := r.Time
				if i == 3 {
					wantArrived = arrived
				}
				if !r.Arrived.Equal(wantArrived) {
					t.Errorf("record %d: arrived %v, want %v", i, r.Arrived, wantArrived)
				}
			}
		})
	}
}
