package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Cluster holds the keys of [cluster]: several jawas nodes sharing one
// journal and one engine through NATS JetStream (README "Cluster mode").
type Cluster struct {
	Enabled bool     `toml:"enabled"`
	NodeID  string   `toml:"node_id"` // unique per node; names its journal subject
	Roles   []string `toml:"roles"`   // "serve" (every node), "engine" (may lead)
	Name    string   `toml:"name"`    // prefix of the streams and buckets; two projects on one NATS need two names

	NATSURL string `toml:"nats_url"` // comma-separated nats:// URLs; default the embedded server's
	Creds   string `toml:"creds"`    // NATS credentials file; "" = none

	// Embed runs a NATS server inside this node's supervisor.
	Embed        bool     `toml:"embed"`
	EmbedListen  string   `toml:"embed_listen"`  // its client port, host:port
	EmbedCluster string   `toml:"embed_cluster"` // its route port, host:port ("" = a cluster of one)
	EmbedRoutes  []string `toml:"embed_routes"`  // every node's route URL, nats://host:port
	EmbedSync    string   `toml:"embed_sync"`    // "always" (fsync before every ack) or a duration
	EmbedDir     string   `toml:"embed_dir"`     // JetStream storage; default <data_dir>/nats
	EmbedMonitor string   `toml:"embed_monitor"` // its monitoring HTTP port (/healthz, /jsz), host:port ("" = none)

	Replicas        int      `toml:"replicas"`         // copies of the journal stream and buckets
	LeaseTTL        Duration `toml:"lease_ttl"`        // engine lease; a dead leader is replaced within about this
	WriteAck        string   `toml:"write_ack"`        // "replicated" or "local"
	WriteTimeout    Duration `toml:"write_timeout"`    // with "replicated": longest wait for the stream before 202 pending
	InlineMax       int      `toml:"inline_max"`       // snapshots and checkpoints above this go to the object store
	CheckpointEvery Duration `toml:"checkpoint_every"` // how often the leader saves its state to the cluster

	// DebugLeadWithoutLease makes the node lead once, at start, without
	// the engine lease: two engines then believe they lead, and fencing
	// (the head's compare-and-swap) must keep one head chain. For tests
	// and debugging only; never in production.
	DebugLeadWithoutLease bool `toml:"debug_lead_without_lease"`
}

// DefaultCluster is [cluster] when a key is absent.
func DefaultCluster() Cluster {
	return Cluster{
		Roles:           []string{"serve", "engine"},
		Name:            "jawas",
		EmbedSync:       "always",
		Replicas:        3,
		LeaseTTL:        Duration{2 * time.Second},
		WriteAck:        "replicated",
		WriteTimeout:    Duration{2 * time.Second},
		InlineMax:       512 << 10,
		CheckpointEvery: Duration{time.Second},
	}
}

var (
	nodeIDRe      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	clusterNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
)

// HasRole reports whether this node has role r ("serve" or "engine").
func (c *Cluster) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// URLs returns the NATS URLs to connect to: nats_url, else the embedded
// server's client address.
func (c *Cluster) URLs() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	if c.Embed {
		return "nats://" + c.EmbedListen
	}
	return ""
}

// SyncAlways reports whether the embedded server fsyncs before every
// acknowledgement, and otherwise its sync interval.
func (c *Cluster) SyncAlways() (bool, time.Duration) {
	if c.EmbedSync == "always" {
		return true, 0
	}
	d, _ := time.ParseDuration(c.EmbedSync)
	return false, d
}

// validateCluster checks [cluster]; nothing is checked unless enabled.
func (c *Config) validateCluster(bad func(key, format string, args ...any)) {
	k := &c.Cluster
	if !k.Enabled {
		return
	}
	if !nodeIDRe.MatchString(k.NodeID) {
		bad("cluster.node_id", "expected 1 to 32 letters, digits, '-' or '_' (unique per node), got %q", k.NodeID)
	}
	if !clusterNameRe.MatchString(k.Name) {
		bad("cluster.name", "expected 1 to 32 letters, digits, '-' or '_', got %q", k.Name)
	}
	if len(k.Roles) == 0 {
		bad("cluster.roles", "expected [\"serve\"] or [\"serve\", \"engine\"], got an empty list")
	}
	for i, r := range k.Roles {
		if r != "serve" && r != "engine" {
			bad(fmt.Sprintf("cluster.roles[%d]", i), "expected \"serve\" or \"engine\", got %q", r)
		}
	}
	if len(k.Roles) > 0 && !k.HasRole("serve") {
		bad("cluster.roles", "every node serves: the list must contain \"serve\", got %q", k.Roles)
	}
	if k.NATSURL == "" && !k.Embed {
		bad("cluster.nats_url", "expected the NATS servers' URLs (\"nats://host:4222,nats://host2:4222\"), or cluster.embed = true")
	}
	for i, u := range strings.Split(k.NATSURL, ",") {
		if k.NATSURL == "" {
			break
		}
		if p, err := url.Parse(strings.TrimSpace(u)); err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			bad("cluster.nats_url", "URL %d: expected nats://host:port or tls://host:port, got %q", i+1, strings.TrimSpace(u))
		}
	}
	if k.Embed {
		if _, _, err := net.SplitHostPort(k.EmbedListen); err != nil {
			bad("cluster.embed_listen", "expected host:port for the embedded NATS server's clients, such as \"127.0.0.1:4222\", got %q", k.EmbedListen)
		}
		if k.EmbedCluster != "" {
			if _, _, err := net.SplitHostPort(k.EmbedCluster); err != nil {
				bad("cluster.embed_cluster", "expected host:port for the embedded NATS server's routes, such as \"127.0.0.1:6222\", got %q", k.EmbedCluster)
			}
		}
		if k.EmbedMonitor != "" {
			if _, _, err := net.SplitHostPort(k.EmbedMonitor); err != nil {
				bad("cluster.embed_monitor", "expected host:port for the embedded NATS server's monitoring (/healthz, /jsz), such as \"127.0.0.1:8222\", got %q", k.EmbedMonitor)
			}
		}
		if len(k.EmbedRoutes) > 0 && k.EmbedCluster == "" {
			bad("cluster.embed_cluster", "must be set when cluster.embed_routes is (the route port the other nodes dial)")
		}
		for i, r := range k.EmbedRoutes {
			if p, err := url.Parse(r); err != nil || p.Scheme != "nats" || p.Host == "" {
				bad(fmt.Sprintf("cluster.embed_routes[%d]", i), "expected nats://host:port, got %q", r)
			}
		}
		if len(k.EmbedRoutes) == 0 && k.NATSURL == "" && k.Replicas > 1 {
			bad("cluster.replicas", "one embedded server without cluster.embed_routes holds one copy: set replicas = 1, or list the other nodes in embed_routes")
		}
		if always, d := k.SyncAlways(); !always && d <= 0 {
			bad("cluster.embed_sync", "expected \"always\" or a duration such as \"2m\", got %q", k.EmbedSync)
		}
	} else if len(k.EmbedRoutes) > 0 || k.EmbedListen != "" || k.EmbedCluster != "" || k.EmbedMonitor != "" {
		bad("cluster.embed", "cluster.embed_listen, embed_cluster, embed_routes and embed_monitor need cluster.embed = true")
	}
	if k.Replicas < 1 || k.Replicas > 5 {
		bad("cluster.replicas", "expected 1 to 5 (JetStream's limit), got %d", k.Replicas)
	}
	if k.LeaseTTL.Duration < time.Second {
		bad("cluster.lease_ttl", "must be at least 1s (JetStream's smallest TTL), got %s", k.LeaseTTL.Duration)
	}
	if k.WriteAck != "replicated" && k.WriteAck != "local" {
		bad("cluster.write_ack", "expected \"replicated\" (202 once the cluster has it) or \"local\" (once on this node's disk), got %q", k.WriteAck)
	}
	if k.WriteTimeout.Duration <= 0 {
		bad("cluster.write_timeout", "must be positive, got %s", k.WriteTimeout.Duration)
	}
	if k.InlineMax < 1024 || k.InlineMax > 900<<10 {
		bad("cluster.inline_max", "expected 1024 to 921600 bytes (under NATS's 1 MiB message limit), got %d", k.InlineMax)
	}
	if k.CheckpointEvery.Duration < 10*time.Millisecond {
		bad("cluster.checkpoint_every", "must be at least 10ms, got %s", k.CheckpointEvery.Duration)
	}
	if k.DebugLeadWithoutLease && !k.HasRole("engine") {
		bad("cluster.debug_lead_without_lease", "needs the \"engine\" role in cluster.roles (only an engine can lead)")
	}
}
