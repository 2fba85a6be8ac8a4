// This file implements the event loop and the connection lifecycle: accept,
// read into a shared scratch buffer (copied into a pooled per-connection
// buffer only when a request is incomplete), answer every complete request,
// flush all queued responses with one writev, and a coarse sweep (4 times a
// second while the loop holds connections, once a second without) for
// timeouts instead of a timer per connection.

package serve

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/internal/intern"
	"github.com/jawas/jawas/internal/yielder"
)

const (
	sweepEvery = 250 * time.Millisecond
	// idleWait is how long a loop without connections sleeps: it has no
	// deadline to sweep, and the kernel wakes it for a new connection, a
	// peer's accept hint or Shutdown. It still wakes this often because
	// each iteration is the loop's proof of life (Server.Progress, which a
	// supervised worker turns into its heartbeat), and for the sweep's
	// backstops (an accept whose wake-up was missed, the journal
	// counters). It was sweepEvery (4 wake-ups a second per loop,
	// bench/README.md "Idle server").
	idleWait = time.Second
	// aliveEvery is how often at most the first loop calls Options.Alive
	// (a supervised worker's heartbeat).
	aliveEvery    = 250 * time.Millisecond
	lingerTimeout = 2 * time.Second
	// drainIdleGrace: a draining server closes a keep-alive connection only
	// once it has been idle this long. Closing an idle connection races
	// with the client's next request (already sent when the FIN arrives: it
	// is lost); a busy connection instead gets "Connection: close" on its
	// next response, so no request is lost (TestE2EMaxRequestsRecycling).
	drainIdleGrace = time.Second
	scratchSize    = 64 << 10
	inBufSize      = 16 << 10
	maxFreeConns   = 1024
	maxKeptOut     = 64 << 10 // a connection's header buffer is dropped above this when it goes back to the pool
)

// piece is one queued response part: header bytes c.out[h0:h1], then body.
type piece struct {
	h0, h1 int
	body   []byte
	file   *siteFile // reference held while the body is queued
}

type conn struct {
	fd  int
	gen uint32

	in        []byte // unconsumed input that outlived a read (pooled); nil when none
	parseBase *byte  // where the parser's partial request started, to detect a moved buffer
	parser    http1.Parser
	req       http1.Request
	partial   bool // a request has started but is not complete
	sent100   bool

	out     []byte
	pieces  []piece
	pos     int // first piece not completely written
	off     int // bytes of pieces[pos] already written
	pending int // bytes queued, not yet written
	held    *snapshot.View

	events    uint32
	deadline  int64   // unix ns; 0 none
	closing   bool    // close once the queued output is written
	lingering bool    // write side shut, draining input until EOF
	idleSince int64   // unix ns: accepted, or last output written with nothing pending (see drainIdleGrace)
	waiting   bool    // a Write is in flight; later requests wait
	writes    uint32  // Writes handed over on this connection: names the one in flight (Done.seq)
	more      bool    // input may hold complete requests not answered yet
	http10    bool    // the last request handled was HTTP/1.0
	proxyWait bool    // a PROXY protocol header must come first (proxy.go)
	ae        aeCache // the last Accept-Encoding and its choices (handle.go)

	ops connOps // peer address, admin access (admin.go)
}

func (c *conn) hasOutput() bool { return c.pos < len(c.pieces) }

type writeDone struct {
	fd       int
	gen, seq uint32
	res      WriteResult
}

// loop is one event loop. Everything in it is owned by its goroutine except
// requests (read by Server.Requests) and doneQ (filled by Write callbacks).
type loop struct {
	s   *Server
	p   *netpoll.Poller
	lfd int

	conns   []*conn // by fd
	nconns  int
	free    []*conn
	bufs    [][]byte
	scratch []byte
	iov     []netpoll.Iovec
	path    []byte
	site    *siteCache
	maxIn   int

	now       time.Time
	nowNS     int64
	date      []byte
	dates     http1.DateCache
	view      *snapshot.View
	beat      time.Time
	nextSweep int64
	nextAlive int64 // unix ns; when Options.Alive may be called again (first loop)
	accepting bool
	paused    bool // accept paused after an error (EMFILE); resumed by the sweep
	balanced  bool // accept paused: this loop holds more than its share (mayAccept)

	selfCounters string // this loop's counters file, to tell it from its peers in Balance

	journalSeen [3]int64 // JournalStats already added to the counters (first loop only)

	doneMu sync.Mutex
	doneQ  []writeDone
	// collecting is set (under doneMu, by the loop) while an iteration has
	// handed writes over and will call completeWrites before it waits
	// again: done callbacks need not wake the loop meanwhile.
	collecting bool
	wrote      bool // this iteration called Write; loop goroutine only
	// doneSpare is the buffer doneQ swaps with; loop goroutine only.
	doneSpare []writeDone
	// slab holds the bodies handed to Write: append-only, a new one when
	// full, so a body stays valid as long as the callee keeps it.
	slab []byte
	// texts shares header values handed to Write (Content-Type, User-Agent,
	// ...), which repeat from request to request. Loop goroutine only.
	texts intern.Table

	ops ops // counters, access log (admin.go)

	_        [64]byte
	requests atomic.Uint64
	lastTick atomic.Int64 // unix ns of the loop's last iteration; read by Server.Progress
	_        [64]byte
}

func (s *Server) init() error {
	if err := netpoll.SetNonblock(s.opt.ListenFD); err != nil {
		return err
	}
	if _, err := netpoll.RaiseNoFile(); err != nil {
		s.opt.Log.Warn("serve: cannot raise the open-file limit", "err", err)
	}
	lim := s.opt.Limits
	maxIn := 2*(lim.MaxRequestLine+lim.MaxHeaderBytes+int(lim.MaxBody)) + 4096
	for i := 0; i < s.opt.Loops; i++ {
		p, err := netpoll.Open(512)
		if err != nil {
			s.closeLoops()
			return err
		}
		l := &loop{s: s, p: p, lfd: s.opt.ListenFD, scratch: make([]byte, scratchSize),
			iov: make([]netpoll.Iovec, 0, netpoll.MaxIovecs), maxIn: maxIn,
			texts: intern.Table{MaxLen: textBound}}
		if s.opt.SiteDir != "" {
			sc, err := newSiteCache(s.opt.SiteDir, &s.site)
			if sc != nil {
				sc.html = s.opt.SiteHTML
			}
			if err != nil {
				p.Close()
				s.closeLoops()
				return err
			}
			l.site = sc
		}
		s.loops = append(s.loops, l)
		if err := l.initOps(i); err != nil {
			s.closeLoops()
			return err
		}
	}
	if s.opt.Balance && s.opt.Admin.MetricsDir != "" {
		s.balance = metrics.NewBalance(s.opt.Admin.MetricsDir, 100*time.Millisecond, max(s.opt.BalanceLoops, len(s.loops)))
		for i, l := range s.loops {
			l.selfCounters = metrics.ServeFileName(s.opt.Admin.MetricsDir, s.opt.Admin.Slot, i)
		}
		s.hint = s.opt.AcceptHintFD
		if s.hint <= 0 {
			fd, err := netpoll.Eventfd()
			if err != nil {
				s.closeLoops()
				return err
			}
			s.hint, s.ownHint = fd, true
		}
	}
	return nil
}

// mayAccept reports whether this loop may take more connections now (see
// metrics.Balance): a loop holding clearly more than its share lets the
// others accept instead.
func (l *loop) mayAccept() bool {
	b := l.s.balance
	return b == nil || b.Allow(l.selfCounters, int64(l.nconns))
}

func (s *Server) wakeAll() {
	for _, l := range s.loops {
		if l.p != nil {
			l.p.Wake()
		}
	}
}

func (s *Server) closeLoops() {
	if s.ownHint {
		netpoll.Close(s.hint)
		s.hint, s.ownHint = 0, false
	}
	for _, l := range s.loops {
		if l.p != nil {
			l.p.Close()
			l.p = nil
		}
		l.closeOps()
	}
}

func (l *loop) tick() {
	l.now = time.Now()
	l.nowNS = l.now.UnixNano()
	l.lastTick.Store(l.nowNS)
	l.date = l.dates.Get(l.now)
	l.view = l.s.store.View()
	l.beat = l.s.store.Heartbeat()
	l.opsTick()
	if f := l.s.opt.Alive; f != nil && l.nowNS >= l.nextAlive && l == l.s.loops[0] {
		if p := l.s.Progress(); !p.IsZero() {
			l.nextAlive = l.nowNS + int64(aliveEvery)
			f(p)
		}
	}
}

// run is the loop body; it runs on its own goroutine until the server has
// drained (nil) or fails.
func (l *loop) run() error {
	if err := l.p.AddListener(l.lfd); err != nil {
		return err
	}
	if h := l.s.hint; h > 0 {
		if err := l.p.Add(h, netpoll.In|netpoll.Edge); err != nil {
			return err
		}
	}
	l.accepting = true
	defer l.closeAll()
	// A busy loop yields every yielder.YieldEvery and ends its blocking
	// waits by then (yielder.Yielder); an idle one sleeps up to
	// sweepEvery, as sysmon does then, or idleWait with no connection.
	var yield yielder.Yielder
	active := false // the last wait reported something
	l.tick()        // alive from the start: a worker is ready before its first wake-up
	for {
		wait := sweepEvery
		switch {
		case active:
			wait = yield.Pace(l.nowNS, sweepEvery)
		case l.nconns == 0 && !l.paused && !l.balanced && !l.s.draining.Load():
			wait = idleWait
			// The journal counters are exact before a long sleep: the
			// sweep that would copy them may be a second away.
			if f := l.s.opt.JournalStats; f != nil && l == l.s.loops[0] {
				l.copyJournalStats(f)
			}
		}
		ready, woken, err := l.p.Wait(wait)
		if err != nil {
			return err
		}
		active = woken || len(ready) > 0
		l.tick()
		if woken {
			l.completeWrites()
		}
		for _, r := range ready {
			if r.Fd == l.lfd {
				l.accept()
				continue
			}
			if r.Fd == l.s.hint && l.s.hint > 0 {
				// A peer stepped back from accepting: take what is queued.
				if l.accepting && !l.paused && !l.balanced {
					l.accept()
				}
				continue
			}
			if r.Fd >= len(l.conns) || l.conns[r.Fd] == nil {
				continue
			}
			l.event(l.conns[r.Fd], r.Events)
		}
		if l.wrote {
			l.flushWrites()
		}
		if l.s.draining.Load() {
			if l.s.forced.Load() {
				return nil
			}
			if l.accepting {
				l.accepting = false
				if !l.paused && !l.balanced {
					l.p.Del(l.lfd)
				}
				l.s.stoppedAccepting()
			}
			l.sweep(true)
			if l.nconns == 0 {
				return nil
			}
		} else {
			if l.balanced && !l.paused && l.mayAccept() && l.p.AddListener(l.lfd) == nil {
				l.balanced = false
			}
			if l.nowNS >= l.nextSweep {
				l.sweep(false)
			}
		}
	}
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			l.close(c)
		}
	}
}

func (l *loop) accept() {
	for l.accepting {
		if !l.mayAccept() {
			// Over its share: stop polling the listener, so the kernel
			// wakes another loop; run re-adds it once the shares even out.
			l.balanced = true
			l.p.Del(l.lfd)
			if h := l.s.hint; h > 0 {
				netpoll.Signal(h)
			}
			return
		}
		fd, peer, ok, err := netpoll.Accept(l.lfd)
		if err != nil {
			// Most likely EMFILE: stop polling the listener until the next
			// sweep instead of spinning on it.
			l.s.opt.Log.Warn("serve: accept failed; pausing accepts", "err", err)
			l.paused = true
			l.p.Del(l.lfd)
			return
		}
		if !ok {
			return
		}
		if b := l.s.balance; b != nil {
			b.Accepted()
		}
		if l.nconns >= l.s.opt.MaxConns {
			l.reject(fd)
			continue
		}
		if err := l.p.Add(fd, netpoll.In); err != nil {
			netpoll.Close(fd)
			continue
		}
		for fd >= len(l.conns) {
			l.conns = append(l.conns, nil)
		}
		c := l.newConn(fd)
		l.conns[fd] = c
		l.nconns++
		l.opened(c, peer)
	}
}

// reject answers a connection over MaxConns with 503 and closes it without
// ever waiting on it.
func (l *loop) reject(fd int) {
	l.ops.m.Rejected.Add(1)
	b := http1.AppendErrorResponse(l.scratch[:0], 503, l.date, true)
	netpoll.Write(fd, b)
	netpoll.CloseWriteSide(fd)
	netpoll.Read(fd, l.scratch) // drain what arrived, so close sends FIN rather than RST where it can
	netpoll.Close(fd)
}

func (l *loop) newConn(fd int) *conn {
	var c *conn
	if n := len(l.free); n > 0 {
		c = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		c = &conn{}
	}
	c.fd = fd
	c.parser.Limits = l.s.opt.Limits
	c.events = netpoll.In
	c.deadline = l.nowNS + int64(l.s.opt.HeaderTimeout)
	c.idleSince = l.nowNS
	return c
}

func (l *loop) close(c *conn) {
	netpoll.Close(c.fd)
	l.conns[c.fd] = nil
	l.nconns--
	l.ops.m.Open.Add(-1)
	for i := c.pos; i < len(c.pieces); i++ {
		if f := c.pieces[i].file; f != nil {
			l.site.release(f)
		}
	}
	if c.held != nil {
		c.held.Release()
		c.held = nil
	}
	if c.in != nil {
		l.putBuf(c.in)
	}
	gen := c.gen + 1
	out, pieces := c.out[:0], c.pieces[:0]
	if cap(out) > maxKeptOut {
		out = nil
	}
	for i := range pieces[:cap(pieces)] {
		pieces[:cap(pieces)][i] = piece{}
	}
	c.parser.Reset()
	c.req.Reset()
	hdrs := c.req.Headers
	*c = conn{gen: gen, out: out, pieces: pieces}
	c.req.Headers = hdrs
	if len(l.free) < maxFreeConns {
		l.free = append(l.free, c)
	}
}

func (l *loop) getBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs = l.bufs[:n-1]
		return b[:0]
	}
	return make([]byte, 0, inBufSize)
}

func (l *loop) putBuf(b []byte) {
	if cap(b) == inBufSize && len(l.bufs) < maxFreeConns {
		l.bufs = append(l.bufs, b[:0])
	}
}

func (l *loop) setEvents(c *conn, ev uint32) {
	if c.events != ev {
		c.events = ev
		l.p.Mod(c.fd, ev)
	}
}

func (l *loop) event(c *conn, ev uint32) {
	if c.lingering {
		for {
			n, eof, err := netpoll.Read(c.fd, l.scratch)
			if err != nil || eof {
				l.close(c)
				return
			}
			if n == 0 {
				return
			}
		}
	}
	if ev&netpoll.Out != 0 && c.hasOutput() {
		if !l.flush(c) {
			return
		}
		if !c.hasOutput() && c.more && c.in != nil && !c.waiting {
			l.serveInput(c, c.in)
			return
		}
	}
	if ev&(netpoll.In|netpoll.Err|netpoll.Hup) != 0 && !c.hasOutput() && !c.waiting {
		l.readable(c)
	}
}

func (l *loop) readable(c *conn) {
	var buf []byte
	if c.in != nil {
		if len(c.in) == cap(c.in) {
			if cap(c.in) >= l.maxIn {
				l.fail(c, 431)
				return
			}
			grown := make([]byte, len(c.in), 2*cap(c.in))
			copy(grown, c.in)
			l.putBuf(c.in)
			c.in = grown
		}
		n, eof, err := netpoll.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if err != nil || eof {
			l.close(c)
			return
		}
		if n == 0 {
			return
		}
		c.in = c.in[:len(c.in)+n]
		buf = c.in
	} else {
		n, eof, err := netpoll.Read(c.fd, l.scratch)
		if err != nil || eof {
			l.close(c)
			return
		}
		if n == 0 {
			return
		}
		buf = l.scratch[:n]
	}
	if c.proxyWait {
		if buf = l.proxyHeader(c, buf); buf == nil {
			return
		}
	}
	l.serveInput(c, buf)
}

// serveInput answers what buf holds, keeps the rest and flushes; it goes on
// with the kept input while the output drains at once.
func (l *loop) serveInput(c *conn, buf []byte) {
	for {
		off := l.answer(c, buf)
		l.keep(c, buf, off)
		if !l.flush(c) {
			return
		}
		if !c.more || c.hasOutput() || c.waiting || c.closing || c.in == nil {
			return
		}
		buf = c.in
	}
}

// answer parses and answers requests from buf, up to MaxPipelined and
// MaxPendingOutput, and returns how many bytes it consumed.
func (l *loop) answer(c *conn, buf []byte) int {
	off, answered := 0, 0
	c.more = false
	for off < len(buf) {
		if c.closing {
			return len(buf)
		}
		if c.waiting || answered >= l.s.opt.MaxPipelined || c.pending >= l.s.opt.MaxPendingOutput {
			c.more = true
			break
		}
		b := buf[off:]
		if c.parseBase != nil && c.parseBase != &b[0] {
			c.parser.Reset()
			c.req.Reset()
		}
		n, err := c.parser.Parse(b, &c.req)
		if err != nil {
			l.ops.kind = metrics.KindOther
			c.ops.reqClient = c.ops.client // no request to believe a header of
			status := 400
			var he *http1.Error
			if errors.As(err, &he) && he.Status != 0 {
				status = he.Status
			}
			l.appendError(c, status, true)
			c.closing = true
			return len(buf)
		}
		if n == 0 {
			c.parseBase = &b[0]
			if !c.partial {
				c.partial = true
				c.deadline = l.nowNS + int64(l.s.opt.HeaderTimeout)
			}
			if !c.sent100 && c.req.Expect100 && c.parser.HeadersComplete() {
				c.sent100 = true
				h0 := len(c.out)
				c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
				l.queue(c, h0, nil, nil)
			}
			break
		}
		c.parseBase, c.partial, c.sent100 = nil, false, false
		l.handle(c, &c.req)
		c.req.Reset()
		off += n
		answered++
	}
	return off
}

// keep moves buf[off:] (unparsed input) into c.in.
func (l *loop) keep(c *conn, buf []byte, off int) {
	rest := len(buf) - off
	if rest == 0 {
		if c.in != nil {
			l.putBuf(c.in)
			c.in = nil
		}
		c.parseBase = nil
		return
	}
	if c.in != nil && &buf[0] == &c.in[0] {
		if off > 0 {
			n := copy(c.in, buf[off:])
			c.in = c.in[:n]
		}
		return
	}
	if c.in == nil {
		c.in = l.getBuf()
	}
	c.in = append(c.in[:0], buf[off:]...)
}

// queue appends a response part: header bytes c.out[h0:] and body.
func (l *loop) queue(c *conn, h0 int, body []byte, f *siteFile) {
	c.pieces = append(c.pieces, piece{h0: h0, h1: len(c.out), body: body, file: f})
	c.pending += len(c.out) - h0 + len(body)
	if l.ops.status != 0 {
		l.logged(c, len(body))
	}
}

// flush writes queued output with writev until it is all written or the
// socket is full. It returns false when the connection was closed.
func (l *loop) flush(c *conn) bool {
	for c.hasOutput() {
		iov := l.iov[:0]
		skip := c.off
		for i := c.pos; i < len(c.pieces) && len(iov) < netpoll.MaxIovecs-1; i++ {
			p := &c.pieces[i]
			if h := c.out[p.h0:p.h1]; skip < len(h) {
				iov = append(iov, netpoll.IovecOf(h[skip:]))
				skip = 0
			} else {
				skip -= len(h)
			}
			if skip < len(p.body) {
				iov = append(iov, netpoll.IovecOf(p.body[skip:]))
			}
			skip = 0
		}
		n, err := netpoll.Writev(c.fd, iov)
		if err != nil {
			l.close(c)
			return false
		}
		if n == 0 {
			break
		}
		c.pending -= n
		l.ops.m.BytesOut.Add(uint64(n))
		c.deadline = l.nowNS + int64(l.s.opt.WriteTimeout)
		for n > 0 {
			p := &c.pieces[c.pos]
			left := p.h1 - p.h0 + len(p.body) - c.off
			if n < left {
				c.off += n
				break
			}
			n -= left
			if p.file != nil {
				l.site.release(p.file)
				p.file = nil
			}
			c.pos++
			c.off = 0
		}
	}
	if c.hasOutput() {
		if c.held == nil {
			c.held = l.view
			c.held.Acquire()
		}
		l.setEvents(c, netpoll.Out)
		return true
	}
	// All written.
	c.out, c.pieces, c.pos, c.off, c.pending = c.out[:0], c.pieces[:0], 0, 0, 0
	if c.held != nil {
		c.held.Release()
		c.held = nil
	}
	if c.closing && !c.waiting {
		l.linger(c)
		return false
	}
	l.setEvents(c, netpoll.In)
	switch {
	case c.waiting:
		c.deadline = l.nowNS + int64(l.s.opt.WriteTimeout)
	case c.partial:
		// keep the header deadline set when the request started
	default:
		c.deadline = l.nowNS + int64(l.s.opt.IdleTimeout)
		c.idleSince = l.nowNS
	}
	return true
}

// linger shuts the write side after the last response and reads until the
// peer closes (or lingerTimeout), so unread input does not turn the close
// into a reset that could destroy the response in flight.
func (l *loop) linger(c *conn) {
	if err := netpoll.CloseWriteSide(c.fd); err != nil {
		l.close(c)
		return
	}
	c.lingering = true
	c.deadline = l.nowNS + int64(lingerTimeout)
	l.setEvents(c, netpoll.In)
}

// fail answers status and closes after it is written.
func (l *loop) fail(c *conn, status int) {
	l.ops.kind = metrics.KindOther
	l.appendError(c, status, true)
	c.closing = true
	if c.in != nil {
		l.putBuf(c.in)
		c.in = nil
	}
	l.flush(c)
}

// sweep closes connections past their deadline; when draining it also
// closes those idle for drainIdleGrace.
func (l *loop) sweep(draining bool) {
	l.nextSweep = l.nowNS + int64(sweepEvery)
	if f := l.s.opt.JournalStats; f != nil && l == l.s.loops[0] {
		l.copyJournalStats(f)
	}
	if l.paused && !draining {
		if l.balanced || l.p.AddListener(l.lfd) == nil {
			l.paused = false // when balanced, the balance check re-adds it
		}
	}
	if !draining && l.accepting && !l.paused && !l.balanced {
		// The kernel wakes one loop per new connection: one queued while
		// that loop was stepping back, or whose wake-up was missed, is
		// taken here at the latest (one accept4 that finds nothing, usually).
		l.accept()
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.deadline != 0 && l.nowNS >= c.deadline {
			l.close(c)
			continue
		}
		if draining && !c.lingering && !c.hasOutput() && !c.waiting && !c.partial && c.in == nil &&
			l.nowNS-c.idleSince >= int64(drainIdleGrace) {
			l.close(c)
		}
	}
}

// flushWrites ends an iteration that handed writes over: Options.WriteFlush
// commits them as a group, and whatever was answered meanwhile is sent now.
// Answering can start pipelined writes, so it goes on until none is left.
func (l *loop) flushWrites() {
	for l.wrote {
		l.wrote = false
		if f := l.s.opt.WriteFlush; f != nil {
			f()
		}
		l.completeWrites()
	}
}

// completeWrites answers writes whose WriteFunc called done.
func (l *loop) completeWrites() {
	l.doneMu.Lock()
	l.collecting = false
	q := l.doneQ
	l.doneQ = l.doneSpare[:0]
	l.doneMu.Unlock()
	defer func() { // keep both buffers: no allocation per batch in steady state
		clear(q)
		l.doneSpare = q[:0]
	}()
	for _, d := range q {
		if d.fd >= len(l.conns) {
			continue
		}
		c := l.conns[d.fd]
		if c == nil || c.gen != d.gen || c.writes != d.seq || !c.waiting {
			continue // closed, or answered already
		}
		c.waiting = false
		l.ops.kind = metrics.KindWrite
		l.writeResponse(c, &d.res)
		if !l.flush(c) {
			continue
		}
		if !c.hasOutput() && c.in != nil {
			l.serveInput(c, c.in)
		}
	}
}

// copyJournalStats adds what the write journal did since the last sweep to
// this loop's shared counters, so /_jawas/metrics can report commits,
// fsyncs and fsync time summed over every worker.
func (l *loop) copyJournalStats(f func() (commits, fsyncs, fsyncNanos int64)) {
	c, n, ns := f()
	now := [3]int64{c, n, ns}
	m := l.ops.m
	for i, dst := range []*atomic.Uint64{&m.JournalCommits, &m.JournalFsyncs, &m.JournalFsyncNanos} {
		if d := now[i] - l.journalSeen[i]; d > 0 {
			dst.Add(uint64(d))
		}
	}
	l.journalSeen = now
}
