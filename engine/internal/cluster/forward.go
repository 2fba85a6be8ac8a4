package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/journal"
)

const (
	// forwardedFile holds the forwarder's positions in the local journal.
	forwardedFile = "forwarded.json"
	// maxMessage bounds one stream message (NATS refuses over 1 MiB).
	maxMessage = 900 << 10
	// MaxBody is the largest write body cluster mode accepts: a record
	// must fit in one stream message.
	MaxBody = 800 << 10
	// hdrRecords counts the records of a message.
	hdrRecords = "Jawas-Records"
	// persistEvery is how often the forwarded position is saved while
	// records flow (durably once a second).
	persistEvery = 250 * time.Millisecond
	// shipLinger is how long the forwarder waits, after a message of
	// more than one record was acknowledged, before it reads the next:
	// the writers answered by that acknowledgement commit their next
	// writes within a few milliseconds, and without the wait those went
	// in the message after next, the writers split into two cohorts that
	// alternated (11-12 records per message at 64 writers on three
	// nodes, 16-19 with the wait). Each message costs the NATS servers a
	// raft append and a store, each fsynced, on three servers, whatever
	// it carries. A lone writer's messages hold one record and never
	// wait. Measured: bench/README.md, "Cluster".
	shipLinger = 3 * time.Millisecond
)

// Forwarder ships a node's local journal to the cluster's stream.
//
// Threading: Run is one goroutine; Stats is safe from any.
type Forwarder struct {
	c       *Conn
	dataDir string
	runDir  string
	subject string

	acks   *Acks
	wake   *wakeup
	poker  *poker
	events *EventStatus

	reader  *journal.Reader
	pos     journal.Positions
	lastSeq uint64 // stream sequence of our subject's last message

	announced  map[string]bool   // incarnations announced on the events stream
	toAnnounce map[string]uint64 // shipped, not announced yet

	mu    sync.Mutex
	stats ForwardStats

	forwarded atomic.Uint64

	lingerT *time.Timer // Run's, for linger
}

// ForwardStats is what /_jawas/status shows of a forwarder.
type ForwardStats struct {
	Records   uint64    `json:"records"`            // records the stream acknowledged since start
	Messages  uint64    `json:"messages"`           // stream messages
	Backlog   int64     `json:"backlog_bytes"`      // local journal bytes not in the stream yet
	LastSeq   uint64    `json:"last_stream_seq"`    // this node's last message in the stream
	Down      bool      `json:"stream_unreachable"` // the last publish failed
	LastError string    `json:"last_error,omitempty"`
	LastAck   time.Time `json:"last_ack,omitzero"`
}

// NewForwarder opens the forwarder of the node whose journal is under
// dataDir and whose workers share runDir.
func NewForwarder(c *Conn, dataDir, runDir string) (*Forwarder, error) {
	acks, err := OpenAcks(runDir)
	if err != nil {
		return nil, err
	}
	w, err := listenWakeup(filepath.Join(runDir, fwdSock))
	if err != nil {
		acks.Close()
		return nil, err
	}
	p, err := newPoker()
	if err != nil {
		w.close()
		acks.Close()
		return nil, err
	}
	r, err := journal.OpenReader(dataDir)
	if err != nil {
		p.close()
		w.close()
		acks.Close()
		return nil, fmt.Errorf("cluster: forwarder: %w", err)
	}
	f := &Forwarder{c: c, dataDir: dataDir, runDir: runDir, subject: c.nodeSubject(c.Cfg.NodeID),
		acks: acks, wake: w, poker: p, reader: r, events: NewEventStatus(dataDir),
		announced: map[string]bool{}, toAnnounce: map[string]uint64{}}
	if f.pos, err = loadPositions(filepath.Join(dataDir, "journal", forwardedFile)); err != nil {
		f.Close()
		return nil, err
	}
	f.events.pos = f.pos.Clone() // the status file's positions until the first housekeeping
	return f, nil
}

// Close releases the forwarder (after Run returned).
func (f *Forwarder) Close() {
	f.reader.Close()
	f.poker.close()
	f.wake.close()
	f.acks.Close()
}

// Events is the node's event status (its status file carries the
// forwarded positions too); the node runs its Follow.
func (f *Forwarder) Events() *EventStatus { return f.events }

// Stats returns the forwarder's figures now.
func (f *Forwarder) Stats() ForwardStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Down = f.acks.Down()
	return s
}

// Positions returns a copy of the forwarded positions.
func (f *Forwarder) Positions() journal.Positions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos.Clone()
}

// Run forwards until ctx ends: each time a worker pokes (or every 100 ms)
// it reads what the workers committed since the last position and
// publishes it, one message after another, each retried until the stream
// acknowledges it.
func (f *Forwarder) Run(ctx context.Context) error {
	if err := f.learnLast(ctx); err != nil {
		return err
	}
	var buf []journal.Record
	lastSync, lastPersist := time.Now(), time.Now()
	changed := false // positions moved since they were last saved
	for ctx.Err() == nil {
		recs, next, err := f.reader.ReadNewGated(buf[:0], f.pos, time.Time{}, nil)
		if err != nil {
			f.setError(err)
			f.c.Log.Error("cluster: cannot read the local journal to forward it", "error", err)
			f.wake.wait(time.Second)
			continue
		}
		if len(recs) > 0 {
			if err := f.ship(ctx, recs); err != nil {
				return nil // ctx ended
			}
			if len(recs) > 1 {
				f.linger(ctx)
			}
		}
		if len(f.toAnnounce) > 0 {
			f.announce(ctx)
		}
		clear(recs)
		buf = recs[:0]
		changed = changed || len(recs) > 0 || len(next) != len(f.pos)
		f.mu.Lock()
		f.pos = next
		f.mu.Unlock()
		// The position is saved at most every persistEvery (and durably
		// every second, below), not after each message: a temp file and a
		// rename took 2.5-5 ms on the loaded test machine, a sixth of a
		// message's round trip, which every replicated write waited for.
		// A crash re-sends what was shipped since: the stream's
		// deduplication or the engine's high-water mark drops it.
		if changed && time.Since(lastPersist) >= persistEvery {
			lastPersist, changed = time.Now(), false
			if err := f.persist(false); err != nil {
				f.c.Log.Error("cluster: cannot save the forwarded position", "error", err)
			}
		}
		if time.Since(lastSync) >= time.Second {
			changed = false
			lastSync = time.Now()
			f.housekeep()
		}
		if len(recs) == 0 {
			f.wake.wait(100 * time.Millisecond)
		}
	}
	f.persist(true)
	return nil
}

// linger waits shipLinger (see there), or until ctx ends.
func (f *Forwarder) linger(ctx context.Context) {
	if f.lingerT == nil {
		f.lingerT = time.NewTimer(shipLinger)
	} else {
		f.lingerT.Reset(shipLinger)
	}
	select {
	case <-ctx.Done():
		f.lingerT.Stop()
	case <-f.lingerT.C:
	}
}

// housekeep makes the position durable, deletes the local segments that
// are fully forwarded and dead, and publishes the position for the
// workers' backlog cap (serve.max_pending_journal).
func (f *Forwarder) housekeep() {
	if err := f.persist(true); err != nil {
		f.c.Log.Error("cluster: cannot save the forwarded position", "error", err)
		return
	}
	pos := f.Positions()
	if err := f.reader.Compact(&journal.Checkpoint{Positions: pos}); err != nil {
		f.c.Log.Warn("cluster: cannot delete forwarded journal segments", "error", err)
	}
	if err := f.events.publish(pos); err != nil {
		f.c.Log.Warn("cluster: cannot publish the forwarded position", "error", err)
	}
	if b, err := journal.PendingBytes(f.dataDir); err == nil {
		f.mu.Lock()
		f.stats.Backlog = b
		f.mu.Unlock()
	}
}

// learnLast finds our subject's last message in the stream, so the
// first publish can expect it. Attempts last 250 ms, then twice as long
// up to 2 s: a request dropped while the stream elects a leader (a
// step-down as the cluster starts) otherwise held the node's first writes
// for 2 s, answered pending (TestEmbeddedThreeNodes, 1 run in 4).
func (f *Forwarder) learnLast(ctx context.Context) error {
	for attempt, d := 0, 250*time.Millisecond; ; attempt, d = attempt+1, min(2*d, 2*time.Second) {
		seq, err := f.lastOnSubject(ctx, d)
		if err == nil {
			f.lastSeq = seq
			return nil
		}
		f.setError(err)
		if attempt%10 == 0 {
			f.c.Log.Warn("cluster: cannot read the journal stream yet; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (f *Forwarder) lastOnSubject(ctx context.Context, d time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	st, err := f.c.JS.Stream(ctx, f.c.Names.Stream)
	if err != nil {
		return 0, err
	}
	m, err := st.GetLastMsgForSubject(ctx, f.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// ship publishes recs (in apply order) as messages of at most maxMessage
// bytes. It returns only when all are in the stream, or ctx ended.
func (f *Forwarder) ship(ctx context.Context, recs []journal.Record) error {
	var data []byte
	start := 0
	for i := range recs {
		before := len(data)
		data = journal.AppendFrame(data, &recs[i])
		if len(data) > maxMessage && i > start {
			if err := f.publish(ctx, recs[start:i], data[:before]); err != nil {
				return err
			}
			data = journal.AppendFrame(data[:0], &recs[i])
			start = i
		}
	}
	return f.publish(ctx, recs[start:], data)
}

// publish sends one message until the stream acknowledges it, then tells
// the workers.
func (f *Forwarder) publish(ctx context.Context, recs []journal.Record, data []byte) error {
	msg := &nats.Msg{Subject: f.subject, Data: data, Header: nats.Header{}}
	// The same records always get the same ID: a retry after a lost
	// acknowledgement is dropped by the stream's deduplication.
	id := f.c.Cfg.NodeID + "/" + recs[0].ID + "/" + strconv.Itoa(len(recs))
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set(hdrRecords, strconv.Itoa(len(recs)))
	backoff := 50 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := f.c.JS.PublishMsg(pctx, msg, jetstream.WithExpectLastSequencePerSubject(f.lastSeq))
		cancel()
		if err == nil {
			f.acked(recs, ack.Sequence)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isMismatch(err) {
			// Our last message is not what we expected: either the
			// stream lost or purged it, or another node uses our
			// node_id. Learn the truth and go on (duplicates are
			// dropped by the engine).
			seq, lerr := f.lastOnSubject(ctx, 2*time.Second)
			if lerr == nil {
				f.c.Log.Error("cluster: this node's last journal message in the stream is not the one it sent; is cluster.node_id unique?",
					"node_id", f.c.Cfg.NodeID, "expected_seq", f.lastSeq, "found_seq", seq)
				f.lastSeq = seq
				continue
			}
			err = lerr
		}
		f.setError(err)
		f.acks.SetDown(true)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// announce tells every node the incarnations shipped for the first time
// (events.go); on failure they are announced after the next shipment.
func (f *Forwarder) announce(ctx context.Context) {
	if err := f.c.announce(ctx, f.toAnnounce); err != nil {
		f.c.Log.Debug("cluster: announce", "error", err)
		return
	}
	if len(f.announced) > 4096 {
		clear(f.announced) // old incarnations: at worst announced again
	}
	for inc := range f.toAnnounce {
		f.announced[inc] = true
	}
	clear(f.toAnnounce)
}

// acked records an acknowledgement: positions, the workers' ack table.
func (f *Forwarder) acked(recs []journal.Record, seq uint64) {
	f.lastSeq = seq
	type top struct {
		inc string
		seq uint64
	}
	tops := map[int]top{}
	for i := range recs {
		inc, s, _ := journal.ParseID(recs[i].ID)
		t := tops[recs[i].Slot]
		if inc > t.inc || (inc == t.inc && s > t.seq) {
			tops[recs[i].Slot] = top{inc, s}
		}
	}
	for slot, t := range tops {
		f.acks.Acked(slot, t.inc, t.seq)
		f.events.markRead(t.inc, t.seq)
		if !f.announced[t.inc] {
			f.toAnnounce[t.inc] = t.seq
		}
	}
	f.acks.SetDown(false)
	for slot := range tops {
		f.poker.poke(ackSockPath(f.runDir, slot))
	}
	f.forwarded.Add(uint64(len(recs)))
	f.mu.Lock()
	f.stats.Records += uint64(len(recs))
	f.stats.Messages++
	f.stats.LastSeq = seq
	f.stats.LastAck = time.Now()
	f.stats.LastError = ""
	f.mu.Unlock()
}

func (f *Forwarder) setError(err error) {
	f.mu.Lock()
	f.stats.LastError = err.Error()
	f.mu.Unlock()
}

// persist saves the positions (durably when sync).
func (f *Forwarder) persist(sync bool) error {
	pos := f.Positions()
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(f.dataDir, "journal", forwardedFile), b, sync)
}

func loadPositions(path string) (journal.Positions, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return journal.Positions{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: forwarded position: %w", err)
	}
	pos := journal.Positions{}
	if err := json.Unmarshal(b, &pos); err != nil {
		// Starting over re-sends what is on disk: duplicates are dropped
		// by the engine, nothing is lost.
		return journal.Positions{}, nil
	}
	return pos, nil
}

// writeAtomic writes data to path by temp file and rename, fsyncing both
// when sync.
func writeAtomic(path string, data []byte, sync bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if sync {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}
