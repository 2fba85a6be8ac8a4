//go:build linux

package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

type fixture struct {
	t     testing.TB
	addr  string
	srv   *Server
	store *snapshot.Store
	site  string
	done  chan error
}

// clockBody is compressible (so gzip and br variants exist) and > 256 bytes.
var clockBody = []byte(`{"now":1700000000000,"note":"` + strings.Repeat("tick tock ", 60) + `"}`)

func publish(t testing.TB, s *snapshot.Store, url string, body []byte, ctype string, period time.Duration) {
	t.Helper()
	if _, _, err := s.Put(url, body, snapshot.Meta{ContentType: ctype, Period: period, Boundary: time.Now().Truncate(period)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Heartbeat(time.Now())
}

// start builds a real snapshot store and site dir in t.TempDir and serves
// them on 127.0.0.1:0 with the real loops.
func start(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := snapshot.Create(filepath.Join(dir, "snap"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	publish(t, store, "/clock.json", clockBody, "application/json", 200*time.Millisecond)
	publish(t, store, "/a.json", []byte(`{"a":1}`), "application/json", 2*time.Second)
	publish(t, store, "/b.json", []byte(`{"b":2}`), "application/json", 200*time.Millisecond)
	publish(t, store, "/index.html", []byte("<h1>home</h1>"), "text/html; charset=utf-8", time.Second)
	publish(t, store, "/about.html", []byte("<h1>about</h1>"), "text/html; charset=utf-8", time.Second)
	publish(t, store, "/guide/index.html", []byte("<h1>guide</h1>"), "text/html; charset=utf-8", time.Second)

	site := filepath.Join(dir, "site")
	must(t, os.MkdirAll(filepath.Join(site, "css"), 0o755))
	must(t, os.MkdirAll(filepath.Join(site, "docs"), 0o755))
	must(t, os.WriteFile(filepath.Join(site, "app.js"), []byte("console.log(1)\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(site, "css", "style.css"), []byte("body{}\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(site, "docs", "index.html"), []byte("<p>docs</p>"), 0o644))
	must(t, os.WriteFile(filepath.Join(site, ".env"), []byte("SECRET=1"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("TOP SECRET"), 0o644))
	must(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(site, "escape.txt")))

	lfd, err := netpoll.Listen("127.0.0.1:0", 1024, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netpoll.Close(lfd) })
	addr, _ := netpoll.Addr(lfd)
	opt := Options{ListenFD: lfd, Loops: 2, SnapshotDir: filepath.Join(dir, "snap"), SiteDir: site}
	if mod != nil {
		mod(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, addr: addr, srv: srv, store: store, site: site, done: make(chan error, 1)}
	go func() { f.done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		select {
		case err := <-f.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) dial() net.Conn {
	f.t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	f.t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends raw and reads one response (body read fully).
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader, raw string) (*http.Response, []byte) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readResp(t, br, strings.HasPrefix(raw, "HEAD"))
}

func readResp(t testing.TB, br *bufio.Reader, head bool) (*http.Response, []byte) {
	t.Helper()
	method := "GET"
	if head {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func get(path string, hdrs ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + strings.Join(hdrs, "") + "\r\n"
}

func TestResponses(t *testing.T) {
	f := start(t, nil)
	c := f.dial()
	br := bufio.NewReader(c)
	resp, _ := roundTrip(t, c, br, get("/clock.json"))
	etag := resp.Header.Get("ETag")
	lastMod := resp.Header.Get("Last-Modified")

	gunzip := func(b []byte) []byte { return decoded(t, "gzip", b) }
	unbr := func(b []byte) []byte { return decoded(t, "br", b) }
	cases := []struct {
		name    string
		raw     string
		status  int
		headers map[string]string // "" value: must be absent
		body    []byte            // nil: not checked
		decode  func([]byte) []byte
	}{
		{"get snapshot", get("/clock.json"), 200, map[string]string{
			"Content-Type": "application/json", "Cache-Control": "no-cache", "X-Jawas-Period": "200",
			"Vary": "Accept-Encoding", "Content-Encoding": "", "X-Jawas-Stale": "", "Server": "jawas",
		}, clockBody, nil},
		{"head snapshot", "HEAD /clock.json HTTP/1.1\r\nHost: x\r\n\r\n", 200, map[string]string{
			"Content-Length": fmt.Sprint(len(clockBody)), "ETag": etag}, []byte{}, nil},
		{"if-none-match", get("/clock.json", "If-None-Match: "+etag+"\r\n"), 304, map[string]string{
			"ETag": etag, "Cache-Control": "no-cache", "Content-Length": ""}, []byte{}, nil},
		{"if-none-match other", get("/clock.json", "If-None-Match: \"nope\"\r\n"), 200, nil, clockBody, nil},
		{"if-modified-since", get("/clock.json", "If-Modified-Since: "+lastMod+"\r\n"), 304, nil, []byte{}, nil},
		{"if-modified-since old", get("/clock.json", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 200, nil, clockBody, nil},
		{"gzip", get("/clock.json", "Accept-Encoding: gzip\r\n"), 200, map[string]string{"Content-Encoding": "gzip"}, clockBody, gunzip},
		{"br", get("/clock.json", "Accept-Encoding: gzip, br\r\n"), 200, map[string]string{"Content-Encoding": "br"}, clockBody, unbr},
		{"period 2s max-age", get("/a.json"), 200, map[string]string{"X-Jawas-Period": "2000"}, []byte(`{"a":1}`), nil},
		{"page root", get("/"), 200, map[string]string{"Content-Type": "text/html; charset=utf-8"}, []byte("<h1>home</h1>"), nil},
		{"page ext-less", get("/about"), 200, nil, []byte("<h1>about</h1>"), nil},
		{"site file", get("/app.js"), 200, map[string]string{"Content-Type": "text/javascript; charset=utf-8"}, []byte("console.log(1)\n"), nil},
		{"site nested", get("/css/style.css"), 200, map[string]string{"Content-Type": "text/css; charset=utf-8"}, []byte("body{}\n"), nil},
		{"site dir index", get("/docs/"), 200, nil, []byte("<p>docs</p>"), nil},
		// A directory named without its '/' is redirected to it (nginx's
		// behaviour), so the index page's relative links resolve inside it.
		{"site dir without slash", get("/docs"), 301, map[string]string{"Location": "/docs/", "Content-Length": "0"}, []byte{}, nil},
		{"site dir, query kept", get("/docs?v=1&w"), 301, map[string]string{"Location": "/docs/?v=1&w"}, []byte{}, nil},
		{"site dir, absolute-form target", "GET http://x/docs?v=2 HTTP/1.1\r\nHost: x\r\n\r\n", 301, map[string]string{"Location": "/docs/?v=2"}, []byte{}, nil},
		{"site dir, encoded name", get("/d%6fcs"), 301, map[string]string{"Location": "/d%6fcs/"}, []byte{}, nil},
		{"head site dir", "HEAD /docs HTTP/1.1\r\nHost: x\r\n\r\n", 301, map[string]string{"Location": "/docs/"}, []byte{}, nil},
		{"page dir index", get("/guide/"), 200, nil, []byte("<h1>guide</h1>"), nil},
		{"page dir without slash", get("/guide"), 301, map[string]string{"Location": "/guide/"}, []byte{}, nil},
		{"file with a slash", get("/app.js/"), 404, nil, nil, nil},
		{"not found", get("/nope.json"), 404, map[string]string{"Content-Type": "text/html; charset=utf-8"}, defaultNotFound, nil},
		{"post without writer", "POST /clock.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, map[string]string{"Allow": "GET, HEAD, OPTIONS"}, nil, nil},
		{"delete", "DELETE /clock.json HTTP/1.1\r\nHost: x\r\n\r\n", 405, map[string]string{"Allow": "GET, HEAD, OPTIONS"}, nil, nil},
		{"options", "OPTIONS /clock.json HTTP/1.1\r\nHost: x\r\n\r\n", 204, map[string]string{"Allow": "GET, HEAD, OPTIONS"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := roundTrip(t, c, br, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; headers %v body %q", resp.StatusCode, tc.status, resp.Header, body)
			}
			for k, want := range tc.headers {
				got, ok := resp.Header[http.CanonicalHeaderKey(k)]
				if want == "" {
					if ok {
						t.Errorf("%s: %q, want absent", k, got)
					}
					continue
				}
				if !ok || got[0] != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if resp.Header.Get("Date") == "" {
				t.Errorf("no Date")
			}
			if tc.body != nil {
				if tc.decode != nil {
					body = tc.decode(body)
				}
				if !bytes.Equal(body, tc.body) {
					t.Errorf("body %q, want %q", body, tc.body)
				}
			}
		})
	}
	t.Run("max-age within the period", func(t *testing.T) {
		resp, _ := roundTrip(t, c, br, get("/a.json"))
		var age int
		if _, err := fmt.Sscanf(resp.Header.Get("Cache-Control"), "public, max-age=%d, must-revalidate", &age); err != nil {
			t.Fatalf("Cache-Control %q: %v", resp.Header.Get("Cache-Control"), err)
		}
		var next int
		fmt.Sscan(resp.Header.Get("X-Jawas-Next"), &next)
		if age < 0 || age > 2 || next <= 0 || next > 2000 || age*1000 > next {
			t.Fatalf("max-age %d, X-Jawas-Next %d for a 2s period", age, next)
		}
	})
}

func TestPipelinedInOrder(t *testing.T) {
	f := start(t, nil)
	c := f.dial()
	var req strings.Builder
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			req.WriteString(get("/a.json"))
		} else {
			req.WriteString(get("/b.json"))
		}
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < 100; i++ {
		resp, body := readResp(t, br, false)
		want := `{"a":1}`
		if i%2 == 1 {
			want = `{"b":2}`
		}
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
	}
	if got := f.srv.Requests(); got < 100 {
		t.Fatalf("Requests() = %d, want >= 100", got)
	}
}

func TestHTTP10(t *testing.T) {
	f := start(t, nil)
	t.Run("closes", func(t *testing.T) {
		c := f.dial()
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, "GET /a.json HTTP/1.0\r\n\r\n")
		if resp.StatusCode != 200 || !resp.Close {
			t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
		}
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after a 1.0 response: read %d, %v; want EOF", n, err)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		c := f.dial()
		br := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			resp, body := roundTrip(t, c, br, "GET /a.json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			if resp.StatusCode != 200 || string(body) != `{"a":1}` || resp.Header.Get("Connection") != "keep-alive" {
				t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
			}
		}
	})
}

func TestNewVersionOnSameConnection(t *testing.T) {
	f := start(t, nil)
	c := f.dial()
	br := bufio.NewReader(c)
	_, body := roundTrip(t, c, br, get("/b.json"))
	if string(body) != `{"b":2}` {
		t.Fatalf("first body %q", body)
	}
	publish(t, f.store, "/b.json", []byte(`{"b":3}`), "application/json", 200*time.Millisecond)
	resp, body := roundTrip(t, c, br, get("/b.json"))
	if string(body) != `{"b":3}` {
		t.Fatalf("after publish: %d %q, want the new version", resp.StatusCode, body)
	}
}

func TestSiteRefusesEscapes(t *testing.T) {
	f := start(t, nil)
	cases := []string{
		"/../secret.txt", "/%2e%2e/secret.txt", "/css/..%2f..%2fsecret.txt", "/css%2f..%2f..%2fsecret.txt",
		"/escape.txt", "/.env", "/css/../.env", "/%2eenv", "/docs/..", "/app.js%00",
	}
	for _, p := range cases {
		t.Run(p, func(t *testing.T) {
			c := f.dial()
			br := bufio.NewReader(c)
			io.WriteString(c, get(p))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 404 && resp.StatusCode != 400 {
				t.Errorf("status %d, want 404 or 400", resp.StatusCode)
			}
			if bytes.Contains(body, []byte("SECRET")) {
				t.Errorf("served a file outside the site: %q", body)
			}
		})
	}
}

func TestSiteFileChanges(t *testing.T) {
	f := start(t, func(o *Options) { o.Loops = 1 })
	c := f.dial()
	br := bufio.NewReader(c)
	_, body := roundTrip(t, c, br, get("/app.js"))
	if string(body) != "console.log(1)\n" {
		t.Fatalf("body %q", body)
	}
	resp, _ := roundTrip(t, c, br, get("/app.js"))
	etag := resp.Header.Get("ETag")
	if resp2, _ := roundTrip(t, c, br, get("/app.js", "If-None-Match: "+etag+"\r\n")); resp2.StatusCode != 304 {
		t.Fatalf("conditional site GET: %d", resp2.StatusCode)
	}
	must(t, os.WriteFile(filepath.Join(f.site, "app.js"), []byte("console.log(22)\n"), 0o644))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = roundTrip(t, c, br, get("/app.js"))
		if string(body) == "console.log(22)\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed file still served as %q", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMalformedAndOversize(t *testing.T) {
	f := start(t, nil)
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"garbage", "HELLO\r\n\r\n", 400},
		{"bad version", "GET / HTTP/9\r\n\r\n", 400},
		{"smuggling", "POST /clock.json HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"oversize headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := f.dial()
			br := bufio.NewReader(c)
			io.WriteString(c, tc.raw)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("status %d close %v, want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("connection not closed: %v", err)
			}
		})
	}
}

func TestSlowloris(t *testing.T) {
	f := start(t, func(o *Options) { o.HeaderTimeout = 1500 * time.Millisecond })
	var stalled []net.Conn
	for i := 0; i < 300; i++ {
		c := f.dial()
		io.WriteString(c, "GET /clock.json HTTP/1.1\r\nHost: x\r\nX-Slow: ") // never finished
		stalled = append(stalled, c)
	}
	start := time.Now()
	c := f.dial()
	resp, _ := roundTrip(t, c, bufio.NewReader(c), get("/a.json"))
	if resp.StatusCode != 200 {
		t.Fatalf("fresh client: %d", resp.StatusCode)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fresh client served after %v with 300 stalled connections", d)
	}
	// The stalled ones are closed after HeaderTimeout (+ one sweep).
	for i, s := range stalled {
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("stalled connection %d not closed: %v", i, err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestMaxConns(t *testing.T) {
	f := start(t, func(o *Options) { o.Loops = 1; o.MaxConns = 3 })
	for i := 0; i < 3; i++ {
		c := f.dial()
		if resp, _ := roundTrip(t, c, bufio.NewReader(c), get("/a.json")); resp.StatusCode != 200 {
			t.Fatalf("conn %d: %d", i, resp.StatusCode)
		}
	}
	c := f.dial()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("over the limit: %d close %v, want 503 close", resp.StatusCode, resp.Close)
	}
}

func TestCORS(t *testing.T) {
	f := start(t, func(o *Options) { o.CORSOrigins = []string{"https://ok.example"} })
	c := f.dial()
	br := bufio.NewReader(c)
	resp, _ := roundTrip(t, c, br, get("/clock.json", "Origin: https://ok.example\r\n"))
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ok.example" || resp.Header.Get("Vary") != "Accept-Encoding, Origin" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Jawas-Next") {
		t.Fatalf("allowed origin: %v", resp.Header)
	}
	resp, _ = roundTrip(t, c, br, get("/clock.json", "Origin: https://evil.example\r\n"))
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin allowed: %v", resp.Header)
	}
	resp, _ = roundTrip(t, c, br, "OPTIONS /clock.json HTTP/1.1\r\nHost: x\r\nOrigin: https://ok.example\r\nAccess-Control-Request-Method: GET\r\n\r\n")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") == "" || resp.Header.Get("Access-Control-Max-Age") == "" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestWriteHook(t *testing.T) {
	got := make(chan Write, 2)
	var first Done
	f := start(t, func(o *Options) {
		n := 0
		o.Write = func(w Write, done Done) {
			got <- w
			n++
			if n == 2 {
				// A stale second answer to the first write arrives while
				// the second write on the same connection waits: dropped.
				first.Answer(WriteResult{Status: 500})
			} else {
				first = done
			}
			go func() { // like a group commit
				time.Sleep(20 * time.Millisecond)
				done.Answer(WriteResult{Status: 202, Body: []byte(`{"id":"x"}`), Header: []http1.Header{{Name: []byte("X-Test"), Value: []byte("1")}}})
			}()
		}
	})
	c := f.dial()
	br := bufio.NewReader(c)
	post := "POST /clock.json HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"x\":1}"
	io.WriteString(c, post+get("/a.json")+post)
	for i, want := range []int{202, 200, 202} {
		resp, body := readResp(t, br, false)
		if resp.StatusCode != want {
			t.Fatalf("answer %d: %d %q, want %d", i, resp.StatusCode, body, want)
		}
		switch want {
		case 202:
			if string(body) != `{"id":"x"}` || resp.Header.Get("X-Test") != "1" || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("write: %d %v %q", resp.StatusCode, resp.Header, body)
			}
			if w := <-got; w.URL != "/clock.json" || string(w.Body) != `{"x":1}` || w.RemoteAddr != "127.0.0.1" {
				t.Fatalf("write seen as %+v", w)
			}
		case 200:
			if string(body) != `{"a":1}` {
				t.Fatalf("request pipelined after the write: %d %q", resp.StatusCode, body)
			}
		}
	}
}

func TestShutdownClosesKeepAlive(t *testing.T) {
	f := start(t, nil)
	c := f.dial()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, get("/a.json"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection not closed by Shutdown: %v", err)
	}
}
