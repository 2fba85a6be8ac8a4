package cluster_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startNodes starts n nodes on nc.
func startNodes(t *testing.T, urls string, n int) []*node {
	var each []string
	for i := 0; i < n; i++ {
		each = append(each, urls)
	}
	return startNodesAt(t, each)
}

// startNodesAt starts one node per nats_url value, n1 on urls[0], ...
func startNodesAt(t *testing.T, urls []string) []*node {
	var cfgs []nodeConfig
	for i, u := range urls {
		cfgs = append(cfgs, nodeConfig{id: fmt.Sprintf("n%d", i+1), natsURL: u})
	}
	return startNodesOf(t, cfgs)
}

// startNodesOf starts one node per config and waits until each serves
// and one leads.
func startNodesOf(t *testing.T, cfgs []nodeConfig) []*node {
	var nodes []*node
	for _, c := range cfgs {
		nodes = append(nodes, newNode(t, c))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("log of %s:\n%s", n.id, n.logs())
			}
		}
	})
	start := time.Now()
	for _, n := range nodes {
		waitFor(t, 20*time.Second, n.id+" serving /log.json", func() bool { _, _, err := n.read(); return err == nil })
	}
	serving := time.Since(start)
	waitFor(t, 10*time.Second, "a leader", func() bool { return leaderOf(nodes) != "" })
	t.Logf("%d nodes serving after %v, a leader after %v", len(nodes), serving.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nodes
}

// firstBoundary polls every node every few ms until each serves id, and
// returns, per node, the boundary of the first version it served with id.
func firstBoundary(t *testing.T, nodes []*node, id string, d time.Duration) []int64 {
	t.Helper()
	first := make([]int64, len(nodes))
	deadline := time.Now().Add(d)
	for {
		done := true
		for i, n := range nodes {
			doc, _, err := n.read()
			if err != nil {
				t.Fatalf("read on %s failed: %v", n.id, err)
			}
			if slices.Contains(doc.IDs, id) && (first[i] == 0 || doc.Now < first[i]) {
				first[i] = doc.Now
			}
			done = done && first[i] != 0
		}
		if done {
			// One more round: a version seen late on one node may have
			// had an earlier one we missed; the loop above keeps the min.
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not visible on every node after %v: %v", id, d, first)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// TestThreeNodesSameBoundary: a write posted to any node is served by
// every node from the same boundary on, no later than its visible_at, and
// answered 202 only once replicated.
func TestThreeNodesSameBoundary(t *testing.T) {
	nc := startNATS(t, 3, false)
	nodes := startNodes(t, nc.urls(), 3)
	for round := 0; round < 2; round++ {
		for i, n := range nodes {
			id := fmt.Sprintf("w%d-%d", round, i)
			a, err := n.post(id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Replicated != "yes" {
				t.Fatalf("POST on %s: X-Jawas-Replicated %q, want yes", n.id, a.Replicated)
			}
			first := firstBoundary(t, nodes, id, 5*time.Second)
			for j := range first {
				if first[j] != first[0] {
					t.Fatalf("%s posted on %s first visible at different boundaries: %v", id, n.id, first)
				}
			}
			if first[0] > a.VisibleAt {
				t.Fatalf("%s visible at %d, after its visible_at %d", id, first[0], a.VisibleAt)
			}
		}
	}
	// The status page names the leader, the head, and every node.
	st, err := nodes[1].status()
	if err != nil || st == nil {
		t.Fatalf("status: %v %v", st, err)
	}
	if st["leader"] == "" || st["head"] == nil || len(st["nodes"].([]any)) != 3 {
		t.Fatalf("cluster status incomplete: %v", st)
	}
	t.Logf("status of n2: %v", st)
	if leaderOf(nodes) == "" {
		t.Fatal("no leader")
	}
	for _, n := range nodes {
		if strings.Contains(n.logs(), "panic") {
			t.Fatalf("%s panicked:\n%s", n.id, n.logs())
		}
	}
}

// newSingle starts one jawas without cluster mode on the same project;
// it serves once waitServing returns.
func newSingle(t testing.TB) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, id: "single", dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	toml := fmt.Sprintf("period = \"200ms\"\ntimeout = \"2s\"\n[serve]\nlisten = %q\nworkers = 1\ndata_dir = \"data\"\n", n.addr)
	must(t, os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "sources"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sources", "log.js"), []byte(logJS), 0o644))
	n.start()
	t.Cleanup(n.kill)
	return n
}

// waitServing waits until n serves /log.json.
func (n *node) waitServing(t testing.TB) {
	t.Helper()
	waitFor(t, 20*time.Second, n.id+" serving /log.json", func() bool { _, _, err := n.read(); return err == nil })
}

// TestClusterEqualsSingleNode posts one sequence of writes to the cluster
// (round-robin over its nodes) and to a single node: the state every
// cluster node serves equals the single node's.
func TestClusterEqualsSingleNode(t *testing.T) {
	single := newSingle(t) // starts while the cluster does
	nc := startNATS(t, 3, false)
	nodes := startNodes(t, nc.urls(), 3)
	single.waitServing(t)
	const n = 60
	// The same sequence to both, each post after the previous one's 202
	// (so the cluster's stream holds them in this order); the two
	// sequences run side by side.
	errs := make(chan error, 2)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := nodes[i%3].post(fmt.Sprintf("d%03d", i)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for i := 0; i < n; i++ {
			if _, err := single.post(fmt.Sprintf("d%03d", i)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var want logDoc
	waitFor(t, 10*time.Second, "the single node applying every write", func() bool {
		var err error
		want, _, err = single.read()
		return err == nil && len(want.IDs) == n
	})
	for _, nd := range nodes {
		waitFor(t, 10*time.Second, nd.id+" applying every write", func() bool {
			got, _, err := nd.read()
			return err == nil && len(got.IDs) == n
		})
		got, _, _ := nd.read()
		if !slices.Equal(got.IDs, want.IDs) {
			t.Fatalf("%s serves %v\nthe single node %v", nd.id, got.IDs, want.IDs)
		}
	}
}
