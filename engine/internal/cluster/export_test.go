package cluster

import (
	"context"
	"time"
)

// Referenced reports whether the publisher counts key as referenced (a
// blob it would collect blobGrace after its last reference).
func (p *Publisher) Referenced(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.refs[key]
	return ok
}

// CollectNow collects at once, with grace in place of blobGrace, the
// blobs no head referenced since h (the head just published).
func (p *Publisher) CollectNow(ctx context.Context, h *Head, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grace, p.lastGC = grace, time.Time{}
	p.collect(ctx, h)
}
