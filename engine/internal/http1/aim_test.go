package http1

import "testing"

// TestAIM: A-IM is extracted (repeated fields joined like other lists)
// and HasToken finds a format in it, q=0 meaning "not acceptable".
func TestAIM(t *testing.T) {
	var p Parser
	var req Request
	raw := "GET /g.json HTTP/1.1\r\nHost: x\r\nA-IM: vcdiff\r\na-im: Splice;q=0.5\r\n\r\n"
	if n, err := p.Parse([]byte(raw), &req); err != nil || n != len(raw) {
		t.Fatalf("parse: %d %v", n, err)
	}
	if string(req.AIM) != "vcdiff, Splice;q=0.5" {
		t.Fatalf("AIM = %q", req.AIM)
	}
	for _, tc := range []struct {
		list string
		want bool
	}{
		{"splice", true}, {"vcdiff, splice", true}, {"SPLICE;q=1", true}, {" , splice ,", true},
		{"splice;q=0", false}, {"splicer", false}, {"vcdiff", false}, {"", false}, {"splice;x=1", false},
	} {
		if got := HasToken([]byte(tc.list), "splice"); got != tc.want {
			t.Errorf("HasToken(%q) = %v, want %v", tc.list, got, tc.want)
		}
	}
}
