//go:build linux

// Package epollhttp is the benches' cheapest HTTP/1.1 load client (bench/writes
// -client epoll, bench/cluster), because goroutine clients (bench/writes
// -client raw) cost more CPU per write than the server on the 2 cores they
// share with it (Go's netpoller: an EAGAIN read
// before each park, futex wake-ups, the scheduler), which capped what the
// bench could show. Event loops, each locked to an OS thread, own
// non-blocking sockets that never enter Go's netpoller and drive them with
// level-triggered epoll and raw read/write syscalls. What remains is mostly
// the kernel's, chiefly the write(2) of each request, which on loopback
// carries it through TCP into the server's socket and wakes the server
// (perf record -a -g). Figures in bench/README.md.

package epollhttp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jawas/jawas/internal/yielder"
)

const (
	// epollIdle bounds a blocking epoll_wait, so a loop sees stop soon.
	epollIdle = 5 * time.Millisecond
)

// epollConn is one connection of an event loop.
type epollConn struct {
	fd      int // -1 once closed
	buf     []byte
	n       int  // bytes in buf
	status  int  // of the response being read, once its head is parsed
	size    int  // head + body bytes of that response; -1 until its head is parsed
	busy    bool // a request is out and its response not complete
	marked  bool // that response's head holds Counts.Mark
	pending bool // paced: a fire time passed while busy; send when the response is complete
}

// fire is a paced connection's next send time, from the loop's base.
type fire struct {
	at time.Duration
	c  int // index in epollLoop.conns
}

// epollLoop drives its share of one load's connections.
//
// Threading: run is the only user of a loop, on one goroutine locked to its
// OS thread; it adds to the load's tally (atomics) and ends at stop.
type epollLoop struct {
	epfd  int
	conns []epollConn
	live  int // connections not closed
	req   []byte
	want  int
	every time.Duration // each connection's interval between sends; 0: flat out
	t     *Counts

	// Paced only: every connection has exactly one entry, and all intervals
	// are equal, so popping the head and pushing it back one interval later
	// keeps the entries in fire-time order: a ring, head at next.
	base  time.Time
	fires []fire
	next  int
}

// Load starts min(loops, n) event loops that share n connections
// round-robin, connection c to addrs[c%len(addrs)], each connection sending
// req every `every` (staggered over one interval) or flat out when every is
// 0, and counting in t the answers whose status is want. wg counts the
// loops; they end at stop.
func Load(addrs []string, req []byte, want, n, loops int, every time.Duration, t *Counts, stop <-chan struct{}, wg *sync.WaitGroup) {
	loops = max(1, min(loops, n))
	for i := 0; i < loops; i++ {
		wg.Add(1)
		go func() { // one event loop; ends at stop
			defer wg.Done()
			var first []time.Duration // of this loop's connections: global index c*loops+i
			var to []string
			for c := i; c < n; c += loops {
				first = append(first, every*time.Duration(c)/time.Duration(n))
				to = append(to, addrs[c%len(addrs)])
			}
			l, err := newEpollLoop(to, req, want, every, first, t)
			if err != nil {
				fmt.Fprintln(os.Stderr, "epollhttp:", err)
				return
			}
			l.run(stop)
		}()
	}
}

// newEpollLoop dials one connection per entry of first (its first fire
// time, from when the dialing is done) to the same entry of to, and
// registers them with a new epoll instance. A failed dial is reported and
// skipped.
func newEpollLoop(to []string, req []byte, want int, every time.Duration, first []time.Duration, t *Counts) (*epollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	l := &epollLoop{epfd: epfd, req: req, want: want, every: every, t: t}
	for k, f := range first {
		sa, domain, err := sockaddr(to[k])
		if err != nil {
			l.close()
			return nil, err
		}
		fd, err := dial(sa, domain)
		if err != nil {
			fmt.Fprintln(os.Stderr, "epollhttp: dial:", err)
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(len(l.conns))}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			l.close()
			return nil, os.NewSyscallError("epoll_ctl", err)
		}
		l.fires = append(l.fires, fire{at: f, c: len(l.conns)})
		l.conns = append(l.conns, epollConn{fd: fd, buf: make([]byte, 16<<10), size: -1})
	}
	l.live = len(l.conns)
	l.base = time.Now()
	return l, nil
}

// sockaddr resolves a "host:port" TCP address for unix.Connect.
func sockaddr(addr string) (unix.Sockaddr, int, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, unix.AF_INET6, nil
}

// dial opens a non-blocking TCP connection to sa with TCP_NODELAY (as
// net.Dial sets), waiting up to 5 s for the handshake.
func dial(sa unix.Sockaddr, domain int) (int, error) {
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	return fd, nil
}

func connect(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if err == nil {
		return nil
	}
	if err != unix.EINPROGRESS && err != unix.EINTR {
		return os.NewSyscallError("connect", err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return errors.New("connect: timed out")
		}
		n, err := unix.Poll(pfd, int(wait.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			break
		}
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if soerr != 0 {
		return os.NewSyscallError("connect", syscall.Errno(soerr))
	}
	return nil
}

// run sends and reads until stop is closed or every connection has failed,
// then closes the connections. It waits with a zero timeout (a raw syscall,
// no scheduler hand-off) while events keep coming, and blocks in a
// scheduler-aware epoll_wait (a raw blocking wait would stall the GC's
// stop-the-world) only when one found nothing: up to the next fire time,
// at most epollIdle.
//
// The loop stays on its thread but yields to the scheduler as the server's
// loops do (yielder.Yielder): paced at 1,000 writes/s, the writers' child
// then used less CPU for the same writes (bench/README.md, "sysmon").
func (l *epollLoop) run(stop <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.close()
	var yield yielder.Yielder
	if l.every == 0 {
		for i := range l.conns {
			l.send(&l.conns[i])
		}
	}
	events := make([]unix.EpollEvent, 128)
	for l.live > 0 {
		select {
		case <-stop:
			return
		default:
		}
		wait := epollIdle
		if l.every > 0 {
			wait = l.fireDue()
		}
		wait = yield.Pace(time.Now().UnixNano(), wait)
		n := epollPoll(l.epfd, events)
		if n == 0 && wait > 0 {
			var err error
			n, err = unix.EpollWait(l.epfd, events, int((wait+time.Millisecond-1)/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "epollhttp:", os.NewSyscallError("epoll_wait", err))
				return
			}
		}
		for _, ev := range events[:n] {
			l.readable(&l.conns[ev.Fd])
		}
	}
}

// fireDue sends on every connection whose fire time has come (or marks it
// pending when its previous response is still out) and returns the time
// until the next fire time, at most epollIdle.
func (l *epollLoop) fireDue() time.Duration {
	now := time.Since(l.base)
	for {
		f := &l.fires[l.next]
		if f.at > now {
			return min(f.at-now, epollIdle)
		}
		f.at += l.every
		l.next = (l.next + 1) % len(l.fires)
		switch c := &l.conns[f.c]; {
		case c.fd < 0:
		case c.busy:
			c.pending = true // at most one: missed fire times do not pile up
		default:
			l.send(c)
		}
	}
}

// readable reads what c's socket holds and, when that completes the
// response, counts it and sends the next request if it is due.
func (l *epollLoop) readable(c *epollConn) {
	if c.fd < 0 {
		return
	}
	if c.n == len(c.buf) {
		l.fail(c, errors.New("response head too large (or unasked-for bytes)"))
		return
	}
	m, errno := sysRead(c.fd, c.buf[c.n:])
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR: // level-triggered: epoll reports it again
		return
	case errno != 0:
		l.fail(c, os.NewSyscallError("read", errno))
		return
	case m == 0:
		l.fail(c, errors.New("server closed the connection"))
		return
	}
	c.n += m
	l.advance(c)
}

// advance completes c's response from its buffer when it is all there:
// counts it, keeps any bytes beyond it (a server bug: they would be read as
// the next response, as the raw client does), and sends the next request
// when flat out or when a fire time passed meanwhile (a late send).
func (l *epollLoop) advance(c *epollConn) {
	for c.busy {
		if c.size < 0 {
			end := bytes.Index(c.buf[:c.n], crlf2)
			if end < 0 {
				return
			}
			status, size, err := ParseHead(c.buf[:end+4])
			if err != nil {
				l.fail(c, err)
				return
			}
			if size > len(c.buf) {
				c.buf = append(c.buf, make([]byte, size-len(c.buf))...)
			}
			c.status, c.size = status, size
			c.marked = l.t.Mark != "" && containsFold(c.buf[:end+4], l.t.Mark)
		}
		if c.n < c.size {
			return
		}
		if c.status == l.want {
			l.t.OK.Add(1)
			if c.marked {
				l.t.Marked.Add(1)
			}
		}
		c.n = copy(c.buf, c.buf[c.size:c.n])
		c.busy, c.size = false, -1
		switch {
		case l.every == 0:
		case c.pending:
			c.pending = false
			l.t.Late.Add(1)
		default:
			return // paced: wait for the next fire time
		}
		l.send(c)
	}
}

// send writes the request on c. A request is ~100 bytes and never follows
// an unanswered one, so the socket buffer has room: a short write is
// reported as an error rather than carried over.
func (l *epollLoop) send(c *epollConn) {
	for {
		m, errno := sysWrite(c.fd, l.req)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			l.fail(c, os.NewSyscallError("write", errno))
		case m != len(l.req):
			l.fail(c, fmt.Errorf("short write: %d of %d bytes", m, len(l.req)))
		default:
			c.busy = true
		}
		return
	}
}

// fail reports err and closes c.
func (l *epollLoop) fail(c *epollConn, err error) {
	fmt.Fprintln(os.Stderr, "epollhttp:", err)
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	c.fd, c.busy, c.pending = -1, false, false
	l.live--
}

// close closes every connection still open, then the epoll instance.
func (l *epollLoop) close() {
	for i := range l.conns {
		if c := &l.conns[i]; c.fd >= 0 {
			unix.Close(c.fd)
			c.fd = -1
		}
	}
	unix.Close(l.epfd)
}

// epollPoll is epoll_wait with a zero timeout as a raw syscall: it never
// blocks, so it skips the scheduler's enter/exit. epoll_pwait with a nil
// signal mask is epoll_wait, and exists on every Linux architecture (arm64
// has no epoll_wait). An error counts as no event; the blocking wait that
// follows reports it.
func epollPoll(epfd int, events []unix.EpollEvent) int {
	n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket as
// raw syscalls: they never block, and skipping the scheduler's enter/exit
// (unix.Read, unix.Write) saves time on every call (figures in
// bench/README.md).
func sysRead(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errno
}

func sysWrite(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errno
}
