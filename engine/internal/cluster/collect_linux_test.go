package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/cluster"
)

// TestDeposedLeadersBodiesCollected: a body in the snapshot bucket that
// no head references (a deposed leader's last one) is adopted by the next
// leader once it is bound (Publisher.adoptKeys, which lists the bucket
// beside the first boundaries, not in the takeover) and collected after
// the grace; a body the head references is kept. Fails when the listing
// is dropped (the orphan is never referenced, so never collected).
func TestDeposedLeadersBodiesCollected(t *testing.T) {
	nc := startNATS(t, 3, false)
	c := leaseConn(t, nc, "n1", time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const orphan, kept = "v.orphan0000", "v.kept00000"
	for _, k := range []string{orphan, kept} {
		if _, err := c.Snap.Put(ctx, k, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := cluster.Takeover(ctx, c, 1)
	must(t, err)
	lctx, end := context.WithCancel(ctx)
	defer end()
	p.Bind(lctx)
	waitFor(t, 10*time.Second, "the bucket's keys adopted", func() bool { return p.Referenced(orphan) && p.Referenced(kept) })
	if p.Referenced("head") {
		t.Error("the head key counts as a blob")
	}
	// No grace: what no head referenced at this collection goes.
	p.CollectNow(ctx, &cluster.Head{Entries: []cluster.HeadEntry{{Hash: "kept00000"}}}, 0)
	if _, err := c.Snap.Get(ctx, orphan); !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
		t.Errorf("the unreferenced body after the grace: %v, want it collected", err)
	}
	if _, err := c.Snap.Get(ctx, kept); err != nil {
		t.Errorf("the body the head references: %v, want it kept", err)
	}
}
