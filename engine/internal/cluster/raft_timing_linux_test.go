package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestKilledStreamLeaderReplacedQuickly: the NATS servers of this test
// are child processes of this test binary, which links the cluster
// package, so they run with the embedded servers' raft timings
// (raft_timing.go). SIGKILL the leader of an R3 stream: the other two
// elect a new one in less than 3 s. With the library's defaults a follower
// waits 4-9 s after the last heartbeat it heard (one a second), so no
// election can end before 3 s after the kill: the test fails if the
// timings do not reach the library's raft.
func TestKilledStreamLeaderReplacedQuickly(t *testing.T) {
	nc := startNATS(t, 3, true)
	conn, err := nats.Connect(nc.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	must(t, err)
	defer conn.Close()
	js, _ := jetstream.New(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ELECT", Subjects: []string{"elect"}, Replicas: 3, Storage: jetstream.FileStorage})
	must(t, err)
	var leader string
	waitFor(t, 10*time.Second, "the stream's leader and current replicas", func() bool {
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		leader = info.Cluster.Leader
		return true
	})
	nc.kill(nc.index(t, leader))
	killed := time.Now()
	var next string
	waitFor(t, 20*time.Second, "a new stream leader", func() bool {
		actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		info, err := st.Info(actx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader {
			next = info.Cluster.Leader
			return true
		}
		return false
	})
	took := time.Since(killed)
	t.Logf("stream leader %s killed; %s leads after %v", leader, next, took.Round(time.Millisecond))
	if took >= 3*time.Second {
		t.Errorf("a new stream leader after %v, want < 3s (the library's defaults cannot elect before 3 s)", took)
	}
}
