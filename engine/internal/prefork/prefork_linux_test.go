package prefork_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/prefork"
)

// TestKillWorkerUnderLoad: kill -9 one of two workers under 50 keep-alive
// clients. Only that worker's connections may fail; a replacement must be
// ready and serving quickly.
func TestKillWorkerUnderLoad(t *testing.T) {
	p := startSupervisor(t, 2)
	s := p.shm()
	// Both workers accept before the keep-alive clients connect: a worker
	// reports ready just before its accept loop runs, and 50 connections
	// made in that moment all went to the other one (seen twice in make
	// test), so the kill below would have had no connection to cut.
	w0, _ := ready(s)
	waitUntil(t, 5*time.Second, "an answer from each worker on fresh connections", func() bool {
		seen := map[string]bool{}
		for range 20 {
			req, _ := http.NewRequest("GET", "http://"+p.addr+"/", nil)
			req.Close = true
			if r, err := http.DefaultClient.Do(req); err == nil {
				seen[r.Header.Get("X-Pid")] = true
				r.Body.Close()
			}
		}
		return seen[strconv.Itoa(w0[0])] && seen[strconv.Itoa(w0[1])]
	})
	// 50 keep-alive clients, plus 5 opening a connection per request so that
	// the replacement gets connections to prove it serves.
	l := startLoad(p.addr, loadSpec{keepAlive: 50, fresh: 5, pace: 10 * time.Millisecond, dur: 6 * time.Second, max: 1000})
	w, _ := ready(s)
	waitUntil(t, 5*time.Second, "every keep-alive client answered", func() bool {
		return l.held(w[0])+l.held(w[1]) == l.spec.keepAlive
	})
	// The victim is the worker holding more of them: a burst of 50
	// connections can still all go to one worker (the accept balancer
	// refreshes its view of the peer at most every 100 ms once started),
	// seen in a fresh-clone make test after the wait above was added.
	vi := 0
	if l.held(w[1]) > l.held(w[0]) {
		vi = 1
	}
	victim, other := w[vi], w[1-vi]
	held := l.held(victim)
	killedAt := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var replacement int
	var readyAfter, spawnAfter time.Duration
	for time.Since(killedAt) < 5*time.Second {
		if spawnAfter == 0 {
			for _, w := range s.Workers() {
				if w.Position() == vi && w.PID() != 0 && w.PID() != victim {
					spawnAfter = time.Since(killedAt)
				}
			}
		}
		if w, _ := ready(s); w[vi] != 0 && w[vi] != victim {
			replacement, readyAfter = w[vi], time.Since(killedAt)
			break
		}
		time.Sleep(time.Millisecond)
	}
	if replacement == 0 {
		t.Fatalf("no replacement for worker %d within 5s", vi)
	}
	waitUntil(t, 3*time.Second, "a response from the replacement", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.firstSeen[strconv.Itoa(replacement)].IsZero()
	})
	l.finish()
	l.report(t)

	l.mu.Lock()
	servingAfter := l.firstSeen[strconv.Itoa(replacement)].Sub(killedAt)
	served := !l.firstSeen[strconv.Itoa(replacement)].IsZero()
	l.mu.Unlock()
	_, fails := l.stats()
	t.Logf("kill -9 worker pid %d holding %d of 50 keep-alive connections: %d failed requests; replacement pid %d started after %s, ready after %s, first response after %s",
		victim, held, len(fails), replacement, spawnAfter.Round(100*time.Microsecond), readyAfter.Round(100*time.Microsecond),
		servingAfter.Round(100*time.Microsecond))
	// Each keep-alive connection the victim held may fail once; each
	// per-request client may have had one connection in the victim.
	if len(fails) > held+l.spec.fresh {
		t.Errorf("%d failures > %d keep-alive connections held by the killed worker + %d per-request clients",
			len(fails), held, l.spec.fresh)
	}
	for _, f := range fails {
		fresh := f.client >= l.spec.keepAlive
		if f.pid != strconv.Itoa(victim) && !(fresh && f.served == 0) {
			t.Errorf("a connection not held by the killed worker failed (client %d, pid %q; healthy worker %d): %v",
				f.client, f.pid, other, f.err)
		}
	}
	if !served {
		t.Errorf("replacement pid %d never answered a request", replacement)
	}
	// The supervisor must start the replacement when the worker dies, not
	// when its heartbeat runs out (3 s here): 1 s is far above a restart on
	// a slow minute and far below the heartbeat timeout. How soon it is
	// ready is the child's own start-up (exec of a large test binary on 2
	// shared cores under load), so that bound is generous. The tight figure
	// (kill to answering, goal < 200 ms) is bench/process's figure 3.
	if spawnAfter > time.Second {
		t.Errorf("replacement started %s after the kill, want <= 1s (the heartbeat timeout is 3s)", spawnAfter)
	}
	if readyAfter > 3*time.Second {
		t.Errorf("replacement ready after %s, want <= 3s", readyAfter)
	}
	if !strings.Contains(p.log(), "killed by signal SIGKILL") {
		t.Error("supervisor did not log the signal that killed the worker")
	}
}

// TestKillEngineUnderLoad: workers keep serving the last snapshot while the
// engine is dead; the supervisor restarts it and publishing resumes.
func TestKillEngineUnderLoad(t *testing.T) {
	p := startSupervisor(t, 2)
	s := p.shm()
	l := startLoad(p.addr, loadSpec{keepAlive: 20, path: "/snap", pace: 5 * time.Millisecond, dur: 8 * time.Second, max: 2000})
	waitServed(t, l, 20, 5*time.Second)
	_, engine := ready(s)
	killedAt := time.Now()
	syscall.Kill(engine, syscall.SIGKILL)
	next := waitReplaced(t, s, engineOf, engine, 3*time.Second)
	t.Logf("engine pid %d killed; pid %d ready after %s", engine, next, time.Since(killedAt).Round(time.Millisecond))
	waitPublishedBy(t, p.addr, next, 2*time.Second)
	ok, _ := l.stats()
	waitServed(t, l, ok+20, 5*time.Second) // reads go on after the new engine published
	l.finish()
	l.report(t)
	if ok, fails := l.stats(); len(fails) != 0 || ok == 0 {
		t.Errorf("%d failed reads (want 0), %d ok", len(fails), ok)
	}
}

// TestCrashLoopBackoff: worker 1 exits 30 ms after every start; the
// supervisor backs off exponentially and logs it loudly, while worker 0
// keeps serving without a single failure.
func TestCrashLoopBackoff(t *testing.T) {
	dir := t.TempDir()
	p := &supervisorProc{t: t, dir: dir, runDir: filepath.Join(dir, "run"), logPath: filepath.Join(dir, "supervisor.log"),
		config: filepath.Join(dir, "jawas.toml"), pidFile: filepath.Join(dir, "jawas.pid"), done: make(chan struct{})}
	os.WriteFile(p.config, []byte("ok\n"), 0o644)
	p.start(2, "TEST_CRASHY_WORKER=1", "TEST_RESTART_DELAY=50ms", "TEST_MAX_BACKOFF=400ms")
	s := p.shm()
	w, _ := ready(s)
	healthy := w[0]
	if healthy == 0 {
		w, _ = ready(s)
		healthy = w[0]
	}
	l := startLoad(p.addr, loadSpec{keepAlive: 10, fresh: 2, pace: 5 * time.Millisecond, dur: 2500 * time.Millisecond, max: 1000})
	time.Sleep(2500 * time.Millisecond)
	l.finish()
	l.report(t)
	log := p.log()
	deaths := strings.Count(log, "child died")
	t.Logf("crashy worker died %d times in ~2.7s (each life ~30ms; without backoff ~50)", deaths)
	if !strings.Contains(log, "CRASH LOOP") {
		t.Error("no loud CRASH LOOP log")
	}
	if !strings.Contains(log, "exit status 3") {
		t.Error("exit status of the crashing worker not logged")
	}
	// Without backoff it would die ~50 times; with it ~8. The lower bound
	// only says it was restarted again and again: a slow minute stretches
	// every start-up, so it may die fewer times, never more.
	if deaths < 3 || deaths > 20 {
		t.Errorf("%d deaths: want backoff to hold it between 3 and 20", deaths)
	}
	if ok, fails := l.stats(); len(fails) != 0 || ok == 0 {
		t.Errorf("healthy worker: %d failures (want 0), %d ok", len(fails), ok)
	}
	if w, _ := ready(s); w[0] != healthy || healthy == 0 {
		t.Errorf("healthy worker 0 changed: %d -> %d", healthy, w[0])
	}
}

// TestStuckAndPanickingWorkers: a worker that stops beating is killed and
// replaced; one that panics is restarted with its exit status logged.
func TestStuckAndPanickingWorkers(t *testing.T) {
	p := startSupervisor(t, 2, "TEST_HEARTBEAT_TIMEOUT=500ms")
	s := p.shm()
	w, _ := ready(s)
	stuck := w[0]
	hungAt := time.Now()
	syscall.Kill(stuck, syscall.SIGUSR2) // fake worker: stop beating
	repl := waitReplaced(t, s, firstWorker, stuck, 5*time.Second)
	t.Logf("stuck worker %d replaced by %d after %s (heartbeat timeout 500ms)", stuck, repl, time.Since(hungAt).Round(time.Millisecond))
	if !strings.Contains(p.log(), "worker stuck") {
		t.Error(`no "worker stuck" log`)
	}
	waitGone(t, stuck, 2*time.Second)

	before, _ := ready(s)
	c := &http.Client{Timeout: 3 * time.Second}
	if resp, err := c.Get("http://" + p.addr + "/panic"); err == nil {
		resp.Body.Close()
		t.Fatal("/panic answered: the worker should have died")
	}
	p.waitLog("exit status 2", 1, 3*time.Second)
	p.waitReady(2, 3*time.Second)
	after, _ := ready(s)
	if before[0] == after[0] && before[1] == after[1] {
		t.Errorf("no worker replaced after panic: %v", after)
	}
}

// TestStuckEngine: a ready engine frozen by SIGSTOP stops beating; the
// supervisor SIGKILLs it (a stopped process dies of SIGKILL), starts another,
// and publishing resumes.
func TestStuckEngine(t *testing.T) {
	p := startSupervisor(t, 2, "TEST_HEARTBEAT_TIMEOUT=500ms")
	s := p.shm()
	_, engine := ready(s)
	if engine == 0 {
		t.Fatal("no engine")
	}
	frozenAt := time.Now()
	syscall.Kill(engine, syscall.SIGSTOP)
	defer syscall.Kill(engine, syscall.SIGCONT) // in case it was not killed
	next := waitReplaced(t, s, engineOf, engine, 5*time.Second)
	t.Logf("frozen engine %d replaced by %d after %s (heartbeat timeout 500ms)", engine, next, time.Since(frozenAt).Round(time.Millisecond))
	if !strings.Contains(p.log(), "engine stuck") {
		t.Error(`no "engine stuck" log`)
	}
	if strings.Contains(p.log(), "late but the process is running") {
		t.Error("a frozen engine was taken for a running one")
	}
	waitGone(t, engine, 2*time.Second)
	waitPublishedBy(t, p.addr, next, 2*time.Second)
}

// TestLateEngineStillRunning: an engine whose beat is late while the
// process runs (busy, as on a machine that starves its beat) gets up to
// twice the heartbeat timeout before it is killed, and the log says so;
// past that it is replaced like a frozen one.
func TestLateEngineStillRunning(t *testing.T) {
	const timeout = 500 * time.Millisecond
	p := startSupervisor(t, 1, "TEST_HEARTBEAT_TIMEOUT="+timeout.String(), "TEST_SPIN_ENGINE=1")
	s := p.shm()
	_, engine := ready(s)
	if engine == 0 {
		t.Fatal("no engine")
	}
	next := waitReplaced(t, s, engineOf, engine, 10*time.Second)
	log := p.log()
	if !strings.Contains(log, "late but the process is running") {
		t.Errorf("no \"late but running\" warning before the busy engine %d was replaced by %d", engine, next)
	}
	if !strings.Contains(log, "ran_meanwhile=true") {
		t.Errorf("the kill of the busy engine does not say it ran meanwhile")
	}
	// Lower bound only: killed no sooner than twice the timeout after its
	// last beat (by design; the upper bound is waitReplaced's).
	m := regexp.MustCompile(`engine stuck.*heartbeat_age=([0-9.]+m?s)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no engine stuck log with heartbeat_age:\n%s", log)
	}
	if age, err := time.ParseDuration(m[1]); err != nil || age <= 2*timeout {
		t.Errorf("the busy engine was killed with its heartbeat %s old, want over %v", m[1], 2*timeout)
	}
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > within {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

// waitServed waits until the load has had n successful responses.
func waitServed(t *testing.T, l *loader, n int, within time.Duration) {
	t.Helper()
	waitUntil(t, within, fmt.Sprintf("%d successful responses", n), func() bool {
		ok, _ := l.stats()
		return ok >= n
	})
}

// engineOf and firstWorker pick a ready pid from the worker table (0: none).
func engineOf(s *prefork.Shared) int {
	_, e := ready(s)
	return e
}

func firstWorker(s *prefork.Shared) int {
	w, _ := ready(s)
	return w[0]
}

// waitReplaced waits until pick gives a ready pid other than old, and
// returns it.
func waitReplaced(t *testing.T, s *prefork.Shared, pick func(*prefork.Shared) int, old int, within time.Duration) int {
	t.Helper()
	for start := time.Now(); time.Since(start) < within; time.Sleep(2 * time.Millisecond) {
		if pid := pick(s); pid != 0 && pid != old {
			return pid
		}
	}
	t.Fatalf("pid %d not replaced within %s", old, within)
	return 0
}

// waitGone waits until process pid has exited.
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	for start := time.Now(); !procGone(pid); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > within {
			t.Fatalf("process %d still alive after %s", pid, within)
		}
	}
}

// waitPublishedBy waits until the served snapshot is engine pid's, past its
// first: publishing resumed.
func waitPublishedBy(t *testing.T, addr string, pid int, within time.Duration) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/snap"); err == nil {
			var snap struct{ Seq, Pid int }
			json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
			if snap.Pid == pid && snap.Seq > 1 {
				return
			}
		}
		if time.Since(start) > within {
			t.Fatalf("engine %d never published within %s", pid, within)
		}
	}
}

// TestRecycleMaxRequests: workers recycle every 300 requests under load
// (keep-alive clients and clients opening a connection per request); no
// request fails.
func TestRecycleMaxRequests(t *testing.T) {
	p := startSupervisor(t, 2, "TEST_MAX_REQUESTS=300")
	stop := make(chan struct{})
	low := watchCapacity(p.shm(), stop)
	l := startLoad(p.addr, loadSpec{keepAlive: 20, fresh: 5, pace: 2 * time.Millisecond, dur: 3 * time.Second, max: 600})
	l.wg.Wait()
	close(stop)
	l.report(t)
	if n := <-low; n < 2 {
		t.Errorf("serving workers dropped to %d during recycling: the replacement must be ready before the old one stops", n)
	}
	ok, fails := l.stats()
	recycles := strings.Count(p.log(), "draining old worker")
	t.Logf("%d requests, %d recycles, %d failures", ok, recycles, len(fails))
	if len(fails) != 0 {
		t.Errorf("%d failed requests during recycling, want 0", len(fails))
	}
	if recycles < 5 {
		t.Errorf("only %d recycles", recycles)
	}
}

// TestReloadSIGHUP: five SIGHUPs under load replace the engine and every
// worker with no failed request; a failed validation keeps the running set.
func TestReloadSIGHUP(t *testing.T) {
	p := startSupervisor(t, 2)
	s := p.shm()
	l := startLoad(p.addr, loadSpec{keepAlive: 30, fresh: 5, pace: 5 * time.Millisecond, dur: 15 * time.Second, max: 5000})
	waitServed(t, l, 35, 5*time.Second)
	stop := make(chan struct{})
	low := watchCapacity(s, stop)
	for i := 1; i <= 5; i++ {
		w0, e0 := ready(s)
		start := time.Now()
		p.signal(syscall.SIGHUP)
		p.waitLog("reload complete", i, 10*time.Second)
		p.waitReady(2, 3*time.Second)
		w1, e1 := ready(s)
		t.Logf("reload %d took %s: engine %d->%d workers %v->%v", i, time.Since(start).Round(time.Millisecond), e0, e1, w0, w1)
		if e1 == e0 || w1[0] == w0[0] || w1[1] == w0[1] {
			t.Errorf("reload %d did not replace everything: engine %d->%d workers %v->%v", i, e0, e1, w0, w1)
		}
	}
	if err := os.WriteFile(p.config, []byte("# jawas\n\nworkers = broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if n := <-low; n < 2 {
		t.Errorf("serving workers dropped to %d during reloads", n)
	}
	w0, e0 := ready(s)
	p.signal(syscall.SIGHUP)
	p.waitLog("validation failed", 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	w1, e1 := ready(s)
	if e1 != e0 || w1[0] != w0[0] || w1[1] != w0[1] {
		t.Errorf("failed validation changed the running set: engine %d->%d workers %v->%v", e0, e1, w0, w1)
	}
	if !strings.Contains(p.log(), "jawas.toml:3:11") {
		t.Error("validation error without file:line in the log")
	}
	l.finish()
	l.report(t)
	if ok, fails := l.stats(); len(fails) != 0 || ok == 0 {
		t.Errorf("%d failed requests across 5 reloads (want 0), %d ok", len(fails), ok)
	}
}

// TestSIGTERMUnderLoad: every request on an accepted connection, including
// 300 ms requests in flight at SIGTERM, gets its response; exit status 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	p := startSupervisor(t, 2)
	s := p.shm()
	w, e := ready(s)
	if b, err := os.ReadFile(p.pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Errorf("pid file: %q %v", b, err)
	}
	l := startLoad(p.addr, loadSpec{keepAlive: 30, slow: 10, pace: 5 * time.Millisecond, dur: 8 * time.Second, max: 2000})
	// Every client answered at least once: the slow ones are then in the
	// middle of their next 300 ms request most of the time.
	waitUntil(t, 5*time.Second, "a response on every connection", func() bool {
		for i := range l.spec.keepAlive {
			if v, _ := l.curPid[i].Load().(string); v == "" {
				return false
			}
		}
		return true
	})
	termAt := time.Now()
	p.signal(syscall.SIGTERM)
	if err := p.wait(10 * time.Second); err != nil {
		t.Errorf("supervisor exit: %v (want status 0)", err)
	}
	t.Logf("supervisor drained and exited %s after SIGTERM", time.Since(termAt).Round(time.Millisecond))
	l.finish()
	l.report(t)
	_, fails := l.stats()
	unaccepted := 0
	for _, f := range fails {
		if f.served == 0 {
			unaccepted++ // new connection still queued when the socket closed
			continue
		}
		t.Errorf("request on an accepted connection failed: client %d pid %s: %v", f.client, f.pid, f.err)
	}
	t.Logf("%d connections were still queued (never accepted) when the socket closed", unaccepted)
	for _, pid := range append([]int{e}, w[0], w[1]) {
		if !procGone(pid) {
			t.Errorf("child %d still running after supervisor exit", pid)
		}
	}
	if _, err := os.Stat(p.pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file not removed: %v", err)
	}
}

// TestKillSupervisor: kill -9 of the supervisor takes every child down
// and frees the port; the lock is released. Pdeathsig does it in
// milliseconds; the bound is 3 s so that a slow minute on 2 shared cores
// cannot fail it, while a child left running is still caught.
func TestKillSupervisor(t *testing.T) {
	p := startSupervisor(t, 2)
	s := p.shm()
	w, e := ready(s)
	pids := []int{e, w[0], w[1]}
	for _, pid := range pids {
		if pid == 0 {
			t.Fatalf("missing child pid: engine %d workers %v", e, w)
		}
	}
	killedAt := time.Now()
	p.signal(syscall.SIGKILL)
	p.wait(5 * time.Second)
	for _, pid := range pids {
		for !procGone(pid) {
			if time.Since(killedAt) > 3*time.Second {
				t.Fatalf("child %d still alive 3s after the supervisor was killed", pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("all %d children gone %s after kill -9 of the supervisor", len(pids), time.Since(killedAt).Round(100*time.Microsecond))
	// A child's pid can read as gone (its leader a zombie) while its other
	// threads are still being torn down and still hold the socket: the
	// requirement is that the port is freed soon after the kill.
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			ln.Close()
			break
		}
		if time.Since(killedAt) > 3*time.Second {
			t.Fatalf("port not free 3s after the supervisor died: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("port free %s after the kill", time.Since(killedAt).Round(100*time.Microsecond))
	// and the lock is free again: a new supervisor starts on the same dirs
	p.done = make(chan struct{})
	p.start(1)
}

// TestLockAndRunDir: a second supervisor on the same data directory fails
// naming the holder's pid; a stale run dir is cleaned; a foreign non-empty
// run dir is refused and left intact.
func TestLockAndRunDir(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	os.MkdirAll(runDir, 0o755)
	os.WriteFile(filepath.Join(runDir, prefork.SharedFile), []byte("stale"), 0o644)
	os.WriteFile(filepath.Join(runDir, "old.snapshot"), []byte("stale"), 0o644)
	p := &supervisorProc{t: t, dir: dir, runDir: runDir, logPath: filepath.Join(dir, "supervisor.log"),
		config: filepath.Join(dir, "jawas.toml"), pidFile: filepath.Join(dir, "jawas.pid"), done: make(chan struct{})}
	os.WriteFile(p.config, []byte("ok\n"), 0o644)
	p.start(1)
	if _, err := os.Stat(filepath.Join(runDir, "old.snapshot")); !os.IsNotExist(err) {
		t.Errorf("stale run dir not cleaned: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, _ := ln.(*net.TCPListener).File()
	defer lf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = prefork.Supervise(ctx, prefork.Options{Listeners: []*os.File{lf}, RunDir: filepath.Join(dir, "run2"),
		LockPath: filepath.Join(dir, "jawas.lock"), Log: discardLog()})
	want := "pid " + strconv.Itoa(p.cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second supervisor: err = %v, want it to name %q", err, want)
	} else {
		t.Logf("second supervisor refused: %v", err)
	}

	foreign := filepath.Join(dir, "precious")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "keep.txt"), []byte("mine"), 0o644)
	err = prefork.Supervise(ctx, prefork.Options{Listeners: []*os.File{lf}, RunDir: foreign,
		LockPath: filepath.Join(dir, "other.lock"), Log: discardLog()})
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("foreign run dir: err = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "keep.txt")); err != nil {
		t.Errorf("foreign run dir damaged: %v", err)
	}
}

// TestSupervisorReopenLogs: SIGUSR1 reaches ReopenLogs and the children
// keep running.
func TestSupervisorReopenLogs(t *testing.T) {
	p := startSupervisor(t, 1)
	s := p.shm()
	w0, _ := ready(s)
	p.signal(syscall.SIGUSR1)
	p.waitLog("test: logs reopened", 1, 3*time.Second)
	time.Sleep(100 * time.Millisecond)
	if w1, _ := ready(s); w1[0] != w0[0] {
		t.Errorf("SIGUSR1 replaced a worker: %v -> %v", w0, w1)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestShutdownSignalCount: when the caller's context ends first (jawas's
// ends on SIGTERM, and the same SIGTERM then reaches the supervisor too),
// one SIGTERM during the drain is that first signal: the drain goes on and
// a request in flight finishes. A second one skips the wait. Before, the
// first was taken for the second whenever the context won the race.
func TestShutdownSignalCount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sigterm int
		drained bool
	}{
		{"context then one SIGTERM drains", 1, true},
		{"context then two SIGTERMs kill", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startSupervisor(t, 2, "TEST_CANCEL_ON_USR2=1", "TEST_SHUTDOWN_TIMEOUT=5s")
			res := make(chan error, 1)
			go func() { // in the worker's handler for 300 ms
				r, err := http.Get("http://" + p.addr + "/slow")
				if err == nil {
					_, err = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					if err == nil && r.StatusCode != 200 {
						err = fmt.Errorf("status %d", r.StatusCode)
					}
				}
				res <- err
			}()
			time.Sleep(100 * time.Millisecond)
			p.signal(syscall.SIGUSR2)
			p.waitLog(`why="context done"`, 1, 5*time.Second)
			for range tc.sigterm {
				p.signal(syscall.SIGTERM)
				time.Sleep(20 * time.Millisecond)
			}
			err := <-res
			p.wait(10 * time.Second)
			killed := strings.Contains(p.log(), "killing child")
			if tc.drained && (err != nil || killed) {
				t.Errorf("one SIGTERM after the context ended: request %v, children killed %v; want the drain to finish", err, killed)
			}
			if !tc.drained && (err == nil || !killed) {
				t.Errorf("two SIGTERMs: request %v, children killed %v; want the wait skipped", err, killed)
			}
		})
	}
}
