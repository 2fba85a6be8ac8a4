package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// headKey is the key of the head in the snapshot bucket.
const headKey = "head"

// Head is the head key's value: one published period of the cluster.
// Each head is a compare-and-swap on the previous one's revision, so the
// heads form one chain (Seq increases by one along it).
type Head struct {
	Seq        uint64                `json:"seq"`
	Leader     string                `json:"leader"`
	Term       uint64                `json:"term"`       // the leader's lease revision when won
	At         int64                 `json:"at"`         // unix ms: when the boundary's evaluations began
	Applied    uint64                `json:"applied"`    // journal stream sequence applied
	Checkpoint string                `json:"checkpoint"` // key of the last checkpoint ("" none yet)
	Entries    []HeadEntry           `json:"entries"`
	Sources    []engine.SourceStatus `json:"sources,omitempty"` // the leader's, for the status page
}

// HeadEntry is one published URL.
type HeadEntry struct {
	URL        string `json:"u"`
	Hash       string `json:"h"`
	Type       string `json:"t"`
	PeriodMS   int64  `json:"p,omitempty"`
	BoundaryMS int64  `json:"b,omitempty"`
}

// ErrFenced says another engine published a head this one did not
// expect: this engine has been deposed and must stop.
var ErrFenced = errors.New("fenced: another engine published the head")

// Publisher is the leader engine's side of publishing: its Fence method
// is the period.Hook that ships a boundary's snapshots and swaps the head,
// its Save the writes.Applier's checkpoint sink.
type Publisher struct {
	c    *Conn
	feed *Feed
	term uint64
	// Statuses returns the sources' statuses for the head (optional).
	Statuses func() []engine.SourceStatus
	// OnFenced is called once when a head swap fails because another
	// engine published (publisher goroutine).
	OnFenced func(error)

	decided decisions // fates decided since the last head, published after the next

	mu         sync.Mutex
	lctx       context.Context // the leadership (Bind); nil: Background
	rev        uint64          // the head revision the next swap expects
	prev       Head
	checkpoint string // newest checkpoint key, referenced by the next head
	shipped    map[string]bool
	refs       map[string]time.Time // blob key → last time a head referenced it
	lastGC     time.Time
	grace      time.Duration // blobGrace (shorter in tests)
	fenced     bool
}

// Takeover reads the head and the checkpoint it names: where a new
// leader starts. cp is nil when the cluster has no checkpoint yet.
func Takeover(ctx context.Context, c *Conn, term uint64) (*Publisher, *journal.Checkpoint, error) {
	p := &Publisher{c: c, term: term, shipped: map[string]bool{}, refs: map[string]time.Time{}, lastGC: time.Now(), grace: blobGrace}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := c.Snap.Get(gctx, headKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, nil, fmt.Errorf("cluster: takeover: read the head: %w", err)
	default:
		if err := json.Unmarshal(e.Value(), &p.prev); err != nil {
			return nil, nil, fmt.Errorf("cluster: takeover: the head does not decode: %w", err)
		}
		p.rev = e.Revision()
	}
	for _, en := range p.prev.Entries {
		p.shipped[en.Hash] = true
	}
	p.checkpoint = p.prev.Checkpoint
	var cp *journal.Checkpoint
	if p.prev.Checkpoint != "" {
		hash := p.prev.Checkpoint[len("c."):]
		b, err := c.getBlob(ctx, p.prev.Checkpoint, hash, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: takeover: %w", err)
		}
		if cp, err = journal.DecodeCheckpoint(b); err != nil {
			return nil, nil, fmt.Errorf("cluster: takeover: checkpoint %s: %w", p.prev.Checkpoint, err)
		}
	}
	return p, cp, nil
}

// ErrNotLeading says the leadership the publisher was bound to has ended
// (the lease lost, the engine fenced or stopping): nothing is published.
var ErrNotLeading = errors.New("cluster: not leading any more")

// Bind ties the publisher to a leadership: once ctx ends, Fence and Save
// fail at once with ErrNotLeading, and a swap or save in flight is
// abandoned. A leader cut off from NATS would otherwise spend a swap's
// whole timeout on each boundary queued before it noticed, and stay an
// engine that long after its lease was lost.
func (p *Publisher) Bind(ctx context.Context) {
	p.mu.Lock()
	p.lctx = ctx
	p.mu.Unlock()
	go p.adoptKeys(ctx)
}

// adoptKeys lists the snapshot bucket's keys and counts each as referenced
// now, so what no head of this leadership references (a deposed leader's
// last bodies) is collected blobGrace later. It runs beside the first
// boundaries, not in the takeover: listing keys makes a consumer, which
// waits for the metadata leader a kill may have taken with it, and the
// takeover spent its whole first attempt (1 s) waiting there
// (bench/cluster failover-embedded: takeovers of 1.11-1.32 s).
func (p *Publisher) adoptKeys(ctx context.Context) {
	var keys []string
	err := retryUnansweredFrom(ctx, 250*time.Millisecond, func(ctx context.Context) error {
		l, err := p.c.Snap.ListKeys(ctx)
		if err != nil {
			return err
		}
		keys = keys[:0]
		for k := range l.Keys() {
			keys = append(keys, k)
		}
		return ctx.Err() // the list ends early, without an error, when ctx does
	})
	if err != nil {
		return // collected by the next leadership's list
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if _, seen := p.refs[k]; !seen && k != headKey {
			p.refs[k] = now
		}
	}
}

// leadership returns the context the publisher's calls derive from.
func (p *Publisher) leadership() context.Context {
	if p.lctx == nil {
		return context.Background()
	}
	return p.lctx
}

// Decided buffers fates of events the leader's applier decided; the next
// head swap that succeeds publishes them to every node (the
// writes.ApplierOptions' Decided; evaluating goroutines).
func (p *Publisher) Decided(sts []journal.Status) { p.decided.add(sts) }

// SetFeed names the feed whose progress the heads report.
func (p *Publisher) SetFeed(f *Feed) { p.feed = f }

// Prev returns the last head this publisher knows of.
func (p *Publisher) Prev() Head {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prev
}

// Fence ships the staged entries' bodies the cluster does not have yet,
// then swaps the head: the period.Hook's Fence (publisher goroutine). An
// error skips the local commit; ErrFenced also calls OnFenced.
func (p *Publisher) Fence(st *snapshot.Store, at time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fenced {
		return ErrFenced
	}
	if p.leadership().Err() != nil {
		return ErrNotLeading
	}
	ctx, cancel := context.WithTimeout(p.leadership(), 5*time.Second)
	defer cancel()
	infos := st.Entries()
	entries := make([]HeadEntry, 0, len(infos))
	for _, e := range infos {
		if !p.shipped[e.Hash] {
			body, err := st.Version(e.Hash)
			if err != nil {
				return fmt.Errorf("cluster: read %s for shipping: %w", e.URL, err)
			}
			if err := p.c.putBlob(ctx, bodyKey(e.Hash), body); err != nil {
				return err
			}
			p.shipped[e.Hash] = true
		}
		he := HeadEntry{URL: e.URL, Hash: e.Hash, Type: e.ContentType, PeriodMS: e.Period.Milliseconds()}
		if !e.Boundary.IsZero() {
			he.BoundaryMS = e.Boundary.UnixMilli()
		}
		entries = append(entries, he)
	}
	h := Head{Seq: p.prev.Seq + 1, Leader: p.c.Cfg.NodeID, Term: p.term, At: max(at.UnixMilli(), p.prev.At+1),
		Checkpoint: p.checkpoint, Entries: entries}
	if p.feed != nil {
		h.Applied = p.feed.Applied()
	}
	if p.Statuses != nil {
		h.Sources = p.Statuses()
	}
	b, err := json.Marshal(&h)
	if err != nil {
		return err
	}
	rev, err := p.swapHead(ctx, &h, b)
	if err != nil {
		if isMismatch(err) {
			p.fenced = true
			p.decided.take() // the next leader decides them again
			ferr := fmt.Errorf("%w (expected head revision %d, seq %d): %v", ErrFenced, p.rev, p.prev.Seq, err)
			if p.OnFenced != nil {
				go p.OnFenced(ferr)
			}
			return ferr
		}
		return fmt.Errorf("cluster: swap the head: %w", err)
	}
	p.rev, p.prev = rev, h
	// The fates decided so far, now that a head at least as new as their
	// boundary is out; those not published wait for the next head.
	if runs := p.decided.take(); len(runs) > 0 {
		if rest, err := p.c.publishEvents(ctx, &h, runs); err != nil {
			p.decided.putBack(rest)
			p.c.Log.Warn("cluster: the events' fates wait for the next head", "error", err)
		}
	}
	p.collect(ctx, &h)
	return nil
}

// swapHead stores h (encoded as b) as the head if the head is still the
// revision this publisher last stored. An attempt that goes unanswered
// (the bucket's raft group electing a leader) has an unknown outcome: the
// head is read, and the swap is ours if the head is h, lost if it moved
// to anything else, and tried again if it is still the old revision. An
// attempt has attemptTimeout, not the boundary's whole deadline: one
// request dropped during an election cost a takeover 5 s
// (bench/cluster, failover-embedded).
func (p *Publisher) swapHead(ctx context.Context, h *Head, b []byte) (uint64, error) {
	retried := false
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		rev, err := p.c.Snap.Update(actx, headKey, b, p.rev)
		cancel()
		if err == nil || (isMismatch(err) && !retried) {
			return rev, err
		}
		// Unanswered, or a mismatch after an unanswered attempt (which
		// may have stored h after all): look.
		actx, cancel = context.WithTimeout(ctx, attemptTimeout)
		e, gerr := p.c.Snap.Get(actx, headKey)
		cancel()
		if gerr == nil {
			var now Head
			if json.Unmarshal(e.Value(), &now) == nil && now.Seq == h.Seq && now.Leader == h.Leader && now.Term == h.Term && now.At == h.At {
				return e.Revision(), nil
			}
			if e.Revision() != p.rev {
				return 0, fmt.Errorf("%w (head seq %d by %s)", jetstream.ErrKeyRevisionMismatch, now.Seq, now.Leader)
			}
		}
		if ctx.Err() != nil || !(unanswered(err) || isMismatch(err)) {
			return 0, err
		}
		retried = true
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Save stores a checkpoint under its hash; the next head names it (the
// writes.Applier's Save). A checkpoint no head names is never loaded.
func (p *Publisher) Save(cp *journal.Checkpoint) error {
	b, err := journal.EncodeCheckpoint(cp)
	if err != nil {
		return err
	}
	hash := snapshot.HashOf(b)
	key := checkpointKey(hash)
	p.mu.Lock()
	lctx := p.leadership()
	p.mu.Unlock()
	if lctx.Err() != nil {
		return ErrNotLeading
	}
	ctx, cancel := context.WithTimeout(lctx, 10*time.Second)
	defer cancel()
	if err := p.c.putBlob(ctx, key, b); err != nil {
		return err
	}
	p.mu.Lock()
	p.checkpoint = key
	p.mu.Unlock()
	return nil
}

// blobGrace is how long a body or checkpoint stays after the last head
// that referenced it: long enough for a lagging node to fetch it.
const blobGrace = 2 * time.Minute

// gcEvery is how often, at most, a publisher collects blobs.
const gcEvery = 30 * time.Second

// collect deletes the blobs no head has referenced for blobGrace, at most
// every 30 s. Under mu.
func (p *Publisher) collect(ctx context.Context, h *Head) {
	now := time.Now()
	for _, e := range h.Entries {
		p.refs[bodyKey(e.Hash)] = now
	}
	if h.Checkpoint != "" {
		p.refs[h.Checkpoint] = now
	}
	if now.Sub(p.lastGC) < gcEvery {
		return
	}
	p.lastGC = now
	for k, t := range p.refs {
		if now.Sub(t) > p.grace {
			p.c.deleteBlob(ctx, k)
			delete(p.refs, k)
			if len(k) > 2 && k[:2] == "v." {
				delete(p.shipped, k[2:])
			}
		}
	}
}
