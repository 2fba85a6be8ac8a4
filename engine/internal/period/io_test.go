package period

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/sqldb"
	"github.com/jawas/jawas/engine/internal/sqlhost"
	"github.com/jawas/jawas/internal/pgtest"
)

// flaky is an upstream that can be taken down (connections dropped without
// an answer) and brought back.
type flaky struct {
	*httptest.Server
	down     atomic.Bool
	requests atomic.Int64
}

func newFlaky(t *testing.T) *flaky {
	f := &flaky{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		if f.down.Load() {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d}`, n)
	}))
	t.Cleanup(f.Close)
	return f
}

// syncBuffer is a log destination tests read while the scheduler writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUpstreamDownKeepsLastSnapshot: while the upstream is down, renders
// fail, the last good snapshot stays published, the status says since when
// and how many times, with the failing call's file:line, and the log says
// it once for the whole streak; when the upstream returns, the source
// publishes again and says so once.
func TestUpstreamDownKeepsLastSnapshot(t *testing.T) {
	up := newFlaky(t)
	cfg := project(t, `period = "20ms"`+"\ntimeout = \"2s\"\n", map[string]string{
		"api.js": `export default async function render(state, ctx) {
  const r = await fetch("` + up.URL + `/data");
  return { up: await r.json(), stale: false, hadPrevious: ctx.previous !== null };
}`,
	})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	proj, err := LoadWith(cfg, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	store, err := snapshot.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var published atomic.Int64
	sc := &Scheduler{Project: proj, Store: store, Log: log, Hooks: []Hook{{AfterPublish: func(time.Time) { published.Add(1) }}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s := proj.Source("api")
	waitFor := func(what string, cond func(Status) bool) Status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := s.Status()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; status %+v", what, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("two good evaluations", func(st Status) bool { return st.Versions >= 2 })
	r, err := snapshot.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	up.down.Store(true)
	st := waitFor("five failures in a row", func(st Status) bool { return st.Failures >= 5 })
	good := string(r.View().Lookup("/api.json").Body)
	if !strings.Contains(good, `"hadPrevious":true`) {
		t.Errorf("the second render had no ctx.previous: %s", good)
	}
	if st.FailingSince.IsZero() || st.LastError == nil {
		t.Fatalf("status lacks the streak: %+v", st)
	}
	if d := st.LastError; d.File != "sources/api.js" || d.Line != 2 || !strings.Contains(d.Message, `render rejected: Error: fetch("`+up.URL+`/data"): `) {
		t.Errorf("status error = %q (line %d)", d.Error(), d.Line)
	}
	// The last good snapshot is still what is served, with its old content.
	waitFor("more failures", func(x Status) bool { return x.Failures >= st.Failures+2 })
	if now := string(r.View().Lookup("/api.json").Body); now != good {
		t.Errorf("snapshot changed while failing: %s, was %s", now, good)
	}
	if n := strings.Count(logs.String(), "source failed"); n != 1 {
		t.Errorf("logged %d failures for one streak, want 1:\n%s", n, logs.String())
	}

	up.down.Store(false)
	waitFor("recovery", func(st Status) bool { return st.Failures == 0 && st.LastError == nil })
	if !strings.Contains(logs.String(), "source works again") || !strings.Contains(logs.String(), "failed_evaluations=") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	if st := s.Status(); !st.FailingSince.IsZero() {
		t.Errorf("FailingSince after recovery: %v", st.FailingSince)
	}
}

// TestSlowSourceDoesNotHoldBackOthers: a source awaiting a slow upstream
// does not delay the publication of a fast source due at the same
// boundary, and when the slow one finally finishes, nothing older is
// published over what is newer.
func TestSlowSourceDoesNotHoldBackOthers(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "1")
	}))
	defer slow.Close()
	cfg := project(t, `period = "200ms"`+"\ntimeout = \"20s\"\n", map[string]string{
		"slow.js": `export default async (s, ctx) => { await fetch("` + slow.URL + `"); return ctx.nowMs; };`,
		"fast.js": `export default (s, ctx) => ctx.nowMs;`,
	})
	proj, err := Load(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	store, err := snapshot.Create(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	var fast []string // fast's published values, in publish order
	var slowVal string
	sc := &Scheduler{Project: proj, Store: store, Log: quiet}
	sc.Hooks = []Hook{{AfterPublish: func(time.Time) { // publisher goroutine: sc.latest is its own
		mu.Lock()
		defer mu.Unlock()
		if v := string(sc.latest["fast"]); v != "" && (len(fast) == 0 || fast[len(fast)-1] != v) {
			fast = append(fast, v)
		}
		slowVal = string(sc.latest["slow"])
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(release)
			cancel()
			<-done
		}
	}
	defer stop()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (fast published %v)", what, fast)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("fast versions while slow waits", func() bool { return len(fast) >= 3 })
	close(release)
	stopped = true
	wait("the slow source", func() bool { return slowVal != "" })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fast[0] != slowVal {
		t.Errorf("fast's first published value %s is not the boundary both started at (%s): its first result was held back by the slow one", fast[0], slowVal)
	}
	for i := 1; i < len(fast); i++ {
		if fast[i] <= fast[i-1] {
			t.Errorf("fast went back in time: %v", fast)
			break
		}
	}
}

// TestFetchingSourceDoesNotGrow: thousands of evaluations of a source that
// fetches (revalidated and not) and times out now and then leave no
// goroutine and no memory behind.
func TestFetchingSourceDoesNotGrow(t *testing.T) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if r.URL.Path == "/etag" {
			w.Header().Set("ETag", `"same"`)
			if r.Header.Get("If-None-Match") == `"same"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		fmt.Fprintf(w, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", 2000))
	}))
	defer up.Close()
	cfg := project(t, `period = "1s"`+"\ntimeout = \"5s\"\n", map[string]string{
		"api.js": `export default async function render(state, ctx) {
  const [a, b] = await Promise.all([fetch("` + up.URL + `/fresh"), fetch("` + up.URL + `/etag")]);
  const c = new AbortController();
  const t = setTimeout(() => c.abort(), 1000);
  const body = await a.json();
  await b.text();
  clearTimeout(t);
  await new Promise((r) => setTimeout(r, 0));
  return { i: body.i % 7, prev: ctx.previous ? ctx.previous.i : null };
}`,
	})
	proj, err := Load(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := proj.Source("api")
	eval := func(k int) {
		r, ok := s.Evaluate(time.UnixMilli(int64(k) * 1000))
		if !ok || r.Err != nil {
			t.Fatalf("evaluation %d: %v", k, r.Err)
		}
	}
	measure := func() (int, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	const warm, total = 300, 2500
	for k := 0; k < warm; k++ {
		eval(k)
	}
	g0, h0 := measure()
	for k := warm; k < total; k++ {
		eval(k)
	}
	// Idle keep-alive connections have a reader and a writer goroutine in
	// net/http; let the transport settle on the same set.
	var g1 int
	var h1 uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		g1, h1 = measure()
		if g1 <= g0+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after %d evaluations: goroutines %d → %d, heap %d KB → %d KB", total-warm, g0, g1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d over %d evaluations", g0, g1, total-warm)
	}
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d KB to %d KB over %d evaluations", h0>>10, h1>>10, total-warm)
	}
	if got := n.Load(); got != 2*total {
		t.Errorf("upstream saw %d requests, want %d", got, 2*total)
	}
}

// TestQueryingSourceDoesNotGrow: 10,000 evaluations of a source that
// queries SQLite and a real PostgreSQL (and fails now and then on a
// missing table) leave no goroutine and no memory behind: the pools are
// shared and stay the same size.
func TestQueryingSourceDoesNotGrow(t *testing.T) {
	srv := pgtest.Start(t)
	srv.Exec("CREATE TABLE scores (name text, score int); INSERT INTO scores SELECT 'p' || i, i FROM generate_series(1, 50) i")
	cfg := project(t, `period = "1s"`+"\ntimeout = \"5s\"\n[db.lite]\nurl = \"sqlite:app.db\"\n[db.pg]\nurl = \""+srv.URL()+"\"\n", map[string]string{
		"top.js": `import { db } from "jawas";
export default async function render(state, ctx) {
  const k = ctx.nowMs / 1000;
  if (k % 100 === 7) await db("lite").query("SELECT * FROM nope");
  const [lite, pg] = await Promise.all([
    db("lite").query("SELECT name, score, ? AS k FROM scores ORDER BY score DESC LIMIT 10", [k]),
    db("pg").query("SELECT name, score, $1::int8 AS k FROM scores ORDER BY score DESC LIMIT 10", [k]),
  ]);
  return { lite: lite.length, pg: pg[0].score, k: lite[0].k === pg[0].k };
}`,
	})
	setup, err := sqldb.New(cfg.Dir, []sqldb.Database{{Name: "lite", URL: "sqlite:app.db"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "app.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE TABLE scores (name TEXT, score INTEGER)", "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 50) INSERT INTO scores SELECT 'p' || n, n FROM i"} {
		if _, err := setup.Query(context.Background(), "lite", q, nil, sqldb.ReadWrite); err != nil {
			t.Fatal(err)
		}
	}
	setup.Close()
	db, err := sqlhost.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	proj, err := LoadWith(cfg, Options{Log: quiet, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	s := proj.Source("top")
	failed := 0
	eval := func(k int) {
		r, ok := s.Evaluate(time.UnixMilli(int64(k) * 1000))
		switch {
		case !ok:
			t.Fatalf("evaluation %d: busy", k)
		case k%100 == 7:
			if r.Err == nil || !strings.Contains(r.Err.Error(), "no such table: nope") {
				t.Fatalf("evaluation %d: %v", k, r.Err)
			}
			failed++
		case r.Err != nil:
			t.Fatalf("evaluation %d: %v", k, r.Err)
		case string(r.JSON) != `{"lite":10,"pg":50,"k":true}`:
			t.Fatalf("evaluation %d: %s", k, r.JSON)
		}
	}
	measure := func() (int, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	const warm, total = 500, 10_500
	for k := 0; k < warm; k++ {
		eval(k)
	}
	g0, h0 := measure()
	for k := warm; k < total; k++ {
		eval(k)
	}
	g1, h1 := measure()
	t.Logf("after %d evaluations (%d failing): goroutines %d → %d, heap %d KB → %d KB", total-warm, failed, g0, g1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d over %d evaluations", g0, g1, total-warm)
	}
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d KB to %d KB over %d evaluations", h0>>10, h1>>10, total-warm)
	}
}
