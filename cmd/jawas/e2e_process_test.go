//go:build linux

package main

// End-to-end tests of the process model with real processes and real
// signals, under load from many keep-alive clients on loopback: a worker
// killed, the engine killed or crashing, SIGHUP reloads, max_requests
// recycling, SIGTERM drain, the supervisor killed, and the data-dir lock.

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	loadClients = 16
	loadPause   = 2 * time.Millisecond
)

// requireClean fails unless every request of l got its full 200 response.
func requireClean(t *testing.T, l *load, what string) {
	t.Helper()
	t.Logf("%s: %v", what, l)
	if l.fails.Load()+l.freshFail.Load()+l.badStatus.Load()+l.dialFails.Load() != 0 {
		t.Errorf("%s: failed requests: %v\n%v", what, l, l.errors())
	}
	if l.ok.Load() == 0 {
		t.Errorf("%s: no request succeeded", what)
	}
}

func clockNow(t *testing.T, addr string) int64 {
	t.Helper()
	r, err := get(addr, "/clock.json")
	if err != nil || r.status != 200 {
		t.Fatalf("GET /clock.json: %v %+v", err, r)
	}
	var v struct{ Now int64 }
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("clock body %q: %v", r.body, err)
	}
	return v.Now
}

// waitClockPast waits until /clock.json shows a time after ms.
func waitClockPast(t *testing.T, addr string, ms int64, timeout time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		now := clockNow(t, addr)
		if now > ms {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("clock stuck at %d (want > %d) after %v", now, ms, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestE2EKillWorkerUnderLoad(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	workers := s.waitChildren("worker", 2, 10*time.Second)
	// Both workers must hold client connections, or "only the killed
	// worker's connections fail" proves nothing. Which worker accepts is the
	// kernel's choice (all wake on the shared listener), so retry the load.
	var l *load
	for attempt := 1; ; attempt++ {
		l = startLoad(s.addr, "/clock.json", loadClients, loadPause, 30*time.Second, 2_000_000)
		l.waitProgress(t, 2000, 10*time.Second)
		a, b := socketCount(workers[0].pid)-1, socketCount(workers[1].pid)-1
		if a > 0 && b > 0 {
			break
		}
		l.stop()
		t.Logf("attempt %d: client connections per worker %d and %d; restarting the load", attempt, a, b)
		if attempt == 5 {
			t.Fatalf("the kernel gave every connection to one worker 5 times in a row")
		}
	}
	defer l.stop()

	victim := workers[0]
	held := socketCount(victim.pid) - 1 // minus the inherited listener
	open := l.open.Load()
	before := l.fails.Load() + l.freshFail.Load() + l.badStatus.Load()
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var repl proc
	for repl.pid == 0 {
		for _, w := range s.children("worker") {
			if w.pid != workers[0].pid && w.pid != workers[1].pid {
				repl = w
			}
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("no replacement worker within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	spawned := time.Since(killed)
	l.waitProgress(t, 2000, 10*time.Second)
	// The replacement must take its share of new connections.
	deadline := time.Now().Add(10 * time.Second)
	for socketCount(repl.pid) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("replacement %d accepted nothing in 10s", repl.pid)
		}
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			time.Sleep(5 * time.Millisecond)
			c.Close()
		}
	}
	l.stop()
	failed := l.fails.Load() + l.freshFail.Load() + l.badStatus.Load() - before
	t.Logf("killed worker %d holding %d of %d client connections; %d requests failed; replacement %d spawned after %v; load %v",
		victim.pid, held, open, failed, repl.pid, spawned.Round(time.Millisecond), l)
	if held <= 0 || held >= int(open) {
		t.Errorf("the victim held %d of %d connections: the test needs both workers busy", held, open)
	}
	if failed > int64(held) {
		t.Errorf("%d requests failed, more than the %d connections the killed worker held: %v", failed, held, l.errors())
	}
	if l.dialFails.Load() != 0 {
		t.Errorf("%d connections refused", l.dialFails.Load())
	}
	s.waitLog(`msg="child died" role=worker`, 1, 5*time.Second)
}

// With one worker, every new connection waits for the replacement: the
// time from SIGKILL to a response on a fresh connection is the restart time.
func TestE2EKillWorkerReplacementServes(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 1"))
	var took []time.Duration
	for i := 0; i < 3; i++ {
		w := s.waitChildren("worker", 1, 10*time.Second)[0]
		s.waitOK("/clock.json", 5*time.Second)
		time.Sleep(300 * time.Millisecond) // let it settle: this is not a crash loop
		if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for alive(w.pid) && time.Since(start) < time.Second {
			time.Sleep(time.Millisecond)
		}
		r, err := get(s.addr, "/clock.json") // queued on the shared listener until the replacement accepts
		d := time.Since(start)
		if err != nil || r.status != 200 {
			t.Fatalf("first request after killing the only worker: %v %+v", err, r)
		}
		took = append(took, d)
	}
	t.Logf("kill -9 of the only worker → a new connection answered after %v", took)
	// The supervisor reacts to the exit itself, not to a stale heartbeat
	// (its stuck timeout is 3 s): the bound sits well under that, with room
	// for a loaded machine (1.2 s seen with other work on the 2 cores). The
	// tight restart figure (tens of ms) is bench/process's, in make bench.
	for _, d := range took {
		if d > 2*time.Second {
			t.Errorf("replacement served after %v, want well under the 3 s heartbeat timeout (all: %v)", d, took)
		}
	}
}

func TestE2EKillEngineUnderLoad(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	l := startLoad(s.addr, "/clock.json", loadClients, loadPause, 30*time.Second, 2_000_000)
	defer l.stop()
	l.waitProgress(t, 1000, 10*time.Second)
	for i, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSEGV, syscall.SIGABRT} {
		engine := s.waitChildren("engine", 1, 10*time.Second)[0]
		at := clockNow(t, s.addr)
		if err := syscall.Kill(engine.pid, sig); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		s.waitLog(`msg="child died" role=engine`, i+1, 10*time.Second)
		l.waitProgress(t, 500, 10*time.Second) // workers serve on without an engine
		after := waitClockPast(t, s.addr, at+400, 15*time.Second)
		t.Logf("engine %d killed by signal %d (%v): snapshots resumed after %v (clock %d → %d)",
			engine.pid, int(sig), sig, time.Since(killed).Round(time.Millisecond), at, after)
	}
	l.stop()
	requireClean(t, l, "load across 3 engine deaths")
}

// TestE2EEngineSlowToLoadIsNotKilled: an engine whose project takes
// longer than the supervisor's heartbeat timeout (3 s) to load is not
// killed as stuck when it becomes ready. It used to be: it beat only from
// its run loop, so it said "ready" with its spawn time as its last beat
// (seen in a test run on a loaded machine, where the demo took 4 s to
// load and three engines in a row were killed the moment they were up).
func TestE2EEngineSlowToLoadIsNotKilled(t *testing.T) {
	dir := newProject(t, "workers = 1", `[source."slow"]`, `timeout = "10s"`)
	// The top level spins for 3.5 s: past the heartbeat timeout.
	writeFile(t, filepath.Join(dir, "sources", "slow.js"), `const until = Date.now() + 3500;
while (Date.now() < until) {}
export default () => ({ loaded: true });
`)
	s := startServe(t, dir)
	engine := s.waitChildren("engine", 1, 10*time.Second)[0]
	s.waitFor("/slow.json", "the slow source's snapshot", 30*time.Second, func(r *resp) bool { return r.status == 200 })
	// A kill follows the ready state at once (the doorbell rings the
	// supervisor), before the first publish.
	if n := s.countLog(`engine stuck`); n > 0 {
		t.Fatalf("the engine was killed as stuck %d time(s) after a slow load", n)
	}
	if now := s.waitChildren("engine", 1, 10*time.Second)[0]; now.pid != engine.pid {
		t.Fatalf("engine %d was replaced by %d", engine.pid, now.pid)
	}
}

func TestE2ESIGHUPUnderLoad(t *testing.T) {
	dir := newProject(t, "workers = 2")
	s := startServe(t, dir)
	l := startLoad(s.addr, "/clock.json", loadClients, loadPause, 60*time.Second, 5_000_000)
	defer l.stop()
	l.waitProgress(t, 1000, 10*time.Second)
	start := time.Now()
	for i := 1; i <= 5; i++ {
		if i == 5 {
			writeFile(t, filepath.Join(dir, "sources", "version.js"),
				"export default function render() {\n  return { version: \"v2\" };\n}\n")
		}
		if err := syscall.Kill(s.pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog(`msg="reload complete"`, i, 30*time.Second)
		l.waitProgress(t, 200, 10*time.Second)
	}
	took := time.Since(start)
	// "reload complete" says the new engine is up, not that its first
	// boundary has passed: v2 is published at that boundary (a loaded
	// machine once read v1 right after the log line).
	s.waitFor("/version.json", "v2 after the reload", 10*time.Second, func(r *resp) bool {
		return r.status == 200 && string(r.body) == `{"version":"v2"}`
	})
	s.waitFor("/", "the page showing v2 after the reload", 10*time.Second, func(r *resp) bool {
		return r.status == 200 && regexp.MustCompile(`<p id="v">v2</p>`).Match(r.body)
	})
	l.stop()
	t.Logf("5 reloads in %v", took.Round(time.Millisecond))
	requireClean(t, l, "load across 5 SIGHUPs")
}

func TestE2ESIGHUPBrokenSource(t *testing.T) {
	dir := newProject(t, "workers = 2")
	s := startServe(t, dir)
	before := s.children("")
	l := startLoad(s.addr, "/version.json", 4, 5*time.Millisecond, 30*time.Second, 1_000_000)
	defer l.stop()
	l.waitProgress(t, 200, 10*time.Second)
	writeFile(t, filepath.Join(dir, "sources", "version.js"),
		"export default function render() {\n  return { version: \"v2\" ;\n}\n")
	if err := syscall.Kill(s.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	msg := s.waitLog(`msg="reload rejected.*`, 1, 30*time.Second)[0]
	if !regexp.MustCompile(`sources/version\.js:2:\d+`).MatchString(msg) {
		t.Errorf("the rejection does not name sources/version.js:2:COL: %s", msg)
	}
	l.waitProgress(t, 200, 10*time.Second)
	r := s.waitOK("/version.json", 5*time.Second)
	if string(r.body) != `{"version":"v1"}` {
		t.Errorf("/version.json = %q, want the running v1", r.body)
	}
	after := s.children("")
	if len(after) != len(before) {
		t.Errorf("children changed on a rejected reload: %v → %v", before, after)
	}
	for i := range before {
		if i < len(after) && before[i] != after[i] {
			t.Errorf("children changed on a rejected reload: %v → %v", before, after)
		}
	}
	l.stop()
	requireClean(t, l, "load across a rejected reload")
}

func TestE2EMaxRequestsRecycling(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2", "max_requests = 1000"))
	l := startLoad(s.addr, "/clock.json", loadClients, loadPause, 10*time.Second, 5_000_000)
	l.wg.Wait() // the full 10 s
	l.stop()
	recycles := s.countLog(`msg="replacement ready, draining old worker"`)
	asked := s.countLog(`recycling: max_requests reached`)
	t.Logf("10s of load: %v; %d recycles asked, %d replacements took over", l, asked, recycles)
	if recycles < 5 {
		t.Errorf("only %d recycles in 10 s with max_requests = 1000", recycles)
	}
	requireClean(t, l, "load across max_requests recycling")
}

func TestE2ESIGTERMDrainsUnderLoad(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	l := startLoad(s.addr, "/clock.json", loadClients, loadPause, 30*time.Second, 2_000_000)
	defer l.stop()
	l.waitProgress(t, 2000, 10*time.Second)
	if err := syscall.Kill(s.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code := s.waitExit(20 * time.Second)
	took := time.Since(start)
	l.stop()
	t.Logf("SIGTERM under load: exit %d after %v; %v", code, took.Round(time.Millisecond), l)
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	// Every request sent on a connection the server had accepted (it
	// answered before) must have had its response. A connection refused or
	// reset before jawas ever answered it was never accepted.
	if n := l.fails.Load() + l.badStatus.Load(); n != 0 {
		t.Errorf("%d requests on accepted connections lost their response: %v", n, l.errors())
	}
	if l.freshFail.Load() != 0 {
		t.Logf("new connections reset before any response: %d (%v)", l.freshFail.Load(), l.errors())
	}
}

func TestE2EKillSupervisor(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	kids := s.waitChildren("worker", 2, 10*time.Second)
	kids = append(kids, s.waitChildren("engine", 1, 10*time.Second)...)
	l := startLoad(s.addr, "/clock.json", 4, loadPause, 10*time.Second, 1_000_000)
	defer l.stop()
	l.waitProgress(t, 200, 10*time.Second)
	if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var last time.Duration
	for _, k := range kids {
		for alive(k.pid) {
			if time.Since(start) > time.Second {
				t.Fatalf("child %d (%s) still alive 1 s after the supervisor was killed", k.pid, k.role)
			}
			time.Sleep(2 * time.Millisecond)
		}
		last = time.Since(start)
	}
	var ln net.Listener
	var err error
	for {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		if time.Since(start) > time.Second {
			ss, _ := exec.Command("ss", "-tanpe", "sport = :"+s.addr[strings.LastIndexByte(s.addr, ':')+1:]).CombinedOutput()
			t.Fatalf("port still held 1 s after the supervisor was killed: %v\n%s", err, ss)
		}
		time.Sleep(2 * time.Millisecond)
	}
	free := time.Since(start)
	ln.Close()
	l.stop()
	t.Logf("supervisor killed: all %d children gone after %v; port %s free after %v", len(kids), last.Round(time.Millisecond), s.addr, free.Round(time.Millisecond))
}

func TestE2ESecondServeSameDataDir(t *testing.T) {
	dir := newProject(t, "workers = 1")
	first := startServe(t, dir)
	second := startServeNoWait(t, dir)
	code := second.waitExit(20 * time.Second)
	out := second.log()
	if code != 1 {
		t.Errorf("second jawas serve on the same data dir: exit %d, want 1\n%s", code, out)
	}
	if !regexp.MustCompile(`pid ` + strconv.Itoa(first.pid) + `\b`).MatchString(out) {
		t.Errorf("the error does not name the holder pid %d:\n%s", first.pid, out)
	}
	first.waitOK("/clock.json", 5*time.Second)
}
