package prefork_test

// This file holds the fake children and the harness: the test binary is
// re-executed as the supervisor (JAWAS_TEST_SUPERVISOR=1), which re-executes
// it again as engine, workers and validator (JAWAS_ROLE). The fake worker is
// net/http on the inherited listener (test only: the real worker is our epoll
// core); it exercises the same protocol a real worker must follow.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/prefork"
	"github.com/jawas/jawas/internal/atomicfile"
)

func TestMain(m *testing.M) {
	switch prefork.Role() {
	case prefork.RoleWorker:
		fakeWorker()
	case prefork.RoleEngine:
		fakeEngine()
	case prefork.RoleValidate:
		fakeValidate()
	}
	if os.Getenv("JAWAS_TEST_SUPERVISOR") == "1" {
		os.Exit(runTestSupervisor())
	}
	if os.Getenv("JAWAS_TEST_SLACK_EXEC") == "1" {
		prefork.ExecWithTimerSlack(time.Millisecond) // see TestExecWithTimerSlack
		slack, err := os.ReadFile("/proc/self/timerslack_ns")
		fmt.Printf("pid=%d slack=%s marker=%q err=%v\n", os.Getpid(), strings.TrimSpace(string(slack)), os.Getenv("JAWAS_TIMER_SLACK_EXEC"), err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func envDur(name string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(os.Getenv(name))
	if err != nil {
		return def
	}
	return d
}

func runTestSupervisor() int {
	if os.Getenv("TEST_SLACK") != "" {
		prefork.ExecWithTimerSlack(time.Millisecond) // as a cluster node's jawas serve does (see TestChildrenTimerSlack)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	workers, _ := strconv.Atoi(os.Getenv("TEST_WORKERS"))
	maxReq, _ := strconv.ParseInt(os.Getenv("TEST_MAX_REQUESTS"), 10, 64)
	opt := prefork.Options{
		Args:             []string{},
		Listeners:        []*os.File{os.NewFile(3, "listener")},
		Workers:          workers,
		RunDir:           os.Getenv("TEST_RUN_DIR"),
		LockPath:         os.Getenv("TEST_LOCK"),
		PidFile:          os.Getenv("TEST_PID_FILE"),
		MaxRequests:      maxReq,
		ShutdownTimeout:  envDur("TEST_SHUTDOWN_TIMEOUT", 5*time.Second),
		TimerSlack:       envDur("TEST_CHILD_SLACK", 0),
		EngineTimerSlack: envDur("TEST_ENGINE_SLACK", 0),
		HeartbeatTimeout: envDur("TEST_HEARTBEAT_TIMEOUT", 3*time.Second),
		RestartDelay:     envDur("TEST_RESTART_DELAY", 0),
		MaxBackoff:       envDur("TEST_MAX_BACKOFF", 0),
		ReopenLogs:       func() { log.Info("test: logs reopened") },
		Log:              log,
	}
	ctx := context.Background()
	if os.Getenv("TEST_CANCEL_ON_USR2") == "1" {
		// The caller's context ends on SIGUSR2 here, as jawas's ends on
		// SIGTERM (signal.NotifyContext in cmd/jawas).
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		usr2 := make(chan os.Signal, 1)
		signal.Notify(usr2, syscall.SIGUSR2)
		go func() { <-usr2; cancel() }()
	}
	if err := prefork.Supervise(ctx, opt); err != nil {
		fmt.Fprintln(os.Stderr, "supervise:", err)
		return 1
	}
	return 0
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "fake %s: %s: %v\n", prefork.Role(), what, err)
	os.Exit(1)
}

// fakeWorker serves on the inherited listener and follows the worker
// protocol: Ready when serving, Beat from its loop, Draining at max
// requests, and on SIGTERM: stop accepting, "Connection: close" on the next
// response of every connection, finish in-flight, exit 0.
func fakeWorker() {
	prefork.WatchParent()
	lns, err := prefork.InheritedListeners()
	if err != nil {
		fail("listeners", err)
	}
	shm, me, err := prefork.OpenSelf()
	if err != nil {
		fail("worker table", err)
	}
	defer shm.Close()
	if os.Getenv("TEST_CRASHY_WORKER") == strconv.Itoa(prefork.Worker()) {
		me.SetState(prefork.StateReady) // never accepts: only its own start fails
		time.Sleep(30 * time.Millisecond)
		os.Exit(3)
	}
	reopen := prefork.NotifyReopen() // SIGUSR1 would otherwise kill a Go child
	go func() {
		for range reopen {
		}
	}()
	ln, err := net.FileListener(lns[0])
	if err != nil {
		fail("file listener", err)
	}
	lns[0].Close()

	var draining, hung atomic.Bool
	var conns atomic.Int64
	maxReq := prefork.MaxRequests()
	pid := strconv.Itoa(os.Getpid())
	panicCh := make(chan struct{})
	var panicOnce sync.Once
	runDir := prefork.RunDir()
	h := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/panic":
			panicOnce.Do(func() { close(panicCh) })
			time.Sleep(time.Second)
		}
		n := me.AddRequests(1)
		if maxReq > 0 && n == maxReq {
			me.SetState(prefork.StateDraining)
		}
		w.Header().Set("X-Pid", pid)
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		if r.URL.Path == "/snap" {
			b, err := os.ReadFile(filepath.Join(runDir, "snap.json"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Write(b)
			return
		}
		io.WriteString(w, "ok\n")
	}
	srv := &http.Server{Handler: http.HandlerFunc(h), ConnState: func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}}
	// As the package doc says: take SIGTERM before reporting ready, or a
	// drain that comes right after (TestShutdownSignalCount) kills the
	// worker by the signal's default action, in the middle of a request.
	drain := prefork.NotifyDrain()
	go srv.Serve(ln)
	me.SetState(prefork.StateReady)
	hang := make(chan os.Signal, 1)
	signal.Notify(hang, syscall.SIGUSR2)
	go func() {
		for {
			select {
			case <-hang:
				hung.Store(true)
			case <-time.After(50 * time.Millisecond):
			}
			if !hung.Load() {
				me.Beat(time.Now())
			}
		}
	}()
	select {
	case <-drain:
	case <-panicCh:
		panic("fake worker: /panic requested")
	}
	draining.Store(true)
	ln.Close()
	// Give busy keep-alive connections one more request (answered with
	// "Connection: close"); then Shutdown closes the idle rest and waits for
	// in-flight responses until the drain budget is spent.
	deadline := time.Now().Add(prefork.ShutdownTimeout())
	grace := time.Now().Add(min(time.Second, prefork.ShutdownTimeout()))
	for conns.Load() > 0 && time.Now().Before(grace) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	srv.Shutdown(ctx)
	os.Exit(0)
}

// fakeEngine publishes {"seq":N,"pid":P} to RunDir/snap.json every 50 ms by
// write-temp-and-rename, as the real engine publishes snapshots.
func fakeEngine() {
	prefork.WatchParent()
	shm, me, err := prefork.OpenSelf()
	if err != nil {
		fail("worker table", err)
	}
	defer shm.Close()
	dir := prefork.RunDir()
	drain := prefork.NotifyDrain()
	reopen := prefork.NotifyReopen()
	tick := time.NewTicker(50 * time.Millisecond)
	for seq := 0; ; seq++ {
		if err := atomicfile.WriteFile(filepath.Join(dir, "snap.json"), fmt.Appendf(nil, `{"seq":%d,"pid":%d}`, seq, os.Getpid()), 0o644, atomicfile.Options{}); err != nil {
			fail("write", err)
		}
		me.Beat(time.Now())
		if seq == 0 {
			me.SetState(prefork.StateReady)
		}
		if seq == 1 && os.Getenv("TEST_SPIN_ENGINE") == "1" {
			// Busy without beating, as an engine whose beat goroutine
			// the machine starves: running, but late (bounded).
			for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
			}
			os.Exit(4)
		}
		select {
		case <-drain:
			os.Exit(0)
		case <-reopen:
		case <-tick.C:
		}
	}
}

// fakeValidate fails when TEST_CONFIG contains "broken", printing an error
// with file and line as the real validator does.
func fakeValidate() {
	path := os.Getenv("TEST_CONFIG")
	b, err := os.ReadFile(path)
	if err != nil {
		fail("read config", err)
	}
	if strings.Contains(string(b), "broken") {
		fmt.Fprintf(os.Stderr, "%s:3:11: workers: want an integer, got \"broken\"\n", path)
		os.Exit(1)
	}
	os.Exit(0)
}

// ---- harness ----

type supervisorProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	dir     string
	runDir  string
	logPath string
	config  string
	pidFile string
	done    chan struct{}
	exitErr error
}

// startSupervisor binds 127.0.0.1:0, starts the supervisor subprocess with
// the listener as fd 3 (the test closes its own copy), and waits until the
// engine and every worker are ready.
func startSupervisor(t *testing.T, workers int, env ...string) *supervisorProc {
	t.Helper()
	dir := t.TempDir()
	p := &supervisorProc{t: t, dir: dir, runDir: filepath.Join(dir, "run"), logPath: filepath.Join(dir, "supervisor.log"),
		config: filepath.Join(dir, "jawas.toml"), pidFile: filepath.Join(dir, "jawas.pid"), done: make(chan struct{})}
	if err := os.WriteFile(p.config, []byte("workers = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start(workers, env...)
	return p
}

func (p *supervisorProc) start(workers int, env ...string) {
	t := p.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "JAWAS_TEST_SUPERVISOR=1",
		"TEST_WORKERS="+strconv.Itoa(workers), "TEST_RUN_DIR="+p.runDir,
		"TEST_LOCK="+filepath.Join(p.dir, "jawas.lock"), "TEST_PID_FILE="+p.pidFile,
		"TEST_CONFIG="+p.config)
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	ln.Close() // the supervisor (and its workers) now hold the only copies
	logf.Close()
	p.cmd = cmd
	go func() { p.exitErr = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(8 * time.Second):
				cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			if len(b) > 12000 {
				b = b[len(b)-12000:]
			}
			t.Logf("supervisor log (tail):\n%s", b)
		}
	})
	p.waitReady(workers, 10*time.Second)
}

func (p *supervisorProc) shm() *prefork.Shared {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := prefork.OpenShared(p.runDir, false)
		if err == nil && s.SupervisorPID() == p.cmd.Process.Pid {
			p.t.Cleanup(func() { s.Close() })
			return s
		}
		if err == nil { // a stale table from an earlier run, not yet replaced
			s.Close()
			err = errors.New("stale worker table")
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("worker table never appeared: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ready returns the pid of the ready worker at each position (the newest if
// two are ready) and the engine's pid when ready.
func ready(s *prefork.Shared) (workers map[int]int, engine int) {
	workers = map[int]int{}
	gen := map[int]time.Time{}
	for _, w := range s.Workers() {
		if w.State() == prefork.StateReady && w.PID() != 0 {
			if st := w.Started(); st.After(gen[w.Position()]) || workers[w.Position()] == 0 {
				workers[w.Position()], gen[w.Position()] = w.PID(), st
			}
		}
	}
	if e := s.Engine(); e.State() == prefork.StateReady {
		engine = e.PID()
	}
	return workers, engine
}

func (p *supervisorProc) waitReady(workers int, timeout time.Duration) {
	p.t.Helper()
	s := p.shm()
	deadline := time.Now().Add(timeout)
	for {
		w, e := ready(s)
		if len(w) == workers && e != 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("not ready after %s: workers %v engine %d", timeout, w, e)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *supervisorProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		p.t.Fatal(err)
	}
}

func (p *supervisorProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitLog waits until the log holds want at least n times.
func (p *supervisorProc) waitLog(want string, n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(p.log(), want) < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("log never had %q %d times (has %d)", want, n, strings.Count(p.log(), want))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *supervisorProc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitErr
	case <-time.After(timeout):
		p.t.Fatalf("supervisor still running after %s", timeout)
		return nil
	}
}

// ---- load ----

type failure struct {
	client int
	pid    string // pid that served the connection's last response ("" = none yet)
	served int    // responses received on the connection before the failure
	err    error
}

type loadSpec struct {
	keepAlive int           // keep-alive clients
	slow      int           // of which this many request /slow
	fresh     int           // clients that open a new connection per request
	path      string        // default "/"
	pace      time.Duration // pause between a client's requests
	dur       time.Duration // upper bound on the run
	max       int           // upper bound on requests per client
}

type loader struct {
	spec      loadSpec
	addr      string
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	ok        int
	closes    int
	dialErrs  int
	fails     []failure
	firstSeen map[string]time.Time
	curPid    []atomic.Value
}

func startLoad(addr string, spec loadSpec) *loader {
	if spec.path == "" {
		spec.path = "/"
	}
	n := spec.keepAlive + spec.fresh
	l := &loader{spec: spec, addr: addr, stop: make(chan struct{}), firstSeen: map[string]time.Time{},
		curPid: make([]atomic.Value, n)}
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go l.client(i)
	}
	return l
}

func (l *loader) client(i int) {
	defer l.wg.Done()
	path, fresh := l.spec.path, i >= l.spec.keepAlive
	if i < l.spec.slow {
		path = "/slow"
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"
	if fresh {
		req = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
	}
	l.curPid[i].Store("")
	var conn net.Conn
	var br *bufio.Reader
	served := 0
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	deadline := time.Now().Add(l.spec.dur)
	for n := 0; n < l.spec.max && time.Now().Before(deadline); n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", l.addr, time.Second)
			if err != nil {
				l.mu.Lock()
				l.dialErrs++
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			conn, br, served = c, bufio.NewReader(c), 0
			l.curPid[i].Store("")
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(conn, req)
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}
		if err != nil {
			l.mu.Lock()
			l.fails = append(l.fails, failure{client: i, pid: l.curPid[i].Load().(string), served: served, err: err})
			l.mu.Unlock()
			conn.Close()
			conn = nil
			continue
		}
		served++
		pid := resp.Header.Get("X-Pid")
		l.curPid[i].Store(pid)
		l.mu.Lock()
		l.ok++
		if _, seen := l.firstSeen[pid]; !seen {
			l.firstSeen[pid] = time.Now()
		}
		if resp.Close {
			l.closes++
		}
		l.mu.Unlock()
		if resp.Close {
			conn.Close()
			conn = nil
		}
		time.Sleep(l.spec.pace)
	}
}

// held counts the keep-alive connections whose last response came from pid.
func (l *loader) held(pid int) int {
	n := 0
	for i := range l.spec.keepAlive {
		if v, _ := l.curPid[i].Load().(string); v == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}

func (l *loader) finish() {
	close(l.stop)
	l.wg.Wait()
}

func (l *loader) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: %d ok, %d failed, %d Connection: close, %d dial errors, %d distinct worker pids",
		l.ok, len(l.fails), l.closes, l.dialErrs, len(l.firstSeen))
	for i, f := range l.fails {
		if i == 10 {
			t.Logf("  ... %d more", len(l.fails)-10)
			break
		}
		t.Logf("  failure: client %d, conn served by pid %q after %d responses: %v", f.client, f.pid, f.served, f.err)
	}
}

func (l *loader) stats() (ok int, fails []failure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, append([]failure(nil), l.fails...)
}

func procGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	// state is the field after "(comm)"; a zombie no longer holds anything
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 {
		return b[i+2] == 'Z'
	}
	return false
}

// watchCapacity samples the worker table every millisecond until stop is
// closed and returns the fewest workers seen serving (ready or draining):
// recycling and reloading must never drop below the configured count.
func watchCapacity(s *prefork.Shared, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		low := 1 << 30
		for {
			n := 0
			for _, w := range s.Workers() {
				if st := w.State(); st == prefork.StateReady || st == prefork.StateDraining {
					n++
				}
			}
			low = min(low, n)
			select {
			case <-stop:
				out <- low
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return out
}
