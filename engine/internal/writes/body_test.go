package writes

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/journal"
)

func TestCheckBodyOffsets(t *testing.T) {
	for _, tc := range []struct {
		body string
		at   int64 // 0-based index of the offending byte; -1: no offset
	}{
		{`{"id": x}`, 7},
		{`x`, 0},
		{`{"id":`, 6},          // ended too soon: the body's length
		{`{"a":1,}`, 7},        // the }
		{`[1, 2, 3] junk`, 10}, // after the value
		{``, 0},                // empty JSON is invalid JSON
		{" \n", 2},             // so is white space alone
	} {
		err := checkBody(typeJSON, []byte(tc.body))
		var be *bodyError
		if !errors.As(err, &be) {
			t.Fatalf("%q: error %v, want a bodyError", tc.body, err)
		}
		if be.Offset == nil || *be.Offset != tc.at {
			t.Errorf("%q: offset %v, want %d", tc.body, be.Offset, tc.at)
		}
	}
	if err := checkBody(typeJSON, []byte(`{"ok": true}`)); err != nil {
		t.Errorf("valid JSON rejected: %v", err)
	}
	var be *bodyError
	if err := checkBody(typeText, []byte{0xff}); !errors.As(err, &be) || be.Offset != nil {
		t.Errorf("invalid text: %v (offset must be absent)", err)
	}
}

// TestDecodeEmptyBodies: what a reducer sees for an empty body depends on
// its declared type: a bodiless write (recorded as empty JSON, see
// Acceptor.Write) is null, an empty form {}, empty text "".
func TestDecodeEmptyBodies(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want string
	}{
		{typeJSON, "null"},
		{typeForm, "{}"},
		{typeText, `""`},
	} {
		v, err := decodeBody(tc.ct, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.ct, err)
		}
		got, _ := json.Marshal(v)
		if string(got) != tc.want {
			t.Errorf("empty %s body decodes to %s, want %s", tc.ct, got, tc.want)
		}
	}
}

// TestEventTimes: a reducer's event.time is the record's arrival, and
// event.committed its stamp; a record of an old journal version, without
// an arrival, reads its stamp for both.
func TestEventTimes(t *testing.T) {
	stamp, arrived := time.UnixMilli(1767225600210), time.UnixMilli(1767225600203)
	ev, err := eventOf(&journal.Record{Method: "POST", Time: stamp, Arrived: arrived})
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Time.Equal(arrived) || !ev.Committed.Equal(stamp) {
		t.Errorf("event time %v committed %v, want %v and %v", ev.Time, ev.Committed, arrived, stamp)
	}
	ev, _ = eventOf(&journal.Record{Method: "POST", Time: stamp})
	if !ev.Time.Equal(stamp) || !ev.Committed.Equal(stamp) {
		t.Errorf("no arrival: event time %v committed %v, want both %v", ev.Time, ev.Committed, stamp)
	}
}
