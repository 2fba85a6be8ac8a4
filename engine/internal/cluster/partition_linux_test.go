package cluster_test

import (
	"fmt"
	"strconv"
	"strings"
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

// TestPartitionedLeader cuts the leading node's link to NATS (each node
// reaches its own NATS server through a TCP proxy the test controls)
// while clients write to and read from every node. Another node takes the
// lease and publishes; the cut-off leader notices (its lease renewal or
// its head swap fails), logs that it demotes, and publishes no head as
// leader of its old term after the new leader's first; it keeps serving
// its last snapshots (no read fails; X-Jawas-Stale) and accepts writes
// (202, X-Jawas-Replicated: pending). After healing, every acknowledged
// write is served exactly once by every node and the heads seen form one
// chain.
func TestPartitionedLeader(t *testing.T) {
	nc := startNATS(t, 3, false)
	var proxies []*proxy
	var urls []string
	for i := range nc.specs {
		p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", nc.specs[i].Port))
		proxies = append(proxies, p)
		urls = append(urls, "nats://"+p.addr())
	}
	nodes := startNodesAt(t, urls)
	hw := watchHeads(t, nc.urls()) // directly, not through a proxy
	writes := startWrites(nodes, 6, 40*time.Second)
	reads := startReads(nodes, 40*time.Second)
	waitFor(t, 10*time.Second, "writes flowing", func() bool { return writes.count() > 100 })

	k := -1
	waitFor(t, 5*time.Second, "a leader", func() bool {
		leader := leaderOf(nodes)
		for i, n := range nodes {
			if n.id == leader {
				k = i
			}
		}
		return k >= 0
	})
	old := nodes[k]
	var oldTerm uint64
	hw.mu.Lock()
	for _, h := range hw.heads {
		if h.Leader == old.id {
			oldTerm = h.Term
		}
	}
	hw.mu.Unlock()
	if oldTerm == 0 {
		t.Fatalf("no head by the leader %s seen", old.id)
	}
	cut := time.Now()
	proxies[k].setCut(true)

	var took time.Duration
	var next string
	waitFor(t, 10*time.Second, "a head by a new leader", func() bool {
		at, by := hw.firstBy(old.id, cut)
		took, next = at.Sub(cut), by
		return by != ""
	})
	t.Logf("leader %s cut off; %s published the first new head after %v", old.id, next, took.Round(time.Millisecond))
	waitFor(t, 10*time.Second, old.id+" logging that it demotes", func() bool {
		return strings.Contains(old.logs(), "demoting to follower")
	})
	t.Logf("%s:\n%s", old.id, grepLines(old.logs(), "demoting"))
	waitFor(t, 5*time.Second, old.id+" serving stale", func() bool {
		_, h, err := old.read()
		return err == nil && h.Get("X-Jawas-Stale") != ""
	})
	acked := map[string]string{}
	eventIDs := map[string]string{} // event id → posted id
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("cut-leader-%d", i)
		a, err := old.post(id)
		if err != nil {
			t.Fatalf("write on the cut-off leader: %v", err)
		}
		if a.Replicated != "pending" {
			t.Fatalf("write on the cut-off leader: X-Jawas-Replicated %q, want pending", a.Replicated)
		}
		acked[id] = a.Replicated
		eventIDs[a.ID] = id
	}
	before := writes.count()
	waitFor(t, 10*time.Second, "writes on the majority after the takeover", func() bool { return writes.count() > before+100 })

	proxies[k].setCut(false)
	writes.finish()
	reads.finish()
	if len(reads.fails) > 0 {
		t.Errorf("%d reads failed, first: %s", len(reads.fails), reads.fails[0])
	}
	pending := 0
	for id, r := range writes.acked {
		acked[id] = r
		if r == "pending" {
			pending++
		}
	}
	t.Logf("%d reads ok; %d writes acknowledged (%d as pending); failed posts %v", reads.ok.Load(), len(acked), pending, writes.fails)
	account(t, nodes, acked, 30*time.Second)
	waitFor(t, 5*time.Second, old.id+" fresh again", func() bool {
		_, h, err := old.read()
		return err == nil && h.Get("X-Jawas-Stale") == ""
	})
	// The writes it took while cut off read as applied there once the
	// new leader applied them.
	for eid, id := range eventIDs {
		if st := waitDecided(t, old, eid); st.State != "applied" {
			t.Errorf("%s (event %s) posted on the cut-off leader: %+v, want applied", id, eid, st)
		}
	}
	hw.chain(t)
	// The deposed leader published nothing of its old term after the new
	// leader's first head.
	hw.mu.Lock()
	defer hw.mu.Unlock()
	taken := false
	for _, h := range hw.heads {
		if h.at.After(cut) && h.Leader != old.id {
			taken = true
		}
		if taken && h.Leader == old.id && h.Term == oldTerm {
			t.Errorf("head %d published by the deposed leader %s (term %d) after the takeover", h.Seq, old.id, h.Term)
		}
	}
}
