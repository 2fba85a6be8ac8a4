//go:build linux

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2EUpstreamOncePerPeriod is the founding claim with a real upstream:
// a source fetching an API is evaluated once per period, so the upstream
// sees at most one request per period however many clients poll the
// snapshot; an unchanged upstream costs a 304 (the source revalidates).
func TestE2EUpstreamOncePerPeriod(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
		cond  atomic.Int64 // requests with If-None-Match
		down  atomic.Bool  // drop connections without an answer
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			cond.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"temp":21}`)
	}))
	defer up.Close()

	dir := newProject(t)
	writeFile(t, filepath.Join(dir, "sources", "weather.ts"), `export const period = "200ms";
export default async function render() {
  const r = await fetch("`+up.URL+`/now");
  if (!r.ok) throw new Error("upstream said " + r.status);
  return { weather: await r.json() };
}
`)
	s := startServe(t, dir, "--workers", "2")
	first := s.waitOK("/weather.json", 20*time.Second)
	if string(first.body) != `{"weather":{"temp":21}}` {
		t.Fatalf("/weather.json = %s", first.body)
	}

	mu.Lock()
	before := len(times)
	mu.Unlock()
	start := time.Now()
	const clients = 200
	l := startLoad(s.addr, "/weather.json", clients, 2*time.Millisecond, 20*time.Second, 400_000)
	l.waitProgress(t, 20_000, 30*time.Second)
	l.stop()
	elapsed := time.Since(start)
	mu.Lock()
	during := len(times) - before
	mu.Unlock()

	periods := int(elapsed/(200*time.Millisecond)) + 1
	t.Logf("%d clients, %v: %d snapshot requests (%s), upstream saw %d requests in %d periods (%d conditional so far)",
		clients, elapsed.Round(time.Millisecond), l.ok.Load(), l, during, periods, cond.Load())
	if during > periods+1 {
		t.Errorf("upstream saw %d requests in %v (%d periods of 200ms): more than one per period", during, elapsed, periods)
	}
	if during < periods/2 {
		t.Errorf("upstream saw only %d requests in %d periods: the source is not evaluated every period", during, periods)
	}
	if l.ok.Load() < 20*int64(during) {
		t.Errorf("clients got %d responses for %d upstream requests", l.ok.Load(), during)
	}
	if errs := l.errors(); len(errs) > 0 || l.fails.Load() > 0 || l.badStatus.Load() > 0 {
		t.Errorf("load failures: %s %v", l, errs)
	}
	if cond.Load() == 0 {
		t.Errorf("the upstream never saw a conditional request: revalidation is off")
	}
	// The status page shows the source healthy.
	st := s.waitOK("/_jawas/status", 10*time.Second)
	if !strings.Contains(string(st.body), `"weather"`) || strings.Contains(string(st.body), `"consecutive_failures"`) {
		t.Errorf("status: %s", st.body)
	}

	// The upstream goes down: the last good snapshot is served, marked
	// stale, and the status shows the error at the fetch's line.
	down.Store(true)
	r := s.waitFor("/weather.json", "X-Jawas-Stale", 20*time.Second, func(r *resp) bool { return r.header.Get("X-Jawas-Stale") != "" })
	if r.status != 200 || string(r.body) != `{"weather":{"temp":21}}` {
		t.Errorf("stale snapshot: %d %s", r.status, r.body)
	}
	s.waitFor("/_jawas/status", "the error in the status", 20*time.Second, func(r *resp) bool {
		b := string(r.body)
		return strings.Contains(b, `"consecutive_failures": `) && strings.Contains(b, `"file": "sources/weather.ts"`) &&
			strings.Contains(b, `"line": 3`) && strings.Contains(b, `fetch(\"`+up.URL+`/now\")`)
	})
	if n := s.countLog(`msg="source failed`); n != 1 {
		t.Errorf("logged %d failures, want 1 for the streak", n)
	}

	// It comes back: the header goes away.
	down.Store(false)
	s.waitFor("/weather.json", "a fresh snapshot", 20*time.Second, func(r *resp) bool { return r.status == 200 && r.header.Get("X-Jawas-Stale") == "" })
	s.waitLog(`source works again`, 1, 10*time.Second)
}
