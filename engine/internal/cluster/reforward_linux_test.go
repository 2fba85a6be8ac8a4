package cluster_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReforwardAfterLostPosition: a node crashes after forwarding its
// journal but before recording how far it forwarded (the test SIGKILLs it
// and deletes its forwarded position), so on restart it sends every record
// of its journal again, in one message the stream has never seen (its
// message ID differs from the original ones'). The leader drops each
// record it has already applied (its duplicate counter says so) and every
// acknowledged write is served exactly once by every node.
func TestReforwardAfterLostPosition(t *testing.T) {
	nc := startNATS(t, 3, false)
	nodes := startNodes(t, nc.urls(), 1)
	n2 := newNode(t, nodeConfig{id: "n2", natsURL: nc.urls(), roles: `["serve"]`})
	nodes = append(nodes, n2)
	waitFor(t, 20*time.Second, "n2 serving", func() bool { _, _, err := n2.read(); return err == nil })
	acked := map[string]string{}
	const resent = 30
	for i := 0; i < resent; i++ {
		id := fmt.Sprintf("r%d", i)
		a, err := n2.post(id)
		if err != nil || a.Replicated != "yes" {
			t.Fatalf("post %s: %v %+v", id, err, a)
		}
		acked[id] = a.Replicated
	}
	account(t, nodes, acked, 10*time.Second)

	// The forwarder saves its position at most every 250 ms (durably once
	// a second): wait for it, so that deleting it below is what loses it.
	pos := filepath.Join(n2.data, "journal", "forwarded.json")
	waitFor(t, 10*time.Second, "n2's forwarded position saved", func() bool {
		_, err := os.Stat(pos)
		return err == nil
	})
	n2.kill()
	if _, err := os.Stat(pos); err != nil {
		t.Fatalf("the forwarded position is not where the test expects it: %v", err)
	}
	must(t, os.Remove(pos))
	n2.start()
	waitFor(t, 20*time.Second, "n2 serving again", func() bool { _, _, err := n2.read(); return err == nil })
	waitFor(t, 10*time.Second, "n2 sending its journal again", func() bool {
		return nodeStat(n2, "n2", "forwarder", "records") >= resent
	})
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("after-%d", i)
		a, err := n2.post(id)
		if err != nil {
			t.Fatalf("post %s: %v", id, err)
		}
		acked[id] = a.Replicated
	}
	account(t, nodes, acked, 10*time.Second)
	// They were not all dropped by the stream (the message is new to it):
	// the engine dropped them.
	waitFor(t, 5*time.Second, "the leader counting the re-sent records as duplicates", func() bool {
		return nodeStat(nodes[0], "n1", "duplicates") >= resent
	})
}

// nodeStat is a number of node's entry in the nodes list of n's status
// page, at path (-1 when absent).
func nodeStat(n *node, node string, path ...string) float64 {
	st, err := n.status()
	if err != nil || st == nil {
		return -1
	}
	list, _ := st["nodes"].([]any)
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || m["node"] != node {
			continue
		}
		for _, k := range path[:len(path)-1] {
			if m, ok = m[k].(map[string]any); !ok {
				return -1
			}
		}
		if v, ok := m[path[len(path)-1]].(float64); ok {
			return v
		}
	}
	return -1
}
