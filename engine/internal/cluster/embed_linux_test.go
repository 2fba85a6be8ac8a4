package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedThreeNodes runs the README's embedded recipe: three nodes,
// each supervisor running a NATS server routed to the others, no other
// NATS. A write to one node is served by all three; the status page names
// the leader.
func TestEmbeddedThreeNodes(t *testing.T) {
	var client, route [3]int
	var routes []string
	for i := range client {
		client[i], route[i] = freePort(t), freePort(t)
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats://127.0.0.1:%d", route[i])))
	}
	var nodes []*node
	for i := range client {
		extra := fmt.Sprintf("embed = true\nembed_listen = \"127.0.0.1:%d\"\nembed_cluster = \"127.0.0.1:%d\"\nembed_routes = [%s]\n",
			client[i], route[i], strings.Join(routes, ", "))
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
