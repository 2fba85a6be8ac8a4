package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/cluster"
)

// streamLeader names the NATS server leading the journal stream.
func streamLeader(t *testing.T, urls string) string {
	nc, err := nats.Connect(urls)
	must(t, err)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, cluster.NamesOf("jawas").Stream)
	must(t, err)
	info, err := st.Info(ctx)
	must(t, err)
	if info.Cluster == nil {
		t.Fatal("the journal stream has no cluster info")
	}
	return info.Cluster.Leader
}

// TestKillStreamLeaderUnderWrites SIGKILLs the NATS server (a child
// process) leading the journal stream while clients write to and read
// from every node: no read fails, and once the server is back every
// acknowledged write is served exactly once by every node.
func TestKillStreamLeaderUnderWrites(t *testing.T) {
	nc := startNATS(t, 3, true)
	nodes := startNodes(t, nc.urls(), 3)
	writes := startWrites(nodes, 6, 25*time.Second)
	reads := startReads(nodes, 25*time.Second)
	waitFor(t, 10*time.Second, "writes flowing", func() bool { return writes.count() > 200 })
	leader := streamLeader(t, nc.urls())
	k := nc.index(t, leader)
	nc.kill(k)
	killed := time.Now()
	before := writes.count()
	waitFor(t, 15*time.Second, "writes after the kill", func() bool { return writes.count() > before+200 })
	t.Logf("NATS %s (stream leader) killed; 200 more writes acknowledged %v later", leader, time.Since(killed).Round(time.Millisecond))
	nc.restart(k)
	writes.finish()
	reads.finish()
	if len(reads.fails) > 0 {
		t.Errorf("%d reads failed, first: %s", len(reads.fails), reads.fails[0])
	}
	pending := 0
	for _, r := range writes.acked {
		if r == "pending" {
			pending++
		}
	}
	t.Logf("%d reads ok; %d writes acknowledged (%d as pending); failed posts %v", reads.ok.Load(), len(writes.acked), pending, writes.fails)
	account(t, nodes, writes.acked, 30*time.Second)
}
