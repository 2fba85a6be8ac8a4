//go:build linux

package serve

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// TestETagPerCoding: (on one connection whose Accept-Encoding changes, as
// a proxy's does) the identity, gzip and brotli bodies of one version
// have different strong ETags (RFC 9110 §8.8.3), and If-None-Match is
// compared with the ETag of the body the request would get, so a client or
// cache holding one coding never gets a 304 for another. Every answer of a
// negotiated URL, 304s included, says Vary: Accept-Encoding (with Origin:
// inProcess configures a CORS origin).
func TestETagPerCoding(t *testing.T) {
	l, c, store := inProcess(t)
	publish(t, store, "/tiny.json", []byte(`{"n":1}`), "application/json", 200*time.Millisecond)
	l.tick()
	get := func(ae, inm string) (status, etag, enc, vary string, body []byte) {
		t.Helper()
		raw := "GET /clock.json HTTP/1.1\r\nHost: x\r\n"
		if ae != "" {
			raw += "Accept-Encoding: " + ae + "\r\n"
		}
		if inm != "" {
			raw += "If-None-Match: " + inm + "\r\n"
		}
		hdr, b := step(t, l, c, []byte(raw+"\r\n"))
		return string(hdr[9:12]), headerValue(hdr, "ETag"), headerValue(hdr, "Content-Encoding"), headerValue(hdr, "Vary"), b
	}
	decode := func(enc string, b []byte) []byte {
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

	tags := map[string]string{} // coding → ETag
	for _, tc := range []struct{ ae, enc string }{{"", ""}, {"gzip", "gzip"}, {"br", "br"}, {"gzip, br", "br"}, {"identity", ""},
		{"gzip;q=0.5, br;q=0.9, deflate;q=0.1, identity;q=0.1, zstd;q=0.2", "br"}, // longer than the connection's cache
		{"gzip;q=1, br;q=0.5", "gzip"}, {"", ""}} {
		status, etag, enc, vary, body := get(tc.ae, "")
		if status != "200" || enc != tc.enc || !strings.Contains(vary, "Accept-Encoding") || !bytes.Equal(decode(enc, body), clockBody) {
			t.Fatalf("Accept-Encoding %q: %s, Content-Encoding %q, Vary %q", tc.ae, status, enc, vary)
		}
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
			t.Fatalf("Accept-Encoding %q: ETag %s is not strong", tc.ae, etag)
		}
		if prev, ok := tags[enc]; ok && prev != etag {
			t.Fatalf("coding %q: two ETags %s and %s for one version", enc, prev, etag)
		}
		tags[enc] = etag
	}
	id, gz, br := tags[""], tags["gzip"], tags["br"]
	if id == gz || id == br || gz == br {
		t.Fatalf("ETags are not per coding: identity %s, gzip %s, br %s", id, gz, br)
	}

	for _, tc := range []struct {
		name, ae, inm    string
		status, enc, tag string
	}{
		{"identity tag, gzip asked", "gzip", id, "200", "gzip", gz},
		{"identity tag, br asked", "gzip, br", id, "200", "br", br},
		{"gzip tag, identity asked", "", gz, "200", "", id},
		{"gzip tag, br preferred", "gzip, br", gz, "200", "br", br},
		{"br tag, only gzip accepted", "gzip", br, "200", "gzip", gz},
		{"gzip tag, gzip asked", "gzip", gz, "304", "", gz},
		{"br tag, br asked", "br;q=1, gzip;q=0.5", br, "304", "", br},
		{"identity tag, identity asked", "", id, "304", "", id},
		{"identity refused, identity sent", "identity;q=0", id, "304", "", id},
		{"a list holding the tag", "gzip", id + ", " + gz, "304", "", gz},
		{"weak comparison", "gzip", "W/" + gz, "304", "", gz},
		{"star", "gzip", "*", "304", "", gz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, etag, enc, vary, body := get(tc.ae, tc.inm)
			if status != tc.status || enc != tc.enc || etag != tc.tag || !strings.Contains(vary, "Accept-Encoding") {
				t.Fatalf("%s, Content-Encoding %q, ETag %s, Vary %q; want %s, %q, %s, Accept-Encoding", status, enc, etag, vary, tc.status, tc.enc, tc.tag)
			}
			if status == "200" && !bytes.Equal(decode(enc, body), clockBody) {
				t.Fatalf("body does not decode to the snapshot")
			}
		})
	}

	// A body too small to compress has one representation: one ETag, no Vary.
	hdr, _ := step(t, l, c, []byte("GET /tiny.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n"))
	if headerValue(hdr, "Content-Encoding") != "" || strings.Contains(headerValue(hdr, "Vary"), "Accept-Encoding") || strings.Contains(headerValue(hdr, "ETag"), "-") {
		t.Fatalf("tiny body: %q", hdr)
	}
}
