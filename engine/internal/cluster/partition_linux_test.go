package cluster_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// TestPartitionedNode cuts one node's link to NATS (a TCP proxy the test
// controls): the node keeps serving its last snapshots with X-Jawas-Stale
// and Age, accepts writes (202, X-Jawas-Replicated: pending: on its disk,
// not in the cluster yet), and after the link heals every write, from
// either side of the cut, is served exactly once by every node.
func TestPartitionedNode(t *testing.T) {
	nc := startNATS(t, 3, false)
	p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", nc.specs[2].Port))
	nodes := startNodes(t, nc.urls(), 2)
	cut := newNode(t, nodeConfig{id: "n3", natsURL: "nats://" + p.addr(), roles: `["serve"]`})
	waitFor(t, 20*time.Second, "n3 serving", func() bool { _, _, err := cut.read(); return err == nil })
	all := append(nodes, cut)
	acked := map[string]string{}
	for i, n := range all {
		a, err := n.post(fmt.Sprintf("before-%d", i))
		if err != nil || a.Replicated != "yes" {
			t.Fatalf("post before the cut: %v %+v", err, a)
		}
		acked[fmt.Sprintf("before-%d", i)] = a.Replicated
	}
	account(t, all, acked, 10*time.Second)

	p.setCut(true)
	waitFor(t, 5*time.Second, "n3 serving stale", func() bool {
		_, h, err := cut.read()
		if err != nil {
			t.Fatalf("read on the cut node failed: %v", err)
		}
		return h.Get("X-Jawas-Stale") != ""
	})
	_, h, _ := cut.read()
	if _, err := strconv.Atoi(h.Get("Age")); err != nil {
		t.Fatalf("stale answer without a numeric Age: %q", h.Get("Age"))
	}
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("cut-%d", i)
		a, err := cut.post(id)
		if err != nil {
			t.Fatalf("write on the cut node: %v", err)
		}
		if a.Replicated != "pending" {
			t.Fatalf("write on the cut node: X-Jawas-Replicated %q, want pending", a.Replicated)
		}
		acked[id] = a.Replicated
		id = fmt.Sprintf("majority-%d", i)
		if a, err = nodes[i%2].post(id); err != nil || a.Replicated != "yes" {
			t.Fatalf("write on the majority side: %v %+v", err, a)
		}
		acked[id] = a.Replicated
	}
	// The majority goes on without the cut node's writes.
	waitFor(t, 5*time.Second, "the majority serving its writes", func() bool {
		d, _, err := nodes[0].read()
		return err == nil && len(d.IDs) == 3+5
	})

	p.setCut(false)
	account(t, all, acked, 20*time.Second)
	waitFor(t, 5*time.Second, "n3 fresh again", func() bool {
		_, h, err := cut.read()
		return err == nil && h.Get("X-Jawas-Stale") == ""
	})
}
