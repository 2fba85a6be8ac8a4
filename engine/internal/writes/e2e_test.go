//go:build linux

package writes_test

// End-to-end tests of the write path: the real jawas binary (supervisor,
// engine, workers), real sockets, real fsync, real signals.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/jawas/jawas/internal/testbin"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var jawasBin string

func TestMain(m *testing.M) { testbin.Main(m, &jawasBin) }

// queueJS records every posted id; a body with fail:true throws after
// changing the state (the change must be rolled back).
const queueJS = `
export const initial = { ids: [] };
export function post(state, event) {
  state.ids.push(event.body.id);
  if (event.body.fail) throw new Error("rejected on purpose");
}
export default function render(state, ctx) { return { now: ctx.nowMs, ids: state.ids }; }
`

type project struct {
	t    *testing.T
	dir  string
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func newProject(t *testing.T, toml string, sources map[string]string) *project {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "sources"), 0o755))
	for name, code := range sources {
		must(t, os.WriteFile(filepath.Join(dir, "sources", name), []byte(code), 0o644))
	}
	addr := freeAddr(t)
	if !strings.Contains(toml, "workers =") {
		toml = "workers = 2\n" + toml
	}
	must(t, os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(fmt.Sprintf("[serve]\nlisten = %q\nshutdown_timeout = \"2s\"\n%s", addr, toml)), 0o644))
	log, err := os.Create(filepath.Join(dir, "jawas.log"))
	must(t, err)
	p := &project{t: t, dir: dir, addr: addr, log: log}
	t.Cleanup(func() {
		p.stop()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("jawas log (tail):\n%s", b)
		}
	})
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

// start runs `jawas serve` and waits until it answers.
func (p *project) start() {
	p.t.Helper()
	cmd := exec.Command(jawasBin, "serve", "-C", p.dir)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	must(p.t, cmd.Start())
	p.cmd = cmd
	go cmd.Wait() // reap
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + p.addr + "/_jawas/writes.json"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("jawas did not start serving on %s", p.addr)
}

// stop ends the supervisor with SIGTERM, then SIGKILL.
func (p *project) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	p.waitChildrenGone(pid)
	p.cmd = nil
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// children returns the pids of the supervisor's children by role.
func children(sup int) map[string][]int {
	out := map[string][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(sup) || f[0] == "Z" {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range strings.Split(string(env), "\x00") {
			if role, ok := strings.CutPrefix(kv, "JAWAS_ROLE="); ok {
				out[role] = append(out[role], pid)
			}
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverPID returns which of pids holds the server side of the loopback
// connection c: the socket whose remote port is c's local port, found in
// /proc/net/tcp, then among the processes' open files.
func serverPID(t *testing.T, c net.Conn, pids []int) int {
	t.Helper()
	local := c.LocalAddr().(*net.TCPAddr).Port
	server := c.RemoteAddr().(*net.TCPAddr).Port
	tab, err := os.ReadFile("/proc/net/tcp")
	must(t, err)
	inode := ""
	for _, line := range strings.Split(string(tab), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		if hexPort(f[1]) == server && hexPort(f[2]) == local {
			inode = f[9]
			break
		}
	}
	if inode == "" {
		t.Fatalf("no server socket for the connection from port %d in /proc/net/tcp", local)
	}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if l, _ := os.Readlink(filepath.Join(dir, e.Name())); l == "socket:["+inode+"]" {
				return pid
			}
		}
	}
	t.Fatalf("the server socket (inode %s) of the connection from port %d is in none of %v", inode, local, pids)
	return 0
}

// hexPort reads the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, h, _ := strings.Cut(addr, ":")
	n, _ := strconv.ParseInt(h, 16, 32)
	return int(n)
}

// waitChildrenGone waits for the children of a dead supervisor to exit
// (they die with it), so a restart never races the old engine.
func (p *project) waitChildrenGone(sup int) {
	for i := 0; i < 200; i++ {
		if len(children(sup)) == 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type ack struct {
	ID        string `json:"id"`
	VisibleAt int64  `json:"visible_at"`
	StatusURL string `json:"status_url"`
}

// client is one keep-alive HTTP/1.1 connection.
type client struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func (c *client) do(req string) (*http.Response, []byte, error) {
	if c.c == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			return nil, nil, err
		}
		c.c, c.br = conn, bufio.NewReader(conn)
	}
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, req); err != nil {
		c.close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	if resp.Close {
		c.close()
	}
	return resp, body, nil
}

func (c *client) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func post(path, ctype, body string, extra ...string) string {
	h := ""
	for _, e := range extra {
		h += e + "\r\n"
	}
	ct := ""
	if ctype != "" {
		ct = "Content-Type: " + ctype + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%s%sContent-Length: %d\r\n\r\n%s", path, ct, h, len(body), body)
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }

type queueSnap struct {
	Now int64    `json:"now"`
	IDs []string `json:"ids"`
}

func (c *client) snapshot(path string) (queueSnap, error) {
	var s queueSnap
	resp, body, err := c.do(get(path))
	if err != nil {
		return s, err
	}
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return s, json.Unmarshal(body, &s)
}

// TestPostThenRead: a write is in the snapshot of the boundary it was
// promised (visible_at), not in any earlier one, and that boundary is no
// later than the first one after the acknowledgement; with both
// durabilities ("none" commits on the event loop, "sync" on the committer).
func TestPostThenRead(t *testing.T) {
	for _, d := range []string{"sync", "none"} {
		t.Run(d, func(t *testing.T) { postThenRead(t, d) })
	}
}

func postThenRead(t *testing.T, durability string) {
	p := newProject(t, fmt.Sprintf("durability = %q\n", durability), map[string]string{"q.js": queueJS})
	p.start()

	type sent struct {
		id      string
		visible int64
		ackedAt time.Time
	}
	var mu sync.Mutex
	var acks []sent
	seen := map[int64]map[string]bool{} // snapshot boundary → ids in it
	stopPoll := make(chan struct{})
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() { // poller: keeps every snapshot it sees, by boundary
		defer pollWG.Done()
		c := &client{addr: p.addr}
		defer c.close()
		for i := 0; i < 20000; i++ {
			select {
			case <-stopPoll:
				return
			default:
			}
			s, err := c.snapshot("/q.json")
			if err == nil {
				mu.Lock()
				if seen[s.Now] == nil {
					m := map[string]bool{}
					for _, id := range s.IDs {
						m[id] = true
					}
					seen[s.Now] = m
				}
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{addr: p.addr}
			defer c.close()
			for i := 0; i < 15; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				resp, body, err := c.do(post("/q.json", "application/json", `{"id":"`+id+`"}`))
				now := time.Now()
				if err != nil || resp.StatusCode != 202 {
					t.Errorf("post %s: %v %v %s", id, err, resp, body)
					return
				}
				var a ack
				if err := json.Unmarshal(body, &a); err != nil || a.ID == "" || a.VisibleAt == 0 || a.StatusURL != "/_jawas/events/"+a.ID {
					t.Errorf("202 body %s: %v", body, err)
					return
				}
				mu.Lock()
				acks = append(acks, sent{id: id, visible: a.VisibleAt, ackedAt: now})
				mu.Unlock()
				time.Sleep(time.Duration(7*(i+w)%60) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// The poller goes on until it has seen the last promised boundary.
	var last int64
	mu.Lock()
	for _, a := range acks {
		last = max(last, a.visible)
	}
	mu.Unlock()
	waitFor(t, 10*time.Second, fmt.Sprintf("a snapshot of the last promised boundary %d", last), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for b := range seen {
			if b >= last {
				return true
			}
		}
		return false
	})
	close(stopPoll)
	pollWG.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acks) != 60 {
		t.Fatalf("%d acknowledged writes, want 60", len(acks))
	}
	checked := 0
	for _, a := range acks {
		firstAfterAck := (a.ackedAt.UnixMilli()/200 + 1) * 200
		if a.visible > firstAfterAck {
			t.Errorf("%s: promised %d, later than the first boundary after its ack %d", a.id, a.visible, firstAfterAck)
		}
		for b, ids := range seen {
			switch {
			case b < a.visible && ids[a.id]:
				t.Errorf("%s: in the snapshot of %d, before its promised boundary %d", a.id, b, a.visible)
			case b >= a.visible && !ids[a.id]:
				t.Errorf("%s: missing from the snapshot of %d (promised %d)", a.id, b, a.visible)
			case b == a.visible:
				checked++
			}
		}
	}
	t.Logf("%d writes, %d snapshots seen, %d writes seen in exactly their promised snapshot", len(acks), len(seen), checked)
	if checked < len(acks)/2 {
		t.Errorf("only %d of %d promised snapshots were observed; the test saw too little", checked, len(acks))
	}
}

// TestCrashConsistency is a Jepsen-style queue check: clients post unique
// ids and keep the ones acknowledged while workers, the engine and the
// supervisor are killed with SIGKILL at random moments (the supervisor is
// then restarted); at the end every acknowledged id is in the state exactly
// once and nothing appears that was never sent. It runs with both
// durabilities: "none" skips the fdatasync, not the write before the 202,
// and commits on the event loop itself, so it must survive a process
// crash just the same (only a power loss may lose its last writes).
func TestCrashConsistency(t *testing.T) {
	for _, d := range []string{"sync", "none"} {
		t.Run(d, func(t *testing.T) { crashConsistency(t, d) })
	}
}

func crashConsistency(t *testing.T, durability string) {
	kills, clients, perClient := 12, 8, 150
	if testing.Short() {
		kills, perClient = 5, 60
	}
	if os.Getenv("JAWAS_CRASH_LARGE") != "" {
		kills, clients, perClient = 40, 16, 400
	}
	p := newProject(t, fmt.Sprintf("durability = %q\n", durability), map[string]string{"q.js": queueJS})
	p.start()

	var mu sync.Mutex
	acked := map[string]bool{}
	sentIDs := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() { // one client: sequential posts on a keep-alive connection
			defer wg.Done()
			c := &client{addr: p.addr}
			defer c.close()
			for i := 0; i < perClient; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("c%d-%d", w, i)
				mu.Lock()
				sentIDs[id] = true
				mu.Unlock()
				resp, _, err := c.do(post("/q.json", "application/json", `{"id":"`+id+`"}`))
				if err == nil && resp.StatusCode == 202 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				} else {
					time.Sleep(50 * time.Millisecond) // server restarting
				}
				time.Sleep(time.Duration(10+(i*7+w*13)%40) * time.Millisecond)
			}
		}()
	}
	rnd := uint64(time.Now().UnixNano())
	next := func(n int) int { rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17; return int(rnd % uint64(n)) }
	counts := map[string]int{}
	deadline := time.Now().Add(45 * time.Second)
	for k := 0; k < kills && time.Now().Before(deadline); k++ {
		time.Sleep(time.Duration(300+next(700)) * time.Millisecond)
		sup := p.cmd.Process.Pid
		ch := children(sup)
		what := []string{"worker", "worker", "engine", "supervisor"}[next(4)]
		switch what {
		case "supervisor":
			syscall.Kill(sup, syscall.SIGKILL)
			p.waitChildrenGone(sup)
			p.cmd = nil
			p.start()
		default:
			if pids := ch[what]; len(pids) > 0 {
				syscall.Kill(pids[next(len(pids))], syscall.SIGKILL)
			}
		}
		counts[what]++
	}
	close(stop)
	wg.Wait()
	// A last clean restart: replay from the checkpoint must not duplicate.
	// Every write was acknowledged before the stop, so each one's promised
	// boundary is at most the first boundary after it: a snapshot of a later
	// boundary must hold them all.
	p.stop()
	stopped := time.Now().UnixMilli()
	p.start()
	c := &client{addr: p.addr}
	defer c.close()
	var snap queueSnap
	waitFor(t, 20*time.Second, "a snapshot of a boundary after the restart", func() bool {
		s, err := c.snapshot("/q.json")
		snap = s
		return err == nil && s.Now > stopped
	})

	mu.Lock()
	defer mu.Unlock()
	inState := map[string]int{}
	for _, id := range snap.IDs {
		inState[id]++
	}
	lost, dup, phantom := 0, 0, 0
	for id := range acked {
		if inState[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s is not in the state", id)
			}
		}
	}
	for id, n := range inState {
		if n > 1 {
			dup++
			if dup <= 5 {
				t.Errorf("%s is in the state %d times", id, n)
			}
		}
		if !sentIDs[id] {
			phantom++
			t.Errorf("%s is in the state but was never sent", id)
		}
	}
	t.Logf("kills %v; sent %d, acknowledged %d, in state %d (unacknowledged but applied: %d); lost %d, duplicated %d, phantom %d",
		counts, len(sentIDs), len(acked), len(inState), len(inState)-len(acked)+lost, lost, dup, phantom)
	if len(acked) < clients*5 {
		t.Errorf("only %d writes acknowledged: the test exercised too little", len(acked))
	}
}

// TestRejections checks every refusal with its status code and headers,
// and that a reducer that throws rolls back only its own event.
func TestRejections(t *testing.T) {
	p := newProject(t, "max_body = 1024\nwrite_rate = 2.0\nwrite_burst = 3\n", nil)
	toml, _ := os.ReadFile(filepath.Join(p.dir, "jawas.toml"))
	toml = append(toml, "[source.secret]\nwrite_token = \"secret-token-0123456789\"\n"...)
	must(t, os.WriteFile(filepath.Join(p.dir, "jawas.toml"), toml, 0o644))
	must(t, os.MkdirAll(filepath.Join(p.dir, "sources"), 0o755))
	for name, code := range map[string]string{
		"q.js":      queueJS,
		"secret.js": queueJS,
		"clock.js":  "export default function render(s, ctx) { return { now: ctx.nowMs }; }\n",
	} {
		must(t, os.WriteFile(filepath.Join(p.dir, "sources", name), []byte(code), 0o644))
	}
	p.start()

	cases := []struct {
		name, req string
		status    int
		header    [2]string
		body      string
	}{
		{"no reducer", post("/clock.json", "application/json", `{}`), 405, [2]string{"Allow", "GET, HEAD, OPTIONS"}, ""},
		{"method without reducer", strings.Replace(post("/q.json", "application/json", `{}`), "POST", "PUT", 1), 405, [2]string{"Allow", "GET, HEAD, OPTIONS, POST"}, ""},
		{"other method, source with a reducer", strings.Replace(post("/q.json", "application/json", `{}`), "POST", "DELETE", 1), 405, [2]string{"Allow", "GET, HEAD, OPTIONS, POST"}, ""},
		{"other method, read-only source", strings.Replace(post("/clock.json", "application/json", `{}`), "POST", "DELETE", 1), 405, [2]string{"Allow", "GET, HEAD, OPTIONS"}, ""},
		{"not published", post("/nope.json", "application/json", `{}`), 404, [2]string{}, ""},
		{"bad JSON", post("/q.json", "application/json", `{"id": x}`), 400, [2]string{}, `"offset":7`}, // the x
		{"unsupported type", post("/q.json", "image/png", `x`), 415, [2]string{}, ""},
		{"too large", post("/q.json", "application/json", `{"id":"`+strings.Repeat("x", 2000)+`"}`), 413, [2]string{}, ""},
		{"no token", post("/secret.json", "application/json", `{"id":"s"}`), 401, [2]string{"WWW-Authenticate", `Bearer realm="jawas"`}, ""},
		{"wrong token", post("/secret.json", "application/json", `{"id":"s"}`, "Authorization: Bearer secret-token-0123456788"), 401, [2]string{}, ""},
		{"right token", post("/secret.json", "application/json", `{"id":"s"}`, "Authorization: Bearer secret-token-0123456789"), 202, [2]string{}, `"visible_at":`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{addr: p.addr}
			defer c.close()
			resp, body, err := c.do(tc.req)
			must(t, err)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q does not contain %q", body, tc.body)
			}
		})
	}

	// Rate: burst 3 at 2/s on one connection (one worker): the 4th at once is 429.
	t.Run("rate limit and rollback", func(t *testing.T) {
		time.Sleep(2 * time.Second) // refill the bucket used above
		c := &client{addr: p.addr}
		defer c.close()
		var ids []string
		var visible int64
		for i, body := range []string{`{"id":"a"}`, `{"id":"b","fail":true}`, `{"id":"c"}`} {
			resp, b, err := c.do(post("/q.json", "application/json", body))
			must(t, err)
			if resp.StatusCode != 202 {
				t.Fatalf("write %d: %d %s", i, resp.StatusCode, b)
			}
			var a ack
			must(t, json.Unmarshal(b, &a))
			ids = append(ids, a.ID)
			visible = max(visible, a.VisibleAt)
		}
		resp, _, err := c.do(post("/q.json", "application/json", `{"id":"d"}`))
		must(t, err)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("4th write at once: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// Right after its 202 an event is pending (or applied), on any
		// worker, even before the engine has read it.
		for _, id := range ids {
			for range 2 { // two connections: likely both workers
				c2 := &client{addr: p.addr}
				resp, b, err := c2.do(get("/_jawas/events/" + id))
				c2.close()
				must(t, err)
				if resp.StatusCode != 200 || strings.Contains(string(b), `"unknown"`) {
					t.Errorf("event %s right after its 202: %d %s", id, resp.StatusCode, b)
				}
			}
		}
		var snap queueSnap
		waitFor(t, 10*time.Second, fmt.Sprintf("the snapshot of the promised boundary %d", visible), func() bool {
			s, err := c.snapshot("/q.json")
			snap = s
			return err == nil && s.Now >= visible
		})
		if strings.Join(snap.IDs, ",") != "a,c" {
			t.Errorf("state ids %v, want [a c]: the throwing event must roll back alone", snap.IDs)
		}
		want := []string{"applied", "rejected", "applied"}
		for i, id := range ids {
			_, b, err := c.do(get("/_jawas/events/" + id))
			must(t, err)
			var st struct{ State, Reason string }
			must(t, json.Unmarshal(b, &st))
			if st.State != want[i] || (st.State == "rejected" && !strings.Contains(st.Reason, "rejected on purpose")) {
				t.Errorf("event %d: %s", i, b)
			}
		}
		// A well-formed ID no journal ever had is unknown (404), not
		// pending forever.
		resp, b, err := c.do(get("/_jawas/events/" + strings.Repeat("0", 24) + "-0000000000000001"))
		must(t, err)
		if resp.StatusCode != 404 || !strings.Contains(string(b), `"unknown"`) {
			t.Errorf("fabricated event id: %d %s; want 404 unknown", resp.StatusCode, b)
		}
	})

	// Rate across workers: every client here is 127.0.0.1; the test holds 4
	// connections on each worker (it finds which worker accepted each one
	// from /proc), so a limit kept per worker process would let 2 × the burst
	// through.
	t.Run("rate limit shared by the workers", func(t *testing.T) {
		time.Sleep(2 * time.Second) // refill the bucket used above (2/s, burst 3)
		workers := children(p.cmd.Process.Pid)["worker"]
		if len(workers) != 2 {
			t.Fatalf("worker pids %v, want 2", workers)
		}
		byWorker := map[int][]*client{}
		for i := 0; i < 64 && (len(byWorker[workers[0]]) < 4 || len(byWorker[workers[1]]) < 4); i++ {
			c := &client{addr: p.addr}
			defer c.close()
			if resp, _, err := c.do(get("/q.json")); err != nil || resp.StatusCode != 200 {
				t.Fatalf("connection %d: %v %v", i, resp, err) // opened before any write
			}
			w := serverPID(t, c.c, workers)
			if len(byWorker[w]) < 4 {
				byWorker[w] = append(byWorker[w], c)
			}
		}
		if len(byWorker[workers[0]]) < 4 || len(byWorker[workers[1]]) < 4 {
			t.Fatalf("64 connections did not give 4 on each worker: %d and %d", len(byWorker[workers[0]]), len(byWorker[workers[1]]))
		}
		accepted := map[int]int{}
		for i := range 4 { // alternately on each worker
			for _, w := range workers {
				resp, b, err := byWorker[w][i].do(post("/q.json", "application/json", fmt.Sprintf(`{"id":"r%d-%d"}`, w, i)))
				must(t, err)
				switch resp.StatusCode {
				case 202:
					accepted[w]++
				case 429:
				default:
					t.Fatalf("write %d on worker %d: %d %s", i, w, resp.StatusCode, b)
				}
			}
		}
		if n := accepted[workers[0]] + accepted[workers[1]]; n != 3 {
			t.Fatalf("%d writes accepted from one address over 4 connections on each of 2 workers (%v), want the burst of 3", n, accepted)
		}
	})

	// Pending cap: with the engine stopped (SIGSTOP) the journal grows past
	// max_pending_journal and writes get 503 with Retry-After.
	t.Run("pending cap", func(t *testing.T) {
		p.stop()
		toml, _ := os.ReadFile(filepath.Join(p.dir, "jawas.toml"))
		toml = []byte(strings.Replace(string(toml), "write_rate = 2.0\n", "max_pending_journal = 300\n", 1))
		must(t, os.WriteFile(filepath.Join(p.dir, "jawas.toml"), toml, 0o644))
		p.start()
		eng := children(p.cmd.Process.Pid)["engine"]
		if len(eng) != 1 {
			t.Fatalf("engine pids %v", eng)
		}
		syscall.Kill(eng[0], syscall.SIGSTOP)
		defer syscall.Kill(eng[0], syscall.SIGCONT)
		c := &client{addr: p.addr}
		defer c.close()
		got503 := false
		for i := 0; i < 40 && !got503; i++ {
			resp, _, err := c.do(post("/q.json", "application/json", fmt.Sprintf(`{"id":"p%d"}`, i)))
			must(t, err)
			if resp.StatusCode == 503 {
				got503 = resp.Header.Get("Retry-After") != ""
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !got503 {
			t.Errorf("no 503 with Retry-After while the engine was stopped")
		}
	})
}

// TestCorruptJournalStopsEngine damages a record in the middle of a segment
// and checks that the engine refuses to go on, naming the file and offset.
func TestCorruptJournalStopsEngine(t *testing.T) {
	p := newProject(t, "", map[string]string{"q.js": queueJS})
	p.start()
	// Stop the engine first so nothing is applied or compacted.
	eng := children(p.cmd.Process.Pid)["engine"]
	if len(eng) != 1 {
		t.Fatalf("engine pids %v", eng)
	}
	syscall.Kill(eng[0], syscall.SIGSTOP)
	c := &client{addr: p.addr}
	for i := 0; i < 5; i++ {
		resp, _, err := c.do(post("/q.json", "application/json", fmt.Sprintf(`{"id":"k%d"}`, i)))
		must(t, err)
		if resp.StatusCode != 202 {
			t.Fatalf("write %d: %d", i, resp.StatusCode)
		}
	}
	c.close()
	sup := p.cmd.Process.Pid
	syscall.Kill(sup, syscall.SIGKILL)
	syscall.Kill(eng[0], syscall.SIGCONT)
	p.waitChildrenGone(sup)
	p.cmd = nil
	segs, _ := filepath.Glob(filepath.Join(p.dir, ".jawas", "journal", "*.seg"))
	var seg string
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil && fi.Size() > 100 {
			seg = s
		}
	}
	if seg == "" {
		t.Fatalf("no segment with records among %v", segs)
	}
	data, err := os.ReadFile(seg)
	must(t, err)
	data[20] ^= 0xff // inside the first record's payload: its CRC fails, valid records follow
	must(t, os.WriteFile(seg, data, 0o644))

	cmd := exec.Command(jawasBin, "serve", "-C", p.dir)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	must(t, cmd.Start())
	p.cmd = cmd
	go cmd.Wait()
	want := filepath.Base(seg) + " at offset 0"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log.Name())
		if strings.Contains(string(b), "journal corrupt") && strings.Contains(string(b), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the log never said %q with %q", "journal corrupt", want)
}

// echoJS keeps every event as the reducers saw it.
const echoJS = `
export const initial = { seen: [] };
function keep(state, event) {
  state.seen.push({ id: event.id, method: event.method, body: event.body, kind: typeof event.body,
    isDate: event.time instanceof Date, timeMs: event.timeMs, ua: event.headers["user-agent"] || "",
    isCommittedDate: event.committed instanceof Date && event.committed.getTime() === event.committedMs, committedMs: event.committedMs });
}
export function post(state, event) { keep(state, event); }
export function put(state, event) { keep(state, event); }
export default function render(state) { return { seen: state.seen }; }
`

// TestBodiesAndFraming: each body type reaches the reducer as the issue
// says (JSON as a value, a form as an object, text as a string), framed by
// Content-Length or chunked, with Expect: 100-continue answered before the
// body is sent; the event carries id, method, time (arrival), committed
// and headers.
func TestBodiesAndFraming(t *testing.T) {
	p := newProject(t, "", map[string]string{"echo.js": echoJS})
	p.start()
	c := &client{addr: p.addr}
	defer c.close()
	var ids []string
	ack := func(resp *http.Response, b []byte, err error) {
		t.Helper()
		must(t, err)
		if resp.StatusCode != 202 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var a struct{ ID string }
		must(t, json.Unmarshal(b, &a))
		ids = append(ids, a.ID)
	}
	ack(c.do(post("/echo.json", "application/json", `{"n":1}`, "User-Agent: e2e-test")))
	ack(c.do(post("/echo.json", "application/x-www-form-urlencoded", `a=1&b=two+words&b=3`)))
	ack(c.do(strings.Replace(post("/echo.json", "text/plain; charset=utf-8", `héllo`), "POST", "PUT", 1)))
	ack(c.do("POST /echo.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\n[1,2\r\n3\r\n,3]\r\n0\r\n\r\n"))
	// Empty JSON is invalid JSON: 400 with the offset, Content-Length 0 or
	// none at all.
	for _, req := range []string{
		post("/echo.json", "application/json", ``),
		"POST /echo.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n",
	} {
		resp, b, err := c.do(req)
		must(t, err)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"offset":0`) {
			t.Errorf("empty JSON body: %d %s, want 400 with offset 0", resp.StatusCode, b)
		}
	}
	// A bodiless write (no Content-Type) is body null, empty text "" and
	// an empty form {}.
	ack(c.do("POST /echo.json HTTP/1.1\r\nHost: x\r\n\r\n"))
	ack(c.do(post("/echo.json", "text/plain", ``)))
	ack(c.do(post("/echo.json", "application/x-www-form-urlencoded", ``)))

	// Expect: 100-continue: the body goes only after the interim answer.
	conn, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	must(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	body := `"continued"`
	fmt.Fprintf(conn, "POST /echo.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	line, err := br.ReadString('\n')
	must(t, err)
	if !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q, want 100 Continue before the body", line)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue followed by %q", blank)
	}
	io.WriteString(conn, body)
	resp, err := http.ReadResponse(br, nil)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	ack(resp, b, nil)

	var snap struct {
		Seen []struct {
			ID, Method, Kind, UA    string
			Body                    any
			IsDate, IsCommittedDate bool
			TimeMs, CommittedMs     int64
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(snap.Seen) < len(ids) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		_, b, err := c.do(get("/echo.json"))
		must(t, err)
		must(t, json.Unmarshal(b, &snap))
	}
	if len(snap.Seen) != len(ids) {
		t.Fatalf("%d events applied, want %d: %+v", len(snap.Seen), len(ids), snap.Seen)
	}
	want := []struct {
		method, kind, body string
	}{
		{"POST", "object", `{"n":1}`},
		{"POST", "object", `{"a":"1","b":["two words","3"]}`},
		{"PUT", "string", `"héllo"`},
		{"POST", "object", `[1,2,3]`},
		{"POST", "object", `null`},
		{"POST", "string", `""`},
		{"POST", "object", `{}`},
		{"POST", "string", `"continued"`},
	}
	now := time.Now().UnixMilli()
	for i, e := range snap.Seen {
		got, _ := json.Marshal(e.Body)
		if e.ID != ids[i] || e.Method != want[i].method || e.Kind != want[i].kind || string(got) != want[i].body {
			t.Errorf("event %d: %+v body %s; want id %s %+v", i, e, got, ids[i], want[i])
		}
		if !e.IsDate || e.TimeMs <= 0 || e.TimeMs > now || now-e.TimeMs > 60000 {
			t.Errorf("event %d: time %v %d, want a Date of its arrival", i, e.IsDate, e.TimeMs)
		}
		// Arrival is when the worker read the request; the commit stamp
		// comes after it, by at most the commit window (10 ms) and the
		// time to reach the committer on a loaded machine.
		if !e.IsCommittedDate || e.CommittedMs < e.TimeMs || e.CommittedMs-e.TimeMs > 1000 {
			t.Errorf("event %d: committed %v %d, time %d: want a Date at or shortly after the arrival", i, e.IsCommittedDate, e.CommittedMs, e.TimeMs)
		}
	}
	if snap.Seen[0].UA != "e2e-test" {
		t.Errorf("event 0 user-agent %q, want e2e-test", snap.Seen[0].UA)
	}
}
