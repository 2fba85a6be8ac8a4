//go:build linux

package main

// End-to-end tests of HTTP serving by the real binary: one `jawas serve`
// (supervisor, engine, two workers) on a fixture project, spoken to over
// raw TCP so nothing in a client library hides what the server sent.

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

func TestE2EServing(t *testing.T) {
	dir := newProject(t, "workers = 2")
	for i := 0; i < 100; i++ {
		writeFile(t, filepath.Join(dir, "site", "n", strconv.Itoa(i)+".txt"), "file "+strconv.Itoa(i)+"\n")
	}
	// A symlink inside site/ that escapes it: must not be served.
	if err := os.Symlink(filepath.Join(dir, "jawas.toml"), filepath.Join(dir, "site", "escape.txt")); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, dir)
	addr := s.addr
	s.waitOK("/static.json", 10*time.Second)

	t.Run("headers", func(t *testing.T) {
		r, err := get(addr, "/clock.json")
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		for _, h := range []string{"ETag", "Cache-Control", "X-Jawas-Period", "X-Jawas-Next", "Date", "Content-Length", "Last-Modified"} {
			if r.header.Get(h) == "" {
				t.Errorf("missing %s in %v", h, r.header)
			}
		}
		if got := r.header.Get("X-Jawas-Period"); got != "200" {
			t.Errorf("X-Jawas-Period = %q, want 200", got)
		}
		next, err := strconv.Atoi(r.header.Get("X-Jawas-Next"))
		if err != nil || next < 0 || next > 200 {
			t.Errorf("X-Jawas-Next = %q, want 0..200", r.header.Get("X-Jawas-Next"))
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control = %q, want no-cache for a 200ms period", cc)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		var v struct{ Now, Tick, Period int64 }
		if err := json.Unmarshal(r.body, &v); err != nil || v.Period != 200 || v.Now%200 != 0 {
			t.Errorf("body %q: %v", r.body, err)
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		local := rc.c.LocalAddr().String()
		for i := 0; i < 20; i++ {
			path := []string{"/clock.json", "/hello.txt", "/static.json", "/", "/nope.json"}[i%5]
			r, err := rc.get(path)
			if err != nil {
				t.Fatalf("request %d (%s) on one connection: %v", i, path, err)
			}
			if r.close {
				t.Fatalf("request %d (%s): server closed a keep-alive connection (status %d)", i, path, r.status)
			}
			want := 200
			if path == "/nope.json" {
				want = 404
			}
			if r.status != want {
				t.Fatalf("%s: status %d, want %d", path, r.status, want)
			}
		}
		if rc.c.LocalAddr().String() != local {
			t.Fatal("connection changed")
		}
	})

	t.Run("pipelined-100-in-order", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var all strings.Builder
		for i := 0; i < 100; i++ {
			all.WriteString(reqText("GET", "/n/"+strconv.Itoa(i)+".txt"))
		}
		start := time.Now()
		if err := rc.send(all.String()); err != nil { // one write: 100 requests
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			r, err := rc.read(false)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			if want := "file " + strconv.Itoa(i) + "\n"; r.status != 200 || string(r.body) != want {
				t.Fatalf("response %d: status %d body %q, want 200 %q (out of order?)", i, r.status, r.body, want)
			}
		}
		t.Logf("100 pipelined requests answered in order in %v", time.Since(start).Round(time.Microsecond))
	})

	t.Run("HEAD", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		for _, path := range []string{"/static.json", "/hello.txt"} {
			g, err := rc.get(path)
			if err != nil {
				t.Fatal(err)
			}
			// HEAD then GET pipelined: a body after the HEAD response would
			// be read as the GET's status line and break the second read.
			if err := rc.send(reqText("HEAD", path) + reqText("GET", "/hello.txt")); err != nil {
				t.Fatal(err)
			}
			h, err := rc.read(true)
			if err != nil {
				t.Fatal(err)
			}
			if h.status != 200 || len(h.body) != 0 {
				t.Fatalf("HEAD %s: status %d, %d body bytes", path, h.status, len(h.body))
			}
			if h.header.Get("Content-Length") != strconv.Itoa(len(g.body)) {
				t.Errorf("HEAD %s: Content-Length %q, GET body %d bytes", path, h.header.Get("Content-Length"), len(g.body))
			}
			if h.header.Get("ETag") != g.header.Get("ETag") {
				t.Errorf("HEAD %s: ETag %q, GET %q", path, h.header.Get("ETag"), g.header.Get("ETag"))
			}
			next, err := rc.read(false)
			if err != nil || next.status != 200 || string(next.body) != "hello from site\n" {
				t.Fatalf("GET after HEAD %s: %v %+v", path, err, next)
			}
		}
	})

	t.Run("conditional-304", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		for _, path := range []string{"/static.json", "/hello.txt"} {
			g, err := rc.get(path)
			if err != nil || g.status != 200 {
				t.Fatalf("GET %s: %v %+v", path, err, g)
			}
			etag, lm := g.header.Get("ETag"), g.header.Get("Last-Modified")
			if etag == "" || lm == "" {
				t.Fatalf("%s: ETag %q Last-Modified %q", path, etag, lm)
			}
			cases := []struct {
				hdr  string
				want int
			}{
				{"If-None-Match: " + etag, 304},
				{`If-None-Match: "nope", ` + etag, 304},
				{"If-None-Match: W/" + etag, 304},
				{"If-None-Match: *", 304},
				{`If-None-Match: "nope"`, 200},
				{"If-Modified-Since: " + lm, 304},
				{"If-Modified-Since: " + time.Now().Add(time.Hour).UTC().Format(http1Date), 304},
				{"If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT", 200},
			}
			for _, c := range cases {
				r, err := rc.get(path, c.hdr)
				if err != nil {
					t.Fatalf("%s with %s: %v", path, c.hdr, err)
				}
				if r.status != c.want {
					t.Errorf("%s with %s: status %d, want %d", path, c.hdr, r.status, c.want)
				}
				if r.status == 304 && (len(r.body) != 0 || r.header.Get("ETag") != etag) {
					t.Errorf("%s 304: body %d bytes, ETag %q", path, len(r.body), r.header.Get("ETag"))
				}
			}
		}
	})

	t.Run("gzip-and-br", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		id, err := rc.get("/static.json")
		if err != nil || id.status != 200 {
			t.Fatalf("identity: %v %+v", err, id)
		}
		if id.header.Get("Content-Encoding") != "" || !strings.Contains(id.header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("identity: Content-Encoding %q, Vary %q", id.header.Get("Content-Encoding"), id.header.Get("Vary"))
		}
		decoders := map[string]func(io.Reader) (io.Reader, error){
			"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
			"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		}
		for _, enc := range []string{"gzip", "br"} {
			r, err := rc.get("/static.json", "Accept-Encoding: "+enc)
			if err != nil || r.status != 200 {
				t.Fatalf("%s: %v %+v", enc, err, r)
			}
			if r.header.Get("Content-Encoding") != enc {
				t.Fatalf("%s: Content-Encoding %q", enc, r.header.Get("Content-Encoding"))
			}
			// The same version, its own strong ETag per coding (RFC 9110 §8.8.3).
			suffix := map[string]string{"gzip": "-gzip", "br": "-br"}[enc]
			if want := strings.TrimSuffix(id.header.Get("ETag"), `"`) + suffix + `"`; r.header.Get("ETag") != want {
				t.Fatalf("%s: ETag %q, want %q (the identity ETag %q with the coding's suffix)", enc, r.header.Get("ETag"), want, id.header.Get("ETag"))
			}
			zr, err := decoders[enc](bytes.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: decode: %v", enc, err)
			}
			if !bytes.Equal(plain, id.body) {
				t.Fatalf("%s: decoded body (%d bytes) differs from identity (%d bytes)", enc, len(plain), len(id.body))
			}
			t.Logf("%s: %d → %d bytes", enc, len(id.body), len(r.body))
		}
		// identity;q=0 with gzip available, q-values choosing gzip over br.
		r, err := rc.get("/static.json", "Accept-Encoding: br;q=0.1, gzip;q=0.9")
		if err != nil || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("q-values: %v, Content-Encoding %q, want gzip", err, r.header.Get("Content-Encoding"))
		}
	})

	t.Run("HTTP/1.0-closes", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if err := rc.send("GET /hello.txt HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		r, err := rc.read(false)
		if err != nil || r.status != 200 || string(r.body) != "hello from site\n" {
			t.Fatalf("%v %+v", err, r)
		}
		if err := rc.readEOF(3 * time.Second); err != nil {
			t.Fatalf("HTTP/1.0 without keep-alive: %v", err)
		}
	})

	t.Run("new-version-on-one-connection", func(t *testing.T) {
		rc, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		a, err := rc.get("/clock.json")
		if err != nil {
			t.Fatal(err)
		}
		var b *resp
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) { // normally one period later
			time.Sleep(250 * time.Millisecond)
			if b, err = rc.get("/clock.json"); err != nil {
				t.Fatal(err)
			}
			if b.header.Get("ETag") != a.header.Get("ETag") {
				break
			}
		}
		var va, vb struct{ Now int64 }
		json.Unmarshal(a.body, &va)
		json.Unmarshal(b.body, &vb)
		if b.header.Get("ETag") == a.header.Get("ETag") || vb.Now <= va.Now {
			t.Fatalf("no new version on one keep-alive connection within 5s: %s → %s", a.body, b.body)
		}
		t.Logf("clock %d → %d (%d periods) on one connection", va.Now, vb.Now, (vb.Now-va.Now)/200)
	})

	t.Run("path-traversal", func(t *testing.T) {
		for _, path := range []string{
			"/../jawas.toml", "/%2e%2e/jawas.toml", "/..%2fjawas.toml", "/%2e%2e%2fjawas.toml",
			"/sub/../../jawas.toml", "/sub/%2e%2e/%2e%2e/jawas.toml", "/..\\jawas.toml",
			"/escape.txt", "/.secret", "/%2esecret", "/sources/clock.js", "/../sources/clock.js",
			"/n/../../jawas.toml", "//etc/passwd", "/%00/jawas.toml",
		} {
			r, err := get(addr, path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if r.status != 404 && r.status != 400 {
				t.Errorf("%s: status %d, want 404 or 400 (body %q)", path, r.status, r.body)
			}
			if bytes.Contains(r.body, []byte("data_dir")) || bytes.Contains(r.body, []byte("secret\n")) ||
				bytes.Contains(r.body, []byte("export default")) {
				t.Errorf("%s: leaked a file: %q", path, r.body)
			}
		}
		// The site's own index pages are still served.
		if r, err := get(addr, "/sub/"); err != nil || r.status != 200 || !bytes.Contains(r.body, []byte("sub index")) {
			t.Errorf("/sub/: %v %+v", err, r)
		}
	})

	t.Run("malformed-400-and-close", func(t *testing.T) {
		for _, raw := range []string{
			"GARBAGE\r\n\r\n",
			"GET /hello.txt HTTP/1.1\r\n\r\n", // no Host
			"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
			"GET /hello.txt HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
			"GET /hello.txt HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
			"POST /static.json HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"POST /static.json HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab",
			"GET /hello.txt HTTP/1.1\nHost: a\n\rX: y\r\n\r\n",
			"GET  /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
		} {
			rc, err := dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			// A valid request before the bad one: the bad one must not
			// poison what was answered, and must end the connection.
			if err := rc.send(reqText("GET", "/hello.txt") + raw); err != nil {
				t.Fatal(err)
			}
			first, err := rc.read(false)
			if err != nil || first.status != 200 {
				t.Errorf("%q: the valid request before it: %v %+v", raw, err, first)
				rc.Close()
				continue
			}
			r, err := rc.read(false)
			if err != nil {
				t.Errorf("%q: no error response: %v", raw, err)
				rc.Close()
				continue
			}
			if r.status != 400 {
				t.Errorf("%q: status %d, want 400", raw, r.status)
			}
			if !r.close {
				t.Errorf("%q: %d without Connection: close", raw, r.status)
			}
			if err := rc.readEOF(3 * time.Second); err != nil {
				t.Errorf("%q: after %d: %v", raw, r.status, err)
			}
			rc.Close()
		}
	})

	t.Run("page-and-site", func(t *testing.T) {
		r, err := get(addr, "/")
		if err != nil || r.status != 200 || !bytes.Contains(r.body, []byte(`<p id="v">v1</p>`)) {
			t.Fatalf("/: %v %+v", err, r)
		}
		r, err = get(addr, "/version.json")
		if err != nil || r.status != 200 || string(r.body) != `{"version":"v1"}` {
			t.Fatalf("/version.json: %v %+v", err, r)
		}
	})
}

// http1Date is the IMF-fixdate layout (RFC 9110).
const http1Date = "Mon, 02 Jan 2006 15:04:05 GMT"
