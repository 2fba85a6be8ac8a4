package writes

import (
	"encoding/json"
	"testing"
)

// TestAppendAccepted checks the hand-written 202 body against json.Marshal.
func TestAppendAccepted(t *testing.T) {
	id := "0123456789abcdef01234567-00000000000000ff"
	for _, period := range []int64{200, 1000, 60000} {
		want, _ := json.Marshal(acceptedBody{ID: id, VisibleAt: 1767225600200, StatusURL: "/_jawas/events/" + id, PeriodMs: period})
		if got := appendAccepted(nil, id, 1767225600200, period); string(got) != string(want) {
			t.Fatalf("appendAccepted = %s, want %s", got, want)
		}
		if n := acceptedLen(len(id), period); n != len(want) {
			t.Fatalf("acceptedLen = %d, want %d (the commit sizes its answers' buffer with it)", n, len(want))
		}
	}
}

func TestMediaType(t *testing.T) {
	for _, tc := range []struct {
		ct, want string
		ok       bool
	}{
		{"", typeJSON, true},
		{"application/json", typeJSON, true},
		{"Application/JSON", typeJSON, true},
		{"application/json; charset=utf-8", typeJSON, true},
		{"application/vnd.api+json", typeJSON, true},
		{"application/x-www-form-urlencoded", typeForm, true},
		{"text/plain; charset=UTF-8", typeText, true},
		{"text/plain; charset=latin1", "", false},
		{"image/png", "", false},
		{"application/json;;", "", false},
	} {
		got, ok := mediaType(tc.ct)
		if got != tc.want || ok != tc.ok {
			t.Errorf("mediaType(%q) = %q, %v; want %q, %v", tc.ct, got, ok, tc.want, tc.ok)
		}
	}
}
