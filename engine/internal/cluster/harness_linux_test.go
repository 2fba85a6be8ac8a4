package cluster_test

// The harness of the cluster's end-to-end tests: NATS servers (in this
// process, or as child processes of the test binary so they can be
// SIGKILLed), jawas nodes (the real binary, `jawas serve`), and a TCP
// proxy the test can cut. Loopback only; free ports; temp dirs; every
// process stopped by its pid.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/internal/testbin"
)

var jawasBin string

// envNATS makes the test binary a NATS server (natsChild): its value is
// the server's options as JSON.
const envNATS = "JAWAS_TEST_NATS_SERVER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envNATS); spec != "" {
		runNATSChild(spec)
		return
	}
	testbin.Main(m, &jawasBin)
}

// natsSpec is one NATS server of a test cluster.
type natsSpec struct {
	Name      string   `json:"name"`
	Port      int      `json:"port"`
	RoutePort int      `json:"route_port"`
	Routes    []string `json:"routes"`
	Dir       string   `json:"dir"`
}

func (s natsSpec) options() *server.Options {
	return &server.Options{
		ServerName: s.Name, Host: "127.0.0.1", Port: s.Port,
		JetStream: true, StoreDir: s.Dir, SyncAlways: true, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "jawastest", Host: "127.0.0.1", Port: s.RoutePort, NoAdvertise: true},
		Routes:  server.RoutesFromStr(strings.Join(s.Routes, ",")),
	}
}

func runNATSChild(spec string) {
	var s natsSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "nats child:", err)
		os.Exit(2)
	}
	srv, err := server.NewServer(s.options())
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats child:", err)
		os.Exit(2)
	}
	srv.Start()
	srv.WaitForShutdown()
}

// handedOut is every port freePort returned in this test process: the
// kernel may give a closed probe's port again, and two of our own servers
// were once handed the same one (a NATS client port and a node's HTTP
// port, started a few ms apart).
var (
	handedMu  sync.Mutex
	handedOut = map[int]bool{}
)

// freePort returns a loopback port nobody listens on now and that no
// earlier call in this process returned.
func freePort(t testing.TB) int {
	t.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatal("no fresh loopback port in 100 tries")
	return 0
}

// natsCluster is three NATS servers routed to each other.
type natsCluster struct {
	t      testing.TB
	specs  []natsSpec
	inProc []*server.Server // when in this process
	procs  []*exec.Cmd      // when child processes
}

// startNATS starts n servers, in this process or as child processes.
func startNATS(t testing.TB, n int, children bool) *natsCluster {
	t.Helper()
	nc := &natsCluster{t: t}
	var routes []string
	for i := 0; i < n; i++ {
		s := natsSpec{Name: fmt.Sprintf("s%d", i+1), Port: freePort(t), RoutePort: freePort(t), Dir: t.TempDir()}
		nc.specs = append(nc.specs, s)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", s.RoutePort))
	}
	for i := range nc.specs {
		nc.specs[i].Routes = routes
	}
	for i := range nc.specs {
		nc.start(i, children)
	}
	t.Cleanup(nc.stop)
	start := time.Now()
	nc.waitReady(30 * time.Second)
	t.Logf("%d NATS servers ready after %v", n, time.Since(start).Round(time.Millisecond))
	return nc
}

func (nc *natsCluster) start(i int, child bool) {
	t, s := nc.t, nc.specs[i]
	if !child {
		srv, err := server.NewServer(s.options())
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats %s did not start", s.Name)
		}
		for len(nc.inProc) <= i {
			nc.inProc = append(nc.inProc, nil)
		}
		nc.inProc[i] = srv
		return
	}
	b, _ := json.Marshal(s)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNATS+"="+string(b))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	for len(nc.procs) <= i {
		nc.procs = append(nc.procs, nil)
	}
	nc.procs[i] = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats child %s did not listen", s.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// index returns the index of the server named name.
func (nc *natsCluster) index(t testing.TB, name string) int {
	t.Helper()
	for i, s := range nc.specs {
		if s.Name == name {
			return i
		}
	}
	t.Fatalf("NATS server %q is none of ours", name)
	return -1
}

// kill SIGKILLs child server i.
func (nc *natsCluster) kill(i int) {
	nc.procs[i].Process.Signal(syscall.SIGKILL)
}

// restart starts server i again on its store.
func (nc *natsCluster) restart(i int) { nc.start(i, true) }

func (nc *natsCluster) stop() {
	for _, s := range nc.inProc {
		if s != nil {
			s.Shutdown()
		}
	}
	for _, p := range nc.procs {
		if p != nil && p.Process != nil {
			p.Process.Signal(syscall.SIGKILL)
		}
	}
}

// urls is the nats_url value naming every server.
func (nc *natsCluster) urls() string {
	var u []string
	for _, s := range nc.specs {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", s.Port))
	}
	return strings.Join(u, ",")
}

// waitReady waits until JetStream answers (a meta leader is elected).
func (nc *natsCluster) waitReady(d time.Duration) {
	t := nc.t
	c, err := nats.Connect(nc.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	js, _ := jetstream.New(c)
	deadline := time.Now().Add(d)
	for {
		// Short attempts: a request sent before the meta leader is
		// elected goes unanswered, and a long one waited it out (every
		// start took 1.1 s with 1 s attempts).
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logJS records every posted id and renders the boundary with them.
const logJS = `
export const initial = { ids: [] };
export function post(state, event) { state.ids.push(event.body.id); }
export default function render(state, ctx) { return { now: ctx.nowMs, ids: state.ids }; }
`

// node is one jawas node: `jawas serve` of its own project dir.
type node struct {
	t       testing.TB
	id      string
	dir     string
	data    string
	addr    string
	cmd     *exec.Cmd
	env     []string
	logPath string
	exited  chan struct{}
}

// nodeConfig is what a test node's jawas.toml says.
type nodeConfig struct {
	id       string
	natsURL  string
	roles    string // TOML list; default both
	writeAck string
	extra    string // more [cluster] lines
	env      []string
	source   string // sources/log.js; default logJS
}

func newNode(t testing.TB, nc nodeConfig) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, id: nc.id, dir: dir, data: filepath.Join(dir, "data"), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), env: nc.env}
	if nc.roles == "" {
		nc.roles = `["serve", "engine"]`
	}
	if nc.writeAck == "" {
		nc.writeAck = "replicated"
	}
	natsLine := ""
	if nc.natsURL != "" {
		natsLine = fmt.Sprintf("nats_url = %q", nc.natsURL)
	}
	toml := fmt.Sprintf(`period = "200ms"
timeout = "2s" # generous: the test machine is shared and loaded
[serve]
listen = %q
workers = 1
data_dir = "data"
[cluster]
enabled = true
node_id = %q
roles = %s
%s
lease_ttl = "1s"
write_ack = %q
%s
`, n.addr, nc.id, nc.roles, natsLine, nc.writeAck, nc.extra)
	must(t, os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "sources"), 0o755))
	src := logJS
	if nc.source != "" {
		src = nc.source
	}
	must(t, os.WriteFile(filepath.Join(dir, "sources", "log.js"), []byte(src), 0o644))
	n.start()
	t.Cleanup(n.kill)
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (n *node) start() {
	n.logPath = filepath.Join(n.dir, fmt.Sprintf("serve-%d.log", time.Now().UnixNano()))
	lf, err := os.Create(n.logPath)
	must(n.t, err)
	defer lf.Close()
	n.cmd = exec.Command(jawasBin, "serve")
	n.cmd.Dir = n.dir
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(n.t, n.cmd.Start())
	n.exited = make(chan struct{})
	cmd, exited := n.cmd, n.exited
	go func() { cmd.Wait(); close(exited) }()
}

// kill SIGKILLs the node's supervisor (its children follow) and waits.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	// The children exit when they see their supervisor gone.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && childrenOf(n.dir) {
		time.Sleep(20 * time.Millisecond)
	}
}

// childrenOf reports whether any live process runs in dir (the node's
// engine or workers, which keep its project dir as their cwd).
func childrenOf(dir string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || cwd != dir {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil && !bytes.Contains(st, []byte(") Z ")) {
			return true
		}
	}
	return false
}

func (n *node) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(n.dir, "serve-*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// logDoc is /log.json.
type logDoc struct {
	Now int64    `json:"now"`
	IDs []string `json:"ids"`
}

// read gets /log.json: its document and headers.
func (n *node) read() (logDoc, http.Header, error) {
	var d logDoc
	resp, err := client.Get("http://" + n.addr + "/log.json")
	if err != nil {
		return d, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return d, nil, err
	}
	if resp.StatusCode != 200 {
		return d, resp.Header, fmt.Errorf("GET /log.json on %s: %d %s", n.id, resp.StatusCode, body)
	}
	return d, resp.Header, json.Unmarshal(body, &d)
}

// accepted is a 202's answer.
type accepted struct {
	ID         string `json:"id"`
	VisibleAt  int64  `json:"visible_at"`
	Replicated string `json:"-"`
}

// post posts {"id": id} to /log.json.
func (n *node) post(id string) (accepted, error) {
	var a accepted
	resp, err := client.Post("http://"+n.addr+"/log.json", "application/json", strings.NewReader(`{"id":"`+id+`"}`))
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 {
		return a, fmt.Errorf("POST on %s: %d %s", n.id, resp.StatusCode, body)
	}
	a.Replicated = resp.Header.Get("X-Jawas-Replicated")
	return a, json.Unmarshal(body, &a)
}

// status reads the cluster section of /_jawas/status.json.
func (n *node) status() (map[string]any, error) {
	resp, err := client.Get("http://" + n.addr + "/_jawas/status.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Cluster map[string]any `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	return doc.Cluster, nil
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderOf returns which node leads, per the cluster status of any node.
func leaderOf(nodes []*node) string {
	for _, n := range nodes {
		if st, err := n.status(); err == nil && st != nil {
			if st["role"] == "leader" {
				return n.id
			}
		}
	}
	return ""
}

// proxy is a TCP proxy the test can cut and heal.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &proxy{l: l, target: target}
	go p.accept()
	t.Cleanup(func() { l.Close(); p.setCut(true) })
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close(); c.Close() }()
		go func() { io.Copy(c, u); u.Close(); c.Close() }()
	}
}

// setCut cuts (closing every connection, refusing new ones) or heals.
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}
