package cluster

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// StatusFile is the cluster part of /_jawas/status, written by the node
// process into the metrics folder.
const StatusFile = "cluster.json"

// NodeStatus is what each node publishes about itself in the nodes
// bucket, every statusEvery.
type NodeStatus struct {
	Node       string       `json:"node"`
	Roles      []string     `json:"roles"`
	Leader     bool         `json:"leader"`
	HeadSeq    uint64       `json:"head_seq"`  // the last head this node serves
	HeadAt     time.Time    `json:"head_at"`   // that head's boundary
	Forwarder  ForwardStats `json:"forwarder"` // its journal's way to the stream
	Updated    time.Time    `json:"updated"`
	StreamLag  uint64       `json:"stream_lag"` // records in the stream the engine has not applied (leader only)
	Duplicates uint64       `json:"duplicates"` // records the engine dropped as already applied (leader only)
}

// Status is the cluster section of /_jawas/status.
type Status struct {
	Node       string       `json:"node"`
	Role       string       `json:"role"` // "leader", "follower" or "serve-only"
	Leader     string       `json:"leader"`
	LeaseAgeMS int64        `json:"lease_age_ms"` // since the leader last renewed (-1: unknown)
	Connected  bool         `json:"connected"`
	Head       *HeadSummary `json:"head,omitempty"`
	Nodes      []NodeStatus `json:"nodes"`
}

// HeadSummary is the newest head a node knows.
type HeadSummary struct {
	Seq     uint64    `json:"seq"`
	Leader  string    `json:"leader"`
	Period  time.Time `json:"period"`
	Applied uint64    `json:"stream_seq_applied"`
}

const statusEvery = 500 * time.Millisecond

// publishNode puts this node's status in the nodes bucket.
func (c *Conn) PublishNode(ctx context.Context, st NodeStatus) error {
	b, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = c.Nodes.Put(ctx, st.Node, b)
	return err
}

// ReadNodes reads every node's status from the nodes bucket.
func (c *Conn) ReadNodes(ctx context.Context) []NodeStatus {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	keys, err := c.Nodes.ListKeys(ctx)
	if err != nil {
		return nil
	}
	var out []NodeStatus
	for k := range keys.Keys() {
		e, err := c.Nodes.Get(ctx, k)
		if err != nil {
			continue
		}
		var n NodeStatus
		if json.Unmarshal(e.Value(), &n) == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// WriteStatus writes st into the metrics folder (temp file + rename).
func WriteStatus(metricsDir string, st *Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(metricsDir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(metricsDir, "."+StatusFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(metricsDir, StatusFile))
}

// StatusEvery is how often a node refreshes its status.
func StatusEvery() time.Duration { return statusEvery }
