//go:build linux

package serve

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// inProcess returns a loop (not running) over a real store, and a conn
// that is never flushed: handle can be driven directly.
func inProcess(t testing.TB) (*loop, *conn, *snapshot.Store) {
	return inProcessSite(t, false)
}

// inProcessSite is inProcess, with a site directory (app.js, 15 bytes, and
// big.css, 5.6 KB) when withSite. Not by default: with one, every 404
// also stats the directory for a file.
func inProcessSite(t testing.TB, withSite bool) (*loop, *conn, *snapshot.Store) {
	dir := t.TempDir()
	store, err := snapshot.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	publish(t, store, "/clock.json", clockBody, "application/json", 200*time.Millisecond)
	publish(t, store, "/slow.json", clockBody, "application/json", 5*time.Second)
	lfd, err := netpoll.Listen("127.0.0.1:0", 16, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netpoll.Close(lfd) })
	site := ""
	if withSite {
		site = filepath.Join(dir, "site")
		must(t, os.MkdirAll(site, 0o755))
		must(t, os.WriteFile(filepath.Join(site, "app.js"), []byte("console.log(1)\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(site, "big.css"), bytes.Repeat([]byte(".a{color:red}\n"), 400), 0o644))
	}
	s, err := New(Options{ListenFD: lfd, Loops: 1, SnapshotDir: dir, SiteDir: site, CORSOrigins: []string{"https://ok.example"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()); s.store.Close() })
	l := s.loops[0]
	l.tick()
	c := l.newConn(-1)
	return l, c, store
}

// handleRaw ticks l, parses the one request raw holds and handles it on c.
func handleRaw(t testing.TB, l *loop, c *conn, raw []byte) {
	l.tick()
	n, err := c.parser.Parse(raw, &c.req)
	if err != nil || n != len(raw) {
		t.Fatalf("parse: n=%d err=%v", n, err)
	}
	l.handle(c, &c.req)
	c.req.Reset()
}

// step parses raw and answers it, then drops the queued output as a flush
// would. It returns the response header bytes and body.
func step(t testing.TB, l *loop, c *conn, raw []byte) (hdr, body []byte) {
	handleRaw(t, l, c, raw)
	p := c.pieces[len(c.pieces)-1]
	hdr, body = c.out[p.h0:p.h1], p.body
	c.out, c.pieces, c.pending = c.out[:0], c.pieces[:0], 0
	return hdr, body
}

func TestHandleAllocs(t *testing.T) {
	l, c, store := inProcess(t)
	etag := l.view.Lookup("/clock.json").ETag
	store.SetDeltas(1)
	publish(t, store, "/game.json", gameState(1), "application/json", 200*time.Millisecond)
	l.tick()
	gameBase := l.view.Lookup("/game.json").ETag
	publish(t, store, "/game.json", gameState(2), "application/json", 200*time.Millisecond)
	l.tick()
	cases := []struct {
		name   string
		raw    string
		status string
	}{
		{"get", "GET /clock.json HTTP/1.1\r\nHost: x\r\n\r\n", "200"},
		{"get br", "GET /clock.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n", "200"},
		{"get 5s period", "GET /slow.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", "200"},
		{"304", "GET /clock.json HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n", "304"},
		{"head cors", "HEAD /clock.json HTTP/1.1\r\nHost: x\r\nOrigin: https://ok.example\r\n\r\n", "200"},
		{"404", "GET /nope.json HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"226 gzip", "GET /game.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\nA-IM: splice\r\nIf-None-Match: " + gameBase + "\r\n\r\n", "226"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			hdr, _ := step(t, l, c, raw) // warm up buffers
			if !bytes.HasPrefix(hdr, []byte("HTTP/1.1 "+tc.status)) {
				t.Fatalf("response %q", hdr)
			}
			if a := testing.AllocsPerRun(200, func() { step(t, l, c, raw) }); a != 0 {
				t.Fatalf("%v allocations per request, want 0", a)
			}
		})
	}
}

// TestSiteFileAllocs: a site file, as it is or as its compressed variant
// (made in the background: waited for), is answered without allocating.
func TestSiteFileAllocs(t *testing.T) {
	l, c, _ := inProcessSite(t, true)
	for _, tc := range []struct{ name, raw, enc string }{
		{"as it is", "GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n", ""},
		{"br variant", "GET /big.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n", "Content-Encoding: br\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				hdr, _ := step(t, l, c, raw)
				if !bytes.HasPrefix(hdr, []byte("HTTP/1.1 200")) {
					t.Fatalf("response %q", hdr)
				}
				if bytes.Contains(hdr, []byte(tc.enc)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("never %q: %q", tc.enc, hdr)
				}
			}
			if a := testing.AllocsPerRun(200, func() { step(t, l, c, raw) }); a != 0 {
				t.Fatalf("%v allocations per request, want 0", a)
			}
		})
	}
}

// BenchmarkHandle: parse + route + headers for a snapshot GET, in process,
// against a net/http handler doing the same work from cached bytes into a
// reused ResponseWriter (the cheapest net/http can be without the network).
func BenchmarkHandle(b *testing.B) {
	raw := []byte("GET /clock.json HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n")
	b.Run("jawas", func(b *testing.B) {
		l, c, _ := inProcess(b)
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			step(b, l, c, raw)
		}
	})
	// A revalidation: If-None-Match with the ETag the same request got.
	b.Run("jawas-304", func(b *testing.B) {
		l, c, _ := inProcess(b)
		hdr, _ := step(b, l, c, raw)
		etag := headerValue(hdr, "ETag")
		cond := []byte(strings.Replace(string(raw), "\r\n\r\n", "\r\nIf-None-Match: "+etag+"\r\n\r\n", 1))
		if hdr, _ := step(b, l, c, cond); !bytes.HasPrefix(hdr, []byte("HTTP/1.1 304")) {
			b.Fatalf("not a 304: %q", hdr)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(cond)))
		for b.Loop() {
			step(b, l, c, cond)
		}
	})
	b.Run("nethttp", func(b *testing.B) {
		etag := `"0123456789abcdef0123456789abcdef"`
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hd := w.Header()
			hd.Set("Content-Type", "application/json")
			hd.Set("ETag", etag)
			hd.Set("Cache-Control", "no-cache")
			hd.Set("X-Jawas-Period", "200")
			hd.Set("X-Jawas-Next", strconv.FormatInt(200-time.Now().UnixMilli()%200, 10))
			hd.Set("Content-Length", strconv.Itoa(len(clockBody)))
			w.Write(clockBody)
		})
		w := &sinkWriter{h: http.Header{}}
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				b.Fatal(err)
			}
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// headerValue returns the value of the first field called name in a
// response header block ("" when absent).
func headerValue(hdr []byte, name string) string {
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type sinkWriter struct{ h http.Header }

func (w *sinkWriter) Header() http.Header         { return w.h }
func (w *sinkWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *sinkWriter) WriteHeader(int)             {}
