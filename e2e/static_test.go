//go:build linux

package e2e

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStaticExport: `jawas build` output of the demo, served by a
// plain static server (Go's http.FileServer: ETag-less, Last-Modified only,
// no jawas headers, POST → 405), renders in Chromium with its data, keeps
// polling (the client falls back to 1 s and If-Modified-Since), and logs no
// console errors or exceptions.
func TestBrowserStaticExport(t *testing.T) {
	dir := demoCopy(t)
	out := filepath.Join(t.TempDir(), "dist")
	if b, err := exec.Command(jawasBin, "build", "-C", dir, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("jawas build: %v\n%s", err, b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(out))}
	go srv.Serve(ln) // the static host; closed below
	t.Cleanup(func() { srv.Close() })

	ctx := browser(t)
	var con console
	con.listen(ctx, "static")
	if err := chromedp.Run(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/"), chromedp.WaitVisible("#arena-canvas", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "snapshot data shown", `document.getElementById("conn").dataset.state === "live"`, 10*time.Second)
	var tick string
	eval(t, ctx, `document.getElementById("clock-tick").textContent`, &tick)
	if tick == "" || tick == "…" {
		t.Errorf("clock tick not shown from the exported /clock.json: %q", tick)
	}
	// it keeps polling at the fallback period without errors
	var before, after float64
	eval(t, ctx, `performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/clock.json")).length`, &before)
	time.Sleep(2500 * time.Millisecond)
	eval(t, ctx, `performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/clock.json")).length`, &after)
	t.Logf("static host: /clock.json polled %.0f times in 2.5 s (fallback period 1 s)", after-before)
	if after-before < 1 || after-before > 5 {
		t.Errorf("static host: %.0f polls of /clock.json in 2.5 s, want about 2 (1 s fallback)", after-before)
	}
	var state string
	eval(t, ctx, `document.getElementById("conn").dataset.state`, &state)
	if state != "live" {
		t.Errorf("connection indicator %q on a static host, want live", state)
	}
	screenshot(t, ctx, "static-export.png")
	con.check(t)
}
