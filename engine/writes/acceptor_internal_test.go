package writes

import (
	"encoding/json"
	"testing"
)

// TestAppendAccepted checks the hand-written 202 body against json.Marshal.
func TestAppendAccepted(t *testing.T) {
	id := "0123456789abcdef01234567-00000000000000ff"
	want, _ := json.Marshal(acceptedBody{ID: id, VisibleAt: 1767225600200, StatusURL: "/_jawas/events/" + id})
	if got := appendAccepted(nil, id, 1767225600200); string(got) != string(want) {
		t.Fatalf("appendAccepted = %s, want %s", got, want)
	}
}
