//go:build linux

package main

// End-to-end test of the memory guard: a source that keeps a little more
// each period beside a healthy one, under serve.max_memory.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bombJS keeps 8 MiB more in a module-level array every render (goja
// arrays hold 16-byte values): each call is small, the sum is not.
const bombJS = `
export const period = "100ms";
const kept = [];
export default function render(state, ctx) {
  kept.push(new Array(1 << 19).fill(ctx.nowMs));
  return { arrays: kept.length };
}
`

// procKiB reads a "Name:  N kB" line of /proc/PID/status.
func procKiB(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// TestE2EMemoryBomb: the bomb is stopped (its runtime rebuilt, then
// quarantined after three hits) while the healthy clock publishes every
// period; the engine's RSS never exceeds serve.max_memory; the log and the
// status page name the bomb.
func TestE2EMemoryBomb(t *testing.T) {
	const limit = 256 << 20
	dir := newProject(t, fmt.Sprintf("max_memory = %d", limit))
	writeFile(t, filepath.Join(dir, "sources", "bomb.js"), bombJS)
	s := startServe(t, dir)
	eng := s.waitChildren("engine", 1, 10*time.Second)[0].pid

	type srcStatus struct {
		Name        string `json:"name"`
		Quarantined string `json:"quarantined"`
		Skipped     int    `json:"skipped_periods"`
		Evaluations int    `json:"evaluations"`
	}
	statusOf := func(name string) (srcStatus, bool) {
		r, err := get(s.addr, "/_jawas/status.json")
		if err != nil || r.status != 200 {
			return srcStatus{}, false
		}
		var doc struct {
			Sources []srcStatus `json:"sources"`
		}
		if json.Unmarshal(r.body, &doc) != nil {
			return srcStatus{}, false
		}
		for _, x := range doc.Sources {
			if x.Name == name {
				return x, true
			}
		}
		return srcStatus{}, false
	}

	var maxRSS int64
	lastTick, lastChange := "", time.Now()
	var worstGap time.Duration
	deadline := time.Now().Add(90 * time.Second)
	var bomb srcStatus
	for time.Now().Before(deadline) {
		if rss := procKiB(eng, "VmRSS"); rss > maxRSS {
			maxRSS = rss
		}
		if maxRSS<<10 > 2*limit {
			break // unguarded: stop before it takes the machine
		}
		if r, err := get(s.addr, "/clock.json"); err == nil && r.status == 200 {
			if string(r.body) != lastTick {
				if gap := time.Since(lastChange); lastTick != "" && gap > worstGap {
					worstGap = gap
				}
				lastTick, lastChange = string(r.body), time.Now()
			}
		}
		if b, ok := statusOf("bomb"); ok && b.Quarantined != "" {
			bomb = b
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	hwm := procKiB(eng, "VmHWM")
	t.Logf("engine pid %d: max VmRSS sampled %d MiB, VmHWM %d MiB (limit %d MiB); the clock's longest gap between versions %v",
		eng, maxRSS>>10, hwm>>10, limit>>20, worstGap)
	if bomb.Quarantined == "" {
		t.Fatalf("the bomb was not quarantined within the deadline")
	}
	if !strings.Contains(bomb.Quarantined, "memory limit 3 times") {
		t.Errorf("quarantine reason %q", bomb.Quarantined)
	}
	if hwm<<10 > limit {
		t.Errorf("the engine's peak RSS (VmHWM) %d MiB exceeded serve.max_memory %d MiB", hwm>>10, limit>>20)
	}
	if worstGap > 3*200*time.Millisecond {
		t.Errorf("the healthy clock went %v without a new version (period 200ms)", worstGap)
	}
	if n := s.countLog(`memory pressure: rebuilt the runtime .* source=bomb`); n < 3 {
		t.Errorf("the log names the bomb %d times, want 3:\n%s", n, s.log())
	}
	// Quarantined: the bomb is no longer evaluated, the clock still is.
	b1, _ := statusOf("bomb")
	c1, _ := statusOf("clock")
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c2, _ := statusOf("clock")
		if c2.Evaluations >= c1.Evaluations+5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b2, _ := statusOf("bomb")
	if b2.Evaluations != b1.Evaluations {
		t.Errorf("the quarantined bomb was evaluated %d more times", b2.Evaluations-b1.Evaluations)
	}
}
