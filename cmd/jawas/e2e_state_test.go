//go:build linux

package main

// End-to-end tests of `jawas state` (list, show, reset) against a running
// server and a stopped data directory, and of `jawas build --from-data-dir`.

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const counterJS = `
export const version = 1;
export const initial = { n: 0 };
export function post(state, event) { state.n += event.body.k; }
export default function render(state) { return state; }
`

func freeListen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func postJSON(t *testing.T, addr, path, body string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// waitBody polls path until its body is want.
func (s *server) waitBody(path, want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if r, err := get(s.addr, path); err == nil && r.status == 200 {
			if last = string(r.body); last == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("GET %s: %q, want %q within %v", path, last, want, timeout)
}

// waitState runs `jawas state show` until it prints want (the engine
// checkpoints within a second).
func waitState(t *testing.T, dir, source, want string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var out, errOut string
	for time.Now().Before(deadline) {
		var code int
		code, out, errOut = runJawas(t, dir, append([]string{"state", "show", source}, args...)...)
		if code == 0 && compactJSON(out) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jawas state show %s %v: %q (stderr %q), want %s", source, args, out, errOut, want)
}

func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestE2EState: list, show and reset against a running server (found by
// its lock, or named with --server) and against its stopped data dir; a
// reset is journaled, so one made while no server runs is applied by the
// next; build --from-data-dir renders the data dir's state, plain build the
// initial one, and each says which.
func TestE2EState(t *testing.T) {
	dir := newProject(t)
	writeFile(t, filepath.Join(dir, "sources", "counter.js"), counterJS)
	addr := freeListen(t)
	f, err := os.OpenFile(filepath.Join(dir, "jawas.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("listen = \"" + addr + "\"\n") // the [serve] section newProject appended
	f.Close()

	s := startServe(t, dir, "--listen", addr)
	for _, k := range []string{"1", "2", "3"} {
		postJSON(t, s.addr, "/counter.json", `{"k":`+k+`}`)
	}
	s.waitBody("/counter.json", `{"n":6}`, 10*time.Second)
	server := "--server=http://" + s.addr
	waitState(t, dir, "counter", `{"n":6}`) // found through the data dir's lock
	code, out, errOut := runJawas(t, dir, "state", "list", server)
	if code != 0 || !strings.Contains(out, "counter") || !strings.Contains(errOut, "running server") {
		t.Fatalf("state list against the server: exit %d\n%s\n%s", code, out, errOut)
	}
	if fields := strings.Fields(lineOf(out, "counter")); len(fields) < 2 || fields[1] != "1" {
		t.Errorf("state list: counter's row %q, want version 1", lineOf(out, "counter"))
	}
	code, out, _ = runJawas(t, dir, "state", "reset", "counter", server)
	if code != 0 || !strings.Contains(out, "reset of counter journaled") {
		t.Fatalf("state reset against the server: exit %d %q", code, out)
	}
	s.waitBody("/counter.json", `{"n":0}`, 10*time.Second)
	postJSON(t, s.addr, "/counter.json", `{"k":5}`)
	s.waitBody("/counter.json", `{"n":5}`, 10*time.Second)
	if code, _, errOut := runJawas(t, dir, "state", "reset", "nope", server); code != 1 || !strings.Contains(errOut, `no source named "nope"`) {
		t.Errorf("reset of an unknown source: exit %d %q", code, errOut)
	}

	// Build while the server runs: from the data dir, and from initial.
	out1 := filepath.Join(t.TempDir(), "out")
	code, out, errOut = runJawas(t, dir, "build", "--from-data-dir", "-o", out1)
	if code != 0 || !strings.Contains(out, "Rendering from the data directory") {
		t.Fatalf("build --from-data-dir: exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(out1, "counter.json")); string(b) != `{"n":5}` {
		t.Errorf("build --from-data-dir wrote counter.json %q, want the data dir's state", b)
	}
	out2 := filepath.Join(t.TempDir(), "out")
	code, out, _ = runJawas(t, dir, "build", "-o", out2)
	if code != 0 || !strings.Contains(out, "Rendering from each source's initial state") {
		t.Fatalf("build: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(out2, "counter.json")); string(b) != `{"n":0}` {
		t.Errorf("build wrote counter.json %q, want the initial state", b)
	}

	syscall.Kill(s.pid, syscall.SIGTERM)
	if code := s.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	// Stopped: the data dir.
	waitState(t, dir, "counter", `{"n":5}`)
	code, out, errOut = runJawas(t, dir, "state", "list")
	if code != 0 || !strings.Contains(out, "counter") || !strings.Contains(errOut, "the data directory") {
		t.Fatalf("state list on the data dir: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runJawas(t, dir, "state", "reset", "counter")
	if code != 0 || !strings.Contains(out, "no server runs") {
		t.Fatalf("state reset on the data dir: exit %d %q", code, out)
	}
	waitState(t, dir, "counter", `{"n":0}`) // the journaled reset, replayed

	s = startServe(t, dir, "--listen", addr)
	s.waitBody("/counter.json", `{"n":0}`, 10*time.Second)
	syscall.Kill(s.pid, syscall.SIGTERM)
	if code := s.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("serve exit %d", code)
	}

	// New code whose migrate fails is refused before it runs.
	writeFile(t, filepath.Join(dir, "sources", "counter.js"), strings.Replace(counterJS, "version = 1;", `version = 2;
export function migrate() { throw new Error("not ready"); }`, 1))
	code, _, errOut = runJawas(t, dir, "serve", "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "the checkpointed state cannot be migrated") || !strings.Contains(errOut, "not ready") {
		t.Fatalf("serve with a failing migrate: exit %d\n%s", code, errOut)
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
