// Package cluster runs jawas on several nodes that share one journal and
// one engine through NATS JetStream (README "Cluster mode"). It owns the
// JetStream objects and every conversation with them; it knows nothing of
// HTTP or JavaScript.
//
// The pieces, one file each:
//   - Forwarder (forward.go): every node ships its local journal, as it is
//     committed, to the replicated journal stream, one message at a time,
//     deduplicated by message ID, resuming after a crash from a persisted
//     position; the workers learn what the stream holds from a shared
//     table (acks_linux.go) to answer write_ack = "replicated".
//   - Lease (lease.go): engine-eligible nodes campaign for one key of a
//     KV bucket with a TTL; create and update are compare-and-swap.
//   - Feed (feed.go): the leader's engine reads the stream in stream
//     order; a boundary takes everything the stream held when it began.
//   - Publisher (publish.go): the leader's period ends with a
//     compare-and-swap of the head key, which lists every URL's content
//     hash; a deposed leader's swap fails and it steps down (the head
//     chain never forks). Bodies and checkpoints go to the KV bucket (or
//     the object store when large) under their content hash first.
//   - Mirror (mirror.go): every other node applies each new head to its
//     local snapshot store, which its workers read as on one node.
//
// Exactly once: a record reaches the stream at least once (the forwarder
// retries until acknowledged, and re-sends after a crash), and the engine
// applies, per journal incarnation, only sequence numbers above the
// highest it has applied; that high-water mark is part of the checkpointed
// positions, so it is exactly as durable as the state it describes.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/config"
)

// Names of the JetStream objects of a cluster called name.
type Names struct {
	Stream  string // the journal stream
	Subject string // its subjects' prefix; a node publishes to Subject + "." + node
	Lease   string // KV bucket: the engine lease
	Snap    string // KV bucket: head, bodies, checkpoints
	Blobs   string // object store: bodies and checkpoints over inline_max
	Nodes   string // KV bucket: each node's status
	// Events is the stream of the events' fates the leader decided
	// (events.go), on the one subject EventSubject.
	Events       string
	EventSubject string
}

// NamesOf returns the names for the cluster called name.
func NamesOf(name string) Names {
	return Names{
		Stream:  name + "_journal",
		Subject: name + ".j",
		Lease:   name + "_lease",
		Snap:    name + "_snap",
		Blobs:   name + "_blobs",
		Nodes:   name + "_nodes",

		Events:       name + "_events",
		EventSubject: name + ".e",
	}
}

// Conn is a node's connection to the cluster and its JetStream objects.
type Conn struct {
	NC    *nats.Conn
	JS    jetstream.JetStream
	Names Names
	Cfg   config.Cluster
	Log   *slog.Logger

	Lease jetstream.KeyValue
	Snap  jetstream.KeyValue
	Nodes jetstream.KeyValue
	Blobs jetstream.ObjectStore
}

// Connect connects to the cluster's NATS servers (reconnecting for ever)
// and creates or updates the stream and buckets, retrying until ctx ends:
// a node may start before the servers do.
func Connect(ctx context.Context, cfg config.Cluster, log *slog.Logger) (*Conn, error) {
	opts := []nats.Option{
		nats.Name("jawas " + cfg.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("cluster: disconnected from NATS", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("cluster: reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	nc, err := nats.Connect(cfg.URLs(), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s (cluster.nats_url): %w", cfg.URLs(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Conn{NC: nc, JS: js, Names: NamesOf(cfg.Name), Cfg: cfg, Log: log}
	for attempt := 0; ; attempt++ {
		// Each request of the first attempt gets 1 s, then 2 s, then 3 s:
		// a request lost while a new stream elects its leader (seen here
		// when the nodes start together) is retried soon; a slow server
		// still gets longer.
		err = c.setup(ctx, time.Duration(min(attempt+1, 3))*time.Second)
		if err == nil {
			return c, nil
		}
		if attempt%8 == 0 {
			log.Warn("cluster: JetStream not ready; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("cluster: set up the stream and buckets: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Close closes the connection (after flushing what was published).
func (c *Conn) Close() {
	c.NC.Close()
}

// setup finds every JetStream object, creating those missing. Lookups
// come first: nodes starting together would otherwise all create at
// once, and concurrent creations of one stream were seen here to leave a
// request unanswered for seconds.
func (c *Conn) setup(parent context.Context, per time.Duration) error {
	// One deadline per object: a lookup unanswered is retried by the
	// next attempt, which finds the objects already made.
	var ctx context.Context
	cancel := func() {}
	defer func() { cancel() }()
	step := func() {
		cancel()
		ctx, cancel = context.WithTimeout(parent, per)
	}
	r := c.Cfg.Replicas
	step()
	if err := c.stream(ctx, "journal", jetstream.StreamConfig{
		Name:        c.Names.Stream,
		Description: "jawas journal: every node's accepted writes",
		Subjects:    []string{c.Names.Subject + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Discard:     jetstream.DiscardOld,
	}); err != nil {
		return err
	}
	step()
	if err := c.stream(ctx, "events", jetstream.StreamConfig{
		Name:        c.Names.Events,
		Description: "jawas events' fates, as the leader decided them (GET /_jawas/events/ID)",
		Subjects:    []string{c.Names.EventSubject},
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      time.Hour,
		MaxMsgs:     20000,
		Duplicates:  2 * time.Minute,
		Discard:     jetstream.DiscardOld,
	}); err != nil {
		return err
	}
	var err error
	step()
	if c.Lease, err = c.kv(ctx, jetstream.KeyValueConfig{
		Bucket: c.Names.Lease, Description: "jawas engine lease", History: 1, TTL: c.Cfg.LeaseTTL.Duration,
		Storage: jetstream.FileStorage, Replicas: r, LimitMarkerTTL: time.Second,
	}); err != nil {
		return fmt.Errorf("lease bucket %s: %w", c.Names.Lease, err)
	}
	step()
	if c.Snap, err = c.kv(ctx, jetstream.KeyValueConfig{
		Bucket: c.Names.Snap, Description: "jawas head, snapshot bodies, checkpoints", History: 1,
		Storage: jetstream.FileStorage, Replicas: r, MaxValueSize: 1 << 20,
	}); err != nil {
		return fmt.Errorf("snapshot bucket %s: %w", c.Names.Snap, err)
	}
	step()
	if c.Nodes, err = c.kv(ctx, jetstream.KeyValueConfig{
		Bucket: c.Names.Nodes, Description: "jawas nodes' status", History: 1, TTL: time.Minute,
		Storage: jetstream.FileStorage, Replicas: r,
	}); err != nil {
		return fmt.Errorf("nodes bucket %s: %w", c.Names.Nodes, err)
	}
	step()
	c.Blobs, err = c.JS.ObjectStore(ctx, c.Names.Blobs)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		c.Blobs, err = c.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: c.Names.Blobs, Description: "jawas large snapshot bodies and checkpoints",
			Storage: jetstream.FileStorage, Replicas: r,
		})
	}
	if err != nil {
		return fmt.Errorf("object store %s: %w", c.Names.Blobs, err)
	}
	return nil
}

// stream finds the stream cfg names, or creates it (another node creating
// it meanwhile is fine); what names it in errors.
func (c *Conn) stream(ctx context.Context, what string, cfg jetstream.StreamConfig) error {
	_, err := c.JS.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = c.JS.CreateStream(ctx, cfg); errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s stream %s: %w", what, cfg.Name, err)
	}
	return nil
}

// kv finds the bucket cfg names, creating it when missing.
func (c *Conn) kv(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := c.JS.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.JS.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = c.JS.KeyValue(ctx, cfg.Bucket)
		}
	}
	return kv, err
}

// nodeSubject is the journal subject node publishes to.
func (c *Conn) nodeSubject(node string) string { return c.Names.Subject + "." + node }

// isMismatch reports whether err is a failed compare-and-swap.
func isMismatch(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return true
	}
	return strings.Contains(err.Error(), "wrong last sequence")
}

// StepDownHere asks the JetStream streams the engine depends on (the
// journal, the lease, snapshot and nodes buckets, the object store, the
// events' fates) to
// elect a leader on another server when the server named server leads
// them. A node that embeds its NATS server calls it when it starts to
// lead the engine: a crash of that node then takes down the engine and a
// follower of each stream only, and the next engine need not wait out a
// raft election of those streams before it can read the lease, the head
// and the journal. A stream is moved only when every other replica is
// online and current: a step-down to a peer still catching up (a node
// restarted a moment ago), or while another is down, leaves the stream
// without a leader until an election settles it, and the new engine's
// first publish waited 5 s on such a stream (bench/cluster,
// failover-embedded). It runs until ctx ends: right after a failover the
// old engine's node is down, so a single pass at the takeover kept every
// stream the survivors had elected here for the whole leadership. Errors
// are logged: a stream that keeps its leader here only makes a later
// failover slower.
func (c *Conn) StepDownHere(ctx context.Context, server string) {
	logged := map[string]bool{}
	for {
		wait := stepDownCheck
		if c.stepDownPass(ctx, server, logged) {
			wait = stepDownRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// StepDownHere looks again every stepDownRetry at a stream whose leader
// had to stay on this node's server or that had no leader yet, and every
// stepDownCheck otherwise: an election (a stream created at the start, a
// leader lost) can still make this server a stream's leader later (a
// test's kill found streams led there 20 s after a clean first pass).
const (
	stepDownRetry = 2 * time.Second
	stepDownCheck = 10 * time.Second
)

// stepDownPass is one pass of StepDownHere; it reports whether a stream
// still has its leader on server. logged keeps "stays" messages to one
// per stream and replica.
func (c *Conn) stepDownPass(ctx context.Context, server string, logged map[string]bool) (stayed bool) {
	names := []string{c.Names.Stream, "KV_" + c.Names.Lease, "KV_" + c.Names.Snap, "KV_" + c.Names.Nodes, "OBJ_" + c.Names.Blobs, c.Names.Events}
	for _, name := range names {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.JS.Stream(ictx, name)
		cancel()
		if err != nil {
			c.Log.Debug("cluster: stream info for a step-down", "stream", name, "error", err)
			stayed = true
			continue
		}
		ci := st.CachedInfo().Cluster
		if ci != nil && ci.Leader == "" {
			stayed = true // electing: it may elect this server
			continue
		}
		if ci == nil || ci.Leader != server || len(ci.Replicas) == 0 {
			continue
		}
		if lagging := laggingReplica(ci.Replicas); lagging != "" {
			if !logged[name+"/"+lagging] {
				logged[name+"/"+lagging] = true
				c.Log.Info("cluster: a stream's leader stays on this node's NATS server while a replica is not current", "stream", name, "replica", lagging)
			}
			stayed = true
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := c.NC.RequestWithContext(rctx, fmt.Sprintf("$JS.API.STREAM.LEADER.STEPDOWN.%s", name), nil)
		cancel()
		if err == nil {
			var resp struct {
				Error *jetstream.APIError `json:"error"`
			}
			if json.Unmarshal(m.Data, &resp) == nil && resp.Error != nil {
				err = resp.Error
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("cluster: cannot move a stream's leader off this node's NATS server", "stream", name, "error", err)
			}
			stayed = true
			continue
		}
		c.Log.Info("cluster: moved a stream's leader off this node's NATS server", "stream", name)
	}
	return stayed && ctx.Err() == nil
}

// laggingReplica names a replica that is offline, not current, or not
// heard from within two raft heartbeats; "" when there is none.
func laggingReplica(peers []*jetstream.PeerInfo) string {
	for _, p := range peers {
		if p.Offline || !p.Current || p.Active > 2*EmbedRaftHeartbeat {
			return p.Name
		}
	}
	return ""
}

// attemptTimeout bounds one request to a stream that is retried (see
// retryUnanswered).
const attemptTimeout = time.Second

// retryUnanswered runs op, each attempt with its own deadline of
// attemptTimeout, until it succeeds, fails otherwise than by going
// unanswered, or ctx ends. A request that reaches a stream while its raft
// group elects a leader is dropped, not refused: a single request with a
// boundary's 5 s deadline waited all of it, where the group had a leader
// again within two seconds (bench/cluster, failover-embedded). op must be
// safe to repeat.
func retryUnanswered(ctx context.Context, op func(context.Context) error) error {
	return retryUnansweredFrom(ctx, attemptTimeout, op)
}

// retryUnansweredFrom is retryUnanswered with a first attempt of first,
// each next one twice as long up to attemptTimeout: for small requests
// that wait on an election (creating a consumer waits for the metadata
// leader), where a whole second lost per dropped request is most of the
// failover's budget.
func retryUnansweredFrom(ctx context.Context, first time.Duration, op func(context.Context) error) error {
	for d := first; ; d = min(2*d, attemptTimeout) {
		actx, cancel := context.WithTimeout(ctx, d)
		err := op(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unanswered reports whether err says a request got no answer (as opposed
// to an answer that refused it).
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
