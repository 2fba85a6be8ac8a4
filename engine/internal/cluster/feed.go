package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/journal"
)

// PosStream is the key of the journal positions that holds the last
// stream sequence applied; every other key is a journal incarnation and
// holds its highest record sequence applied (the duplicate filter).
const PosStream = "stream"

// cutoffWait bounds how long a boundary waits for the consumer to catch
// up with what the stream held when the boundary began; what arrives
// later is applied at the next boundary.
const cutoffWait = 250 * time.Millisecond

// Feed is the leader engine's writes.Feed: the journal stream, read by an
// ordered consumer from a checkpointed sequence on.
//
// Threading: Read is called by the applier, one call at a time; the
// consumer's callback runs on the NATS client's goroutine.
type Feed struct {
	c      *Conn
	stream jetstream.Stream
	cc     jetstream.ConsumeContext

	mu       sync.Mutex
	arrived  *sync.Cond
	buf      []feedMsg // received, not yet taken, in stream order
	received uint64    // highest stream sequence received
	cutAt    time.Time // the boundary cutoff was taken for
	cutoff   uint64

	applied atomic.Uint64 // stream sequence the last Read reached
	dups    atomic.Uint64 // records dropped as already applied
}

type feedMsg struct {
	seq  uint64
	data []byte
}

// StartFeed starts reading the journal stream after sequence from.
func StartFeed(ctx context.Context, c *Conn, from uint64) (*Feed, error) {
	f := &Feed{c: c, received: from}
	f.arrived = sync.NewCond(&f.mu)
	f.applied.Store(from)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if f.stream, err = c.JS.Stream(sctx, c.Names.Stream); err != nil {
		return nil, fmt.Errorf("cluster: feed: %w", err)
	}
	// Creating a consumer goes through the metadata leader, which a kill
	// of the old engine's node (its NATS server embedded) may have taken
	// with it: the request is dropped until a new one is elected, so it is
	// tried in short attempts (takeovers of 1.07-1.21 s, a whole 1 s
	// attempt lost, in bench/cluster failover-embedded).
	var cons jetstream.Consumer
	err = retryUnansweredFrom(sctx, 250*time.Millisecond, func(ctx context.Context) (err error) {
		cons, err = c.JS.OrderedConsumer(ctx, c.Names.Stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   from + 1,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: feed: %w", err)
	}
	if f.cc, err = cons.Consume(f.receive); err != nil {
		return nil, fmt.Errorf("cluster: feed: %w", err)
	}
	return f, nil
}

// receive buffers one message (NATS goroutine).
func (f *Feed) receive(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	f.mu.Lock()
	if seq > f.received {
		f.buf = append(f.buf, feedMsg{seq: seq, data: m.Data()})
		f.received = seq
		f.arrived.Broadcast()
	}
	f.mu.Unlock()
}

// Stop stops the consumer.
func (f *Feed) Stop() {
	if f.cc != nil {
		f.cc.Stop()
	}
}

// Applied is the stream sequence the engine has read up to.
func (f *Feed) Applied() uint64 { return f.applied.Load() }

// Lag is how many stream messages were received but not applied yet.
func (f *Feed) Lag() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.applied.Load(); f.received > a {
		return f.received - a
	}
	return 0
}

// Duplicates is how many records were dropped as already applied.
func (f *Feed) Duplicates() uint64 { return f.dups.Load() }

// Read is writes.Feed.Read: the records the stream held when boundary's
// first Read began, after from, without those already applied.
func (f *Feed) Read(dst []journal.Record, from journal.Positions, boundary time.Time) ([]journal.Record, journal.Positions, error) {
	start := uint64(from[PosStream])
	cutoff := f.cutoffFor(boundary)
	f.mu.Lock()
	if f.received < cutoff {
		deadline := time.Now().Add(cutoffWait)
		t := time.AfterFunc(cutoffWait, func() {
			f.mu.Lock()
			f.arrived.Broadcast()
			f.mu.Unlock()
		})
		for f.received < cutoff && time.Now().Before(deadline) {
			f.arrived.Wait()
		}
		t.Stop()
	}
	// Drop what is already applied, take up to the cutoff.
	i := 0
	for i < len(f.buf) && f.buf[i].seq <= start {
		i++
	}
	j := i
	for j < len(f.buf) && f.buf[j].seq <= cutoff {
		j++
	}
	take := append([]feedMsg(nil), f.buf[i:j]...)
	f.buf = append(f.buf[:0], f.buf[j:]...)
	f.mu.Unlock()

	next := from.Clone()
	if len(take) == 0 {
		return dst, next, nil
	}
	var recs []journal.Record
	for _, m := range take {
		var err error
		recs, err = journal.ParseFrames(recs[:0], m.data)
		if err != nil {
			return dst, from, fmt.Errorf("cluster: journal stream message %d: %w", m.seq, err)
		}
		for k := range recs {
			inc, seq, ok := journal.ParseID(recs[k].ID)
			if !ok {
				return dst, from, fmt.Errorf("cluster: journal stream message %d: record id %q", m.seq, recs[k].ID)
			}
			if uint64(next[inc]) >= seq {
				f.dups.Add(1)
				continue
			}
			next[inc] = int64(seq)
			dst = append(dst, recs[k])
		}
		next[PosStream] = int64(m.seq)
	}
	f.applied.Store(uint64(next[PosStream]))
	return dst, next, nil
}

// cutoffFor returns the stream's last sequence as of boundary's first
// Read (what it held then); if the stream cannot be asked, what has been
// received.
func (f *Feed) cutoffFor(boundary time.Time) uint64 {
	f.mu.Lock()
	if f.cutAt.Equal(boundary) {
		c := f.cutoff
		f.mu.Unlock()
		return c
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var cut uint64
	info, err := f.stream.Info(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		cut = info.State.LastSeq
	} else {
		cut = f.received
	}
	f.cutAt, f.cutoff = boundary, cut
	return cut
}
