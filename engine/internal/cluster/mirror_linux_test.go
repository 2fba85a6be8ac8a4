package cluster_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/cluster"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// TestMirrorStopsAtOnceWithItsServerGone: a node that wins the lease
// stops its mirror before it leads, and the mirror must stop at once even
// when the NATS server holding its watch's consumer is gone. Stopping the
// watch deletes that consumer, a request that then waits out the client's
// 5 s: a leader kill took 6.8 s in TestKillEmbeddedLeaderUnderWrites ("the
// mirror took long to stop", 5.001 s). Here every server is killed, so
// the delete cannot be answered.
func TestMirrorStopsAtOnceWithItsServerGone(t *testing.T) {
	// The client also stops the watch itself when the context ends, and
	// whichever stop comes first waits: without the fix, 2 of 8 runs of
	// one round and 1 of 3 runs of six rounds hung, so it makes several
	// (a guard that catches the regression often, not always).
	for round := range 6 {
		nc := startNATS(t, 3, true)
		c := leaseConn(t, nc, "n1", time.Second)
		store, err := snapshot.Create(t.TempDir())
		must(t, err)
		m := cluster.NewMirror(c, store)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { defer close(ran); m.Run(ctx) }()
		h, _ := json.Marshal(cluster.Head{Seq: 1, Leader: "n9", Term: 1, At: time.Now().UnixMilli()})
		_, err = c.Snap.Put(ctx, "head", h)
		must(t, err)
		waitFor(t, 10*time.Second, "the mirror watching (the head seen)", func() bool { _, _, latest := m.Applied(); return latest == 1 })
		for i := range 3 {
			nc.kill(i)
		}
		cancel()
		select {
		case <-ran:
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: the mirror still runs 2 s after its context ended, its servers gone", round)
		}
	}
}
