package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseKey is the engine lease's key in the lease bucket.
const leaseKey = "engine"

// Lease is a node's campaign for the engine lease: a key in a KV bucket
// whose TTL is lease_ttl. Create wins it (only when nobody holds it),
// Update on the held revision renews it every ttl/4; a failed renewal, or
// none for ttl less a quarter, loses it. The bucket's TTL ages out a dead
// holder's key, and the delete marker it leaves lets the next Create win.
type Lease struct {
	c    *Conn
	node string
	ttl  time.Duration

	mu        sync.Mutex
	rev       uint64    // held revision; 0 when not held
	term      uint64    // the revision at which it was won
	won       time.Time // when
	lastRenew time.Time
	holder    LeaseInfo // last seen holder (any node)
}

// LeaseInfo is the lease key's value.
type LeaseInfo struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
	Renew time.Time `json:"renew,omitzero"`
}

// NewLease makes node's lease campaign.
func NewLease(c *Conn) *Lease {
	return &Lease{c: c, node: c.Cfg.NodeID, ttl: c.Cfg.LeaseTTL.Duration}
}

// Campaign blocks until this node holds the lease (then it returns the
// term, the lease revision it was won at) or ctx ends. It tries every
// ttl/8, and at once when a watch on the lease key sees it deleted: by
// the holder's Release, or by the bucket's TTL (the marker the server
// writes when the key ages out), so a dead leader's successor does not
// wait for its next try.
func (l *Lease) Campaign(ctx context.Context) (uint64, error) {
	wctx, stopWatch := context.WithCancel(ctx) // ends the watch too
	defer stopWatch()
	// The watch is made beside the first tries, not before them: making
	// it is a request to the bucket's stream, which goes unanswered while
	// the stream elects a leader (its server died with the old engine)
	// and then took the client's default 5 s, during which no Create was
	// tried (bench/cluster, failover-embedded: takeovers of 6.9-7.2 s).
	watched := make(chan jetstream.KeyWatcher, 1)
	go func() {
		if w, err := l.c.Lease.Watch(wctx, leaseKey, jetstream.UpdatesOnly()); err == nil {
			watched <- w
		}
	}()
	var gone <-chan jetstream.KeyValueEntry // nil (never ready) until the watch is made
	began, seen := time.Now(), "?"
	for try := 1; ; try++ {
		now := time.Now()
		v, _ := json.Marshal(LeaseInfo{Node: l.node, Since: now, Renew: now})
		cctx, cancel := context.WithTimeout(ctx, l.ttl/2)
		rev, err := l.c.Lease.Create(cctx, leaseKey, v)
		cancel()
		if err == nil {
			l.mu.Lock()
			l.rev, l.term, l.won, l.lastRenew = rev, rev, now, now
			l.holder = LeaseInfo{Node: l.node, Since: now, Renew: now}
			l.mu.Unlock()
			return rev, nil
		}
		l.look(ctx)
		// Logged when the holder changes or the try failed otherwise than
		// by finding the key held: a follower tries 4 times a second.
		if h := l.Holder().Node; h != seen || !isMismatch(err) {
			seen = h
			l.c.Log.Debug("cluster: lease campaign: not won", "try", try, "after", time.Since(began).Round(time.Millisecond),
				"holder", h, "error", err)
		}
		t := time.NewTimer(l.ttl / 8)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-t.C:
				break wait
			case w := <-watched:
				gone, watched = w.Updates(), nil
				l.c.Log.Debug("cluster: lease campaign: watching the key", "after", time.Since(began).Round(time.Millisecond))
			case e, ok := <-gone:
				if !ok {
					gone = nil // the watch ended: polling only
					continue
				}
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					l.c.Log.Debug("cluster: lease campaign: key gone", "op", e.Operation(), "revision", e.Revision(),
						"after", time.Since(began).Round(time.Millisecond))
					t.Stop()
					break wait
				}
			}
		}
	}
}

// get reads the lease key.
func (l *Lease) get(ctx context.Context) (jetstream.KeyValueEntry, error) {
	gctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	return l.c.Lease.Get(gctx, leaseKey)
}

// look records who holds the lease now.
func (l *Lease) look(ctx context.Context) {
	gctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	e, err := l.c.Lease.Get(gctx, leaseKey)
	var h LeaseInfo
	if err == nil {
		json.Unmarshal(e.Value(), &h)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
		return
	}
	l.mu.Lock()
	l.holder = h
	l.mu.Unlock()
}

// ErrLeaseLost says the lease was taken by another node or could not be
// renewed in time.
var ErrLeaseLost = errors.New("engine lease lost")

// Hold renews the held lease every ttl/4 until ctx ends (nil) or the
// lease is lost (ErrLeaseLost, wrapped with why).
func (l *Lease) Hold(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := l.renew(ctx); err != nil {
			return err
		}
	}
}

func (l *Lease) renew(ctx context.Context) error {
	l.mu.Lock()
	rev, since, last := l.rev, l.won, l.lastRenew
	l.mu.Unlock()
	if rev == 0 {
		return ErrLeaseLost
	}
	now := time.Now()
	v, _ := json.Marshal(LeaseInfo{Node: l.node, Since: since, Renew: now})
	rctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	nrev, err := l.c.Lease.Update(rctx, leaseKey, v, rev)
	cancel()
	switch {
	case err == nil:
		l.renewed(nrev, since, now)
		return nil
	case isMismatch(err):
		// An earlier renewal that timed out here may have been stored all
		// the same: the key then holds this very term's value at a newer
		// revision. Only another value means another node took it.
		seen := "no holder"
		if e, gerr := l.get(ctx); gerr == nil {
			var h LeaseInfo
			if json.Unmarshal(e.Value(), &h) == nil && h.Node == l.node && h.Since.Equal(since) {
				l.mu.Lock()
				l.rev = e.Revision()
				l.mu.Unlock()
				return nil // renewed at the next tick, on that revision
			}
			seen = fmt.Sprintf("%s since %s at revision %d", h.Node, h.Since.Format(time.RFC3339Nano), e.Revision())
		} else if gone := errors.Is(gerr, jetstream.ErrKeyNotFound) || errors.Is(gerr, jetstream.ErrKeyDeleted); gone && time.Since(last) <= l.ttl-l.ttl/4 {
			// The key is gone though this node renewed it less than ¾ of
			// the TTL ago: nobody else holds it (a holder needs the key).
			// Seen after a NATS server died with the old leader: a key
			// just won was gone at its first renewal ("wrong last
			// sequence: 0"), and the lease then went from node to node
			// for seconds. Create it again; if another node created it
			// first, that node holds it and this one has lost it.
			cctx, cancel := context.WithTimeout(ctx, l.ttl/4)
			nrev, cerr := l.c.Lease.Create(cctx, leaseKey, v)
			cancel()
			if cerr == nil {
				l.renewed(nrev, since, now)
				l.c.Log.Warn("cluster: the engine lease's key was gone under its holder; created it again", "revision", nrev)
				return nil
			}
			if !isMismatch(cerr) {
				return nil // cannot tell yet: look again at the next tick
			}
		} else if !gone && time.Since(last) <= l.ttl-l.ttl/4 {
			return nil // cannot tell yet: look again at the next tick
		}
		l.drop()
		return fmt.Errorf("%w: another node took it (renewing revision %d: %v; the key holds %s)", ErrLeaseLost, rev, err, seen)
	case time.Since(last) > l.ttl-l.ttl/4:
		// Not renewed for most of the TTL: the key may expire any
		// moment and another node win it. Stop before that.
		l.drop()
		return fmt.Errorf("%w: not renewed for %v (%v)", ErrLeaseLost, time.Since(last).Round(time.Millisecond), err)
	}
	return nil // retried at the next tick
}

// renewed records a renewal stored at revision rev, made at now, of the
// lease held since since.
func (l *Lease) renewed(rev uint64, since, now time.Time) {
	l.mu.Lock()
	l.rev, l.lastRenew = rev, now
	l.holder = LeaseInfo{Node: l.node, Since: since, Renew: now}
	l.mu.Unlock()
}

func (l *Lease) drop() {
	l.mu.Lock()
	l.rev = 0
	l.mu.Unlock()
}

// Release gives the lease up (a clean stop), so another node need not
// wait for the TTL.
func (l *Lease) Release() {
	l.mu.Lock()
	rev := l.rev
	l.rev = 0
	l.mu.Unlock()
	if rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.c.Lease.Delete(ctx, leaseKey, jetstream.LastRevision(rev))
}

// Held reports whether this node holds the lease, and since when it was
// last renewed.
func (l *Lease) Held() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev != 0, l.lastRenew
}

// Holder is the last seen holder of the lease.
func (l *Lease) Holder() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}
