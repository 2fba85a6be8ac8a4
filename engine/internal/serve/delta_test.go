//go:build linux

package serve

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// gameState is a ~10 KB JSON document of which version v moved a few
// entities: patches between versions are a few dozen bytes.
func gameState(v int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"v":%d,"entities":[`, v)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		x := i
		if i%10 == v%10 {
			x += 1000 * v
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"unit-%04d","x":%d,"team":"red"}`, i, i, x)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// deltaFixture publishes versions 1..n of /game.json with patches from
// the last 3, and returns their ETags (identity) by version.
func deltaFixture(t *testing.T, n int) (*loop, *conn, *snapshot.Store, map[int]string) {
	l, c, store := inProcess(t)
	store.SetDeltas(3)
	tags := map[int]string{}
	for v := 1; v <= n; v++ {
		publish(t, store, "/game.json", gameState(v), "application/json", 200*time.Millisecond)
		l.tick() // the worker picks the new manifest up, as on its next request
		tags[v] = l.view.Lookup("/game.json").ETag
	}
	return l, c, store, tags
}

type answer struct {
	status                              string
	etag, enc, vary, cc, im, base, clen string
	body                                []byte
}

func ask(t *testing.T, l *loop, c *conn, method, ae, aim, inm string) answer {
	t.Helper()
	raw := method + " /game.json HTTP/1.1\r\nHost: x\r\n"
	for _, h := range [][2]string{{"Accept-Encoding", ae}, {"A-IM", aim}, {"If-None-Match", inm}} {
		if h[1] != "" {
			raw += h[0] + ": " + h[1] + "\r\n"
		}
	}
	hdr, body := step(t, l, c, []byte(raw+"\r\n"))
	hv := func(k string) string { return headerValue(hdr, k) }
	return answer{string(hdr[9:12]), hv("ETag"), hv("Content-Encoding"), hv("Vary"), hv("Cache-Control"), hv("IM"), hv("Delta-Base"), hv("Content-Length"), body}
}

// TestDeltaNegotiation is the negotiation matrix: a client holding the
// current version gets 304; one holding a version in the window that
// opted in (A-IM: splice) gets 226 with the patch, in the coding it
// accepts, which rebuilds the current body; one holding an older or
// unknown version, or not opting in, gets the full 200.
func TestDeltaNegotiation(t *testing.T) {
	l, c, _, tags := deltaFixture(t, 6) // patches to v6 from v5, v4, v3
	cur := gameState(6)
	hash := func(v int) string { return strings.Trim(tags[v], `"`) }
	for _, tc := range []struct {
		name, method, ae, aim, inm string
		status, enc, base          string
		from                       int // the version the patch applies to
	}{
		{"current", "GET", "", "splice", tags[6], "304", "", "", 0},
		{"current gzip", "GET", "gzip", "splice", `"` + hash(6) + `-gzip"`, "304", "", "", 0},
		{"previous", "GET", "", "splice", tags[5], "226", "", tags[5], 5},
		{"3 back", "GET", "", "splice", tags[3], "226", "", tags[3], 3},
		{"4 back: too old", "GET", "", "splice", tags[2], "200", "", "", 0},
		{"unknown", "GET", "", "splice", `"0123456789abcdef0123456789abcdef"`, "200", "", "", 0},
		{"no A-IM", "GET", "", "", tags[5], "200", "", "", 0},
		{"other format", "GET", "", "vcdiff", tags[5], "200", "", "", 0},
		{"splice refused", "GET", "", "splice;q=0", tags[5], "200", "", "", 0},
		{"A-IM without If-None-Match", "GET", "", "splice", "", "200", "", "", 0},
		{"gzip", "GET", "gzip", "splice", `"` + hash(5) + `-gzip"`, "226", "gzip", `"` + hash(5) + `-gzip"`, 5},
		{"br client, gzip patch", "GET", "gzip, br", "splice", `"` + hash(4) + `-br"`, "226", "gzip", `"` + hash(4) + `-br"`, 4},
		{"br only: identity patch", "GET", "br", "splice", tags[4], "226", "", tags[4], 4},
		{"weak and listed", "GET", "", "vcdiff, splice", `"x", W/` + tags[4], "226", "", tags[4], 4},
		{"HEAD", "HEAD", "gzip", "splice", tags[5], "226", "gzip", tags[5], 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ask(t, l, c, tc.method, tc.ae, tc.aim, tc.inm)
			if a.status != tc.status || a.enc != tc.enc || a.base != tc.base {
				t.Fatalf("got %s Content-Encoding %q Delta-Base %q; want %s %q %q", a.status, a.enc, a.base, tc.status, tc.enc, tc.base)
			}
			if !strings.HasPrefix(a.vary, "A-IM, Accept-Encoding") {
				t.Errorf("Vary %q: want A-IM, Accept-Encoding first", a.vary)
			}
			wantTag := tags[6]
			if tc.ae != "" {
				wantTag = `"` + hash(6) + "-" + map[string]string{"gzip": "gzip", "gzip, br": "br", "br": "br"}[tc.ae] + `"`
			}
			if a.etag != wantTag {
				t.Errorf("ETag %s, want %s (the current version's, in the negotiated coding)", a.etag, wantTag)
			}
			switch tc.status {
			case "226":
				if a.im != "splice" || a.cc != "no-store" {
					t.Errorf("226 with IM %q, Cache-Control %q", a.im, a.cc)
				}
				if tc.method == "HEAD" {
					if len(a.body) != 0 || a.clen == "0" || a.clen == "" {
						t.Errorf("HEAD: body %d bytes, Content-Length %q", len(a.body), a.clen)
					}
					return
				}
				patch := decodeBody(t, a.enc, a.body)
				got, err := snapshot.ApplySplice(gameState(tc.from), patch)
				if err != nil || !bytes.Equal(got, cur) {
					t.Fatalf("the patch does not rebuild the current version (%v)", err)
				}
				if a.clen != fmt.Sprint(len(a.body)) {
					t.Errorf("Content-Length %s, body %d", a.clen, len(a.body))
				}
			case "200":
				if !bytes.Equal(decodeBody(t, a.enc, a.body), cur) || a.im != "" || a.cc == "no-store" {
					t.Errorf("200: not the full current body, or IM %q / Cache-Control %q", a.im, a.cc)
				}
			}
		})
	}
}

// TestDeltaNotSmaller: a patch that is not smaller than the full answer
// in the negotiated coding is not used.
func TestDeltaNotSmaller(t *testing.T) {
	l, c, _ := inProcess(t)
	base := []byte("0123456789abcdef0123456789abcdef")
	e := &snapshot.Entry{Deltas: []snapshot.Delta{{Base: base, Body: make([]byte, 100), Gzip: make([]byte, 60)}}}
	var p http1.Parser
	for _, tc := range []struct {
		ae       string
		full     int
		want     int // length of the answer's body
		wantBase bool
	}{
		{"", 101, 100, true},    // identity patch 100 < 101
		{"", 100, 100, false},   // not smaller: full
		{"gzip", 61, 60, true},  // gzip patch 60 < full gzip 61
		{"gzip", 59, 59, false}, // full gzip 59 wins over the 60-byte gzip patch
	} {
		raw := "GET /game.json HTTP/1.1\r\nHost: x\r\nA-IM: splice\r\nIf-None-Match: \"" + string(base) + "\"\r\n"
		if tc.ae != "" {
			raw += "Accept-Encoding: " + tc.ae + "\r\n"
		}
		var req http1.Request
		if _, err := p.Parse([]byte(raw+"\r\n"), &req); err != nil {
			t.Fatal(err)
		}
		body, _, tag := l.delta(c, &req, e, make([]byte, tc.full), http1.EncIdentity)
		if len(body) != tc.want || (tag != nil) != tc.wantBase {
			t.Errorf("AE %q, full %d: body %d, patch used %v; want %d, %v", tc.ae, tc.full, len(body), tag != nil, tc.want, tc.wantBase)
		}
	}
}

// TestDeltaWindowRolls: as versions roll, the worker serves the patches
// of each new manifest, and a version that left the window gets the full
// body.
func TestDeltaWindowRolls(t *testing.T) {
	l, c, store, tags := deltaFixture(t, 2)
	for v := 3; v <= 8; v++ {
		publish(t, store, "/game.json", gameState(v), "application/json", 200*time.Millisecond)
		l.tick()
		tags[v] = l.view.Lookup("/game.json").ETag
		for back := 1; back <= 4; back++ {
			if v-back < 1 {
				continue
			}
			a := ask(t, l, c, "GET", "", "splice", tags[v-back])
			want := "226"
			if back > 3 {
				want = "200"
			}
			if a.status != want {
				t.Fatalf("at v%d, client at v%d: %s, want %s", v, v-back, a.status, want)
			}
		}
	}
}

func decodeBody(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}
