//go:build linux

package main

// This file tests jawas behind real caching proxies: nginx proxy_cache and
// Varnish, started by the test on free ports in temp dirs with the very
// configurations README.md documents (read from it), and stopped by pid.
// Each runs in front of the real jawas binary; the checks are what a
// client sees through the proxy and what jawas's access log says reached
// it (a 304 there is a revalidation with the ETag).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// readmeSnippet returns the fenced block that follows "<!-- tested: name -->"
// in the README: the configuration users copy is the one tested.
func readmeSnippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- tested: "+name+" -->\n```")
	if !ok {
		t.Fatalf("README.md has no block marked <!-- tested: %s -->", name)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the fence's language
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("README.md: the %s block is not closed", name)
	}
	return block + "\n"
}

// replaceAll replaces old (which must occur) with new in s.
func replaceAll(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("snippet: %q not found in\n%s", old, s)
	}
	return strings.ReplaceAll(s, old, new)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// need returns the path of a program the tests need, failing loudly when
// it is missing (scripts/ensure-deps.sh installs it).
func need(t *testing.T, prog string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/"} {
		if p, err := exec.LookPath(dir + prog); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run scripts/ensure-deps.sh (Debian package %s)", prog, prog)
	return ""
}

// daemon is a proxy process the test started; stopped by its pid.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startDaemon(t *testing.T, name, logPath string, argv ...string) *daemon {
	t.Helper()
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test made for it
			<-d.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return d
}

// waitUp waits until addr answers HTTP (any status) or the daemon exits.
func (d *daemon) waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := get(addr, "/_up"); err == nil {
			return
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.log)
			t.Fatalf("%s exited: %s", d.name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer on %s", d.name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startNginx runs nginx with the README's configuration in front of
// upstream and returns its address.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin := need(t, "nginx")
	dir := t.TempDir()
	port := freePort(t)
	conf := readmeSnippet(t, "nginx")
	conf = replaceAll(t, conf, "/var/cache/nginx/jawas", filepath.Join(dir, "cache"))
	conf = replaceAll(t, conf, "server 127.0.0.1:8080;", "server "+upstream+";")
	conf = replaceAll(t, conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port))
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n", dir, dir)
	b.WriteString("events { worker_connections 256; }\nhttp {\n")
	fmt.Fprintf(&b, "access_log off;\n")
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "%s_temp_path %s/%s;\n", tmp, dir, tmp)
	}
	b.WriteString(conf)
	b.WriteString("}\n")
	confPath := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(confPath, []byte(b.String()), 0o644))
	d := startDaemon(t, "nginx", filepath.Join(dir, "stderr.log"), bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d.waitUp(t, addr)
	return addr
}

// startVarnish runs varnishd with the README's VCL in front of upstream
// and returns its address.
func startVarnish(t *testing.T, upstream string) string {
	t.Helper()
	bin := need(t, "varnishd")
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(upstream)
	vcl := readmeSnippet(t, "varnish")
	vcl = replaceAll(t, vcl, `.host = "127.0.0.1";`, fmt.Sprintf(".host = %q;", host))
	vcl = replaceAll(t, vcl, `.port = "8080";`, fmt.Sprintf(".port = %q;", port))
	vclPath := filepath.Join(dir, "jawas.vcl")
	must(t, os.WriteFile(vclPath, []byte(vcl), 0o644))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, "varnishd", filepath.Join(dir, "varnishd.log"), bin, "-F", "-j", "none", "-n", filepath.Join(dir, "work"),
		"-a", addr, "-f", vclPath, "-s", "malloc,32m", "-p", "default_grace=0")
	d.waitUp(t, addr)
	return addr
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// cacheProject is a project with a 3 s source, the fixture's 200 ms ones,
// a source that takes writes, jawas's access log, and the proxy trusted.
func cacheProject(t *testing.T, extra ...string) (*server, string) {
	t.Helper()
	lines := append([]string{`access_log = "access.log"`, `trusted_proxies = ["127.0.0.1"]`, "workers = 2"}, extra...)
	dir := newProject(t, lines...)
	writeFile(t, filepath.Join(dir, "sources", "slow.js"), `export const period = "3s";
export default function render(state, ctx) {
  return { now: ctx.nowMs, pad: "x".repeat(400) };
}
`)
	writeFile(t, filepath.Join(dir, "sources", "counter.js"), `export const initial = { n: 0 };
export function post(state, event) { state.n += 1; }
export function put(state, event) { state.n += 10; }
export default function render(state) { return { n: state.n }; }
`)
	s := startServe(t, dir)
	s.waitOK("/slow.json", 20*time.Second)
	return s, filepath.Join(dir, "access.log")
}

// proxyClient is a client of the proxy, bound to its own loopback address
// so jawas's access log can tell it from the proxy.
const proxyClientIP = "127.0.0.5"

func viaProxy(addr, method, path string, body string, hdrs ...string) (*resp, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(proxyClientIP)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c: c, br: bufio.NewReader(c)}
	defer rc.Close()
	raw := reqText(method, path, hdrs...)
	if body != "" {
		raw = strings.TrimSuffix(raw, "\r\n") + fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	if err := rc.send(raw); err != nil {
		return nil, err
	}
	return rc.read(method == "HEAD")
}

// decodeBody undoes the response's Content-Encoding.
func decodeBody(r *resp) ([]byte, error) {
	var rd io.Reader = bytes.NewReader(r.body)
	switch enc := r.header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, err
		}
		rd = zr
	case "br":
		rd = brotli.NewReader(rd)
	default:
		return nil, fmt.Errorf("Content-Encoding %q", enc)
	}
	return io.ReadAll(rd)
}

// boundary returns the "now" (the boundary, Unix ms) of a snapshot body.
func boundary(t *testing.T, r *resp) int64 {
	t.Helper()
	b, err := decodeBody(r)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Now int64 }
	if err := json.Unmarshal(b, &v); err != nil || v.Now == 0 {
		t.Fatalf("body %q: %v", b, err)
	}
	return v.Now
}

// logCount counts the lines of jawas's access log matching re.
func logCount(path, re string) int {
	b, _ := os.ReadFile(path)
	return len(regexp.MustCompile(re).FindAll(b, -1))
}

// waitLogCount waits until at least n lines match re (lines are written
// by a background writer, every 100 ms).
func waitLogCount(t *testing.T, path, re string, n int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c := logCount(path, re); c >= n || time.Now().After(deadline) {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type proxyKind struct {
	name  string
	start func(t *testing.T, upstream string) string
	extra []string // jawas serve settings for this proxy
	// subSecondLag is how far behind jawas a sub-second source may be
	// through the proxy (0: revalidated on every use).
	subSecondLag time.Duration
	hitHeader    string // the README config's hit/miss header
}

func TestE2EBehindCaches(t *testing.T) {
	for _, px := range []proxyKind{
		// nginx does not store no-cache answers: a bound of 1 s, counted by
		// nginx from the whole second it fetched in.
		{name: "nginx", start: startNginx, extra: []string{"[serve.cache_control]", `s_maxage = "1s"`}, subSecondLag: 2 * time.Second, hitHeader: "X-Cache"},
		{name: "varnish", start: startVarnish, subSecondLag: 0, hitHeader: "X-Cache"},
	} {
		t.Run(px.name, func(t *testing.T) {
			s, accessLog := cacheProject(t, px.extra...)
			addr := px.start(t, s.addr)
			t.Run("periods of seconds", func(t *testing.T) { testLongPeriods(t, addr, s, accessLog, px) })
			t.Run("sub-second periods", func(t *testing.T) { testSubSecond(t, addr, s, accessLog, px) })
			t.Run("codings", func(t *testing.T) { testCodings(t, addr, s) })
			t.Run("never cached", func(t *testing.T) { testNeverCached(t, addr, accessLog) })
		})
	}
}

// testLongPeriods: a 3 s source through the proxy is served from its cache
// (jawas sees a fraction of the requests), each version until the next
// boundary and never later than one period after it.
func testLongPeriods(t *testing.T, addr string, s *server, accessLog string, px proxyKind) {
	const period = 3 * time.Second
	before := logCount(accessLog, `"GET /slow\.json HTTP/1\.1"`)
	n, hits := 0, 0
	for end := time.Now().Add(7 * time.Second); time.Now().Before(end) && n < 400; n++ {
		sent := time.Now()
		r, err := viaProxy(addr, "GET", "/slow.json", "")
		if err != nil || r.status != 200 {
			t.Fatalf("GET /slow.json via %s: %v %v", px.name, err, r)
		}
		b := time.UnixMilli(boundary(t, r))
		if late := sent.Sub(b.Add(period)); late >= period {
			t.Fatalf("request sent %v after the version's next boundary (%v): more than one period", late, b.Add(period).Format("15:04:05.000"))
		}
		if strings.HasPrefix(r.header.Get(px.hitHeader), "HIT") {
			hits++
		}
		time.Sleep(20 * time.Millisecond)
	}
	reached := waitLogCount(t, accessLog, `"GET /slow\.json HTTP/1\.1"`, before+1) - before
	t.Logf("%d requests through %s, %d hits, %d reached jawas", n, px.name, hits, reached)
	if hits == 0 || reached >= n/2 {
		t.Fatalf("the proxy did not cache: %d hits, %d of %d requests reached jawas", hits, reached, n)
	}
	// The proxy named the client in X-Forwarded-For, and jawas (trusting
	// 127.0.0.1) logged it, not the proxy.
	if logCount(accessLog, `(?m)^`+regexp.QuoteMeta(proxyClientIP)+` - - .*"GET /slow\.json`) == 0 {
		t.Fatalf("jawas's access log never names the proxy's client %s", proxyClientIP)
	}
}

// testSubSecond: 200 ms sources. Through the proxy, a changing one is never
// further behind what jawas served directly just before than the proxy's
// bound; a stable one is revalidated with its ETag (jawas answers 304).
func testSubSecond(t *testing.T, addr string, s *server, accessLog string, px proxyKind) {
	before304 := logCount(accessLog, `"GET /static\.json HTTP/1\.1" 304`)
	var worst time.Duration
	n := 0
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end) && n < 400; n++ {
		direct, err := get(s.addr, "/clock.json")
		if err != nil || direct.status != 200 {
			t.Fatalf("direct: %v", err)
		}
		r, err := viaProxy(addr, "GET", "/clock.json", "")
		if err != nil || r.status != 200 {
			t.Fatalf("GET /clock.json via %s: %v %v", px.name, err, r)
		}
		lag := time.Duration(boundary(t, direct)-boundary(t, r)) * time.Millisecond
		worst = max(worst, lag)
		if lag > px.subSecondLag {
			t.Fatalf("via %s: a version %v behind what jawas served just before (bound %v)", px.name, lag, px.subSecondLag)
		}
		if r2, err := viaProxy(addr, "GET", "/static.json", ""); err != nil || r2.status != 200 {
			t.Fatalf("GET /static.json via %s: %v %v", px.name, err, r2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	revalidated := waitLogCount(t, accessLog, `"GET /static\.json HTTP/1\.1" 304`, before304+1) - before304
	t.Logf("%d rounds via %s: worst lag %v, %d revalidations answered 304 by jawas", n, px.name, worst, revalidated)
	if revalidated == 0 {
		t.Fatalf("%s never revalidated /static.json with its ETag", px.name)
	}
}

// testCodings: clients asking for identity, gzip, br or both, in random
// order and with the ETags they hold, always get a body in a coding they
// accept that decodes to the snapshot; a client holding the identity ETag
// and now asking for gzip never gets a 304.
func testCodings(t *testing.T, addr string, s *server) {
	direct, err := get(s.addr, "/static.json")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := decodeBody(direct)
	accepts := []string{"", "gzip", "br", "gzip, br", "identity", "gzip;q=0, br;q=0"}
	held := map[string]string{} // Accept-Encoding → the ETag the proxy gave
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 120 {
		ae := accepts[rng.IntN(len(accepts))]
		var hdrs []string
		if ae != "" {
			hdrs = append(hdrs, "Accept-Encoding: "+ae)
		}
		conditional := false
		if tag := held[accepts[rng.IntN(len(accepts))]]; tag != "" && i%3 == 0 {
			hdrs = append(hdrs, "If-None-Match: "+tag) // maybe another coding's
			conditional = true
		}
		r, err := viaProxy(addr, "GET", "/static.json", "", hdrs...)
		if err != nil {
			t.Fatal(err)
		}
		enc := r.header.Get("Content-Encoding")
		switch {
		case r.status == 304:
			if !conditional {
				t.Fatalf("Accept-Encoding %q: 304 without If-None-Match", ae)
			}
			continue
		case r.status != 200:
			t.Fatalf("Accept-Encoding %q: %d", ae, r.status)
		case enc != "" && (!strings.Contains(ae, enc) || strings.Contains(ae, enc+";q=0")):
			t.Fatalf("Accept-Encoding %q answered with Content-Encoding %q", ae, enc)
		}
		got, err := decodeBody(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Accept-Encoding %q, Content-Encoding %q: body does not decode to the snapshot (%v)", ae, enc, err)
		}
		held[ae] = r.header.Get("ETag")
	}
	// jawas's identity ETag, now with gzip accepted: the gzip body, not a
	// 304, whatever the proxy holds.
	idTag := direct.header.Get("ETag")
	for range 3 {
		r, err := viaProxy(addr, "GET", "/static.json", "", "Accept-Encoding: gzip", "If-None-Match: "+idTag)
		if err != nil || r.status != 200 || r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("identity ETag %s with gzip accepted: %v status %d Content-Encoding %q", idTag, err, r.status, r.header.Get("Content-Encoding"))
		}
	}
	// The identity answer the proxy gives, its ETag sent back with gzip
	// accepted: a gzip body; or a 304 only if the ETag is weak, when the
	// proxy made the identity body itself (Varnish gunzips its gzip copy
	// and weakens the ETag: the same content, so the client's copy stands).
	id, err := viaProxy(addr, "GET", "/static.json", "")
	if err != nil || id.status != 200 || id.header.Get("Content-Encoding") != "" {
		t.Fatalf("identity: %v %v", err, id)
	}
	tag := id.header.Get("ETag")
	r, err := viaProxy(addr, "GET", "/static.json", "", "Accept-Encoding: gzip", "If-None-Match: "+tag)
	switch {
	case err != nil:
		t.Fatal(err)
	case r.status == 304 && !strings.HasPrefix(tag, "W/"):
		t.Fatalf("strong identity ETag %s with gzip accepted: 304", tag)
	case r.status == 200 && r.header.Get("Content-Encoding") != "gzip":
		t.Fatalf("identity ETag %s with gzip accepted: Content-Encoding %q", tag, r.header.Get("Content-Encoding"))
	}
	t.Logf("identity ETag through the proxy %s; sent back with gzip accepted: %d", tag, r.status)
}

// testNeverCached: 4xx, 5xx, admin answers, event statuses and 202s reach
// jawas every time; POST and PUT pass through.
func testNeverCached(t *testing.T, addr, accessLog string) {
	var ids []string
	for i, method := range []string{"POST", "POST", "PUT", "POST"} {
		r, err := viaProxy(addr, method, "/counter.json", `{"same":"body"}`)
		if err != nil || r.status != 202 {
			t.Fatalf("%s %d via the proxy: %v %v", method, i, err, r)
		}
		var a struct{ ID string }
		if err := json.Unmarshal(r.body, &a); err != nil || a.ID == "" {
			t.Fatalf("202 body %q", r.body)
		}
		for _, prev := range ids {
			if prev == a.ID {
				t.Fatalf("write %d answered with an earlier write's id %s: a cached 202", i, a.ID)
			}
		}
		ids = append(ids, a.ID)
	}
	for _, tc := range []struct {
		method, path, re string
		status           int
	}{
		{"GET", "/nope.json", `"GET /nope\.json HTTP/1\.1" 404`, 404},
		{"PUT", "/static.json", `"PUT /static\.json HTTP/1\.1" 405`, 405},
		{"GET", "/_jawas/status.json", `"GET /_jawas/status\.json HTTP/1\.1" 200`, 200},
		{"GET", "/_jawas/metrics", `"GET /_jawas/metrics HTTP/1\.1" 200`, 200},
		{"GET", "/_jawas/events/" + ids[0], `"GET /_jawas/events/` + ids[0] + ` HTTP/1\.1" 200`, 200},
		{"GET", "/_jawas/events/nope", `"GET /_jawas/events/nope HTTP/1\.1" 404`, 404},
		{"POST", "/clock.json", `"POST /clock\.json HTTP/1\.1" 405`, 405},
	} {
		before := logCount(accessLog, tc.re)
		for range 3 {
			r, err := viaProxy(addr, tc.method, tc.path, map[bool]string{true: "{}"}[tc.method != "GET"])
			if err != nil || r.status != tc.status {
				t.Fatalf("%s %s: %v %v, want %d", tc.method, tc.path, err, r, tc.status)
			}
		}
		if got := waitLogCount(t, accessLog, tc.re, before+3) - before; got != 3 {
			t.Errorf("%s %s: %d of 3 requests reached jawas: the proxy answered the others from its cache", tc.method, tc.path, got)
		}
	}
	// A refused write (400: the body is not JSON) passes through each time.
	for _, tc := range []struct {
		body, re string
		status   int
	}{
		{"{bad", `"POST /counter\.json HTTP/1\.1" 400`, 400},
	} {
		before := logCount(accessLog, tc.re)
		for range 3 {
			if r, err := viaProxy(addr, "POST", "/counter.json", tc.body); err != nil || r.status != tc.status {
				t.Fatalf("POST %q: %v %v", tc.body, err, r)
			}
		}
		if got := waitLogCount(t, accessLog, tc.re, before+3) - before; got != 3 {
			t.Errorf("POST %q: %d of 3 reached jawas", tc.body, got)
		}
	}
}
