//go:build linux

package e2e

// This file is the harness: TestMain builds jawas once; each test copies the
// demo project (sources, site, templates, jawas.toml at the repository
// root) into a temp dir, starts `jawas serve` on 127.0.0.1:0 with its own
// data dir, reads the bound URL from the log, and stops the process group
// it started by pid.

import (
	"bytes"
	"fmt"
	"github.com/jawas/jawas/internal/testbin"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	jawasBin string // built by TestMain
	repoRoot string
)

func TestMain(m *testing.M) {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	repoRoot = root
	testbin.Main(m, &jawasBin)
}

// demoCopy copies the demo project into a temp dir and returns it.
func demoCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	for _, d := range []string{"sources", "site", "templates", "data"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(repoRoot, d))); err != nil {
			t.Fatalf("copy demo %s: %v", d, err)
		}
	}
	toml, err := os.ReadFile(filepath.Join(repoRoot, "jawas.toml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "jawas.toml"), string(toml))
	return dir
}

// write replaces a file the way an editor that saves by rename does.
func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new in a file (old must occur).
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	s := read(t, path)
	if !strings.Contains(s, old) {
		t.Fatalf("edit %s: %q not found", path, old)
	}
	write(t, path, strings.Replace(s, old, new, 1))
}

// server is one running `jawas serve`.
type server struct {
	url string
	cmd *exec.Cmd
	log *syncBuffer
}

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

var urlRe = regexp.MustCompile(`msg=serving url=(http://127\.0\.0\.1:\d+)/`)

// serve starts jawas on a copy of the demo in dir with extra flags and
// waits until the demo's snapshots are served.
func serve(t *testing.T, dir string, flags ...string) *server {
	t.Helper()
	args := append([]string{"serve", "-C", dir, "--listen", "127.0.0.1:0", "--workers", "2",
		"--data-dir", filepath.Join(t.TempDir(), "data")}, flags...)
	cmd := exec.Command(jawasBin, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, log: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // our own process group only
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for s.url == "" {
		if m := urlRe.FindStringSubmatch(logs.String()); m != nil {
			s.url = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jawas did not log its URL; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.waitFor(t, "demo served", 20*time.Second, func() bool {
		st, _ := s.get("/clock.json")
		st2, _ := s.get("/")
		return st == 200 && st2 == 200
	})
	return s
}

var client = &http.Client{Timeout: 5 * time.Second}

// get returns status and body of a GET (0 on a network error).
func (s *server) get(path string) (int, string) {
	resp, err := client.Get(s.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 2 ms until it holds or max passes, and returns
// how long it took.
func (s *server) waitFor(t *testing.T, what string, max time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > max {
			t.Fatalf("%s: not observed within %v", what, max)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}
