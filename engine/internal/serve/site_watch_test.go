//go:build linux

package serve

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSiteDeployPickup: a deployment that copies files into site/ is served
// on the next request: the watcher's generation makes the loop re-stat, so
// no change waits for the once-per-second fallback. Each case must be seen
// well under that second.
func TestSiteDeployPickup(t *testing.T) {
	f := start(t, func(o *Options) { o.Loops = 1 })
	c := f.dial()
	br := bufio.NewReader(c)
	deadline := func() time.Time { return time.Now().Add(5 * time.Second) }
	// seen polls path until its status and body match, and returns how long it took.
	seen := func(path string, status int, body string) time.Duration {
		t.Helper()
		start, end := time.Now(), deadline()
		for {
			resp, b := roundTrip(t, c, br, get(path))
			if resp.StatusCode == status && (body == "" || string(b) == body) {
				return time.Since(start)
			}
			if time.Now().After(end) {
				t.Fatalf("%s: still %d %q", path, resp.StatusCode, b)
			}
			time.Sleep(time.Millisecond)
		}
	}
	const bound = 400 * time.Millisecond // the stat fallback would take up to 1 s
	check := func(what string, d time.Duration) {
		t.Helper()
		t.Logf("%s: served after %v", what, d)
		if d > bound {
			t.Errorf("%s took %v, want < %v (next request, not the 1 s recheck)", what, d, bound)
		}
	}

	seen("/app.js", 200, "console.log(1)\n") // cached and mapped
	time.Sleep(20 * time.Millisecond)

	// cp-style deployment: a temp file renamed over the old one.
	tmp := filepath.Join(f.site, ".app.js.tmp")
	must(t, os.WriteFile(tmp, []byte("console.log(2)\n"), 0o644))
	must(t, os.Rename(tmp, filepath.Join(f.site, "app.js")))
	check("renamed over", seen("/app.js", 200, "console.log(2)\n"))

	// an in-place rewrite of the same size
	must(t, os.WriteFile(filepath.Join(f.site, "app.js"), []byte("console.log(3)\n"), 0o644))
	check("rewritten in place", seen("/app.js", 200, "console.log(3)\n"))

	// a new file in a new folder
	must(t, os.MkdirAll(filepath.Join(f.site, "v2", "img"), 0o755))
	must(t, os.WriteFile(filepath.Join(f.site, "v2", "img", "x.svg"), []byte("<svg/>"), 0o644))
	check("added in a new folder", seen("/v2/img/x.svg", 200, "<svg/>"))
	must(t, os.WriteFile(filepath.Join(f.site, "v2", "img", "x.svg"), []byte("<svg></svg>"), 0o644))
	check("changed in the new folder", seen("/v2/img/x.svg", 200, "<svg></svg>"))

	// a removed file
	must(t, os.Remove(filepath.Join(f.site, "app.js")))
	check("removed", seen("/app.js", 404, ""))
}

// TestSiteStatFallback: without a running watcher the cache still notices
// a change, within the periodic recheck.
func TestSiteStatFallback(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("1"), 0o644))
	var w siteWatch // never started: live is false
	sc, err := newSiteCache(dir, &w)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	f := sc.lookup([]byte("/a.txt"), now)
	if f == nil || string(f.data) != "1" {
		t.Fatalf("first lookup: %v", f)
	}
	must(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("22"), 0o644))
	if g := sc.lookup([]byte("/a.txt"), now+int64(100*time.Millisecond)); g != f {
		t.Fatalf("within the recheck interval the cached file must be served without a stat")
	}
	g := sc.lookup([]byte("/a.txt"), now+int64(1100*time.Millisecond))
	if g == nil || string(g.data) != "22" {
		t.Fatalf("after the recheck interval: %v", g)
	}
	// and a generation bump makes the next lookup check at once
	must(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("333"), 0o644))
	w.gen.Add(1)
	h := sc.lookup([]byte("/a.txt"), now+int64(1101*time.Millisecond))
	if h == nil || string(h.data) != "333" {
		t.Fatalf("after a generation bump: %v", h)
	}
}
