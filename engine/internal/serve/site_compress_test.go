//go:build linux

package serve

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// decoded returns b decoded by the content coding enc ("" for none).
func decoded(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch enc {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSiteCompressed: a compressible site file gets gzip and brotli
// variants, made once in the background; until then, and for clients that
// do not ask, it is sent as it is. A changed file gets variants of its new
// bytes, never the old ones. Small files and images are never compressed.
func TestSiteCompressed(t *testing.T) {
	f := start(t, func(o *Options) { o.Loops = 1 })
	css := []byte(strings.Repeat(".a{color:red}\n", 400)) // 5.6 KB
	must(t, os.WriteFile(filepath.Join(f.site, "big.css"), css, 0o644))
	must(t, os.WriteFile(filepath.Join(f.site, "pic.png"), bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 400), 0o644))
	c := f.dial()
	br := bufio.NewReader(c)

	// waitEncoded asks for path with Accept-Encoding ae until the answer is
	// encoded (the variants are made in the background), and checks it.
	// Answers whose ETag starts with stale (the file's previous version in
	// any coding, until the change is seen) are skipped; any other must be
	// want's bytes.
	waitEncoded := func(path, ae, wantEnc string, want []byte, stale string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for ; ; time.Sleep(10 * time.Millisecond) {
			resp, body := roundTrip(t, c, br, get(path, "Accept-Encoding: "+ae+"\r\n"))
			if stale != "" && strings.HasPrefix(resp.Header.Get("ETag"), stale) {
				continue
			}
			enc := resp.Header.Get("Content-Encoding")
			if enc == wantEnc {
				if got := decoded(t, enc, body); !bytes.Equal(got, want) {
					t.Fatalf("%s (%s): decoded body is not the file's (%d bytes, want %d)", path, enc, len(got), len(want))
				}
				if len(body) >= len(want) || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
					t.Fatalf("%s (%s): %d bytes, Content-Length %q, file %d", path, enc, len(body), resp.Header.Get("Content-Length"), len(want))
				}
				if resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Fatalf("%s (%s): Vary %q, want Accept-Encoding", path, enc, resp.Header.Get("Vary"))
				}
				t.Logf("%s: %s %d bytes for %d", path, enc, len(body), len(want))
				return
			}
			if enc != "" || !bytes.Equal(body, want) {
				t.Fatalf("%s: Content-Encoding %q, %d bytes: want %q, or the file as it is until then", path, enc, len(body), wantEnc)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never %s-encoded", path, wantEnc)
			}
		}
	}
	waitEncoded("/big.css", "gzip, br", "br", css, "")
	waitEncoded("/big.css", "gzip", "gzip", css, "")

	// Not asked for: the file as it is, Vary still says it depends.
	resp, body := roundTrip(t, c, br, get("/big.css"))
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, css) || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("identity: Content-Encoding %q, %d bytes, Vary %q", resp.Header.Get("Content-Encoding"), len(body), resp.Header.Get("Vary"))
	}
	// HEAD: the encoded length, no body.
	io.WriteString(c, "HEAD /big.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n")
	head, _ := readResp(t, br, true)
	if head.Header.Get("Content-Encoding") != "br" || head.ContentLength <= 0 || head.ContentLength >= int64(len(css)) {
		t.Errorf("HEAD: Content-Encoding %q, Content-Length %d", head.Header.Get("Content-Encoding"), head.ContentLength)
	}
	// Each coding has its own strong ETag: the identity ETag, sent by a
	// client that now accepts br, gets the br body (a 304 would pair the
	// identity bytes it holds with its br request).
	identityTag := resp.Header.Get("ETag")
	resp, body = roundTrip(t, c, br, get("/big.css", "Accept-Encoding: br\r\n", "If-None-Match: "+identityTag+"\r\n"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("ETag") == identityTag || len(body) == 0 {
		t.Errorf("identity ETag, br accepted: %d, Content-Encoding %q, ETag %q (identity %q)", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"), identityTag)
	}
	// 304 with the br ETag, carrying Vary too, and no body.
	resp, _ = roundTrip(t, c, br, get("/big.css", "Accept-Encoding: br\r\n", "If-None-Match: "+resp.Header.Get("ETag")+"\r\n"))
	if resp.StatusCode != 304 || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("revalidation: %d, Vary %q", resp.StatusCode, resp.Header.Get("Vary"))
	}

	// A new version of the file (renamed into place, as a deployment
	// does): its own variants, never the old bytes under the new ETag.
	stale := strings.TrimSuffix(identityTag, `"`) // every coding's ETag starts so
	css2 := []byte(strings.Repeat(".b{color:blue}\n", 500))
	must(t, os.WriteFile(filepath.Join(f.site, "big.css.tmp"), css2, 0o644))
	must(t, os.Rename(filepath.Join(f.site, "big.css.tmp"), filepath.Join(f.site, "big.css")))
	waitEncoded("/big.css", "gzip", "gzip", css2, stale)

	// Small files and images: as they are, whatever the client accepts.
	for _, p := range []string{"/app.js", "/pic.png"} {
		for range 20 {
			resp, _ := roundTrip(t, c, br, get(p, "Accept-Encoding: gzip, br\r\n"))
			if enc := resp.Header.Get("Content-Encoding"); enc != "" || resp.Header.Get("Vary") != "" {
				t.Fatalf("%s: Content-Encoding %q, Vary %q, want neither", p, enc, resp.Header.Get("Vary"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
