package writes_test

// End-to-end tests of the write path: the real jawas binary (supervisor,
// engine, workers), real sockets, real fsync, real signals.

import (
	"bufio"
	"encoding/json"
	"fmt"
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

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jawas-writes-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jawasBin = filepath.Join(dir, "jawas")
	build := exec.Command("go", "build", "-o", jawasBin, "../../cmd/jawas")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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
	must(t, os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(fmt.Sprintf("[serve]\nlisten = %q\nworkers = 2\nshutdown_timeout = \"2s\"\n%s", addr, toml)), 0o644))
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
// later than the first one after the acknowledgement.
func TestPostThenRead(t *testing.T) {
	p := newProject(t, "", map[string]string{"q.js": queueJS})
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
	time.Sleep(600 * time.Millisecond)
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
// once and nothing appears that was never sent.
func TestCrashConsistency(t *testing.T) {
	kills, clients, perClient := 12, 8, 150
	if testing.Short() {
		kills, perClient = 5, 60
	}
	if os.Getenv("JAWAS_CRASH_LARGE") != "" {
		kills, clients, perClient = 40, 16, 400
	}
	p := newProject(t, "", map[string]string{"q.js": queueJS})
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
	p.stop()
	p.start()
	time.Sleep(600 * time.Millisecond)
	c := &client{addr: p.addr}
	defer c.close()
	snap, err := c.snapshot("/q.json")
	must(t, err)

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
