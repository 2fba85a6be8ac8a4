//go:build linux

// Command cluster benchmarks cluster mode (README "Cluster mode") with the
// real binary, on loopback, against the goals of issue 17, each printed
// beside its figure and the same run's single-node baseline. Usage:
// go run ./bench/cluster -jawas bin/jawas. The parts:
//
//   - Writes: acknowledged writes/s with write_ack = "replicated" on three
//     nodes that embed the NATS servers (fsync before every ack), for each
//     -writers count of connections spread over the three, flat out. Only
//     answers with X-Jawas-Replicated: yes count. At a fixed concurrency
//     writes/s is the concurrency over a write's round trip, which the
//     replicated fsync lengthens, so more than one count is shown.
//     Baseline: one node without cluster mode (durability sync), the same
//     client and count. -rounds windows of each, alternating; medians.
//     Goal ≥ 5,000/s.
//   - Write-to-visible: -visible writes one at a time to node k, each
//     polled on node k+1 until served; p50 and p99 in periods. Goal ≤ 2.
//   - Reads: GET req/s of -readers connections flat out against a node that
//     does not lead (it mirrors the leader's snapshots) vs the single node,
//     in -read-rounds back-to-back pairs (ABBA order); the median of the
//     pairs' ratios. Goal ≥ 0.95×.
//   - Failover: three more nodes on three NATS servers run by this program
//     (external NATS, as a deployment with its own NATS cluster), default
//     lease_ttl unless -lease-ttl: -failovers times, SIGKILL of the leading
//     node's whole process group (supervisor, engine and workers at once,
//     as a crash), then the time until another node serves a snapshot of a
//     boundary after the kill. Goal < 3 s. Then the same on the embedded
//     cluster, where the killed node's NATS server dies with it
//     (-failovers-embedded times).
//
// Every load is bounded by its window; the whole run takes about three
// minutes. The load client is bench/internal/epollhttp (event loops on raw
// sockets, the cheapest per request here). JAWAS_BENCH_KEEP=1 leaves the
// nodes' directories (logs, journals) behind; JAWAS_BENCH_LOG_LEVEL=debug
// has the nodes log at debug (lease campaigns, the embedded NATS servers'
// elections).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/bench/internal/epollhttp"
	"github.com/jawas/jawas/bench/internal/jawasproc"
	"github.com/jawas/jawas/bench/internal/proc"
)

// countJS counts writes and keeps the last 16 ids: a small render, so the
// figures are the write path's, not the JSON of a growing list.
const countJS = `
export const initial = { n: 0, ids: [] };
export function post(state, event) { state.n++; state.ids.push(event.body.id); if (state.ids.length > 16) state.ids.shift(); }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n, ids: state.ids }; }
`

const period = 200 * time.Millisecond

var (
	bin          = flag.String("jawas", "bin/jawas", "jawas binary")
	window       = flag.Duration("d", 3*time.Second, "each write window (after -warmup)")
	warmup       = flag.Duration("warmup", 500*time.Millisecond, "load before each measured window")
	rounds       = flag.Int("rounds", 3, "write windows per setup (alternating); medians printed")
	writers      = flag.String("writers", "64,256", "comma-separated write connection counts (spread over the cluster's nodes), each measured")
	genThreads   = flag.Int("gen-threads", 2, "event loops of the write load")
	visible      = flag.Int("visible", 50, "writes timed from post to served on another node")
	readers      = flag.Int("readers", 32, "read connections")
	readWin      = flag.Duration("read-window", time.Second, "each read window (after a 300 ms warmup)")
	readRounds   = flag.Int("read-rounds", 12, "pairs of read windows (cluster follower, single node)")
	failovers    = flag.Int("failovers", 3, "leader SIGKILLs on the external-NATS cluster")
	failoversEmb = flag.Int("failovers-embedded", 2, "leader SIGKILLs on the embedded cluster (its NATS server dies too)")
	leaseTTL     = flag.String("lease-ttl", "", "cluster.lease_ttl of every node (empty: jawas's default)")
	serveExtra   = flag.String("serve-extra", "", "more [serve] lines for the cluster's nodes, e.g. 'commit_window = \"0\"' (experiments)")
	only         = flag.String("only", "", "comma-separated parts to run: writes, visible, reads, failover, failover-embedded (empty: all)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster bench:", err)
		os.Exit(1)
	}
}

func want(part string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), part)
}

func run() error {
	root, err := os.MkdirTemp("", "jawas-bench-cluster-")
	if err != nil {
		return err
	}
	defer func() {
		if os.Getenv("JAWAS_BENCH_KEEP") == "" {
			os.RemoveAll(root)
		} else {
			fmt.Fprintln(os.Stderr, "kept", root)
		}
	}()
	fmt.Printf("load average at start: %s; lease_ttl %s\n\n", jawasproc.LoadAvg(), orDefault(*leaseTTL, "2s (default)"))

	var all []*node
	defer func() {
		for _, n := range all {
			n.stop()
		}
	}()
	if want("writes") || want("visible") || want("reads") || want("failover-embedded") {
		cl, err := embeddedCluster(filepath.Join(root, "emb"))
		all = append(all, cl...)
		if err != nil {
			return err
		}
		single, err := startNode(filepath.Join(root, "single"), "single", "")
		if err != nil {
			return err
		}
		all = append(all, single)
		if want("writes") {
			if err := benchWrites(cl, single); err != nil {
				return err
			}
		}
		if want("visible") {
			if err := benchVisible(cl); err != nil {
				return err
			}
		}
		if want("reads") {
			if err := benchReads(cl, single); err != nil {
				return err
			}
		}
		if want("failover-embedded") && *failoversEmb > 0 {
			if err := benchFailover(cl, "embedded NATS: the killed node's server dies with it", *failoversEmb, true); err != nil {
				return err
			}
		}
		for _, n := range cl {
			n.stop()
		}
		single.stop()
	}
	if want("failover") && *failovers > 0 {
		stopNATS, urls, err := startNATS(filepath.Join(root, "nats"))
		if err != nil {
			return err
		}
		defer stopNATS()
		var cl []*node
		for i := 1; i <= 3; i++ {
			n, err := startNode(filepath.Join(root, fmt.Sprintf("x%d", i)), fmt.Sprintf("x%d", i),
				fmt.Sprintf("nats_url = %q\n", urls))
			all = append(all, n)
			if err != nil {
				return err
			}
			n.natsURL = urls
			cl = append(cl, n)
		}
		if err := waitServing(cl, 60*time.Second); err != nil {
			return err
		}
		if err := benchFailover(cl, "external NATS (three servers); the killed node is jawas only", *failovers, false); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average at end: %s (other work on the machine moves every figure; compare within one run)\n", jawasproc.LoadAvg())
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// --- nodes ----------------------------------------------------------------------

// node is one `jawas serve` of its own project directory.
type node struct {
	id, dir, addr string
	natsURL       string // the NATS URLs it connects to
	monitor       string // its embedded NATS server's monitoring address ("" = not embedded)
	cmd           *exec.Cmd
	exited        chan struct{}
	logf          *os.File
}

var (
	handedMu  sync.Mutex
	handedOut = map[int]bool{}
)

// freePort returns a loopback port nobody listens on and that this
// program never returned before.
func freePort() (int, error) {
	handedMu.Lock()
	defer handedMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[p] {
			handedOut[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no fresh loopback port")
}

// startNode writes dir's project (sources/log.js = countJS) and starts
// it; clusterLines, when not empty, are the [cluster] section's keys
// besides enabled and node_id (none: a single node).
func startNode(dir, id, clusterLines string) (*node, error) {
	p, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{id: id, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", p)}
	toml := fmt.Sprintf("period = %q\ntimeout = \"2s\"\n[serve]\nlisten = %q\ndata_dir = \"data\"\nshutdown_timeout = \"3s\"\n", period.String(), n.addr)
	if clusterLines != "" {
		toml += *serveExtra + "\n"
		toml += fmt.Sprintf("[cluster]\nenabled = true\nnode_id = %q\n%s", id, clusterLines)
		if *leaseTTL != "" {
			toml += fmt.Sprintf("lease_ttl = %q\n", *leaseTTL)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "sources"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sources", "log.js"), []byte(countJS), 0o644); err != nil {
		return nil, err
	}
	return n, n.start()
}

func (n *node) start() error {
	lf, err := os.OpenFile(filepath.Join(n.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.logf = lf
	n.cmd = exec.Command(*bin, "serve", "-log-level", cmp.Or(os.Getenv("JAWAS_BENCH_LOG_LEVEL"), "info"))
	n.cmd.Dir = n.dir
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	// Its own process group: a crash is a SIGKILL of the group (supervisor,
	// engine and workers at once).
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	n.exited = make(chan struct{})
	cmd, exited := n.cmd, n.exited
	go func() { cmd.Wait(); close(exited) }() // reaps the supervisor
	return nil
}

// crash SIGKILLs the node's process group and waits until none of its
// processes is left.
func (n *node) crash() {
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.exited
	n.logf.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && childrenOf(n.dir); {
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the node cleanly (SIGTERM; SIGKILL of its group after 15 s).
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	jawasproc.Stop(n.cmd)
	<-n.exited
	n.logf.Close()
}

// childrenOf reports whether a live process runs in dir (the node's
// engine or workers keep its project dir as their cwd).
func childrenOf(dir string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || cwd != dir {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
			return true
		}
	}
	return false
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

type logDoc struct {
	Now int64    `json:"now"` // the boundary's time, Unix ms
	N   int64    `json:"n"`
	IDs []string `json:"ids"`
}

func (n *node) read() (logDoc, error) {
	var d logDoc
	resp, err := client.Get("http://" + n.addr + "/log.json")
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return d, err
	}
	if resp.StatusCode != 200 {
		return d, fmt.Errorf("GET /log.json on %s: %d", n.id, resp.StatusCode)
	}
	return d, json.Unmarshal(b, &d)
}

func (n *node) post(id string) (string, error) {
	resp, err := client.Post("http://"+n.addr+"/log.json", "application/json", strings.NewReader(`{"id":"`+id+`"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 202 {
		return "", fmt.Errorf("POST on %s: %d", n.id, resp.StatusCode)
	}
	return resp.Header.Get("X-Jawas-Replicated"), nil
}

// role is the node's cluster role from /_jawas/status.json.
func (n *node) role() string {
	resp, err := client.Get("http://" + n.addr + "/_jawas/status.json")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var doc struct {
		Cluster struct {
			Role string `json:"role"`
		} `json:"cluster"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	return doc.Cluster.Role
}

// forwarded sums, over nodes, the records and stream messages their
// forwarders shipped (from the nodes' entries in /_jawas/status.json).
func forwarded(nodes []*node) (records, messages int64) {
	for _, n := range nodes {
		resp, err := client.Get("http://" + n.addr + "/_jawas/status.json")
		if err != nil {
			continue
		}
		var doc struct {
			Cluster struct {
				Nodes []struct {
					Node      string `json:"node"`
					Forwarder struct {
						Records  int64 `json:"records"`
						Messages int64 `json:"messages"`
					} `json:"forwarder"`
				} `json:"nodes"`
			} `json:"cluster"`
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		for _, e := range doc.Cluster.Nodes {
			if e.Node == n.id {
				records += e.Forwarder.Records
				messages += e.Forwarder.Messages
			}
		}
	}
	return records, messages
}

func leaderOf(nodes []*node) *node {
	for _, n := range nodes {
		if n.role() == "leader" {
			return n
		}
	}
	return nil
}

// waitServing waits until every node serves /log.json and one leads.
func waitServing(nodes []*node, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, n := range nodes {
		for {
			if _, err := n.read(); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not serve /log.json after %v (log %s)", n.id, d, filepath.Join(n.dir, "log"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for leaderOf(nodes) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader after %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// waitReplicasCurrent waits until every stream of the NATS cluster at urls
// (the journal, the events, the buckets' streams) has a leader and every
// replica online and current, and, when notOn is not "", no stream's
// leader is the server named notOn.
func waitReplicasCurrent(urls, notOn string, d time.Duration) error {
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for {
		lagging := ""
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		names := js.StreamNames(ctx)
		for name := range names.Name() {
			st, err := js.Stream(ctx, name)
			if err != nil {
				lagging = name + ": " + err.Error()
				break
			}
			ci := st.CachedInfo().Cluster
			if ci == nil || ci.Leader == "" {
				lagging = name + ": no leader"
				break
			}
			for _, r := range ci.Replicas {
				if r.Offline || !r.Current {
					lagging = name + ": replica " + r.Name + " not current"
				}
			}
			if notOn != "" && ci.Leader == notOn {
				lagging = name + ": led by " + notOn
			}
			if lagging != "" {
				break
			}
		}
		if lagging == "" && names.Err() != nil {
			lagging = names.Err().Error()
		}
		cancel()
		if lagging == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("NATS streams not current after %v: %s", d, lagging)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSteady waits until every stream has a leader and its replicas are
// current and, with embedded servers, until the engine's node leads no
// stream (30 s at most: past that it says so, and the kill goes ahead).
func waitSteady(cl []*node, embedded bool) error {
	if err := waitReplicasCurrent(cl[0].natsURL, "", 60*time.Second); err != nil {
		return err
	}
	if !embedded {
		return nil
	}
	l := leaderOf(cl)
	if l == nil {
		return nil
	}
	if err := waitReplicasCurrent(cl[0].natsURL, l.id, 30*time.Second); err != nil {
		fmt.Printf("  (not steady before the next kill: %v)\n", err)
	}
	return nil
}

// waitNATSHealthy waits until every embedded NATS server answers /healthz
// with 200: its JetStream current with the metadata leader and with every
// stream and consumer it holds. The streams' leaders can report a
// restarted replica current before it is (waitReplicasCurrent passed
// 0.5 s after a restart whose server still logged "JetStream is not
// current with the meta leader", and the next kill took 4.08 s).
func waitNATSHealthy(cl []*node, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, n := range cl {
		if n.monitor == "" {
			continue
		}
		for {
			resp, err := http.Get("http://" + n.monitor + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: NATS /healthz not 200 after %v (%v)", n.id, d, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// embeddedCluster starts three nodes that embed the NATS servers.
func embeddedCluster(dir string) ([]*node, error) {
	var clientPorts, routePorts, monPorts [3]int
	var routes []string
	for i := range 3 {
		var err error
		if clientPorts[i], err = freePort(); err != nil {
			return nil, err
		}
		if monPorts[i], err = freePort(); err != nil {
			return nil, err
		}
		if routePorts[i], err = freePort(); err != nil {
			return nil, err
		}
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i])))
	}
	var nodes []*node
	for i := range 3 {
		lines := fmt.Sprintf("embed = true\nembed_listen = \"127.0.0.1:%d\"\nembed_cluster = \"127.0.0.1:%d\"\nembed_routes = [%s]\nembed_monitor = \"127.0.0.1:%d\"\n",
			clientPorts[i], routePorts[i], strings.Join(routes, ", "), monPorts[i])
		n, err := startNode(filepath.Join(dir, fmt.Sprintf("e%d", i+1)), fmt.Sprintf("e%d", i+1), lines)
		if err != nil {
			return nodes, err
		}
		n.monitor = fmt.Sprintf("127.0.0.1:%d", monPorts[i])
		n.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i])
		nodes = append(nodes, n)
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.natsURL)
	}
	for _, n := range nodes {
		n.natsURL = strings.Join(urls, ",")
	}
	return nodes, waitServing(nodes, 60*time.Second)
}

// startNATS runs three JetStream servers routed to each other in this
// process (fsync before every ack, as jawas's embedded ones), and returns
// their client URLs.
func startNATS(dir string) (stop func(), urls string, err error) {
	var srvs []*server.Server
	stop = func() {
		for _, s := range srvs {
			s.Shutdown()
		}
	}
	var ports, rports [3]int
	var routes, u []string
	for i := range 3 {
		if ports[i], err = freePort(); err != nil {
			return stop, "", err
		}
		if rports[i], err = freePort(); err != nil {
			return stop, "", err
		}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", rports[i]))
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for i := range 3 {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("s%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprint(i+1)), SyncAlways: true, NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "benchnats", Host: "127.0.0.1", Port: rports[i], NoAdvertise: true},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			return stop, "", err
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			return stop, "", fmt.Errorf("nats s%d did not start", i+1)
		}
		srvs = append(srvs, s)
	}
	return stop, strings.Join(u, ","), nil
}

// --- writes -----------------------------------------------------------------------

var postReq = []byte("POST /log.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"id\":\"b\"}")

// writeWindow runs -writers connections flat out against addrs for one
// window and returns the answers per second (all 202s, and those marked
// replicated), the CPU the nodes' trees used per 202, and the part of it
// their supervisors used (where the embedded NATS servers run).
func writeWindow(nodes []*node, conns int) (all, replicated, cpuUS, supUS float64) {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	c := &epollhttp.Counts{Mark: "\r\nX-Jawas-Replicated: yes\r\n"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	epollhttp.Load(addrs, postReq, 202, conns, *genThreads, 0, c, stop, &wg)
	time.Sleep(*warmup)
	cpu0, sup0 := treesCPU(nodes), supervisorsCPU(nodes)
	t0, n0, r0 := time.Now(), c.OK.Load(), c.Marked.Load()
	time.Sleep(*window)
	n1, r1, secs := c.OK.Load(), c.Marked.Load(), time.Since(t0).Seconds()
	cpu, sup := treesCPU(nodes)-cpu0, supervisorsCPU(nodes)-sup0
	close(stop)
	wg.Wait()
	all, replicated = float64(n1-n0)/secs, float64(r1-r0)/secs
	if n1 > n0 {
		cpuUS = float64(cpu.Microseconds()) / float64(n1-n0)
		supUS = float64(sup.Microseconds()) / float64(n1-n0)
	}
	return all, replicated, cpuUS, supUS
}

func supervisorsCPU(nodes []*node) time.Duration {
	var t time.Duration
	for _, n := range nodes {
		if c, err := proc.Self(n.cmd.Process.Pid); err == nil {
			t += c.Total()
		}
	}
	return t
}

func treesCPU(nodes []*node) time.Duration {
	var t time.Duration
	for _, n := range nodes {
		if c, err := proc.Tree(n.cmd.Process.Pid); err == nil {
			t += c.Total()
		}
	}
	return t
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func list(xs []float64, format string) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf(format, x))
	}
	return strings.Join(s, ", ")
}

func benchWrites(cl []*node, single *node) error {
	var counts []int
	for _, f := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-writers %q: want comma-separated counts", *writers)
		}
		counts = append(counts, n)
	}
	fmt.Printf("## Writes: flat out, %v windows after %v warmup, %d alternating rounds per writer count (client: bench/internal/epollhttp, %d loops)\n\n",
		*window, *warmup, *rounds, *genThreads)
	// What the nodes cost with nothing to do (periods, heads, mirrors,
	// status, NATS heartbeats): a floor under the CPU per write.
	c0, s0 := treesCPU(cl), treesCPU([]*node{single})
	time.Sleep(2 * time.Second)
	fmt.Printf("idle, 2 s: the cluster's three trees used %.0f%% of a core, the single node %.0f%%\n\n",
		100*(treesCPU(cl)-c0).Seconds()/2, 100*(treesCPU([]*node{single})-s0).Seconds()/2)
	fmt.Printf("| writers | setup | writes/s (median) | windows | nodes' CPU µs/write (median) | records per stream message |\n|---:|---|---:|---|---:|---:|\n")
	var verdicts []string
	for _, conns := range counts {
		var cRep, cAll, cCPU, cSup, sAll, sCPU []float64
		rec0, msg0 := forwarded(cl)
		for r := 0; r < *rounds; r++ {
			for k := 0; k < 2; k++ {
				if (r+k)%2 == 0 {
					all, rep, cpu, sup := writeWindow(cl, conns)
					cAll, cRep, cCPU, cSup = append(cAll, all), append(cRep, rep), append(cCPU, cpu), append(cSup, sup)
				} else {
					all, _, cpu, _ := writeWindow([]*node{single}, conns)
					sAll, sCPU = append(sAll, all), append(sCPU, cpu)
				}
			}
		}
		time.Sleep(time.Second) // the nodes' status is refreshed every 500 ms
		rec1, msg1 := forwarded(cl)
		fmt.Printf("| %d | cluster, 3 nodes, embedded NATS, write_ack replicated: answered `X-Jawas-Replicated: yes` | **%.0f** | %s | %.1f (of which supervisors, with NATS: %.1f) | %.1f |\n",
			conns, median(cRep), list(cRep, "%.0f"), median(cCPU), median(cSup), float64(rec1-rec0)/float64(max(msg1-msg0, 1)))
		fmt.Printf("| %d | cluster: every 202 (replicated or pending) | %.0f | %s | | |\n", conns, median(cAll), list(cAll, "%.0f"))
		fmt.Printf("| %d | baseline: one node, no cluster (durability sync), same client | %.0f | %s | %.1f | |\n", conns, median(sAll), list(sAll, "%.0f"), median(sCPU))
		ok := "MET"
		if median(cRep) < 5000 {
			ok = "NOT met"
		}
		verdicts = append(verdicts, fmt.Sprintf("%d writers: %.0f/s (%.2f× the single node) — goal ≥ 5,000/s: %s", conns, median(cRep), median(cRep)/max(median(sAll), 1), ok))
	}
	fmt.Printf("\nreplicated writes/s: %s\n\n", strings.Join(verdicts, "; "))
	return nil
}

// --- write-to-visible ---------------------------------------------------------------

func benchVisible(cl []*node) error {
	var lat []time.Duration
	pending := 0
	for k := 0; k < *visible; k++ {
		id := fmt.Sprintf("vis-%d-%d", time.Now().UnixNano(), k)
		from, to := cl[k%3], cl[(k+1)%3]
		t0 := time.Now()
		rep, err := from.post(id)
		if err != nil {
			return err
		}
		if rep != "yes" {
			pending++
		}
		for {
			d, err := to.read()
			if err == nil && slices.Contains(d.IDs, id) {
				break
			}
			if time.Since(t0) > 10*time.Second {
				return fmt.Errorf("%s posted on %s not served by %s after 10 s", id, from.id, to.id)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
		// The next write at a random point of the period.
		time.Sleep(time.Duration(k*37%200) * time.Millisecond)
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	p50, p99 := p(0.5), p(0.99)
	ok := "MET"
	if p99 > 2*period {
		ok = "NOT met"
	}
	fmt.Printf("## Write-to-visible on another node: %d writes one at a time (post on node k, poll node k+1 every 2 ms), period %v\n\n", len(lat), period)
	fmt.Printf("p50 %v (%.2f periods), p99 %v (%.2f periods), max %v; %d answered pending — goal p99 ≤ 2 periods: %s\n\n",
		p50.Round(time.Millisecond), p50.Seconds()/period.Seconds(), p99.Round(time.Millisecond), p99.Seconds()/period.Seconds(),
		lat[len(lat)-1].Round(time.Millisecond), pending, ok)
	return nil
}

// --- reads ----------------------------------------------------------------------------

var getReq = []byte("GET /log.json HTTP/1.1\r\nHost: x\r\n\r\n")

// readWindow runs -readers connections flat out against n for one window:
// req/s and n's tree CPU µs per request.
func readWindow(n *node) (rate, treeUS, workersUS float64) {
	c := &epollhttp.Counts{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	epollhttp.Load([]string{n.addr}, getReq, 200, *readers, 1, 0, c, stop, &wg)
	time.Sleep(300 * time.Millisecond)
	cpu0, w0 := treesCPU([]*node{n}), n.workersCPU()
	t0, n0 := time.Now(), c.OK.Load()
	time.Sleep(*readWin)
	n1, secs := c.OK.Load(), time.Since(t0).Seconds()
	cpu, w := treesCPU([]*node{n})-cpu0, n.workersCPU()-w0
	close(stop)
	wg.Wait()
	if n1 > n0 {
		treeUS = float64(cpu.Microseconds()) / float64(n1-n0)
		workersUS = float64(w.Microseconds()) / float64(n1-n0)
	}
	return float64(n1-n0) / secs, treeUS, workersUS
}

var enginePidRe = regexp.MustCompile(`role=engine pid=(\d+)`)

// workersCPU is the CPU of n's workers: its tree less the supervisor
// (and the NATS server it embeds) and the engine process (the node's
// forwarder, mirror or engine), found by the pid its log names last.
func (n *node) workersCPU() time.Duration {
	pid := n.cmd.Process.Pid
	tree, err := proc.Tree(pid)
	if err != nil {
		return 0
	}
	t := tree.Total()
	if c, err := proc.Self(pid); err == nil {
		t -= c.Total()
	}
	b, _ := os.ReadFile(filepath.Join(n.dir, "log"))
	if m := enginePidRe.FindAllSubmatch(b, -1); len(m) > 0 {
		if e, err := strconv.Atoi(string(m[len(m)-1][1])); err == nil {
			if c, err := proc.Self(e); err == nil {
				t -= c.Total()
			}
		}
	}
	return t
}

func benchReads(cl []*node, single *node) error {
	var f *node
	for _, n := range cl {
		if n.role() == "follower" {
			f = n
			break
		}
	}
	if f == nil {
		return errors.New("reads: no follower node")
	}
	var ratios, cR, sR, cUS, sUS, cW, sW []float64
	for r := 0; r < *readRounds; r++ {
		var c, s, cu, su, cw, sw float64
		if r%4 == 0 || r%4 == 3 { // ABBA
			c, cu, cw = readWindow(f)
			s, su, sw = readWindow(single)
		} else {
			s, su, sw = readWindow(single)
			c, cu, cw = readWindow(f)
		}
		ratios, cR, sR, cUS, sUS = append(ratios, c/s), append(cR, c), append(sR, s), append(cUS, cu), append(sUS, su)
		cW, sW = append(cW, cw), append(sW, sw)
	}
	ok := "MET"
	if median(ratios) < 0.95 {
		ok = "NOT met"
	}
	fmt.Printf("## Reads: %d connections flat out on GET /log.json, %d back-to-back pairs of %v windows (ABBA)\n\n", *readers, *readRounds, *readWin)
	fmt.Printf("| | req/s (median) | windows | node's CPU µs/req (median) | its workers' µs/req (median) |\n|---|---:|---|---:|---:|\n")
	fmt.Printf("| cluster node %s (follower: mirrors the leader's snapshots; its tree includes its NATS server) | %.0f | %s | %.1f | %.1f |\n", f.id, median(cR), list(cR, "%.0f"), median(cUS), median(cW))
	fmt.Printf("| baseline: one node, no cluster | %.0f | %s | %.1f | %.1f |\n", median(sR), list(sR, "%.0f"), median(sUS), median(sW))
	fmt.Printf("\ncluster ÷ single, median of the pairs' ratios: **%.2f×** (pairs: %s) — goal ≥ 0.95×: %s\n\n", median(ratios), list(ratios, "%.2f"), ok)
	return nil
}

// --- failover -----------------------------------------------------------------------

func benchFailover(cl []*node, what string, times int, embedded bool) error {
	var took []float64
	fmt.Printf("## Failover, %s: leader SIGKILLed (its whole process group), time until another node serves a snapshot of a boundary after the kill\n\n", what)
	for i := 0; i < times; i++ {
		if err := waitSteady(cl, embedded); err != nil {
			return err
		}
		leader := leaderOf(cl)
		if leader == nil {
			return errors.New("failover: no leader")
		}
		var rest []*node
		for _, n := range cl {
			if n != leader {
				rest = append(rest, n)
			}
		}
		killed := time.Now()
		leader.crash()
		// A snapshot whose boundary (the document's now) is after the kill
		// can only come from a new leader.
		var by *node
		for deadline := killed.Add(60 * time.Second); by == nil; {
			for _, n := range rest {
				if d, err := n.read(); err == nil && d.Now >= killed.UnixMilli() {
					by = n
					break
				}
			}
			if by == nil {
				if time.Now().After(deadline) {
					return fmt.Errorf("failover: no new snapshot 60 s after killing %s", leader.id)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		d := time.Since(killed)
		took = append(took, d.Seconds())
		fmt.Printf("- killed %s: %s served a new snapshot after %v\n", leader.id, by.id, d.Round(time.Millisecond))
		// The dead node comes back before the next round, and its NATS
		// server (embedded) catches up: a kill before that is a second
		// fault while the first is being repaired, which three replicas
		// do not promise to ride out (with the restarted server still
		// catching up, the groups have one current member besides the
		// killed one). Every kill of 3 s or more in the runs that did
		// not wait came within 0.5 s of the previous node's restart.
		//
		// Healthy is not enough: /healthz answered 200 and every replica
		// was reported current 0.4-0.6 s after a restart, and a kill then
		// took 3.8 and 8.1 s, the streams' leaders still on the engine's
		// node (it leads them only until the restarted server is current:
		// cluster.StepDownHere) and one of their replicas just restarted.
		// So the next kill waits for the steady state: the engine's node
		// leads no stream. waitSteady says when that was not reached.
		if err := leader.start(); err != nil {
			return err
		}
		if err := waitServing(cl, 60*time.Second); err != nil {
			return err
		}
		if err := waitNATSHealthy(cl, 60*time.Second); err != nil {
			return err
		}
	}
	ok := "MET"
	if slices.Max(took) >= 3 {
		ok = "NOT met"
	}
	fmt.Printf("\nfailover: median %.2f s, worst %.2f s — goal < 3 s: %s\n\n", median(took), slices.Max(took), ok)
	return nil
}
