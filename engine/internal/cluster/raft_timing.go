package cluster

// This file shortens the raft timings of the NATS servers jawas embeds
// (cluster.embed). With the library's defaults a follower waits 4-9 s
// without hearing its leader before it calls an election, and its leader
// beats once a second. When a node with an embedded server is killed, the
// raft groups its server led (the lease bucket, the head and snapshot
// buckets, the journal stream, the meta group) stay leaderless for that
// long, and nothing can be written to them: a new engine could not win
// the lease or publish until then. Measured with those defaults
// (bench/cluster, failover-embedded): 7.1-7.4 s median from the SIGKILL to
// a new snapshot, where the same cluster on external NATS servers took
// 2.1-2.3 s (bench/README.md, "Cluster").
//
// The values below are those NATS's own cluster tests run with, scaled to
// a leader heartbeat every 250 ms: an election after 1-2 s without one
// (four to eight missed heartbeats). They are variables of the server
// package, set here in this package's init(), before any server of the
// process starts (a jawas process runs at most one, its own embedded
// server); an external NATS cluster keeps its own settings. Should the
// library rename a variable, the link fails: the build says so.

import (
	"time"
	_ "unsafe" // go:linkname

	_ "github.com/nats-io/nats-server/v2/server" // its variables are initialized before this init() runs
)

// The embedded servers' raft timings.
const (
	EmbedRaftHeartbeat   = 250 * time.Millisecond
	EmbedElectionMinimum = 1 * time.Second
	EmbedElectionMaximum = 2 * time.Second
)

//go:linkname natsHeartbeat github.com/nats-io/nats-server/v2/server.hbInterval
var natsHeartbeat time.Duration

//go:linkname natsElectionMin github.com/nats-io/nats-server/v2/server.minElectionTimeout
var natsElectionMin time.Duration

//go:linkname natsElectionMax github.com/nats-io/nats-server/v2/server.maxElectionTimeout
var natsElectionMax time.Duration

func init() {
	natsHeartbeat = EmbedRaftHeartbeat
	natsElectionMin = EmbedElectionMinimum
	natsElectionMax = EmbedElectionMaximum
}
