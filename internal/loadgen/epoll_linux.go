package loadgen

// This file implements the epoll engine, because a goroutine per client
// cost more CPU per request than the server under test (bench/run.sh's
// "gen µs/req" column; figures in bench/README.md):
// every poll woke a goroutine on a timer, read EAGAIN once and parked on
// the netpoller. Here a few loops (one per CPU, each on its own OS thread)
// own raw non-blocking sockets: a poll is one write and one read, and the
// schedule is a cursor over the loop's clients sorted by phase — no timer
// per client. The goroutine engine (run.go) stays as the portable reference.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const haveEpoll = true

// eclient is one simulated client of an epoll loop. Only its loop touches it.
type eclient struct {
	phase     int64 // ns into each period
	startAt   int64 // unix ns of its first connect (the ramp)
	started   bool  // first connect attempted
	fd        int   // -1 when not connected
	connected bool
	inFlight  bool
	sendAt    int64 // unix ns the request in flight was written
	fire      int64 // its scheduled time
	pending   int64 // a fire that came while busy; 0 when none
	wpos      int   // bytes of req written
	eof       bool
	req       []byte
	etag      []byte
	in        []byte // response bytes read so far (from the loop's free list)
	dialAt    int64
	initial   bool   // the connect in progress is the ramp's first one
	idx       int32  // index in the loop's clients: epoll user data
	gen       uint32 // bumped per socket, to drop events for a closed one
}

type eloop struct {
	r       *run
	epfd    int
	clients []*eclient // sorted by phase
	sa      unix.Sockaddr
	family  int
	free    [][]byte
	ramp    []*eclient // by startAt
	events  []unix.EpollEvent
	br      *bufio.Reader
	rd      bytes.Reader
	res     response
}

// runEpoll drives all clients from loops goroutines and returns when they
// are done (endAt passed) or ctx is cancelled. rampDone is called once
// when every first connect has succeeded or failed.
func (r *run) runEpoll(ctx context.Context, start time.Time, rampLeft *atomic.Int64) error {
	addr, err := net.ResolveTCPAddr("tcp", r.tgt.addr)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", r.tgt.addr, err)
	}
	// One Sockaddr per loop: unix.Connect writes into it.
	sockaddr := func() (unix.Sockaddr, int) {
		if ip4 := addr.IP.To4(); ip4 != nil {
			sa4 := &unix.SockaddrInet4{Port: addr.Port}
			copy(sa4.Addr[:], ip4)
			return sa4, unix.AF_INET
		}
		sa6 := &unix.SockaddrInet6{Port: addr.Port}
		copy(sa6.Addr[:], addr.IP.To16())
		return sa6, unix.AF_INET6
	}
	n := min(runtime.GOMAXPROCS(0), r.cfg.Clients)
	loops := make([]*eloop, n)
	for i := range loops {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				unix.Close(l.epfd)
			}
			return os.NewSyscallError("epoll_create1", err)
		}
		sa, family := sockaddr()
		loops[i] = &eloop{r: r, epfd: epfd, sa: sa, family: family,
			events: make([]unix.EpollEvent, 256), br: bufio.NewReaderSize(nil, 8<<10)}
	}
	period := int64(r.cfg.Period)
	interval := int64(time.Second) / int64(r.cfg.ConnectRate)
	for i := 0; i < r.cfg.Clients; i++ {
		l := loops[i%n]
		c := &eclient{
			phase: rand.Int64N(period), startAt: start.UnixNano() + int64(i)*interval, fd: -1,
			req: make([]byte, 0, len(r.tgt.prefix)+160), etag: make([]byte, 0, 128),
		}
		l.clients = append(l.clients, c)
		l.ramp = append(l.ramp, c)
	}
	errs := make(chan error, n)
	for _, l := range loops {
		slices.SortFunc(l.clients, func(a, b *eclient) int { return cmpInt(a.phase, b.phase) })
		for i, c := range l.clients {
			c.idx = int32(i)
		}
		go func() { // one loop per CPU, on its own thread, until its clients are done
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			errs <- l.run(ctx, rampLeft)
		}()
	}
	var first error
	for range loops {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (l *eloop) run(ctx context.Context, rampLeft *atomic.Int64) error {
	defer unix.Close(l.epfd)
	defer func() {
		for _, c := range l.clients {
			l.closeConn(c)
		}
	}()
	period := int64(l.r.cfg.Period)
	timeout := int64(l.r.cfg.Timeout)
	dialTimeout := int64(max(l.r.cfg.Timeout, 5*time.Second))
	now := time.Now().UnixNano()
	base := now - now%period // the cursor: clients[idx] fires at base + phase
	idx, _ := slices.BinarySearchFunc(l.clients, now-base, func(c *eclient, t int64) int { return cmpInt(c.phase, t) })
	if idx == len(l.clients) {
		idx, base = 0, base+period
	}
	nextSweep := now
	rampPending := len(l.clients)
	rampIdx := 0
	for {
		now = time.Now().UnixNano()
		end := l.r.endAt.Load()
		if ctx.Err() != nil { // stop firing; let requests in flight finish
			if !l.busy() {
				return nil
			}
			end = 1
			rampIdx = len(l.ramp)
		}

		// Ramp: first connects that are due.
		for ; rampIdx < len(l.ramp) && l.ramp[rampIdx].startAt <= now; rampIdx++ {
			c := l.ramp[rampIdx]
			c.started, c.initial = true, true
			if !l.connect(c, now) {
				rampPending--
				rampLeft.Add(-1)
			}
		}
		// Schedule: fire every client whose time has come.
		done := end != 0
		for len(l.clients) > 0 {
			c := l.clients[idx]
			fire := base + c.phase
			if end != 0 && fire >= end {
				break
			}
			done = false
			if fire > now {
				break
			}
			l.trigger(c, fire, now)
			if idx++; idx == len(l.clients) {
				idx, base = 0, base+period
			}
		}
		// Timeouts, a few times per period.
		if now >= nextSweep {
			nextSweep = now + int64(10*time.Millisecond)
			for _, c := range l.clients {
				switch {
				case c.inFlight && c.connected && now-c.sendAt > timeout:
					l.fail(c, errTimeout, now)
				case c.fd >= 0 && !c.connected && now-c.dialAt > dialTimeout:
					if c.initial {
						rampPending--
						rampLeft.Add(-1)
					}
					l.failConnect(c, now)
				}
			}
		}
		if done && (rampPending == 0 || rampIdx == len(l.ramp) && ctx.Err() != nil) && !l.busy() {
			return nil
		}

		// Wait: until the next fire or sweep, at most 10 ms (ctx, ramp).
		wait := nextSweep - now
		if d := base + l.clients[idx].phase - now; d < wait && (end == 0 || base+l.clients[idx].phase < end) {
			wait = d // (a fire past the end, or while stopping, is never sent: don't wake for it)
		}
		if rampIdx < len(l.ramp) {
			wait = min(wait, l.ramp[rampIdx].startAt-now)
		}
		ms := int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		ms = max(0, min(ms, 10))
		n, err := unix.EpollWait(l.epfd, l.events, ms)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		now = time.Now().UnixNano()
		for i := 0; i < n; i++ {
			ev := l.events[i]
			c := l.clients[ev.Fd]
			if c.fd < 0 || uint32(ev.Pad) != c.gen {
				continue // stale event for a closed socket
			}
			if !c.connected {
				if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
					continue
				}
				serr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
				if c.initial {
					rampPending--
					rampLeft.Add(-1)
				}
				if err != nil || serr != 0 {
					l.failConnect(c, now)
					continue
				}
				c.connected = true
				l.r.open.Add(1)
				if !c.initial {
					l.r.ph.at(time.Unix(0, c.fire)).reconnect.Add(1)
				}
				c.initial = false
				if c.pending != 0 {
					fire := c.pending
					c.pending = 0
					l.send(c, fire, now)
				}
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 && c.inFlight && c.wpos < len(c.req) {
				l.write(c, now)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.read(c, now)
			}
		}
	}
}

// busy reports whether any client has a request or connect in flight.
func (l *eloop) busy() bool {
	for _, c := range l.clients {
		if c.inFlight || (c.fd >= 0 && !c.connected) {
			return true
		}
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trigger is a client's scheduled time: send now, or remember it if busy.
// A fire still pending from an earlier period is a missed poll.
func (l *eloop) trigger(c *eclient, fire, now int64) {
	if !c.started {
		return // not yet connected by the ramp
	}
	if c.inFlight || (c.fd >= 0 && !c.connected) {
		if c.pending != 0 {
			l.r.ph.at(time.Unix(0, c.pending)).missed.Add(1)
		}
		c.pending = fire
		return
	}
	if c.pending != 0 { // unreachable: pending is sent as soon as idle
		c.pending = 0
	}
	if c.fd < 0 {
		c.fire = fire
		c.initial = false
		c.pending = fire
		if !l.connect(c, now) {
			c.pending = 0
		}
		return
	}
	l.send(c, fire, now)
}

// connect starts a non-blocking connect; false when it failed at once
// (counted as a connect error).
func (l *eloop) connect(c *eclient, now int64) bool {
	fd, err := unix.Socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		err = unix.Connect(fd, l.sa)
		if err == unix.EINPROGRESS {
			err = nil
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		l.countConnectErr(c, now)
		return false
	}
	c.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: c.idx, Pad: int32(c.gen)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		l.countConnectErr(c, now)
		return false
	}
	c.fd, c.connected, c.dialAt, c.eof = fd, false, now, false
	c.etag = c.etag[:0]
	return true
}

func (l *eloop) countConnectErr(c *eclient, now int64) {
	if c.initial {
		l.r.rampErr.Add(1)
		c.initial = false
		return
	}
	st := l.r.ph.at(time.Unix(0, c.fire))
	st.errs[st.errIdx(errConnect)].Add(1)
}

func (l *eloop) failConnect(c *eclient, now int64) {
	l.countConnectErr(c, now)
	unix.Close(c.fd)
	c.fd = -1
	if c.pending != 0 && c.pending != c.fire { // a later poll came due while connecting
		l.r.ph.at(time.Unix(0, c.pending)).missed.Add(1)
	}
	c.pending = 0
}

// send writes the request for the poll scheduled at fire.
func (l *eloop) send(c *eclient, fire, now int64) {
	st := l.r.ph.at(time.Unix(0, fire))
	st.lag.Record(time.Duration(now - fire))
	st.sent.Add(1)
	c.fire, c.sendAt, c.inFlight, c.wpos = fire, now, true, 0
	c.req = l.r.tgt.appendRequest(c.req[:0], c.etag)
	if len(l.free) > 0 {
		c.in = l.free[len(l.free)-1][:0]
		l.free = l.free[:len(l.free)-1]
	} else {
		c.in = make([]byte, 0, 16<<10)
	}
	l.write(c, now)
}

func (l *eloop) write(c *eclient, now int64) {
	for c.wpos < len(c.req) {
		n, err := unix.Write(c.fd, c.req[c.wpos:])
		if err == unix.EAGAIN {
			return // EPOLLOUT continues
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			l.fail(c, classify(err), now)
			return
		}
		c.wpos += n
	}
}

// read drains the socket (edge-triggered) and completes the response when
// its framing says it is whole.
func (l *eloop) read(c *eclient, now int64) {
	for {
		if len(c.in) == cap(c.in) {
			if cap(c.in) >= 8<<20 {
				l.fail(c, errProtoc, now)
				return
			}
			c.in = slices.Grow(c.in, cap(c.in))
		}
		n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if err == unix.EAGAIN {
			break
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			l.fail(c, classify(err), now)
			return
		}
		if n == 0 {
			c.eof = true
			break
		}
		c.in = c.in[:len(c.in)+n]
	}
	if !c.inFlight {
		if c.eof || len(c.in) > 0 { // the server closed an idle connection (or sent junk)
			l.closeConn(c)
		}
		return
	}
	l.rd.Reset(c.in)
	l.br.Reset(&l.rd)
	err := readResponse(l.br, &l.res, c.etag)
	res := &l.res
	switch {
	case err == nil && res.toEOF && !c.eof:
		return // the body runs until the server closes
	case err == nil && res.wireBytes < int64(len(c.in)):
		l.fail(c, errProtoc, now)
		return
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if c.eof {
			l.fail(c, errEOF, now)
		}
		return // incomplete: wait for more
	default:
		l.fail(c, classify(err), now)
		return
	}

	st := l.r.ph.at(time.Unix(0, c.fire))
	st.lat.Record(time.Duration(now - c.sendAt))
	st.bytes.Add(uint64(res.wireBytes))
	switch res.status {
	case 200:
		st.ok200.Add(1)
		c.etag = res.etag
	case 304:
		st.ok304.Add(1)
		if len(res.etag) > 0 {
			c.etag = res.etag
		}
	default:
		c.etag = c.etag[:0]
		if res.status < len(st.status) {
			st.status[res.status].Add(1)
		} else {
			st.errs[st.errIdx(errProtoc)].Add(1)
		}
	}
	if res.periodMs > 0 && res.nextMs >= 0 { // see the goroutine client for the formula
		st.stale.Record(time.Duration(res.periodMs-res.nextMs+res.staleMs)*time.Millisecond + time.Duration(now-c.sendAt))
	}
	l.done(c)
	if res.close || c.eof {
		l.closeConn(c)
	}
	if c.pending != 0 {
		fire := c.pending
		c.pending = 0
		if c.fd < 0 {
			c.fire = fire
			c.pending = fire
			if !l.connect(c, now) {
				c.pending = 0
			}
			return
		}
		l.send(c, fire, now)
	}
}

// done ends the request in flight and returns its buffer.
func (l *eloop) done(c *eclient) {
	c.inFlight = false
	if c.in != nil {
		l.free = append(l.free, c.in)
		c.in = nil
	}
}

func (l *eloop) fail(c *eclient, kind string, now int64) {
	st := l.r.ph.at(time.Unix(0, c.fire))
	st.errs[st.errIdx(kind)].Add(1)
	l.done(c)
	l.closeConn(c)
	if c.pending != 0 { // due while this request hung: missed
		l.r.ph.at(time.Unix(0, c.pending)).missed.Add(1)
		c.pending = 0
	}
	// the next scheduled fire reconnects
}

func (l *eloop) closeConn(c *eclient) {
	if c.fd < 0 {
		return
	}
	unix.Close(c.fd) // also removes it from the epoll set
	if c.connected {
		l.r.open.Add(-1)
	}
	c.fd, c.connected = -1, false
	if c.inFlight {
		l.done(c)
	}
}
