package api

// This file assembles a cluster node (cluster.enabled): in the engine
// process, instead of an Engine on its own, a node that forwards the local
// journal to the cluster's stream, mirrors the cluster's heads into the
// local snapshot store, and, when it wins the engine lease, runs an Engine
// on the stream's records whose every commit is a head swap. The workers
// are unchanged but for the write acknowledgement (worker.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/cluster"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/writes"
)

// clusterNode runs a cluster node's engine process until ctx ends.
func clusterNode(ctx context.Context, cfg *Config, opt ServeOptions, runDir string) error {
	log := opt.Log.With("node", cfg.Cluster.NodeID)
	snapDir := filepath.Join(runDir, "snapshots")
	mdir := metricsDir(runDir)
	dataDir := cfg.Path(cfg.Serve.DataDir)

	// The node serves its project's static files (client library, write
	// routes) from the start, before any head arrives.
	store, err := snapshot.Create(snapDir)
	if err != nil {
		return err
	}
	defer store.Close()
	proj, _, db, err := load(cfg, log)
	if err != nil {
		return err
	}
	db.Close() // this project only names the write routes; each engine the node runs opens its own
	if err := publishStatic(store, writes.RoutesOf(proj)); err != nil {
		return err
	}
	if err := store.Commit(); err != nil {
		return err
	}

	c, err := cluster.Connect(ctx, cfg.Cluster, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	log.Info("cluster: connected", "roles", cfg.Cluster.Roles, "write_ack", cfg.Cluster.WriteAck)

	fwd, err := cluster.NewForwarder(c, dataDir, runDir)
	if err != nil {
		return err
	}
	defer fwd.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); fwd.Run(ctx) }() // until ctx ends
	wg.Add(1)
	go func() { defer wg.Done(); fwd.Events().Follow(ctx, c) }() // /_jawas/events/ID, until ctx ends

	n := &node{cfg: cfg, log: log, c: c, store: store, fwd: fwd, mdir: mdir, opt: opt, snapDir: snapDir}
	n.mirror = cluster.NewMirror(c, store)
	rec, err := metrics.NewRecorder(mdir)
	if err != nil {
		return err
	}
	n.mirror.OnHead = func(h *cluster.Head) { // the status page's sources, as the leader last published them
		st := make([]metrics.SourceStatus, len(h.Sources))
		for i, s := range h.Sources {
			st[i] = metrics.SourceStatus{SourceStatus: s}
		}
		rec.Record(time.Now(), st)
	}
	if cfg.Cluster.HasRole("engine") {
		n.lease = cluster.NewLease(c)
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.reportStatus(ctx) }() // until ctx ends

	// cluster.debug_lead_without_lease makes the node lead once without
	// the lease: two engines that both believe they lead must still make
	// one head chain (the fencing test).
	forced := cfg.Cluster.DebugLeadWithoutLease
	for ctx.Err() == nil {
		if forced {
			forced = false
			log.Warn("cluster: leading WITHOUT the lease (cluster.debug_lead_without_lease = true: for tests only)")
			n.lead(ctx, 0, n.holdLease(ctx, false))
			continue
		}
		// Follower: mirror the heads until this node wins the lease.
		mctx, stopMirror := context.WithCancel(ctx)
		mirrored := make(chan struct{})
		go func() { defer close(mirrored); n.mirror.Run(mctx) }() // until stopMirror
		var term uint64
		if n.lease != nil {
			term, err = n.lease.Campaign(ctx)
		} else {
			<-ctx.Done()
		}
		if ctx.Err() != nil {
			stopMirror()
			<-mirrored
			break
		}
		// The lease is renewed from the moment it is won: the mirror may
		// take a while to stop (a watch on the NATS server that died with
		// the old leader), and a lease won but not renewed expired under
		// two new leaders in a row (TestKillEmbeddedLeaderUnderWrites).
		hold := n.holdLease(ctx, true)
		stopped := time.Now()
		stopMirror()
		<-mirrored
		if d := time.Since(stopped); d > 250*time.Millisecond {
			log.Warn("cluster: the mirror took long to stop", "took", d.Round(time.Millisecond))
		}
		n.lead(ctx, term, hold)
	}
	if n.lease != nil {
		n.lease.Release()
	}
	return nil
}

// node is one cluster node's engine-process state.
type node struct {
	cfg     *Config
	opt     ServeOptions
	log     *slog.Logger
	c       *cluster.Conn
	store   *snapshot.Store
	fwd     *cluster.Forwarder
	mirror  *cluster.Mirror
	lease   *cluster.Lease
	mdir    string
	snapDir string

	mu     sync.Mutex
	leader bool
	pub    *cluster.Publisher
	feed   *cluster.Feed
}

// lead runs the engine while this node holds the lease: it loads the
// state the last head names, reads the stream from the sequence that
// state reflects, and publishes until the lease is lost, the engine is
// fenced (another engine swapped the head), or ctx ends.
func (n *node) lead(ctx context.Context, term uint64, hold *leaseHold) {
	log := n.log
	start := time.Now()
	leased, lctx := hold.leased, hold.ctx
	defer hold.end() // a panic must not wait for the lease holder for ever: end cancels first
	pub, cp, feed, from, err := n.takeover(lctx, term)
	if err != nil {
		hold.end()
		if why := hold.why(); why != nil {
			log.Warn("cluster: engine lease lost during the takeover; demoting to follower", "error", why)
		} else if ctx.Err() == nil {
			log.Error("cluster: takeover failed; giving the lease up", "error", err)
		}
		n.release(leased)
		sleepCtx(ctx, n.cfg.Cluster.LeaseTTL.Duration)
		return
	}
	defer feed.Stop()
	pub.SetFeed(feed)
	pub.Bind(lctx) // a lost lease abandons the swap in flight
	pub.OnFenced = hold.stop
	if n.cfg.Cluster.Embed {
		go n.c.StepDownHere(lctx, n.cfg.Cluster.NodeID) // until no stream of the engine's leads here, or lctx ends
	}
	eng, err := NewEngine(EngineOptions{Config: n.cfg, Log: log, SnapshotDir: n.snapDir, MetricsDir: n.mdir,
		cluster: &engineCluster{store: n.store, feed: feed, initial: cp, save: pub.Save, fence: pub.Fence,
			every: n.cfg.Cluster.CheckpointEvery.Duration, decided: pub.Decided}})
	if err != nil {
		log.Error("cluster: cannot start the engine; giving the lease up", "error", err)
		hold.end()
		n.release(leased)
		sleepCtx(ctx, n.cfg.Cluster.LeaseTTL.Duration)
		return
	}
	pub.Statuses = func() []engine.SourceStatus { return eng.sched.Current().Statuses() }
	prev := pub.Prev()
	log.Info("cluster: leading the engine", "term", term, "after_head", prev.Seq, "previous_leader", prev.Leader,
		"stream_from", from, "takeover", time.Since(start).Round(time.Millisecond))
	n.setLeader(true, pub, feed)
	err = eng.Run(lctx)
	n.setLeader(false, nil, nil)
	n.mirror.SetApplied(pub.Prev())
	hold.end()
	switch why := hold.why(); {
	case errors.Is(why, cluster.ErrFenced):
		log.Error("cluster: engine fenced: another engine published the head; demoting to follower", "error", why)
	case why != nil:
		log.Warn("cluster: engine lease lost; demoting to follower", "error", why)
	case err != nil:
		log.Error("cluster: engine stopped", "error", err)
	}
	if leased {
		n.lease.Release()
	}
}

// leaseHold is a leadership: its context ends when the lease is lost, the
// engine is fenced, or the leadership ends; while it lasts a goroutine
// renews the lease (when it was won: not for cluster.debug_lead_without_lease).
type leaseHold struct {
	leased bool
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	err error // why it ended early
}

// holdLease starts renewing the lease just won (when leased). The renewal
// runs from then on, through the mirror's stop and the takeover, which may
// wait out a NATS server's election (a node that embeds the server the
// old leader killed with it), so the lease is not lost meanwhile.
func (n *node) holdLease(ctx context.Context, leased bool) *leaseHold {
	h := &leaseHold{leased: leased, done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(ctx)
	go func() {
		defer close(h.done)
		if !leased {
			return
		}
		if err := n.lease.Hold(h.ctx); err != nil {
			h.stop(err)
		}
	}()
	return h
}

// stop ends the leadership for why (the first reason given is kept).
func (h *leaseHold) stop(why error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = why
	}
	h.mu.Unlock()
	h.cancel()
}

// why is the reason the leadership ended early, nil if none.
func (h *leaseHold) why() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// end stops the renewals and waits for them to stop; safe to repeat.
func (h *leaseHold) end() {
	h.cancel()
	<-h.done
}

// takeoverFor bounds the retries of a takeover: past it the node gives
// the lease up, so another may try.
const takeoverFor = 15 * time.Second

// takeover reads the head and the checkpoint it names and starts reading
// the stream after what that checkpoint reflects. Each attempt is short (1
// s, then longer up to 5 s), and a failed one is retried at once until
// takeoverFor: a JetStream request lost while a killed server's raft
// groups elect new leaders would otherwise hold the new leader for the
// whole timeout, and giving the lease up then cost another lease_ttl
// (failovers of 9 s and more measured with embedded servers).
func (n *node) takeover(ctx context.Context, term uint64) (*cluster.Publisher, *journal.Checkpoint, *cluster.Feed, uint64, error) {
	deadline := time.Now().Add(takeoverFor)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, min(time.Duration(attempt)*time.Second, 5*time.Second))
		pub, cp, err := cluster.Takeover(actx, n.c, term)
		var feed *cluster.Feed
		var from uint64
		if err == nil {
			if cp != nil {
				from = uint64(cp.Positions[cluster.PosStream])
			}
			feed, err = cluster.StartFeed(actx, n.c, from)
		}
		cancel()
		if err == nil {
			return pub, cp, feed, from, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, nil, nil, 0, err
		}
		n.log.Warn("cluster: takeover not done yet; retrying", "attempt", attempt, "error", err)
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

func (n *node) release(leased bool) {
	if leased {
		n.lease.Release()
	}
}

func (n *node) setLeader(on bool, pub *cluster.Publisher, feed *cluster.Feed) {
	n.mu.Lock()
	n.leader, n.pub, n.feed = on, pub, feed
	n.mu.Unlock()
}

// reportStatus writes the cluster section of /_jawas/status and this
// node's entry in the nodes bucket, every cluster.StatusEvery.
func (n *node) reportStatus(ctx context.Context) {
	t := time.NewTicker(cluster.StatusEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		leader, pub, feed := n.leader, n.pub, n.feed
		n.mu.Unlock()
		me := cluster.NodeStatus{Node: n.cfg.Cluster.NodeID, Roles: n.cfg.Cluster.Roles, Leader: leader,
			Forwarder: n.fwd.Stats(), Updated: time.Now()}
		head, _, _ := n.mirror.Applied()
		if pub != nil {
			head = pub.Prev()
		}
		me.HeadSeq, me.HeadAt = head.Seq, time.UnixMilli(head.At)
		if feed != nil {
			me.Duplicates = feed.Duplicates()
			me.StreamLag = feed.Lag()
		}
		n.c.PublishNode(ctx, me)
		st := &cluster.Status{Node: me.Node, Role: "follower", LeaseAgeMS: -1, Connected: n.c.NC.IsConnected(),
			Nodes: n.c.ReadNodes(ctx)}
		if leader {
			st.Role = "leader"
		} else if n.lease == nil {
			st.Role = "serve-only"
		}
		if n.lease != nil {
			h := n.lease.Holder()
			st.Leader = h.Node
			if !h.Renew.IsZero() {
				st.LeaseAgeMS = time.Since(h.Renew).Milliseconds()
			}
		}
		if head.Seq > 0 {
			st.Head = &cluster.HeadSummary{Seq: head.Seq, Leader: head.Leader, Period: time.UnixMilli(head.At), Applied: head.Applied}
			if st.Leader == "" {
				st.Leader = head.Leader
			}
		}
		if err := cluster.WriteStatus(n.mdir, st); err != nil {
			n.log.Warn("cluster: cannot write the status", "error", err)
		}
	}
}

// publishStatic puts the files every node serves before any head: the
// client library and the write routes.
func publishStatic(st *snapshot.Store, routes []byte) error {
	for _, f := range []struct {
		url, typ string
		body     []byte
	}{
		{"/_jawas/client.js", "text/javascript; charset=utf-8", clientJS()},
		{writes.RoutesURL, "application/json", routes},
	} {
		if _, _, err := st.Put(f.url, f.body, snapshot.Meta{ContentType: f.typ}); err != nil {
			return fmt.Errorf("publish %s: %w", f.url, err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
