//go:build unix

// This file starts and stops `jawas serve` on temporary projects and reads
// what the kernel says about its processes (children, RSS, PSS, mappings),
// because every figure of this benchmark is about the real process tree.

package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// project is what a temporary jawas project holds.
type project struct {
	source   string // file name under sources/, e.g. "bench.js"
	code     string // its contents
	topLevel string // extra top-level jawas.toml keys (before [serve])
	serve    string // extra [serve] keys
}

// server is one `jawas serve` this program started.
type server struct {
	cmd     *exec.Cmd
	dir     string // the temporary project
	addr    string // 127.0.0.1:port
	url     string // the source's snapshot URL
	runDir  string // the runtime directory jawas derives from the data dir (tmpfs)
	single  bool
	logPath string
	seen    map[int]bool // every child pid seen, for the final check in stop
}

// freeAddr returns a free 127.0.0.1 port (bound then released).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs `jawas serve` (workers > 0: --workers N; single: --single-process)
// on a fresh project and waits until the source's snapshot answers 200.
func start(p project, workers int, single bool) (*server, error) {
	dir, err := os.MkdirTemp("", "jawas-bench-process-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, single: single, logPath: filepath.Join(dir, "log"), seen: map[int]bool{}}
	if s.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, ".jawas")
	sum := sha256.Sum256([]byte(dataDir)) // cmd/jawas runDir: /dev/shm/jawas-<sha256(data dir)[:6]>
	s.runDir = filepath.Join("/dev/shm", "jawas-"+hex.EncodeToString(sum[:6]))
	if single {
		s.runDir += "-single"
	}
	if err := os.MkdirAll(filepath.Join(dir, "sources"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sources", p.source), []byte(p.code), 0o644); err != nil {
		return nil, err
	}
	toml := p.topLevel + "\n[serve]\nshutdown_timeout = \"2s\"\n" + p.serve
	if err := os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "-C", dir, "--listen", s.addr, "--data-dir", dataDir, "--log-level", "warn"}
	if workers > 0 {
		args = append(args, "--workers", strconv.Itoa(workers))
	}
	if single {
		args = append(args, "--single-process")
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(*jawasBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", *jawasBin, err)
	}
	s.url = "http://" + s.addr + "/" + strings.TrimSuffix(p.source, filepath.Ext(p.source)) + ".json"
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, err := hc.Get(s.url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				s.children() // remember the first generation of children
				return s, nil
			}
		}
	}
	log, _ := os.ReadFile(s.logPath)
	s.stop()
	return nil, fmt.Errorf("jawas did not serve %s within 20 s; log:\n%s", s.url, log)
}

// pid is the supervisor's pid (the single process with --single-process).
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 5 s, then SIGKILLs. Children die with the
// supervisor (parent-death signal); any child pid still alive after that is
// killed by pid. It then removes the project and the tmpfs run directory
// (jawas leaves the run directory behind on exit).
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		os.RemoveAll(s.dir)
		return
	}
	s.children()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintf(os.Stderr, "process: jawas pid %d ignored SIGTERM for 5 s; SIGKILL\n", s.pid())
		s.cmd.Process.Kill()
		<-done
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		alive := 0
		for c := range s.seen {
			if isChildOf(c, s.pid()) || alive1(c, s.dir) {
				alive++
				if time.Now().After(deadline) {
					syscall.Kill(c, syscall.SIGKILL)
				}
			}
		}
		if alive == 0 || time.Now().After(deadline.Add(time.Second)) {
			break
		}
	}
	if os.Getenv("JAWAS_BENCH_KEEP") == "" {
		os.RemoveAll(s.dir)
	} else {
		fmt.Fprintln(os.Stderr, "process: kept", s.dir)
	}
	if strings.HasPrefix(s.runDir, "/dev/shm/jawas-") {
		os.RemoveAll(s.runDir)
	}
}

// alive1 reports whether pid is still a jawas child of this project (its
// command line names the project directory), so a recycled pid is never
// killed.
func alive1(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := readStat(pid); err == nil && st.state == 'Z' {
		return false
	}
	return bytes.Contains(b, []byte(dir))
}

func isChildOf(pid, parent int) bool {
	st, err := readStat(pid)
	return err == nil && st.ppid == parent && st.state != 'Z'
}

type pstat struct {
	ppid  int
	state byte
}

func readStat(pid int) (pstat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pstat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+4 >= len(b) {
		return pstat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	ppid, _ := strconv.Atoi(string(f[1]))
	return pstat{ppid: ppid, state: f[0][0]}, nil
}

// children returns the supervisor's live children by role (JAWAS_ROLE in
// their environment: "engine", "worker", ...). With --single-process the
// one process is reported as the only worker.
func (s *server) children() map[string][]int {
	out := map[string][]int{}
	if s.single {
		out["worker"] = []int{s.pid()}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !isChildOf(pid, s.pid()) {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		role := "?"
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("JAWAS_ROLE=")); ok {
				role = string(v)
			}
		}
		out[role] = append(out[role], pid)
		s.seen[pid] = true
	}
	return out
}

// workers waits (up to 5 s) until n workers run and returns their pids.
func (s *server) workers(n int) ([]int, error) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		w := s.children()["worker"]
		if len(w) == n {
			return w, nil
		}
		if time.Now().After(deadline) {
			return w, fmt.Errorf("%d workers running, want %d", len(w), n)
		}
	}
}

// mem is one process's memory from /proc/PID/smaps_rollup, in bytes.
type mem struct{ rss, pss int64 }

func rollup(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "Rss":
			m.rss = kb(v)
		case "Pss":
			m.pss = kb(v)
		}
	}
	return m, sc.Err()
}

// mappedUnder sums Rss and Pss of pid's mappings of files under dir (the
// snapshot files in the run directory), and the mapped sizes.
func mappedUnder(pid int, dir string) (m mem, size int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return mem{}, 0, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		k, v, _ := strings.Cut(line, ":")
		if fs := strings.Fields(line); len(fs) >= 5 && isHexRange(fs[0]) { // a mapping's header line
			in = len(fs) >= 6 && strings.HasPrefix(fs[5], dir+"/")
			continue
		}
		if !in {
			continue
		}
		switch k {
		case "Size":
			size += kb(v)
		case "Rss":
			m.rss += kb(v)
		case "Pss":
			m.pss += kb(v)
		}
	}
	return m, size, sc.Err()
}

func isHexRange(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	if !ok || a == "" || b == "" {
		return false
	}
	for _, c := range a + b {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func kb(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n << 10
}

// raiseLimits sets RLIMIT_NOFILE to its hard limit (children inherit it) and,
// as root, raises somaxconn and the SYN backlog for the 10,000-connection run.
func raiseLimits() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if os.Geteuid() != 0 {
		return
	}
	for _, k := range []string{"/proc/sys/net/core/somaxconn", "/proc/sys/net/ipv4/tcp_max_syn_backlog"} {
		b, err := os.ReadFile(k)
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < 8192 {
			os.WriteFile(k, []byte("8192"), 0o644)
		}
	}
}
