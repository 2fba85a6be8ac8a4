package jsvm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"

	"github.com/jawas/jawas/engine/internal/bundle"
	"github.com/jawas/jawas/engine/internal/fetch"
)

// project writes files (project-relative path → content) into a new
// project directory and returns it.
func project(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadCode bundles sources/x.ts (code) of a project holding files and loads
// it. opt.Host.Files defaults to the project's.
func loadCode(t testing.TB, code string, files map[string]string, opt Options) (*Module, error) {
	t.Helper()
	if files == nil {
		files = map[string]string{}
	}
	files["sources/x.ts"] = code
	dir := project(t, files)
	srcs, err := bundle.Discover(dir, "sources")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := bundle.Bundle(dir, srcs)
	if err != nil {
		return nil, err
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Timeout == 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Host.Files == nil {
		opt.Host.Files = NewFiles(dir)
	}
	return Load(outs[0], opt)
}

func mustLoad(t testing.TB, code string, files map[string]string, opt Options) *Module {
	t.Helper()
	m, err := loadCode(t, code, files, opt)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return m
}

func renderOnce(m *Module) (string, error) {
	out, err := m.Render(RenderContext{Now: time.UnixMilli(1_000), Period: time.Second})
	return string(out), err
}

func mustRender(t testing.TB, m *Module) string {
	t.Helper()
	out, err := renderOnce(m)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return out
}

// upstream is a real HTTP server the tests fetch from. It records what it
// saw.
type upstream struct {
	*httptest.Server
	requests  atomic.Int64 // every request
	revalid   atomic.Int64 // requests that carried If-None-Match
	closed    chan string  // paths whose client went away before the answer
	hanging   atomic.Int64 // /hang requests in progress
	lastBody  atomic.Value // string: the last POST body
	lastHdr   atomic.Value // http.Header of the last /echo request
	etagValue atomic.Value // string: the current representation of /etag
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{closed: make(chan string, 16)}
	u.etagValue.Store("v1")
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		io.WriteString(w, `{"temp":21.5,"city":"Lyon","tags":["a","b"]}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "héllo wörld")
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/status/"), "%d", &code)
		w.WriteHeader(code)
		io.WriteString(w, "status body")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.lastBody.Store(string(b))
		u.lastHdr.Store(r.Header.Clone())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "body": string(b), "ctype": r.Header.Get("Content-Type"),
			"auth": r.Header.Get("Authorization"), "query": r.URL.RawQuery,
		})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		u.hanging.Add(1)
		defer u.hanging.Add(-1)
		select {
		case <-r.Context().Done():
			u.closed <- r.URL.Path
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 5000))
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "no gzip asked", 400)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(bytes.Repeat([]byte("gz"), 2000))
		zw.Close()
	})
	mux.HandleFunc("/br", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "br") {
			http.Error(w, "no br asked", 400)
			return
		}
		w.Header().Set("Content-Encoding", "br")
		bw := brotli.NewWriter(w)
		io.WriteString(bw, `{"compressed":"brotli"}`)
		bw.Close()
	})
	mux.HandleFunc("/bomb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(make([]byte, 1<<20)) // 1 MiB of zeros, ~1 KB on the wire
		zw.Close()
	})
	mux.HandleFunc("/etag", func(w http.ResponseWriter, r *http.Request) {
		v := u.etagValue.Load().(string)
		etag := `"` + v + `"`
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			u.revalid.Add(1)
			if inm == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"version":%q}`, v)
	})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// waitClosed waits until the upstream saw the client of path go away.
func (u *upstream) waitClosed(t *testing.T, path string) {
	t.Helper()
	select {
	case p := <-u.closed:
		if p != path {
			t.Fatalf("upstream saw %s closed, want %s", p, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the upstream never saw the request to %s cancelled", path)
	}
}

func TestFetchValues(t *testing.T) {
	u := newUpstream(t)
	m := mustLoad(t, `
const base = `+"`"+u.URL+"`"+`;
export default async function render() {
  const j = await fetch(base + "/json");
  const body = await j.json();
  const t = await fetch(base + "/text");
  const nf = await fetch(base + "/status/404");
  const err = await fetch(base + "/status/503");
  const ab = await (await fetch(base + "/text")).arrayBuffer();
  const seen = [];
  j.headers.forEach((v, k) => { if (k.startsWith("x-") || k === "content-type") seen.push(k + "=" + v); });
  return {
    status: j.status, ok: j.ok, statusText: j.statusText, url: j.url === base + "/json", redirected: j.redirected,
    ctype: j.headers.get("Content-Type"), multi: j.headers.get("x-multi"), has: j.headers.has("X-MULTI"), none: j.headers.get("nope"),
    seen, body,
    text: await t.text(), bytes: ab.byteLength,
    nf: [nf.status, nf.ok, nf.statusText, await nf.text()], err: [err.status, err.ok],
  };
}`, nil, Options{})
	got := mustRender(t, m)
	want := `{"status":200,"ok":true,"statusText":"OK","url":true,"redirected":false,` +
		`"ctype":"application/json","multi":"a, b","has":true,"none":null,` +
		`"seen":["content-type=application/json","x-multi=a, b"],"body":{"temp":21.5,"city":"Lyon","tags":["a","b"]},` +
		`"text":"héllo wörld","bytes":13,"nf":[404,false,"Not Found","status body"],"err":[503,false]}`
	if got != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
}

func TestFetchPostHeadersRedirectsEncodings(t *testing.T) {
	u := newUpstream(t)
	m := mustLoad(t, `
const base = `+"`"+u.URL+"`"+`;
export default async function render() {
  const post = await (await fetch(base + "/echo?x=1", {
    method: "post", headers: { "Content-Type": "application/json", Authorization: "Bearer t0k" },
    body: JSON.stringify({ a: 1 }),
  })).json();
  const form = await (await fetch(base + "/echo", { method: "PUT", body: new URLSearchParams({ q: "a b", n: "2" }) })).json();
  const bin = await (await fetch(base + "/echo", { method: "POST", body: new TextEncoder().encode("bytes!"), headers: new Headers([["x-a", "1"]]) })).json();
  const r = await fetch(base + "/redirect");
  const manual = await fetch(base + "/redirect", { redirect: "manual" });
  const gz = await (await fetch(base + "/gzip")).text();
  const br = await (await fetch(base + "/br")).json();
  return { post, form, bin, redirect: [r.status, r.redirected, r.url === base + "/json", (await r.json()).city],
    manual: [manual.status, manual.headers.get("location")], gz: gz.length, br };
}`, nil, Options{})
	got := mustRender(t, m)
	want := `{"post":{"auth":"Bearer t0k","body":"{\"a\":1}","ctype":"application/json","method":"POST","query":"x=1"},` +
		`"form":{"auth":"","body":"q=a+b&n=2","ctype":"application/x-www-form-urlencoded;charset=UTF-8","method":"PUT","query":""},` +
		`"bin":{"auth":"","body":"bytes!","ctype":"","method":"POST","query":""},` +
		`"redirect":[200,true,true,"Lyon"],"manual":[302,"/json"],"gz":4000,"br":{"compressed":"brotli"}}`
	if got != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
	if h := u.lastHdr.Load().(http.Header); h.Get("X-A") != "1" {
		t.Errorf("upstream did not get header x-a: %v", h)
	}
}

func TestFetchFailuresNameTheURL(t *testing.T) {
	u := newUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/gone"
	ln.Close() // nothing listens there any more: connection refused
	small, err := fetch.New(fetch.Options{MaxBody: 1000})
	if err != nil {
		t.Fatal(err)
	}
	allow, err := fetch.New(fetch.Options{Allow: []string{"api.example.com", "*.internal:8443"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		url    string
		client *fetch.Client
		msg    string
	}{
		{"refused", dead, nil, `fetch("` + dead + `"): dial tcp ` + ln.Addr().String() + `: connect: connection refused`},
		{"size cap", u.URL + "/big", small, `fetch("` + u.URL + `/big"): the response body is larger than fetch.max_body (1000 bytes)`},
		{"zip bomb", u.URL + "/bomb", small, `fetch("` + u.URL + `/bomb"): the response body is larger than fetch.max_body (1000 bytes)`},
		{"allowlist", u.URL + "/json", allow, `fetch("` + u.URL + `/json"): host not allowed: "127.0.0.1:` + u.URL[strings.LastIndex(u.URL, ":")+1:] + `" is not listed in fetch.allow`},
		{"redirect loop", u.URL + "/loop", nil, `fetch("` + u.URL + `/loop"): stopped after 20 redirects`},
		{"scheme", "file:///etc/passwd", nil, `fetch("file:///etc/passwd"): only http and https URLs can be fetched`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustLoad(t, `export default async function render() {
  const r = await fetch(`+quoteJS(tt.url)+`);
  return r.status;
}`, nil, Options{Host: Host{Fetch: tt.client}})
			_, err := renderOnce(m)
			diag(t, err, "sources/x.ts", 2, tt.msg)
		})
	}
}

func TestFetchAllowedHostPasses(t *testing.T) {
	u := newUpstream(t)
	c, err := fetch.New(fetch.Options{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := mustLoad(t, `export default async () => (await fetch(`+quoteJS(u.URL+"/json")+`)).status;`, nil, Options{Host: Host{Fetch: c}})
	if got := mustRender(t, m); got != "200" {
		t.Errorf("render = %s", got)
	}
}

// TestBudgetCancelsFetch: a render awaiting a request that never answers is
// stopped at its budget, its error says what it waited for and where, the
// upstream sees the connection close, and the module renders again after.
func TestBudgetCancelsFetch(t *testing.T) {
	u := newUpstream(t)
	m := mustLoad(t, `
let n = 0;
export default async function render() {
  n++;
  if (n === 1) {
    const r = await fetch(`+quoteJS(u.URL+"/hang")+`);
    return r.status;
  }
  return { n };
}`, nil, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := renderOnce(m)
	took := time.Since(start)
	d := diag(t, err, "sources/x.ts", 6, `render did not finish within its 300ms budget; it was still waiting for fetch("`+u.URL+`/hang")`)
	if !strings.Contains(d.Message, `raise timeout in jawas.toml (e.g. [source."x"] timeout = "2s")`) {
		t.Errorf("message lacks the hint: %s", d.Message)
	}
	u.waitClosed(t, "/hang")
	if took > 5*time.Second {
		t.Errorf("render took %v with a 300ms budget", took)
	}
	if got := mustRender(t, m); got != `{"n":2}` {
		t.Errorf("render after the budget = %s", got)
	}
}

func TestAbortSignal(t *testing.T) {
	u := newUpstream(t)
	m := mustLoad(t, `
const url = `+quoteJS(u.URL+"/hang")+`;
export default async function render() {
  const c = new AbortController();
  setTimeout(() => c.abort(), 20);
  let aborted, timedOut, pre;
  try { await fetch(url, { signal: c.signal }); } catch (e) { aborted = [e.name, c.signal.aborted, e instanceof DOMException]; }
  try { await fetch(url, { signal: AbortSignal.timeout(30) }); } catch (e) { timedOut = e.name; }
  try { await fetch(url, { signal: AbortSignal.abort("why") }); } catch (e) { pre = e; }
  const any = AbortSignal.any([new AbortController().signal, AbortSignal.abort(7)]);
  return { aborted, timedOut, pre, any: [any.aborted, any.reason] };
}`, nil, Options{})
	got := mustRender(t, m)
	if want := `{"aborted":["AbortError",true,true],"timedOut":"TimeoutError","pre":"why","any":[true,7]}`; got != want {
		t.Errorf("render = %s\nwant     %s", got, want)
	}
	u.waitClosed(t, "/hang")
	u.waitClosed(t, "/hang")
}

// TestRevalidation: the second fetch of an unchanged URL carries
// If-None-Match, gets a 304, and the render sees the first body with status
// 200; a changed upstream is seen at once.
func TestRevalidation(t *testing.T) {
	u := newUpstream(t)
	c, err := fetch.New(fetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustLoad(t, `export default async function render() {
  const r = await fetch(`+quoteJS(u.URL+"/etag")+`);
  return { status: r.status, body: await r.json(), etag: r.headers.get("etag") };
}`, nil, Options{Host: Host{Fetch: c}})
	first := mustRender(t, m)
	want := `{"status":200,"body":{"version":"v1"},"etag":"\"v1\""}`
	if first != want || u.revalid.Load() != 0 {
		t.Fatalf("first render = %s (revalidations %d)", first, u.revalid.Load())
	}
	for i := 0; i < 3; i++ {
		if got := mustRender(t, m); got != want {
			t.Fatalf("render %d after 304 = %s, want %s", i, got, want)
		}
	}
	if n := u.revalid.Load(); n != 3 {
		t.Errorf("upstream saw %d conditional requests, want 3", n)
	}
	u.etagValue.Store("v2")
	if got := mustRender(t, m); got != `{"status":200,"body":{"version":"v2"},"etag":"\"v2\""}` {
		t.Errorf("after the change: %s", got)
	}
	// cache: "no-store" neither sends validators nor remembers.
	m2 := mustLoad(t, `export default async () => (await fetch(`+quoteJS(u.URL+"/etag")+`, { cache: "no-store" })).status;`, nil, Options{Host: Host{Fetch: c}})
	before := u.revalid.Load()
	mustRender(t, m2)
	if u.revalid.Load() != before {
		t.Errorf("cache: no-store sent If-None-Match")
	}
}

func TestTimers(t *testing.T) {
	m := mustLoad(t, `
let leaked = 0;
export default async function render(state, ctx) {
  const order = [];
  const sleep = (ms, v) => new Promise((r) => setTimeout(r, ms, v));
  await sleep(30); // the previous render's last timer would have fired by now
  const seenLeak = leaked;
  queueMicrotask(() => order.push("micro"));
  order.push("sync");
  const v = await sleep(15, "slept");
  let ticks = 0;
  await new Promise((done) => { const id = setInterval(() => { if (++ticks === 3) { clearInterval(id); done(); } }, 2); });
  let cleared = true;
  const t = setTimeout(() => { cleared = false; }, 1);
  clearTimeout(t);
  await sleep(10);
  const t0 = performance.now();
  await sleep(5);
  setTimeout(() => { leaked++; }, 10); // still pending when the render ends: dropped, never run
  return { order, v, ticks, cleared, seenLeak, waited: performance.now() - t0 >= 4 };
}`, nil, Options{})
	want := `{"order":["sync","micro"],"v":"slept","ticks":3,"cleared":true,"seenLeak":0,"waited":true}`
	for i := 0; i < 3; i++ {
		if got := mustRender(t, m); got != want {
			t.Fatalf("render %d = %s\nwant       %s", i, got, want)
		}
	}
}

func TestTimerCallbackThrows(t *testing.T) {
	m := mustLoad(t, `export default async function render() {
  await new Promise((r) => {
    setTimeout(() => { throw new Error("in timer"); }, 1);
  });
}`, nil, Options{})
	_, err := renderOnce(m)
	diag(t, err, "sources/x.ts", 3, "render: a setTimeout callback threw Error: in timer")
}

func TestNeverSettles(t *testing.T) {
	m := mustLoad(t, `export default async () => { await new Promise(() => {}); };`, nil, Options{})
	_, err := renderOnce(m)
	if err == nil || !strings.Contains(err.Error(), "never settles") {
		t.Fatalf("err = %v", err)
	}
}

// TestReducerIOIsAnError: fetch, timers and files in a reducer are errors
// naming the reducer; the state is rolled back.
func TestReducerIOIsAnError(t *testing.T) {
	for _, call := range []string{`fetch("http://127.0.0.1:1/")`, `setTimeout(() => {}, 1)`, `setInterval(() => {}, 1)`, `readFile("a.txt")`, `db("main").query("select 1")`, `AbortSignal.timeout(5)`} {
		t.Run(call, func(t *testing.T) {
			m := mustLoad(t, `import { readFile, db } from "jawas";
export const initial = { n: 0 };
export function post(state, ev) {
  state.n++;
  `+call+`;
}
export default (s) => s;`, nil, Options{})
			err := m.Reduce(Event{ID: "1", Method: "POST", Body: map[string]any{}})
			diag(t, err, "sources/x.ts", 5, "post reducer threw TypeError: ")
			if !strings.Contains(err.Error(), "is not allowed in the post reducer: reducers must be synchronous and pure") {
				t.Errorf("message: %v", err)
			}
			if s := string(m.State()); s != `{"n":0}` {
				t.Errorf("state after the failed reducer = %s", s)
			}
			// Through a batch too: the failing event is named the same way.
			errs := m.ReduceBatch([]Event{{ID: "2", Method: "POST", Body: map[string]any{}}})
			if errs[0] == nil || !strings.Contains(errs[0].Error(), "is not allowed in the post reducer") {
				t.Errorf("batch: %v", errs[0])
			}
		})
	}
}

func TestWebGlobals(t *testing.T) {
	m := mustLoad(t, `
export default function render() {
  const u = new URL("https://user@example.com:8443/a/b?x=1&y=two#frag");
  u.searchParams.append("z", "3 4");
  const q = new URLSearchParams("a=1&b=2&a=3");
  const enc = new TextEncoder().encode("héllo €");
  const dec = new TextDecoder().decode(enc);
  let fatal;
  try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.name; }
  const src = { d: new Date(0), m: new Map([[1, { x: [1, 2] }]]), s: new Set(["a"]), n: null, arr: [1, "two"] };
  src.self = src;
  const c = structuredClone(src);
  let cloneErr;
  try { structuredClone({ f() {} }); } catch (e) { cloneErr = e.name; }
  const rnd = crypto.getRandomValues(new Uint8Array(16));
  const uuid = crypto.randomUUID();
  let btoaErr;
  try { btoa("€"); } catch (e) { btoaErr = e.name; }
  const h = new Headers({ "X-A": "1" });
  h.append("x-a", "2");
  h.set("Content-Type", "text/plain");
  return {
    url: [u.hostname, u.port, u.pathname, u.search, u.hash, u.searchParams.get("y"), u.href],
    q: [q.getAll("a"), q.toString()],
    enc: Array.from(enc), dec, fatal,
    clone: [c.d instanceof Date && c.d !== src.d, c.m.get(1).x[1], c.s.has("a"), c.self === c, c.arr, c.m.get(1) !== src.m.get(1)],
    cloneErr,
    rnd: rnd.length === 16 && rnd.some((b) => b !== 0),
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid),
    b64: [btoa("hello\u00ff"), atob("aGVsbG//"), atob(" aGk = "), btoaErr],
    perf: typeof performance.now() === "number" && performance.now() >= 0,
    headers: [h.get("x-a"), [...h.keys()]],
    resp: new Response("x", { status: 201 }).ok,
  };
}`, nil, Options{})
	got := mustRender(t, m)
	want := `{"url":["example.com","8443","/a/b","?x=1&y=two&z=3+4","#frag","two","https://user@example.com:8443/a/b?x=1&y=two&z=3+4#frag"],` +
		`"q":[["1","3"],"a=1&b=2&a=3"],"enc":[104,195,169,108,108,111,32,226,130,172],"dec":"héllo €","fatal":"TypeError",` +
		`"clone":[true,2,true,true,[1,"two"],true],"cloneErr":"DataCloneError","rnd":true,"uuid":true,` +
		`"b64":["aGVsbG//","helloÿ","hi","InvalidCharacterError"],"perf":true,"headers":["1, 2",["content-type","x-a"]],"resp":true}`
	if got != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
}

func TestFiles(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644)
	files := map[string]string{
		"data/board.json": `{"top":["ann","bob"]}`,
		"data/note.txt":   "\ufeffnote v1",
		"data/bad.json":   `{"a":`,
	}
	code := `import { readFile, readJSON } from "jawas";
export default async function render(state, ctx) {
  const which = globalThis.which;
  if (which === "ok") return { board: await readJSON("data/board.json"), note: await readFile("./data/note.txt") };
  if (which === "up") return await readFile("../secret.txt");
  if (which === "abs") return await readFile("/etc/passwd");
  if (which === "link") return await readFile("data/link/secret.txt");
  if (which === "missing") return await readFile("data/nope.txt");
  if (which === "bad") return await readJSON("data/bad.json");
}`
	m := mustLoad(t, code, files, Options{})
	dir := m.opt.Host.Files.dir
	if err := os.Symlink(outside, filepath.Join(dir, "data", "link")); err != nil {
		t.Fatal(err)
	}
	run := func(which string) (string, error) {
		m.rt.vm.Set("which", which)
		return renderOnce(m)
	}
	if got, err := run("ok"); err != nil || got != `{"board":{"top":["ann","bob"]},"note":"note v1"}` {
		t.Fatalf("ok: %s %v", got, err)
	}
	// The cache follows the file's modification time.
	p := filepath.Join(dir, "data", "note.txt")
	os.WriteFile(p, []byte("note v2!"), 0o644)
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	if got, err := run("ok"); err != nil || !strings.Contains(got, `"note":"note v2!"`) {
		t.Fatalf("after a change: %s %v", got, err)
	}
	for _, tt := range []struct{ which, msg string }{
		{"up", `readFile("../secret.txt"): "../secret.txt" is outside the project`},
		{"abs", `readFile("/etc/passwd"): "/etc/passwd" is outside the project`},
		{"link", `readFile("data/link/secret.txt"): "data/link/secret.txt" is outside the project: a symbolic link on its path points out of the project directory`},
		{"missing", `readFile("data/nope.txt"): "data/nope.txt" does not exist`},
		{"bad", `readJSON("data/bad.json"): "data/bad.json" is not JSON`},
	} {
		_, err := run(tt.which)
		line := map[string]int{"up": 5, "abs": 6, "link": 7, "missing": 8, "bad": 9}[tt.which]
		diag(t, err, "sources/x.ts", line, tt.msg)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("JAWAS_TEST_TOKEN", "s3cret")
	t.Setenv("JAWAS_TEST_HIDDEN", "nope")
	code := `import { env } from "jawas";
export default function render() {
  if (globalThis.which === "hidden") return env("JAWAS_TEST_HIDDEN");
  return { token: env("JAWAS_TEST_TOKEN"), unset: env("JAWAS_TEST_UNSET") === undefined };
}`
	m := mustLoad(t, code, nil, Options{Host: Host{EnvAllow: []string{"JAWAS_TEST_TOKEN", "JAWAS_TEST_UNSET"}}})
	if got := mustRender(t, m); got != `{"token":"s3cret","unset":true}` {
		t.Errorf("render = %s", got)
	}
	m.rt.vm.Set("which", "hidden")
	_, err := renderOnce(m)
	diag(t, err, "sources/x.ts", 3, `env("JAWAS_TEST_HIDDEN"): the variable is not listed in env.allow; add it in jawas.toml: [env] allow = ["JAWAS_TEST_HIDDEN"]`)
}

func TestUnknownJawasImportIsABuildError(t *testing.T) {
	_, err := loadCode(t, `import { nope } from "jawas";
export default () => nope;`, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), `sources/x.ts:1:`) || !strings.Contains(err.Error(), `No matching export in "jawas-runtime:jawas" for import "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

// recordingDB is a DB for the hook's own tests: it answers from a table
// and records what it was asked and whether its context was cancelled.
type recordingDB struct {
	mu        sync.Mutex
	asked     []string
	params    [][]any
	cancelled chan struct{}
}

func (d *recordingDB) Query(ctx context.Context, name, text string, params []any, readOnly bool) (Rows, error) {
	d.mu.Lock()
	d.asked = append(d.asked, fmt.Sprintf("%s|%s|%v", name, text, readOnly))
	d.params = append(d.params, params)
	d.mu.Unlock()
	switch text {
	case "hang":
		<-ctx.Done()
		close(d.cancelled)
		return Rows{}, ctx.Err()
	case "fail":
		return Rows{}, fmt.Errorf(`no such table: missing`)
	}
	return Rows{
		Columns: []string{"name", "score", "at", "blob", "meta", "none"},
		Values: [][]any{
			{"ann", int64(42), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []byte{1, 2}, json.RawMessage(`{"k":[1]}`), nil},
			{"bob", 7.5, time.Time{}, []byte{}, map[string]any{"b": 1, "a": 2}, nil},
		},
	}, nil
}

func TestDBHook(t *testing.T) {
	db := &recordingDB{cancelled: make(chan struct{})}
	code := `import { db } from "jawas";
export default async function render() {
  if (globalThis.which === "hang") return await db("main").query("hang");
  if (globalThis.which === "fail") return await db("main").query("fail");
  return await db("main").query("rows", [1, 2.5, "s", null, true, new Date(0), 12345678901234567890n, { j: 1 }]);
}`
	m := mustLoad(t, code, nil, Options{Host: Host{DB: db}, Timeout: 300 * time.Millisecond})
	got := mustRender(t, m)
	want := `[{"name":"ann","score":42,"at":"2026-01-02T03:04:05.000Z","blob":"AQI=","meta":{"k":[1]},"none":null},` +
		`{"name":"bob","score":7.5,"at":"0001-01-01T00:00:00.000Z","blob":"","meta":{"a":2,"b":1},"none":null}]`
	if got != want {
		t.Errorf("rows =\n%s\nwant\n%s", got, want)
	}
	if db.asked[0] != "main|rows|true" {
		t.Errorf("asked %v", db.asked)
	}
	if p := fmt.Sprint(db.params[0]); p != "[1 2.5 s <nil> true 1970-01-01 00:00:00 +0000 UTC 12345678901234567890 {\"j\":1}]" {
		t.Errorf("params %s", p)
	}
	m.rt.vm.Set("which", "fail")
	_, err := renderOnce(m)
	diag(t, err, "sources/x.ts", 4, `db("main").query: no such table: missing`)
	m.rt.vm.Set("which", "hang")
	_, err = renderOnce(m)
	diag(t, err, "sources/x.ts", 3, `render did not finish within its 300ms budget; it was still waiting for db("main").query`)
	select {
	case <-db.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the query's context was never cancelled")
	}

	// No database configured: the error names it and the config key.
	m2 := mustLoad(t, code, nil, Options{})
	_, err = renderOnce(m2)
	diag(t, err, "sources/x.ts", 5, `db("main").query: no database named "main" is configured: declare it in jawas.toml as [db.main]`)
}

// TestTopLevelIO: the top level may start I/O that renders use; it runs
// before Load returns.
func TestTopLevelIO(t *testing.T) {
	m := mustLoad(t, `import { readJSON } from "jawas";
let config;
readJSON("config.json").then((c) => { config = c; });
const later = new Promise((r) => setTimeout(() => r("timer"), 5));
export default async function render() { return { config, later: await later }; }`,
		map[string]string{"config.json": `{"limit":3}`}, Options{})
	if got := mustRender(t, m); got != `{"config":{"limit":3},"later":"timer"}` {
		t.Errorf("render = %s", got)
	}
}

func TestPrevious(t *testing.T) {
	m := mustLoad(t, `export default (state, ctx) => ({ prev: ctx.previous, again: ctx.previous === ctx.previous });`, nil, Options{})
	if got := mustRender(t, m); got != `{"prev":null,"again":true}` {
		t.Errorf("first = %s", got)
	}
	out, err := m.Render(RenderContext{Now: time.UnixMilli(0), Period: time.Second, Previous: []byte(`{"n":1}`)})
	if err != nil || string(out) != `{"prev":{"n":1},"again":true}` {
		t.Errorf("with previous = %s %v", out, err)
	}
}

// TestCtxObjectLikePlain: ctx is a host object (ctx.go) that behaves as
// the plain object it replaced, with and without a previous value: the
// same JSON, keys, for...in, spread, entries, membership, and the same
// effect of adding, deleting, setting again and overwriting properties;
// ctx.now is a Date; ctx.previous is parsed once; Object.freeze throws.
func TestCtxObjectLikePlain(t *testing.T) {
	m := mustLoad(t, `
const probe = (o) => {
  const r = {};
  r.json = JSON.stringify(o);
  r.keys = Object.keys(o).join(",");
  const forin = []; for (const k in o) forin.push(k); r.forin = forin.join(",");
  r.spread = JSON.stringify({ ...o });
  r.isDate = o.now instanceof Date;
  r.has = ["now" in o, "nope" in o, Object.prototype.hasOwnProperty.call(o, "previous")].join(",");
  o.added = 1; r.afterAdd = Object.keys(o).join(",");
  delete o.nowMs; r.afterDelete = Object.keys(o).join(",") + "|" + String(o.nowMs);
  o.nowMs = 5; r.afterReset = Object.keys(o).join(",") + "|" + o.nowMs;
  o.now = "x"; r.overwrite = o.now;
  r.entries = JSON.stringify(Object.entries(o));
  return r;
};
export default (state, ctx) => {
  const prevSame = ctx.previous === ctx.previous;
  const plain = { now: new Date(ctx.nowMs), nowMs: ctx.nowMs, period: ctx.period, periodMs: ctx.periodMs, source: ctx.source, previous: ctx.previous };
  let freeze = "none";
  try { Object.freeze(ctx); } catch (e) { freeze = e.name; }
  return { host: probe(ctx), plain: probe(plain), prevSame, freeze };
};`, nil, Options{})
	for _, prev := range []string{"", `{"n":[1,{"m":2}]}`} {
		rc := RenderContext{Now: time.UnixMilli(1700000000200), Period: 200 * time.Millisecond}
		if prev != "" {
			rc.Previous = []byte(prev)
		}
		out, err := m.Render(rc)
		if err != nil {
			t.Fatalf("previous %q: %v", prev, err)
		}
		var got struct {
			Host, Plain map[string]any
			PrevSame    bool
			Freeze      string
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		h, _ := json.Marshal(got.Host)
		p, _ := json.Marshal(got.Plain)
		if string(h) != string(p) {
			t.Errorf("previous %q: ctx differs from a plain object:\nhost  %s\nplain %s", prev, h, p)
		}
		wantPrev := "null"
		if prev != "" {
			wantPrev = prev
		}
		if want := `{"now":"2023-11-14T22:13:20.200Z","nowMs":1700000000200,"period":200,"periodMs":200,"source":"` + m.src.Name + `","previous":` + wantPrev + `}`; got.Host["json"] != want {
			t.Errorf("JSON.stringify(ctx) = %v, want %s", got.Host["json"], want)
		}
		if !got.PrevSame || got.Freeze != "TypeError" || got.Host["isDate"] != true {
			t.Errorf("previous %q: ctx.previous === ctx.previous %v, Object.freeze(ctx) %s, ctx.now a Date %v", prev, got.PrevSame, got.Freeze, got.Host["isDate"])
		}
	}
}
