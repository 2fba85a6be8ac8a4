package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/journal"
)

// The fates of events (GET /_jawas/events/ID) in cluster mode. The leader
// decides them (its reducers apply or reject each record) and, after each
// head swap that succeeds, publishes the fates decided since the last one
// to the events stream, as runs (consecutive sequence numbers of one
// incarnation decided alike at one boundary: a boundary of thousands of
// writes is a few runs). Every node follows that stream into a status
// table and publishes it in its journal directory's status file, where
// its workers look events up exactly as on one node. A fate decided by a
// deposed leader is replaced by the next leader's (the later one wins).

// eventRun is a run of events of one incarnation decided alike.
type eventRun struct {
	Inc      string `json:"i"`
	From     uint64 `json:"f"`
	To       uint64 `json:"t"`
	State    string `json:"s"`
	Boundary int64  `json:"b,omitempty"` // unix ms
	Reason   string `json:"r,omitempty"`
}

// eventsMsg is one message of the events stream: fates the leader
// decided, or incarnations a node's forwarder announces.
type eventsMsg struct {
	Leader string     `json:"leader,omitempty"`
	Term   uint64     `json:"term,omitempty"`
	Head   uint64     `json:"head,omitempty"` // the head whose swap published them
	Runs   []eventRun `json:"runs,omitempty"`
	// Incs is a forwarder's new incarnations, each with the highest
	// sequence the stream held when announced: every node then reads
	// their undecided events as pending, not unknown (a client behind a
	// load balancer may poll another node than the one it wrote to).
	Node string            `json:"node,omitempty"`
	Incs map[string]uint64 `json:"incs,omitempty"`
}

// maxEventsMsg bounds one events message's runs' encoded size (NATS
// refuses a message over 1 MiB).
const maxEventsMsg = 256 << 10

// decisions buffers the fates the leader's applier decided until the next
// successful head swap publishes them.
//
// Threading: add is called on evaluating goroutines, take on the
// publisher goroutine.
type decisions struct {
	mu   sync.Mutex
	runs []eventRun
}

// add appends sts, extending the last run when it can.
func (d *decisions) add(sts []journal.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range sts {
		inc, seq, ok := journal.ParseID(st.ID)
		if !ok {
			continue
		}
		var b int64
		if !st.Boundary.IsZero() {
			b = st.Boundary.UnixMilli()
		}
		if n := len(d.runs); n > 0 {
			r := &d.runs[n-1]
			if r.Inc == inc && r.To+1 == seq && r.State == st.State && r.Boundary == b && r.Reason == st.Reason {
				r.To = seq
				continue
			}
		}
		d.runs = append(d.runs, eventRun{Inc: inc, From: seq, To: seq, State: st.State, Boundary: b, Reason: st.Reason})
	}
}

// take returns and forgets the runs buffered.
func (d *decisions) take() []eventRun {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.runs
	d.runs = nil
	return r
}

// putBack returns runs that could not be published to the front of the
// buffer (publisher goroutine).
func (d *decisions) putBack(runs []eventRun) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs = append(runs, d.runs...)
}

// publishEvents publishes runs as decided under head h, in messages of at
// most maxEventsMsg; on failure it returns the runs not published.
func (c *Conn) publishEvents(ctx context.Context, h *Head, runs []eventRun) ([]eventRun, error) {
	for part := 0; len(runs) > 0; part++ {
		n, size := 0, 0
		for n < len(runs) && (n == 0 || size < maxEventsMsg) {
			size += 48 + len(runs[n].Inc) + len(runs[n].State) + len(runs[n].Reason)
			n++
		}
		b, err := json.Marshal(&eventsMsg{Leader: h.Leader, Term: h.Term, Head: h.Seq, Runs: runs[:n]})
		if err != nil {
			return runs, err
		}
		msg := &nats.Msg{Subject: c.Names.EventSubject, Data: b, Header: nats.Header{}}
		// A retry of the same part after a lost acknowledgement is
		// dropped by the stream.
		msg.Header.Set(jetstream.MsgIDHeader, h.Leader+"/"+strconv.FormatUint(h.Term, 10)+"/"+strconv.FormatUint(h.Seq, 10)+"/"+strconv.Itoa(part))
		if _, err := c.JS.PublishMsg(ctx, msg); err != nil {
			return runs, fmt.Errorf("cluster: publish the events' fates: %w", err)
		}
		runs = runs[n:]
	}
	return nil, nil
}

// announce publishes incs, incarnations this node's forwarder shipped
// for the first time.
func (c *Conn) announce(ctx context.Context, incs map[string]uint64) error {
	b, err := json.Marshal(&eventsMsg{Node: c.Cfg.NodeID, Incs: incs})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: c.Names.EventSubject, Data: b}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("cluster: announce the incarnations %v: %w", incs, err)
	}
	return nil
}

// EventStatus is a node's table of event fates and the status file its
// workers read (the journal directory's, as on one node), which also
// carries the forwarder's positions (the workers' backlog cap reads them).
//
// Threading: safe for concurrent use.
type EventStatus struct {
	dataDir string
	table   *journal.StatusTable

	mu  sync.Mutex // serializes writes of the file
	pos journal.Positions

	dirty chan struct{}
}

// NewEventStatus makes the event status of the node whose journal is
// under dataDir.
func NewEventStatus(dataDir string) *EventStatus {
	return &EventStatus{dataDir: dataDir, table: journal.NewStatusTable(0), dirty: make(chan struct{}, 1)}
}

// markRead notes that the stream holds the events of inc up to seq: they
// read as pending (not unknown) once their local segment is deleted.
func (e *EventStatus) markRead(inc string, seq uint64) { e.table.MarkRead(inc, seq) }

// publish writes the status file with pos as the forwarded positions
// (nil: the last given).
func (e *EventStatus) publish(pos journal.Positions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if pos != nil {
		e.pos = pos
	}
	return journal.PublishStatus(e.dataDir, &journal.Published{Positions: e.pos, Events: e.table})
}

// Follow reads the events stream from its start into the table until ctx
// ends, and republishes the status file as fates arrive (at most every
// 20 ms). The consumer recreates itself after a lost connection.
func (e *EventStatus) Follow(ctx context.Context, c *Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { // writes the file when fates arrived
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.dirty:
			}
			if err := e.publish(nil); err != nil {
				c.Log.Warn("cluster: cannot publish the event status", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := c.JS.OrderedConsumer(cctx, c.Names.Events, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
		var cc jetstream.ConsumeContext
		if err == nil {
			cc, err = cons.Consume(func(m jetstream.Msg) { e.receive(c, m) })
		}
		cancel()
		if err == nil {
			<-ctx.Done()
			cc.Stop()
			return
		}
		if attempt%10 == 0 && !errors.Is(err, context.Canceled) {
			c.Log.Warn("cluster: cannot follow the events' fates yet; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// receive records one events message (NATS goroutine).
func (e *EventStatus) receive(c *Conn, m jetstream.Msg) {
	var msg eventsMsg
	if err := json.Unmarshal(m.Data(), &msg); err != nil {
		c.Log.Error("cluster: an events message does not decode", "error", err)
		return
	}
	for inc, seq := range msg.Incs {
		e.table.MarkRead(inc, seq)
	}
	for _, r := range msg.Runs {
		st := journal.Status{State: r.State, Reason: r.Reason}
		if r.Boundary != 0 {
			st.Boundary = time.UnixMilli(r.Boundary).UTC()
		}
		e.table.RecordRange(r.Inc, r.From, r.To, st)
	}
	select {
	case e.dirty <- struct{}{}:
	default:
	}
}
