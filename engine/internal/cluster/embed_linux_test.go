package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEmbeddedThreeNodes runs the README's embedded recipe: three nodes,
// each supervisor running a NATS server routed to the others, no other
// NATS. A write to one node is served by all three; the status page names
// the leader; each server's monitoring port (cluster.embed_monitor)
// answers /healthz with 200 once its JetStream is current.
func TestEmbeddedThreeNodes(t *testing.T) {
	nodes, _, monitors := startEmbedded(t)
	for _, m := range monitors {
		waitFor(t, 10*time.Second, "/healthz 200 on "+m, func() bool {
			resp, err := http.Get("http://" + m + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	a, err := nodes[2].post("embedded")
	if err != nil || a.Replicated != "yes" {
		t.Fatalf("post: %v %+v", err, a)
	}
	first := firstBoundary(t, nodes, "embedded", 5*time.Second)
	if first[0] != first[1] || first[1] != first[2] {
		t.Fatalf("visible at different boundaries: %v", first)
	}
	// The status page is refreshed every 500 ms.
	waitFor(t, 5*time.Second, "a node's status naming it the leader", func() bool { return leaderOf(nodes) != "" })
}

// startEmbedded starts three nodes that each embed a NATS server routed to
// the others (the README's embedded recipe) and returns them with the
// servers' client URLs and monitoring addresses (host:port).
func startEmbedded(t *testing.T) ([]*node, []string, []string) {
	var client, route [3]int
	var routes, urls, monitors []string
	for i := range client {
		client[i], route[i] = freePort(t), freePort(t)
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats://127.0.0.1:%d", route[i])))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
		monitors = append(monitors, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	var nodes []*node
	for i := range client {
		extra := fmt.Sprintf("embed = true\nembed_listen = \"127.0.0.1:%d\"\nembed_cluster = \"127.0.0.1:%d\"\nembed_routes = [%s]\nembed_monitor = %q\n",
			client[i], route[i], strings.Join(routes, ", "), monitors[i])
		nodes = append(nodes, newNode(t, nodeConfig{id: fmt.Sprintf("e%d", i+1), extra: extra}))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("log of %s:\n%s", n.id, n.logs())
			}
		}
	})
	for _, n := range nodes {
		waitFor(t, 40*time.Second, n.id+" serving /log.json", func() bool { _, _, err := n.read(); return err == nil })
	}
	return nodes, urls, monitors
}

// TestKillEmbeddedLeaderUnderWrites SIGKILLs the node that leads the
// engine in the embedded recipe, so its NATS server (a member of every
// raft group) dies with it, while clients write to and read from every
// node: a live node serves a new boundary within 3 s, no read on a live
// node fails, and once the node is back every acknowledged write is
// served exactly once by every node, with no fork in the heads. Before a
// node renewed the lease from the moment it won it (it waited for its
// mirror to stop), about 1 run in 4 found no new boundary for 3.5-6.5 s:
// the lease just won expired unrenewed; before the takeover stopped
// waiting a whole second on the metadata leader's election, some took
// 3.3-3.5 s.
func TestKillEmbeddedLeaderUnderWrites(t *testing.T) {
	nodes, urls, _ := startEmbedded(t)
	waitFor(t, 10*time.Second, "a leader", func() bool { return leaderOf(nodes) != "" })
	writes := startWrites(nodes, 6, 20*time.Second)
	reads := startReads(nodes, 20*time.Second)
	waitFor(t, 10*time.Second, "writes flowing", func() bool { return writes.count() > 200 })

	leader := leaderOf(nodes)
	k := slices.IndexFunc(nodes, func(n *node) bool { return n.id == leader })
	// The kill comes in the steady state: the leader has moved every
	// stream's leader off its server (StepDownHere; the server names are
	// the node ids), as it does once all replicas are current.
	waitFor(t, 20*time.Second, "no stream led by "+leader+"'s server", func() bool { return streamsLedBy(t, urls, leader) == 0 })
	// The heads are watched through the servers that survive: a watch on
	// the killed one would wait out the client's reconnection and its
	// consumer's recreation.
	hw := watchHeads(t, strings.Join(slices.Delete(slices.Clone(urls), k, k+1), ","))
	waitFor(t, 5*time.Second, "a head by "+leader, func() bool { _, by := hw.firstBy("", time.Time{}); return by == leader })
	killed := killUnderLoad(nodes, k, writes, reads)
	// Failover ends when a live node serves a boundary after the kill.
	var took time.Duration
	var next string
	served := map[string]int64{}
	waitFor(t, 15*time.Second, "a live node serving a boundary after the kill", func() bool {
		for i, n := range nodes {
			if i == k {
				continue
			}
			if d, _, err := n.read(); err == nil {
				served[n.id] = d.Now
				if d.Now > killed.UnixMilli() {
					took, next = time.Since(killed), n.id
					return true
				}
			}
		}
		return false
	})
	_, by := hw.firstBy(leader, killed)
	t.Logf("leader %s killed with its NATS server; %s served a new boundary after %v (heads by %s); served: %v", leader, next, took.Round(time.Millisecond), by, served)
	if took >= 3*time.Second {
		t.Errorf("failover took %v, want < 3s", took)
	}
	afterFailover(t, nodes, k, writes, reads, 15*time.Second, 30*time.Second)
	hw.increasing(t)
}

// streamsLedBy counts the cluster's streams whose leader is the server
// named server (-1 when the streams cannot be listed).
func streamsLedBy(t *testing.T, urls []string, server string) int {
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		return -1
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := 0
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return -1
		}
		if ci := st.CachedInfo().Cluster; ci == nil || ci.Leader == "" || ci.Leader == server {
			n++
		}
	}
	if names.Err() != nil {
		return -1
	}
	return n
}
