//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserDeltas: the client library in a real Chromium, on the real
// binary, follows the deltas goal workload (engine/internal/snapshot/
// testdata/game.js: 1,000 entities, ~118 KB, 1% changing per period) at a
// 25 ms period: after its first full answer every poll is a 226 patch,
// which it applies and checks; the page then re-serializes the data it
// was handed and hashes it, and that must be the hash in the version's
// ETag (a hash of the full snapshot's bytes) every time, for 1,000
// patches, with no patch refused.
func TestBrowserDeltas(t *testing.T) {
	const want = 1000
	dir := demoCopy(t)
	game, err := os.ReadFile(filepath.Join(repoRoot, "engine/internal/snapshot/testdata/game.js"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sources", "game.js"), string(game))
	toml := read(t, filepath.Join(dir, "jawas.toml"))
	write(t, filepath.Join(dir, "jawas.toml"), toml+"\n[source.\"game\"]\nperiod = \"25ms\"\ntimeout = \"1s\"\n")
	write(t, filepath.Join(dir, "site", "deltas.html"), `<!doctype html><meta charset="utf-8"><title>deltas</title>
<script type="module">
import { watch } from "/_jawas/client.js";
const hex = async (s) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))).slice(0, 16)]
  .map((x) => (x + 256).toString(16).slice(1)).join("");
window.__log = []; window.__bad = [];
const w = watch("/game.json", async (data, info) => {
  const h = await hex(JSON.stringify(data)), tag = info.etag.replace(/^"|(-gzip|-br)?"$/g, "");
  window.__log.push(info.status);
  if (h != tag) window.__bad.push(info.etag + " " + h);
  if (window.__log.filter((x) => x == 226).length >= `+fmt.Sprint(want)+`) w.stop(), window.__done = true;
}, { phase: 0.5 });
window.__w = w;
</script>`)
	s := serve(t, dir)
	s.waitFor(t, "game published", 20*time.Second, func() bool { st, _ := s.get("/game.json"); return st == 200 })
	ctx := browser(t)
	var con console
	con.listen(ctx, "page")
	eval(t, ctx, fmt.Sprintf("location.href = %q", s.url+"/deltas.html"), nil)
	start := time.Now()
	// 1,000 periods of 25 ms are 25 s; a loaded machine may skip periods
	// (a skipped one still gets a patch, from two versions back).
	waitJS(t, ctx, "1,000 patched versions", "window.__done", 150*time.Second)
	var r struct {
		Log                                   []int
		Bad                                   []string
		Patched, Failures, Fresh, NotModified int
	}
	eval(t, ctx, `({Log: window.__log, Bad: window.__bad, Patched: __w.stats.patched, Failures: __w.stats.patchFailures, Fresh: __w.stats.fresh, NotModified: __w.stats.notModified})`, &r)
	counts := map[int]int{}
	for _, st := range r.Log {
		counts[st]++
	}
	t.Logf("%d versions in %v: statuses %v; watcher: %d patched, %d refused, %d fresh, %d not modified", len(r.Log), time.Since(start).Round(time.Millisecond), counts, r.Patched, r.Failures, r.Fresh, r.NotModified)
	if len(r.Bad) > 0 {
		t.Errorf("%d versions differ from the full snapshot (ETag, hash of the data): %s", len(r.Bad), strings.Join(r.Bad[:min(5, len(r.Bad))], "; "))
	}
	// A full 200 after the first only when the page fell more than
	// serve.deltas (4) versions behind, which a loaded machine can do.
	if r.Log[0] != 200 || counts[226] < want || r.Failures != 0 || counts[200] > len(r.Log)/20 {
		t.Errorf("want a full 200 first, then ≥ %d patches (226), none refused, few full answers; got %v, %d refused", want, counts, r.Failures)
	}
	con.check(t)
}
