package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// Mirror applies the cluster's heads to a node's local snapshot store,
// which the node's workers read exactly as on one node.
//
// Threading: Run owns the store while it runs; Status is safe from any
// goroutine.
type Mirror struct {
	c     *Conn
	store *snapshot.Store
	// OnHead, when set, is called after each head is applied (Run's
	// goroutine): the node records the status page's sources from it.
	OnHead func(h *Head)

	cache map[string]cachedValue // blob key → value, as the watcher delivered it

	mu      sync.Mutex
	applied Head      // the last head applied
	at      time.Time // when
	latest  uint64    // the highest head seq seen
}

type cachedValue struct {
	v    []byte
	seen time.Time
}

// NewMirror makes a mirror into store.
func NewMirror(c *Conn, store *snapshot.Store) *Mirror {
	return &Mirror{c: c, store: store, cache: map[string]cachedValue{}}
}

// Applied is the last head applied, and when.
func (m *Mirror) Applied() (Head, time.Time, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied, m.at, m.latest
}

// SetApplied records h as applied (the node published it itself, as the
// leader), so the mirror never goes back before it.
func (m *Mirror) SetApplied(h Head) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.Seq > m.applied.Seq {
		m.applied, m.at = h, time.Now()
	}
}

// Run watches the snapshot bucket until ctx ends, applying every head
// newer than the last one applied: heads never go backwards. The watch is
// restarted when it ends early (a lost connection).
func (m *Mirror) Run(ctx context.Context) {
	for ctx.Err() == nil {
		m.watch(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (m *Mirror) watch(ctx context.Context) {
	w, err := m.c.Snap.WatchAll(ctx)
	if err != nil {
		m.c.Log.Debug("cluster: mirror: watch", "error", err)
		return
	}
	// Stopping the watch deletes its consumer, a request that waits out
	// the client's 5 s when the server holding the consumer is gone (it
	// died with the old leader): a node that had just won the lease
	// waited that long for its mirror to stop before it led. The
	// subscription is gone before the request is sent, so nothing of the
	// watch reaches this mirror once watch returns.
	defer func() { go w.Stop() }()
	var pending *Head // a head not applied yet: a body was missing
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return
		case e, ok = <-w.Updates():
			if !ok {
				return
			}
		case <-retry.C:
			if pending != nil && m.apply(ctx, pending) {
				pending = nil
			}
			continue
		}
		if e == nil {
			continue // the initial values are all in
		}
		key := e.Key()
		switch {
		case key == headKey && e.Operation() == jetstream.KeyValuePut:
			var h Head
			if err := json.Unmarshal(e.Value(), &h); err != nil {
				m.c.Log.Error("cluster: mirror: the head does not decode", "error", err)
				continue
			}
			m.mu.Lock()
			m.latest = max(m.latest, h.Seq)
			m.mu.Unlock()
			if m.apply(ctx, &h) {
				pending = nil
			} else {
				pending = &h
				retry.Reset(100 * time.Millisecond)
			}
		case strings.HasPrefix(key, "v."):
			if e.Operation() == jetstream.KeyValuePut {
				m.cache[key] = cachedValue{v: e.Value(), seen: time.Now()}
			} else {
				delete(m.cache, key)
			}
		}
	}
}

// apply makes the local store what h lists and commits it; false when a
// body could not be had (retried by the caller).
func (m *Mirror) apply(ctx context.Context, h *Head) bool {
	m.mu.Lock()
	last := m.applied.Seq
	m.mu.Unlock()
	if h.Seq <= last {
		return true // never backwards
	}
	keep := make(map[string]bool, len(h.Entries))
	for _, e := range h.Entries {
		keep[e.URL] = true
		cur, ok := m.store.Lookup(e.URL)
		meta := snapshot.Meta{ContentType: e.Type, Period: time.Duration(e.PeriodMS) * time.Millisecond}
		if e.BoundaryMS != 0 {
			meta.Boundary = time.UnixMilli(e.BoundaryMS)
		}
		if ok && cur.Hash == e.Hash && cur.ContentType == meta.ContentType && cur.Period == meta.Period {
			continue
		}
		var body []byte
		var err error
		if ok && cur.Hash == e.Hash {
			body, err = m.store.Version(e.Hash)
		} else {
			var cached []byte
			if c, ok := m.cache[bodyKey(e.Hash)]; ok {
				cached = c.v
			}
			body, err = m.c.getBlob(ctx, bodyKey(e.Hash), e.Hash, cached)
		}
		if err != nil {
			m.c.Log.Warn("cluster: mirror: a body of head is missing; waiting", "head", h.Seq, "url", e.URL, "error", err)
			return false
		}
		if _, _, err := m.store.Put(e.URL, body, meta); err != nil {
			m.c.Log.Error("cluster: mirror: store", "url", e.URL, "error", err)
			return false
		}
	}
	for _, u := range m.store.URLs() {
		if !keep[u] {
			m.store.Delete(u)
		}
	}
	m.store.Heartbeat(time.Now())
	if err := m.store.Commit(); err != nil {
		m.c.Log.Error("cluster: mirror: commit", "error", err)
		return false
	}
	m.mu.Lock()
	m.applied, m.at = *h, time.Now()
	m.mu.Unlock()
	m.prune()
	if m.OnHead != nil {
		m.OnHead(h)
	}
	return true
}

// prune drops cached bodies older than a minute (they were applied or
// superseded).
func (m *Mirror) prune() {
	now := time.Now()
	for k, c := range m.cache {
		if now.Sub(c.seen) > time.Minute {
			delete(m.cache, k)
		}
	}
}
