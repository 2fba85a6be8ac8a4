//go:build linux

package e2e

// Browser tests: a real headless Chromium (Debian's chromium, installed by
// scripts/ensure-deps.sh, which `make test` runs) driven with chromedp on
// the demo served by the real binary. Screenshots go to artifacts/ at the
// repository root (git-ignored).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the browser binary; a missing browser fails the test
// (make test installs it), it never skips silently.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: run scripts/ensure-deps.sh (make test does)")
	return ""
}

// browser starts a headless Chromium and a fresh profile; the returned
// context runs in its first tab. As root it needs --no-sandbox, and
// without the networking flags (no QUIC, no background networking,
// component updates or sync) it floods the closed network with refused
// connections.
func browser(t *testing.T) context.Context {
	t.Helper()
	// A fresh profile, removed after the browser exited (chromium may still
	// write into it while it shuts down, so not t.TempDir).
	profile, err := os.MkdirTemp("", "jawas-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		chromedp.Cancel(ctx) // closes the browser process chromedp started, and waits for it
		cancel()
		cancelA()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// console collects a tab's console errors and uncaught exceptions.
type console struct {
	mu   sync.Mutex
	errs []string
}

func (c *console) listen(ctx context.Context, name string) {
	chromedp.ListenTarget(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				c.errs = append(c.errs, name+": console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			c.errs = append(c.errs, name+": exception: "+e.ExceptionDetails.Error())
		}
	})
}

func (c *console) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("browser %s", e)
	}
}

// screenshot saves a full-page PNG under artifacts/.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := filepath.Join(repoRoot, "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

func eval(t *testing.T, ctx context.Context, js string, out any) {
	t.Helper()
	err := chromedp.Run(ctx, chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
}

// waitJS polls a JS condition in the page until it is true or max passes.
func waitJS(t *testing.T, ctx context.Context, what, cond string, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate("!!("+cond+")", &ok)); err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > max {
			t.Fatalf("%s: not seen in the browser within %v", what, max)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserDemo: two independent browser contexts on the demo; the page
// renders on requestAnimationFrame while data arrives at 5 Hz; one posts a
// chat message and the other shows it within two periods; no console
// errors; screenshots of both.
func TestBrowserDemo(t *testing.T) {
	s := serve(t, demoCopy(t))
	// Two browser processes with their own profiles: nothing shared, as two
	// visitors. (A second BrowserContext in one headless Chromium fails to
	// open its tab on this Chromium: "no browser is open".)
	ctxA := browser(t)
	ctxB := browser(t)
	var con console
	con.listen(ctxA, "A")
	con.listen(ctxB, "B")
	for _, ctx := range []context.Context{ctxA, ctxB} {
		if err := chromedp.Run(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible("#arena-canvas", chromedp.ByID)); err != nil {
			t.Fatalf("open the demo: %v", err)
		}
	}
	for _, ctx := range []context.Context{ctxA, ctxB} {
		waitJS(t, ctx, "connection live", `document.getElementById("conn").dataset.state === "live"`, 10*time.Second)
	}

	t.Run("frames on rAF while data arrives at 5 Hz", func(t *testing.T) {
		var r struct {
			Frames, Ticks int
			Ms            float64
			Canvas        bool
		}
		// Count animation frames and distinct clock ticks shown over 2 s,
		// and check the canvas really gets drawn (not blank).
		eval(t, ctxA, `new Promise((done) => {
			const el = document.getElementById("clock-tick"), seen = new Set();
			let frames = 0; const t0 = performance.now();
			const loop = () => {
				frames++; seen.add(el.textContent);
				if (performance.now() - t0 < 2000) requestAnimationFrame(loop);
				else {
					const c = document.getElementById("arena-canvas");
					const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
					let drawn = false; for (let i = 3; i < px.length; i += 4) if (px[i]) { drawn = true; break; }
					done({Frames: frames, Ticks: seen.size, Ms: performance.now() - t0, Canvas: drawn});
				}
			};
			requestAnimationFrame(loop);
		})`, &r)
		fps := float64(r.Frames) / (r.Ms / 1000)
		hz := float64(r.Ticks-1) / (r.Ms / 1000)
		t.Logf("over %.0f ms: %d frames (%.1f fps), %d clock ticks shown (%.1f Hz data), canvas drawn: %v", r.Ms, r.Frames, fps, r.Ticks, hz, r.Canvas)
		// Generous floors: 60 fps and 5 Hz are expected on an idle machine;
		// this one is shared (figures logged above).
		if fps < 15 {
			t.Errorf("the page rendered %.1f frames/s on rAF, want ≥ 15", fps)
		}
		if hz < 2 || hz > 6 {
			t.Errorf("clock data shown at %.1f Hz, want about 5 (≥ 2 on a loaded machine, never above 5 + jitter)", hz)
		}
		if r.Frames < 2*r.Ticks {
			t.Errorf("%d frames for %d snapshots: the page must render on the animation loop, not per snapshot", r.Frames, r.Ticks)
		}
		if !r.Canvas {
			t.Errorf("the arena canvas is blank")
		}
	})

	t.Run("one posts, the other sees it within two periods", func(t *testing.T) {
		// Three messages; the best lag must be within two periods (400 ms):
		// visible at the next boundary, then B's poll at its phase within
		// the following period; plus the POST's fsync, one animation frame
		// and a 150 ms margin. The best of three keeps a burst of load from
		// other processes on this shared machine from deciding the result,
		// while a client or server that is slower by design still fails.
		var lags []time.Duration
		var texts []string
		var clicks []float64
		for i := range 3 {
			text := fmt.Sprintf("hello %d from A %d", i, time.Now().UnixNano())
			texts = append(texts, text)
			eval(t, ctxB, fmt.Sprintf(`(() => {
				const list = document.getElementById("messages");
				window.__seen = 0;
				new MutationObserver(() => { if (!window.__seen && list.textContent.includes(%q)) window.__seen = Date.now(); })
					.observe(list, {childList: true, subtree: true, characterData: true});
				return true;
			})()`, text), nil)
			eval(t, ctxA, fmt.Sprintf(`(() => {
				document.getElementById("say-text").value = %q;
				window.__t0 = Date.now();
				document.querySelector("#say button").click();
				return true;
			})()`, text), nil)
			waitJS(t, ctxB, "message in the other browser", "window.__seen > 0", 5*time.Second)
			var t0, seen float64
			eval(t, ctxA, "window.__t0", &t0)
			eval(t, ctxB, "window.__seen", &seen)
			var status string
			waitJS(t, ctxA, "A's status", `document.getElementById("say-status").textContent.startsWith("Accepted")`, 5*time.Second)
			eval(t, ctxA, `document.getElementById("say-status").textContent`, &status)
			var fetches string
			eval(t, ctxB, fmt.Sprintf(`performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/chat.json") && performance.timeOrigin + e.startTime > %f - 300).map((e) => Math.round(performance.timeOrigin + e.startTime - %f) + "+" + Math.round(e.duration) + "ms/" + e.responseStatus).join(" ")`, t0, t0), &fetches)
			lag := time.Duration(seen-t0) * time.Millisecond
			lags = append(lags, lag)
			clicks = append(clicks, t0)
			t.Logf("message %d: clicked Send in A → shown in B after %v (A: %q; B's /chat.json polls, ms after the click: %s)", i, lag, status, fetches)
		}
		best := slices.Min(lags)
		t.Logf("A posts → B shows: %v (best %v)", lags, best)
		if best > 400*time.Millisecond+150*time.Millisecond {
			t.Errorf("B showed A's message at best %v after the click, want within two periods (400 ms, + 150 ms margin)", best)
		}
		// Each message carries its write's time to the millisecond, within
		// 2 s of its click (browser and server share this machine's clock).
		// Three on whole seconds would mean the milliseconds were dropped.
		list, _ := json.Marshal(texts)
		var times []float64
		eval(t, ctxB, fmt.Sprintf(`fetch("/chat.json", {cache: "no-store"}).then((r) => r.json()).then((s) => %s.map((x) => (s.messages.find((m) => m.text === x) || {time: -1}).time))`, list), &times)
		whole := 0
		for i, ms := range times {
			if d := ms - clicks[i]; d < -2000 || d > 2000 {
				t.Errorf("message %d: time %.0f is %.0f ms from its click", i, ms, d)
			}
			if int64(ms)%1000 == 0 {
				whole++
			}
		}
		if whole == len(texts) {
			t.Errorf("message times %v are all whole seconds: the milliseconds were dropped", times)
		}
	})

	t.Run("arena: both players in both browsers", func(t *testing.T) {
		// Move A's pointer over the arena so A posts its position; B must draw
		// another player (the count says "2 here").
		if err := chromedp.Run(ctxA, chromedp.MouseClickXY(400, 300)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctxB, "two players in B", `document.getElementById("arena-count").textContent.startsWith("2")`, 5*time.Second)
		waitJS(t, ctxA, "two players in A", `document.getElementById("arena-count").textContent.startsWith("2")`, 5*time.Second)
	})

	screenshot(t, ctxA, "demo-a.png")
	screenshot(t, ctxB, "demo-b.png")
	con.check(t)
}

// TestBrowserDevOverlay: in dev mode a syntax error shows the overlay with
// file:line, fixing it removes the overlay, and a template change reloads
// the page.
func TestBrowserDevOverlay(t *testing.T) {
	dir := demoCopy(t)
	s := serve(t, dir, "--dev")
	ctx := browser(t)
	var con console
	con.listen(ctx, "dev")
	if err := chromedp.Run(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible("#arena-canvas", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "live", `document.getElementById("conn").dataset.state === "live"`, 10*time.Second)
	eval(t, ctx, "window.__marker = 1", nil)
	clock := filepath.Join(dir, "sources", "clock.js")
	good := read(t, clock)

	edit(t, clock, "const iso = ctx.now.toISOString();", "const iso = ctx.now.toISOString(;")
	d := waitJS(t, ctx, "overlay", `(document.getElementById("jawas-dev-overlay")||{}).textContent?.includes("sources/clock.js:7")`, 5*time.Second)
	t.Logf("syntax error saved → overlay shown after %v", d)
	var overlay string
	eval(t, ctx, `document.getElementById("jawas-dev-overlay").textContent`, &overlay)
	if !strings.Contains(overlay, "toISOString(;") {
		t.Errorf("overlay without the code frame: %q", overlay)
	}
	screenshot(t, ctx, "dev-overlay.png")

	write(t, clock, good)
	d = waitJS(t, ctx, "overlay gone", `!document.getElementById("jawas-dev-overlay")`, 5*time.Second)
	t.Logf("fixed → overlay removed after %v", d)
	var marker bool
	eval(t, ctx, "window.__marker === 1", &marker)
	if !marker {
		t.Errorf("a source error/fix must not reload the page")
	}

	edit(t, filepath.Join(dir, "templates", "index.html"), "Every visitor sees", "Every reloaded visitor sees")
	d = waitJS(t, ctx, "reload with the new template", `window.__marker === undefined && document.body.textContent.includes("Every reloaded visitor sees")`, 5*time.Second)
	t.Logf("template saved → page reloaded with it after %v", d)
	con.check(t)
}

// tutorialSource returns the README tutorial's sources/scores.ts, so the
// tests run the reducer the tutorial shows.
func tutorialSource(t *testing.T) string {
	t.Helper()
	readme := read(t, filepath.Join(repoRoot, "README.md"))
	_, rest, ok := strings.Cut(readme, "```ts\n// sources/scores.ts")
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```ts block starting with // sources/scores.ts")
	}
	return "// sources/scores.ts" + code
}

// TestBrowserPostWait: in a real browser, the client library's
// post(url, body, {wait: true}) against the tutorial's scores source
// resolves with applied and the boundary once the reducer applied the
// write (and the snapshot has it), and rejects with the reducer's message
// when it throws on a bad input (a string where a number belongs, a form
// post, a bodiless post); a plain post resolves at the 202 either way.
func TestBrowserPostWait(t *testing.T) {
	dir := demoCopy(t)
	write(t, filepath.Join(dir, "sources", "scores.ts"), tutorialSource(t))
	s := serve(t, dir)
	s.waitFor(t, "scores served", 10*time.Second, func() bool { st, _ := s.get("/scores.json"); return st == 200 })
	ctx := browser(t)
	var con console
	con.listen(ctx, "wait")
	if err := chromedp.Run(ctx, chromedp.Navigate(s.url+"/")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		OK       bool
		Applied  bool
		Boundary float64
		Message  string
		State    string
		Reason   string
		Status   float64
		Scores   map[string]float64
		Ms       float64
	}
	run := func(call string) result {
		t.Helper()
		var r result
		eval(t, ctx, `(async () => {
			const { post, put } = await import("/_jawas/client.js");
			const t0 = performance.now();
			let r;
			try {
				const v = await `+call+`;
				r = { OK: true, Applied: !!v.applied, Boundary: v.boundary || 0, Status: v.status };
			} catch (err) {
				r = { OK: false, Message: err.message, State: err.state || "", Reason: err.reason || "", Status: err.status };
			}
			r.Ms = performance.now() - t0;
			r.Scores = (await (await fetch("/scores.json", { cache: "no-store" })).json()).scores;
			return r;
		})()`, &r)
		return r
	}

	r := run(`post("/scores.json", { name: "ada", points: 3 }, { wait: true })`)
	t.Logf("wait, good input: %+v", r)
	if !r.OK || !r.Applied || r.Boundary <= 0 || r.Status != 202 {
		t.Fatalf("post with wait on a good write: %+v, want applied with a boundary", r)
	}
	if r.Scores["ada"] != 3 {
		t.Errorf("resolved as applied, but the snapshot fetched right after says %v", r.Scores)
	}

	for _, tc := range []struct{ name, call, msg string }{
		{"points as a string", `post("/scores.json", { name: "ada", points: "3" }, { wait: true })`, "points must be an integer"},
		{"no name", `post("/scores.json", { points: 1 }, { wait: true })`, "name must be a non-empty string"},
	} {
		r := run(tc.call)
		t.Logf("wait, %s: %+v", tc.name, r)
		if r.OK || r.State != "rejected" || r.Message != tc.msg || !strings.Contains(r.Reason, "sources/scores.ts:") || r.Status != 202 {
			t.Errorf("%s: %+v, want a rejection with %q and the file in the reason", tc.name, r, tc.msg)
		}
	}
	// A form post (fields are strings) and a bodiless post are rejected by
	// the tutorial's checks, as its status says; nothing was concatenated.
	var fates []string
	eval(t, ctx, `(async () => {
		const form = await (await fetch("/scores.json", { method: "POST", body: new URLSearchParams({ name: "ada", points: "3" }) })).json();
		const none = await (await fetch("/scores.json", { method: "POST" })).json();
		const fate = async (a) => { for (;;) { const s = await (await fetch(a.status_url)).json(); if (s.state !== "pending") return s.state + ": " + s.reason; await new Promise((r) => setTimeout(r, 100)); } };
		return [await fate(form), await fate(none)];
	})()`, &fates)
	t.Logf("form and bodiless posts: %q", fates)
	for _, f := range fates {
		if !strings.HasPrefix(f, "rejected: ") {
			t.Errorf("fate %q, want rejected by the tutorial's checks", f)
		}
	}
	if r := run(`Promise.resolve({})`); r.Scores["ada"] != 3 {
		t.Errorf("after the rejected writes the scores are %v, want ada: 3", r.Scores)
	}

	r = run(`post("/scores.json", { name: "bob", points: "x" })`)
	if !r.OK || r.Applied || r.Status != 202 {
		t.Errorf("a plain post resolves at the 202: %+v", r)
	}
	con.check(t)
}

// TestBrowserDevPagesWithoutHead: in dev mode an HTML file under site/
// gets live reload and the error overlay like a template page, and pages
// without <head> (a site file, a template) keep their doctype first, so
// the browser renders them in standards mode.
func TestBrowserDevPagesWithoutHead(t *testing.T) {
	dir := demoCopy(t)
	page := "<!doctype html>\n<title>Plain</title>\n<p id=v>one</p>\n"
	write(t, filepath.Join(dir, "site", "plain.html"), page)
	write(t, filepath.Join(dir, "templates", "nohead.html"), "<!DOCTYPE html>\n<title>No head</title>\n<p id=v>{{len .Data}} sources</p>\n")
	s := serve(t, dir, "--dev")
	ctx := browser(t)
	var con console
	con.listen(ctx, "dev-site")

	for _, path := range []string{"/nohead", "/plain.html"} {
		st, body := s.get(path)
		if st != 200 || !strings.HasPrefix(strings.ToLower(body), "<!doctype html>") || !strings.Contains(body, `<meta name="jawas-dev">`) {
			t.Fatalf("GET %s: %d, want the doctype first and the dev tag:\n%.300s", path, st, body)
		}
		if err := chromedp.Run(ctx, chromedp.Navigate(s.url+path), chromedp.WaitVisible("#v", chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		var mode string
		eval(t, ctx, "document.compatMode", &mode)
		if mode != "CSS1Compat" {
			t.Errorf("%s renders in %q, want standards mode (CSS1Compat)", path, mode)
		}
	}

	// On the site page: a source error shows the overlay, the fix removes
	// it, and saving the file reloads the page with its new content.
	waitJS(t, ctx, "dev hook connected", `document.querySelector('meta[name="jawas-dev"]') !== null`, 5*time.Second)
	clock := filepath.Join(dir, "sources", "clock.js")
	good := read(t, clock)
	edit(t, clock, "const iso = ctx.now.toISOString();", "const iso = ctx.now.toISOString(;")
	waitJS(t, ctx, "overlay on the site page", `(document.getElementById("jawas-dev-overlay")||{}).textContent?.includes("sources/clock.js:7")`, 5*time.Second)
	write(t, clock, good)
	waitJS(t, ctx, "overlay gone", `!document.getElementById("jawas-dev-overlay")`, 5*time.Second)
	eval(t, ctx, "window.__marker = 1", nil)
	write(t, filepath.Join(dir, "site", "plain.html"), strings.Replace(page, "one", "two", 1))
	d := waitJS(t, ctx, "reloaded with the saved file", `window.__marker === undefined && document.getElementById("v")?.textContent === "two"`, 5*time.Second)
	t.Logf("site/plain.html saved → page reloaded after %v", d)
	con.check(t)
}
