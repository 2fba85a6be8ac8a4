package writes

// This file implements the worker side. Write runs on an event loop and
// never touches the disk: it checks the request and queues a record. At the
// end of the loop iteration Flush commits the group: with durability
// "none" right there on the loop (one write(2) for every record the
// iteration read, answered in the same iteration); with "sync" by waking
// the committer goroutine, which appends everything that queued up while
// the previous fdatasync ran and commits it with one more, then answers
// each writer. Before it commits, the committer may hold the group open
// for more writers (the commit window, see awaitGroup), so that a steady
// stream of writes from many clients shares fdatasyncs instead of paying
// one each.

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/serve"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// AcceptorOptions configure NewAcceptor.
type AcceptorOptions struct {
	DataDir    string // the journal lives in DataDir/journal
	Slot       int    // this worker's slot (segment names start with it)
	Durability journal.Durability
	Store      *snapshot.Reader // where RoutesURL is read from

	// Token returns the Bearer token writes to a source must carry ("" for
	// none). Called on event loops; must be safe for concurrent use.
	Token func(source string) string

	Rate  float64 // writes/s per client address; 0 = no limit
	Burst int     // writes a client may make at once; default max(1, Rate)
	// RateTable is the file of the rate limit's state, shared by the
	// workers of one server (ratelimit.go); "" keeps it in this process.
	RateTable  string
	MaxPending int64 // journal bytes not yet applied before 503; 0 = no cap
	QueueLen   int   // writes waiting for the committer before 503; default 16384

	// CommitWindow is how long, with durability "sync", a write may wait
	// for others to share its fdatasync (see awaitGroup); 0 commits as
	// soon as the loop iteration that read it ends.
	CommitWindow time.Duration

	// Replica, when set, is told of every commit (cluster mode: this
	// node's forwarder ships the journal to the cluster's stream), and
	// with ReplicaWait > 0 a write is answered only once the stream holds
	// it, or after ReplicaWait with "X-Jawas-Replicated: pending" (it is
	// on this node's disk and ships later).
	Replica     Replica
	ReplicaWait time.Duration

	Log *slog.Logger
}

// Replica is this node's link to the cluster's journal stream.
type Replica interface {
	// Committed says records were committed to the journal (the
	// forwarder ships them soon). It must not block.
	Committed()
	// Wait blocks until record seq of incarnation inc is in the stream
	// (true), or until deadline or the stream is known unreachable
	// (false).
	Wait(inc string, seq uint64, deadline time.Time) bool
}

// replicaGroup is a committed group waiting for the stream.
type replicaGroup struct {
	batch []waiting
	ids   []string
	inc   string
	last  uint64
	at    time.Time
}

// waiting is a write answered once replicated: what the answer needs.
type waiting struct {
	period time.Duration
	done   serve.Done
}

var (
	hReplicated = http1.Header{Name: []byte("X-Jawas-Replicated"), Value: []byte("yes")}
	hPending    = http1.Header{Name: []byte("X-Jawas-Replicated"), Value: []byte("pending")}
)

// Acceptor accepts writes for one worker process.
//
// Threading: Write, Flush and Events are called on event loops (any number
// at once). The journal writer is used under stateMu, by Flush on a loop
// with durability "none" and by the committer goroutine with "sync".
type Acceptor struct {
	opt    AcceptorOptions
	kick   chan struct{} // wakes the committer: a group is queued
	quit   chan struct{}
	closed chan struct{}
	status *journal.StatusReader

	mu      sync.Mutex
	queued  []pending   // accepted, not committed yet; under mu
	writers writerSet   // connections that wrote lately; under mu
	holding atomic.Bool // the committer is in awaitGroup
	closing bool        // under mu: Close has begun, Write answers 503
	// beforeBoundary is when the queued group must be committed for its
	// earliest write to be visible at the first boundary after it arrived
	// (see boundaryMargin); zero when nothing is queued. Under mu.
	beforeBoundary time.Time
	sooner         bool // beforeBoundary moved closer while a group was queued; under mu

	routes  atomic.Pointer[routeCache]
	limit   *rateTable   // nil: no limit
	pending atomic.Int64 // last measured unapplied journal bytes
	checked atomic.Int64 // unix ns of that measurement
	busy    atomic.Bool  // a pending-bytes measurement is running

	repl     chan replicaGroup // committed groups to the replica waiter; nil without ReplicaWait
	replDone chan struct{}

	stateMu sync.Mutex
	w       *journal.Writer // under stateMu
	gate    *gate
	spare   []pending // the buffer queued swaps with; under stateMu
	ids     []string  // the IDs of the group being committed; under stateMu
	stats   Stats
}

// Stats counts an Acceptor's work; read with atomic loads.
type Stats struct {
	Accepted atomic.Int64 // 202s
	Rejected atomic.Int64 // 4xx/5xx answered by the acceptor
	Fsyncs   atomic.Int64
	Commits  atomic.Int64
	// FsyncNanos is the time spent making commits durable (fdatasync).
	FsyncNanos atomic.Int64
}

type pending struct {
	rec     journal.Record
	period  time.Duration
	arrived time.Time
	done    serve.Done
}

type routeCache struct {
	etag   string
	routes map[string]Route
}

// NewAcceptor opens a journal writer for opt.Slot and starts the committer.
func NewAcceptor(opt AcceptorOptions) (*Acceptor, error) {
	if opt.Store == nil {
		return nil, errors.New("writes: new acceptor: Store is required")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.QueueLen <= 0 {
		opt.QueueLen = 16384
	}
	if opt.Burst <= 0 {
		opt.Burst = max(1, int(opt.Rate+0.999))
	}
	var limit *rateTable
	if opt.Rate > 0 {
		if span := time.Duration(float64(opt.Burst) / opt.Rate * float64(time.Second)); span > maxRateSpan {
			return nil, fmt.Errorf("writes: new acceptor: a burst of %d at %g writes/s spans %v; at most %v", opt.Burst, opt.Rate, span, maxRateSpan)
		}
		var err error
		if opt.RateTable == "" {
			limit = localRateTable(opt.Rate, opt.Burst)
		} else if limit, err = openRateTable(opt.RateTable, opt.Rate, opt.Burst); err != nil {
			return nil, fmt.Errorf("writes: new acceptor: %w", err)
		}
	}
	w, err := journal.OpenWriter(opt.DataDir, opt.Slot, journal.WriterOptions{Durability: opt.Durability})
	if err != nil {
		limit.close()
		return nil, fmt.Errorf("writes: new acceptor: %w", err)
	}
	g, err := openGate(opt.DataDir)
	if err != nil {
		w.Close()
		limit.close()
		return nil, fmt.Errorf("writes: new acceptor: %w", err)
	}
	a := &Acceptor{
		gate:   g,
		opt:    opt,
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		closed: make(chan struct{}),
		status: journal.NewStatusReader(opt.DataDir),
		w:      w,
		limit:  limit,
	}
	if opt.Replica != nil && opt.ReplicaWait > 0 {
		a.repl, a.replDone = make(chan replicaGroup, 4096), make(chan struct{})
		go a.replicaLoop() // ends when Close closes repl
	}
	go a.commitLoop() // committer: ends when Close closes quit
	return a, nil
}

// Stats returns the acceptor's counters.
func (a *Acceptor) Stats() *Stats { return &a.stats }

// Close answers nothing new, commits and answers what is queued, and closes
// the journal writer (releasing its segment for compaction).
func (a *Acceptor) Close() error {
	a.mu.Lock()
	first := !a.closing
	a.closing = true
	a.mu.Unlock()
	if first {
		close(a.quit)
	}
	<-a.closed
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	if a.repl != nil && first {
		close(a.repl)
		<-a.replDone
	}
	a.gate.close()
	a.limit.close()
	if err := a.w.Close(); err != nil {
		return fmt.Errorf("writes: close acceptor: %w", err)
	}
	return nil
}

var (
	hAllowRead  = http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS")}
	hAuthBearer = http1.Header{Name: []byte("WWW-Authenticate"), Value: []byte(`Bearer realm="jawas"`)}
)

func allowHeader(methods []string) http1.Header {
	return http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS, " + strings.Join(methods, ", "))}
}

func retryHeader(d time.Duration) http1.Header {
	return http1.Header{Name: []byte("Retry-After"), Value: []byte(retryAfter(d))}
}

// Write is the serve.WriteFunc. Event loop goroutine; never blocks.
func (a *Acceptor) Write(w serve.Write, done serve.Done) {
	reject := func(status int, body []byte, h ...http1.Header) {
		a.stats.Rejected.Add(1)
		done.Answer(serve.WriteResult{Status: status, Body: body, Header: h})
	}
	method := w.Method.String()
	rt, ok := a.route(w.URL)
	if !ok {
		reject(405, nil, hAllowRead)
		return
	}
	if !slices.Contains(rt.Methods, method) {
		reject(405, nil, allowHeader(rt.Methods))
		return
	}
	if a.opt.Token != nil {
		if tok := a.opt.Token(rt.Source); tok != "" && !bearerOK(w.Authorization, tok) {
			reject(401, nil, hAuthBearer)
			return
		}
	}
	if a.limit != nil {
		if wait, ok := a.limit.allow(w.RemoteAddr, w.Time); !ok {
			reject(429, nil, retryHeader(wait))
			return
		}
	}
	if a.opt.MaxPending > 0 {
		a.measurePending(w.Time)
		if a.pending.Load() > a.opt.MaxPending {
			reject(503, nil, retryHeader(time.Duration(rt.PeriodMs)*time.Millisecond))
			return
		}
	}
	mt, ok := mediaType(w.ContentType)
	if !ok {
		reject(415, nil)
		return
	}
	// A request with neither a body nor a Content-Type is a bodiless
	// write (a "like" button's fetch(url, {method: "POST"})): its reducer
	// sees body null. Any declared type is checked, so an empty JSON body
	// is invalid JSON like any other.
	bodiless := len(w.Body) == 0 && strings.TrimSpace(w.ContentType) == ""
	if err := checkBody(mt, w.Body); err != nil && !bodiless {
		var be *bodyError
		if errors.As(err, &be) {
			b, _ := json.Marshal(be)
			reject(400, b)
			return
		}
		reject(400, nil)
		return
	}
	// Time stays zero: Append stamps it under the commit gate (see gate.go).
	rec := journal.Record{Source: rt.Source, Method: method, ContentType: mt, Body: w.Body, Arrived: w.Time}
	for _, kv := range [...][2]string{{"user-agent", w.UserAgent}, {"referer", w.Referer}, {"origin", w.Origin}} {
		if kv[1] != "" {
			if rec.Headers == nil {
				rec.Headers = make(map[string]string, 3)
			}
			rec.Headers[kv[0]] = kv[1]
		}
	}
	p := pending{rec: rec, period: time.Duration(rt.PeriodMs) * time.Millisecond, arrived: w.Time, done: done}
	if p.period <= 0 {
		p.period = w.Period
	}
	a.mu.Lock()
	if a.closing || len(a.queued) >= a.opt.QueueLen {
		a.mu.Unlock()
		reject(503, nil, retryHeader(time.Second))
		return
	}
	a.queued = append(a.queued, p)
	if p.period > 0 {
		if b := journal.VisibleAt(p.arrived, p.period).Add(-boundaryMargin); a.beforeBoundary.IsZero() || b.Before(a.beforeBoundary) {
			a.sooner = !a.beforeBoundary.IsZero() // a shorter period's boundary comes first
			a.beforeBoundary = b
		}
	}
	if a.opt.CommitWindow > 0 && a.opt.Durability == journal.Sync {
		a.writers.see(w.Conn, w.Time.UnixNano())
	}
	a.mu.Unlock()
}

// Flush commits what Write queued: the serve.Options.WriteFlush hook,
// called at the end of each loop iteration that accepted writes. With
// durability "none" it commits on the calling loop (a write(2), no fsync)
// and answers at once; with "sync" it wakes the committer, so the loop
// never waits for the disk.
func (a *Acceptor) Flush() {
	if a.opt.Durability == journal.None {
		a.commitQueued()
		return
	}
	if a.holding.Load() && !a.wakeHolder() {
		return // awaitGroup holds the group open and looks again when its window closes
	}
	select {
	case a.kick <- struct{}{}:
	default: // already woken; it takes everything queued when it runs
	}
}

// wakeHolder reports whether awaitGroup must look again now: at least half
// of the connections that wrote lately have a write queued, or a write
// brought the group's boundary deadline closer than awaitGroup's timer.
func (a *Acceptor) wakeHolder() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	sooner := a.sooner
	a.sooner = false
	return sooner || a.groupFullLocked()
}

func (a *Acceptor) groupFullLocked() bool { return 2*len(a.queued) >= a.writers.active() }

// Methods reports which writes url accepts (its source's reducers), for
// the Allow header of 405 and OPTIONS answers. Safe from any goroutine.
func (a *Acceptor) Methods(url string) (post, put bool) {
	r, ok := a.route(url)
	if !ok {
		return false, false
	}
	return slices.Contains(r.Methods, "POST"), slices.Contains(r.Methods, "PUT")
}

// route returns the route of url from the published routes document.
func (a *Acceptor) route(url string) (Route, bool) {
	v := a.opt.Store.View()
	e := v.Lookup(RoutesURL)
	if e == nil {
		return Route{}, false
	}
	rc := a.routes.Load()
	if rc == nil || rc.etag != e.ETag {
		var doc Routes
		if err := json.Unmarshal(e.Body, &doc); err != nil {
			a.opt.Log.Error("writes: unreadable routes document", "url", RoutesURL, "error", err)
			return Route{}, false
		}
		rc = &routeCache{etag: e.ETag, routes: doc.Routes}
		a.routes.Store(rc)
	}
	r, ok := rc.routes[url]
	return r, ok
}

// bearerOK compares the token of an Authorization header with want in
// constant time.
func bearerOK(auth, want string) bool {
	const prefix = "bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	got := strings.TrimSpace(auth[len(prefix):])
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// measurePending refreshes the pending journal bytes at most 4 times a
// second, off the event loop.
func (a *Acceptor) measurePending(now time.Time) {
	if now.UnixNano()-a.checked.Load() < int64(250*time.Millisecond) || !a.busy.CompareAndSwap(false, true) {
		return
	}
	go func() { // one measurement: a stat per segment and a status read
		defer a.busy.Store(false)
		n, err := journal.PendingBytes(a.opt.DataDir)
		if err != nil {
			a.opt.Log.Warn("writes: cannot measure the pending journal", "error", err)
			return
		}
		a.pending.Store(n)
		a.checked.Store(time.Now().UnixNano())
	}()
}

// commitLoop commits what is queued each time Flush wakes it, and once
// more when Close begins. Everything queued while a commit runs goes into
// the next one (group commit).
func (a *Acceptor) commitLoop() {
	defer close(a.closed)
	for {
		select {
		case <-a.kick:
			a.awaitGroup()
			a.commitQueued()
		case <-a.quit:
			a.commitQueued()
			return
		}
	}
}

// boundaryMargin is how long before a boundary a held group is committed,
// so that its records are stamped before it: the committer's timer firing
// late by more than this only shows the group one period later (its 202s
// say so).
const boundaryMargin = 2 * time.Millisecond

// awaitGroup holds the queued group open for more writes, up to
// CommitWindow after its oldest write arrived, and never past the boundary
// at which its writes would otherwise be visible (less boundaryMargin). It returns at once when at
// least half of the connections that wrote lately (writerSet) have a
// write queued: the others are then likely waiting for this very commit
// (a connection has one write in flight at most), so waiting would only
// delay them. A lone client posting one write after another therefore
// never waits, while many clients posting at their own pace share one
// fdatasync per window instead of paying one each (an fdatasync's CPU
// cost: bench/README.md, "Commit window").
// Close ends the wait.
func (a *Acceptor) awaitGroup() {
	if a.opt.CommitWindow <= 0 {
		return
	}
	// While holding is set, Flush wakes this goroutine only when the group
	// is full; holding is set before the first look, so no write that
	// fills it goes unseen.
	a.holding.Store(true)
	var t *time.Timer
	defer func() {
		a.holding.Store(false)
		if t != nil {
			t.Stop()
		}
	}()
	for {
		a.mu.Lock()
		n, full := len(a.queued), a.groupFullLocked()
		var wait time.Duration
		if n > 0 {
			until := a.queued[0].arrived.Add(a.opt.CommitWindow)
			if b := a.beforeBoundary; !b.IsZero() && b.Before(until) {
				until = b // held past the boundary, it would show a period later
			}
			wait = time.Until(until)
		}
		a.mu.Unlock()
		if n == 0 || full || wait <= 0 {
			return
		}
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		select {
		case <-a.kick: // more writes queued: look again
		case <-t.C:
			return
		case <-a.quit:
			return
		}
	}
}

// writerSet estimates how many connections are writing: the distinct
// connections seen in the current second and in the one before, whichever
// is more. Under Acceptor.mu.
type writerSet struct {
	cur, prev map[uint64]struct{}
	since     int64 // unix ns when cur began
}

func (s *writerSet) see(conn uint64, now int64) {
	if s.cur == nil {
		s.cur, s.prev, s.since = map[uint64]struct{}{}, map[uint64]struct{}{}, now
	}
	if d := now - s.since; d >= int64(time.Second) {
		s.cur, s.prev = s.prev, s.cur
		clear(s.cur)
		if d >= 2*int64(time.Second) {
			clear(s.prev) // a quiet second in between: nobody wrote lately
		}
		s.since = now
	}
	s.cur[conn] = struct{}{}
}

func (s *writerSet) active() int { return max(len(s.cur), len(s.prev)) }

// commitQueued commits everything queued as one group.
func (a *Acceptor) commitQueued() {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	a.mu.Lock()
	batch := a.queued
	a.queued = a.spare[:0]
	a.beforeBoundary, a.sooner = time.Time{}, false
	a.mu.Unlock()
	if len(batch) > 0 {
		a.commit(batch)
	}
	clear(batch)
	a.spare = batch[:0]
}

// commit makes batch durable with one Commit and answers every write in
// it. Under stateMu.
func (a *Acceptor) commit(batch []pending) {
	ids := a.ids[:0]
	defer func() { clear(ids); a.ids = ids[:0] }()
	failed := a.gate.enter(false)
	for i := 0; failed == nil && i < len(batch); i++ {
		id, err := a.w.Append(&batch[i].rec)
		if err != nil {
			failed = err
			break
		}
		ids = append(ids, id)
	}
	before, beforeNs := a.w.Stats().Fsyncs.Load(), a.w.Stats().FsyncNanos.Load()
	if failed == nil {
		failed = a.w.Commit()
	}
	a.gate.leave(false)
	a.stats.Fsyncs.Add(a.w.Stats().Fsyncs.Load() - before)
	a.stats.FsyncNanos.Add(a.w.Stats().FsyncNanos.Load() - beforeNs)
	if failed != nil {
		a.opt.Log.Error("writes: journal commit failed; answering 503 and opening a new journal incarnation", "error", failed)
		for _, p := range batch {
			a.stats.Rejected.Add(1)
			p.done.Answer(serve.WriteResult{Status: 503, Header: []http1.Header{retryHeader(time.Second)}})
		}
		a.w.Close()
		if w, err := journal.OpenWriter(a.opt.DataDir, a.opt.Slot, journal.WriterOptions{Durability: a.opt.Durability}); err != nil {
			a.opt.Log.Error("writes: cannot reopen the journal", "error", err)
		} else {
			a.w = w
		}
		return
	}
	a.stats.Commits.Add(1)
	if r := a.opt.Replica; r != nil {
		r.Committed()
		if a.repl != nil {
			_, last, _ := journal.ParseID(ids[len(ids)-1])
			ws := make([]waiting, len(batch))
			for i, p := range batch {
				ws[i] = waiting{period: p.period, done: p.done}
			}
			a.repl <- replicaGroup{batch: ws, ids: slices.Clone(ids), inc: a.w.Incarnation(), last: last, at: time.Now()}
			return
		}
	}
	// The answers' bodies share one buffer, allocated once per group (each
	// body is sliced to its own capacity, and the buffer is never written
	// again): one allocation per commit instead of one per write.
	var longest time.Duration
	for i := range batch {
		longest = max(longest, batch[i].period)
	}
	bodies := make([]byte, 0, len(batch)*acceptedLen(len(ids[0]), longest.Milliseconds()))
	for i, p := range batch {
		// The engine reads for boundary B only when no commit stamped
		// before B is in flight, so this record is applied exactly at the
		// first boundary after its stamp.
		vis := journal.VisibleAt(p.rec.Time, p.period)
		n := len(bodies)
		bodies = appendAccepted(bodies, ids[i], vis.UnixMilli(), p.period.Milliseconds())
		a.stats.Accepted.Add(1)
		p.done.Answer(serve.WriteResult{Status: 202, Body: bodies[n:len(bodies):len(bodies)]})
	}
}

// replicaLoop answers each committed group once the cluster's stream holds
// it, or after ReplicaWait saying it is pending; groups are answered in
// commit order (the stream receives them in that order).
func (a *Acceptor) replicaLoop() {
	defer close(a.replDone)
	for g := range a.repl {
		h := hReplicated
		if !a.opt.Replica.Wait(g.inc, g.last, g.at.Add(a.opt.ReplicaWait)) {
			h = hPending
		}
		// Visible at the first boundary after the stream had it (the
		// leader takes everything the stream holds at its boundary).
		now := time.Now()
		var longest time.Duration
		for _, p := range g.batch {
			longest = max(longest, p.period)
		}
		bodies := make([]byte, 0, len(g.batch)*acceptedLen(len(g.ids[0]), longest.Milliseconds()))
		for i, p := range g.batch {
			vis := journal.VisibleAt(now, p.period)
			n := len(bodies)
			bodies = appendAccepted(bodies, g.ids[i], vis.UnixMilli(), p.period.Milliseconds())
			a.stats.Accepted.Add(1)
			p.done.Answer(serve.WriteResult{Status: 202, Body: bodies[n:len(bodies):len(bodies)], Header: []http1.Header{h}})
		}
	}
}

// acceptedBody is the 202 body: visible_at in Unix milliseconds, as the
// client library expects, and the source's period, how often a client
// waiting for the event's fate polls status_url.
type acceptedBody struct {
	ID        string `json:"id"`
	VisibleAt int64  `json:"visible_at"`
	StatusURL string `json:"status_url"`
	PeriodMs  int64  `json:"period_ms"`
}

// acceptedLen is the length of appendAccepted's JSON for an ID of idLen
// bytes, a visible_at of 13 digits (Unix milliseconds until 2286) and a
// period of periodMs.
func acceptedLen(idLen int, periodMs int64) int {
	digits := 1
	for ; periodMs >= 10; periodMs /= 10 {
		digits++
	}
	return len(`{"id":"","visible_at":,"status_url":"/_jawas/events/","period_ms":}`) + 2*idLen + 13 + digits
}

// appendAccepted appends the JSON of acceptedBody{id, visibleAt,
// "/_jawas/events/"+id, periodMs}, what json.Marshal would write, without
// reflection: an event ID is hex digits and '-' (journal.FormatID), never
// escaped.
func appendAccepted(b []byte, id string, visibleAt, periodMs int64) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","visible_at":`...)
	b = strconv.AppendInt(b, visibleAt, 10)
	b = append(b, `,"status_url":"/_jawas/events/`...)
	b = append(b, id...)
	b = append(b, `","period_ms":`...)
	b = strconv.AppendInt(b, periodMs, 10)
	return append(b, '}')
}

// Events is the serve.EventsFunc: GET /_jawas/events/ID.
// Event loop goroutine; costs a stat, and a read when the engine published.
func (a *Acceptor) Events(id string) (int, []byte) {
	st, ok, err := a.status.Lookup(id)
	if err != nil {
		a.opt.Log.Warn("writes: event status unreadable", "error", err)
		return 503, []byte(`{"error":"event status unavailable"}`)
	}
	if !ok {
		return 404, []byte(`{"error":"not an event id"}`)
	}
	b, _ := json.Marshal(st)
	if st.State == journal.StateUnknown {
		return 404, b
	}
	return 200, b
}
