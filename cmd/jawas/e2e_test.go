//go:build linux

package main

// This file holds the end-to-end harness: TestMain builds the real jawas
// binary once, and each test copies the fixture project in testdata/proj
// into its own temp dir, starts `jawas serve` on 127.0.0.1:0 (the bound URL
// is read from the log), talks to it over raw TCP, signals real pids, and
// stops what it started by pid. No mocks: what a user runs is what is tested.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jawas/jawas/internal/testbin"
)

// jawasBin is the binary built by TestMain ("" when the build failed).
var jawasBin string

func TestMain(m *testing.M) { testbin.Main(m, &jawasBin) }

// newProject copies testdata/proj into a temp dir and appends a [serve]
// section with a temp data_dir plus extra lines ("max_requests = 1000").
func newProject(t *testing.T, serveExtra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.CopyFS(dir, os.DirFS("testdata/proj")); err != nil {
		t.Fatalf("copy fixture: %v", err)
	}
	data := filepath.Join(t.TempDir(), "data")
	var b strings.Builder
	fmt.Fprintf(&b, "\n[serve]\ndata_dir = %q\n", data)
	for _, l := range serveExtra {
		b.WriteString(l + "\n")
	}
	f, err := os.OpenFile(filepath.Join(dir, "jawas.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runJawas runs the binary to completion (bounded) and returns its exit code.
func runJawas(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, jawasBin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run jawas %v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// server is one running `jawas serve`.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	pid     int
	addr    string // 127.0.0.1:PORT
	logPath string
	runDir  string
	exited  chan struct{}
	state   *os.ProcessState

	mu   sync.Mutex
	seen map[int]proc // every child ever listed, so cleanup finds orphans too
}

var urlRE = regexp.MustCompile(`msg=serving url=http://([0-9.]+:[0-9]+)/`)

// startServe starts `jawas serve` in dir and waits until /clock.json
// answers 200. The server is SIGKILLed at cleanup if still running (its
// children die with it: parent-death signal) and its /dev/shm run dir removed.
func startServe(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s := startServeNoWait(t, dir, args...)
	s.waitURL(20 * time.Second)
	s.waitOK("/clock.json", 20*time.Second)
	return s
}

func startServeNoWait(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "serve.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	argv := append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(jawasBin, argv...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf // a file, not a pipe: Wait never waits for children's copies
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, pid: cmd.Process.Pid, logPath: logPath, exited: make(chan struct{}),
		seen: map[int]proc{}}
	go func() {
		cmd.Wait()
		s.state = cmd.ProcessState
		close(s.exited)
	}()
	t.Cleanup(s.cleanup)
	return s
}

func (s *server) cleanup() {
	s.children("") // record the current ones
	if !s.done() {
		syscall.Kill(s.pid, syscall.SIGKILL)
		<-s.exited
	}
	// Children die with the supervisor (Pdeathsig); make sure, by pid.
	deadline := time.Now().Add(3 * time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.seen {
		for ourChild(k.pid, s.pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if ourChild(k.pid, s.pid) {
			s.t.Logf("cleanup: child %d (%s) outlived the supervisor; killing it", k.pid, k.role)
			syscall.Kill(k.pid, syscall.SIGKILL)
		}
	}
	if s.t.Failed() {
		l := s.log()
		if len(l) > 6000 {
			l = "[...]\n" + l[len(l)-6000:]
		}
		s.t.Logf("server log:\n%s", l)
	}
	if rd := s.findRunDir(); strings.HasPrefix(rd, "/dev/shm/jawas-") {
		os.RemoveAll(rd)
	}
}

func (s *server) done() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

func (s *server) findRunDir() string {
	if s.runDir == "" {
		if m := regexp.MustCompile(`run_dir=(\S+)`).FindStringSubmatch(s.log()); m != nil {
			s.runDir = m[1]
		}
	}
	return s.runDir
}

func (s *server) waitURL(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := urlRE.FindStringSubmatch(s.log()); m != nil {
			s.addr = m[1]
			return
		}
		if s.done() || time.Now().After(deadline) {
			s.t.Fatalf("no 'serving url=' line in the log (exited=%v):\n%s", s.done(), s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until re matches at least n times in the log and returns
// the matches.
func (s *server) waitLog(re string, n int, timeout time.Duration) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		ms := rx.FindAllString(s.log(), -1)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("log: want %d matches of %q within %v, got %d", n, re, timeout, len(ms))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) countLog(re string) int {
	return len(regexp.MustCompile(re).FindAllString(s.log(), -1))
}

// waitOK polls path on fresh connections until it answers 200.
func (s *server) waitOK(path string, timeout time.Duration) *resp {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		r, err := get(s.addr, path)
		if err == nil && r.status == 200 {
			return r
		}
		if err == nil {
			err = fmt.Errorf("status %d", r.status)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("GET %s: not 200 within %v: %v", path, timeout, last)
	return nil
}

// waitFor polls path on fresh connections until cond holds for an answer
// (what names the condition in the failure) and returns that answer.
func (s *server) waitFor(path, what string, timeout time.Duration, cond func(r *resp) bool) *resp {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := get(s.addr, path)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s (last: %v %v)", what, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExit waits for the supervisor to exit and returns its exit code.
func (s *server) waitExit(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.state.ExitCode()
	case <-time.After(timeout):
		s.t.Fatalf("jawas serve (pid %d) did not exit within %v", s.pid, timeout)
		return -1
	}
}

// proc is one child process of the supervisor.
type proc struct {
	pid  int
	role string // JAWAS_ROLE
}

// childrenOf lists the live children of pid (scanning /proc), with their
// JAWAS_ROLE read from /proc/N/environ.
func childrenOf(pid int) []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(pid) {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		role := ""
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("JAWAS_ROLE=")); ok {
				role = string(v)
			}
		}
		out = append(out, proc{pid: n, role: role})
	}
	return out
}

// children lists the supervisor's live children of role ("" for all).
func (s *server) children(role string) []proc {
	var out []proc
	for _, p := range childrenOf(s.pid) {
		s.mu.Lock()
		s.seen[p.pid] = p
		s.mu.Unlock()
		if role == "" || p.role == role {
			out = append(out, p)
		}
	}
	return out
}

// waitChildren waits until exactly n children of role run and returns them.
func (s *server) waitChildren(role string, n int, timeout time.Duration) []proc {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ps := s.children(role)
		if len(ps) == n {
			return ps
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("want %d %s children of %d, have %v", n, role, s.pid, ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie. A killed
// multi-threaded process shows its leader as a zombie while other threads
// are still exiting (and still hold its files), so those count as alive.
func alive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 || !bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
		return true
	}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	return len(tasks) > 1
}

// ourChild reports whether pid is alive and was started by supervisor
// (its environment says so), so a recycled pid is never killed.
func ourChild(pid, supervisor int) bool {
	if !alive(pid) {
		return false
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	want := []byte("JAWAS_SUPERVISOR_PID=" + strconv.Itoa(supervisor))
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// socketCount counts the sockets in pid's fd table.
func socketCount(pid int) int {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// resp is a response read off a raw connection.
type resp struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server said Connection: close (or HTTP/1.0 without keep-alive)
}

// rawConn is a minimal HTTP/1.1 client on one TCP connection: it never
// retries and never reconnects, so every failure is seen.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, br: bufio.NewReader(c)}, nil
}

func (rc *rawConn) Close() error { return rc.c.Close() }

func (rc *rawConn) send(raw string) error {
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(rc.c, raw)
	return err
}

// read reads one response; head is true for a response to HEAD.
func (rc *rawConn) read(head bool) (*resp, error) {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	method := "GET"
	if head {
		method = "HEAD"
	}
	hr, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err != nil {
		return nil, err
	}
	return &resp{status: hr.StatusCode, header: hr.Header, body: body, close: hr.Close}, nil
}

func (rc *rawConn) get(path string, hdrs ...string) (*resp, error) {
	if err := rc.send(reqText("GET", path, hdrs...)); err != nil {
		return nil, err
	}
	return rc.read(false)
}

func reqText(method, path string, hdrs ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: e2e\r\n")
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// get does one GET on a fresh connection.
func get(addr, path string, hdrs ...string) (*resp, error) {
	rc, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return rc.get(path, hdrs...)
}

// readEOF reports whether the server closed the connection (EOF or reset)
// within timeout, after everything it sent was read.
func (rc *rawConn) readEOF(timeout time.Duration) error {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	b, err := rc.br.ReadByte()
	if err == nil {
		return fmt.Errorf("unexpected byte %q after the response", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", timeout)
	}
	return nil
}

// load is a bounded closed-loop load of keep-alive clients on raw TCP: each
// client sends one GET, reads the whole response, and goes on on the same
// connection until the server says Connection: close (then it reconnects).
// A request written whose full response never came is a failure: there are
// no retries to hide it.
type load struct {
	addr  string
	path  string
	pause time.Duration

	ok        atomic.Int64
	closes    atomic.Int64 // responses with Connection: close (followed by a reconnect)
	dialFails atomic.Int64 // connection refused/timed out: nothing was sent
	fails     atomic.Int64 // a request sent on a connection that had answered before, without full response
	freshFail atomic.Int64 // the same, on a new connection's first request
	badStatus atomic.Int64
	open      atomic.Int64 // connections open now

	mu    sync.Mutex
	errs  []string
	times []time.Time // when each failure happened

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLoad runs clients until stop, at most maxTime and maxReq requests.
func startLoad(addr, path string, clients int, pause time.Duration, maxTime time.Duration, maxReq int64) *load {
	ctx, cancel := context.WithTimeout(context.Background(), maxTime)
	l := &load{addr: addr, path: path, pause: pause, cancel: cancel}
	var total atomic.Int64
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			time.Sleep(time.Duration(i) * 10 * time.Millisecond) // a ramp: connections spread over the workers
			l.client(ctx, &total, maxReq)
		}()
	}
	return l
}

func (l *load) fail(fresh bool, err error) {
	if fresh {
		l.freshFail.Add(1)
	} else {
		l.fails.Add(1)
	}
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf("fresh=%v: %v", fresh, err))
	}
	l.mu.Unlock()
}

func (l *load) client(ctx context.Context, total *atomic.Int64, maxReq int64) {
	var rc *rawConn
	answered := 0
	closeConn := func() {
		if rc != nil {
			rc.Close()
			rc = nil
			l.open.Add(-1)
		}
	}
	defer closeConn()
	req := reqText("GET", l.path)
	for ctx.Err() == nil && total.Add(1) <= maxReq {
		if rc == nil {
			c, err := dial(l.addr)
			if err != nil {
				l.dialFails.Add(1)
				time.Sleep(5 * time.Millisecond)
				continue
			}
			rc, answered = c, 0
			l.open.Add(1)
		}
		if err := rc.send(req); err != nil {
			l.fail(answered == 0, fmt.Errorf("write: %w", err))
			closeConn()
			continue
		}
		r, err := rc.read(false)
		if err != nil {
			l.fail(answered == 0, fmt.Errorf("read: %w", err))
			closeConn()
			continue
		}
		answered++
		if r.status != 200 {
			l.badStatus.Add(1)
			l.mu.Lock()
			if len(l.errs) < 20 {
				l.errs = append(l.errs, fmt.Sprintf("status %d: %q", r.status, r.body))
			}
			l.mu.Unlock()
		} else {
			l.ok.Add(1)
		}
		if r.close {
			l.closes.Add(1)
			closeConn()
		}
		if l.pause > 0 {
			time.Sleep(l.pause)
		}
	}
}

// stop ends the load and waits for every client.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) String() string {
	return fmt.Sprintf("ok=%d closes=%d fails=%d fresh_fails=%d bad_status=%d dial_fails=%d",
		l.ok.Load(), l.closes.Load(), l.fails.Load(), l.freshFail.Load(), l.badStatus.Load(), l.dialFails.Load())
}

func (l *load) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// waitProgress waits until the load has done n more successful requests.
func (l *load) waitProgress(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	want := l.ok.Load() + n
	deadline := time.Now().Add(timeout)
	for l.ok.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load made no progress: %v", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
