//go:build linux

// This file implements the epoll loop with x/sys/unix. Waiting is split in
// two, because of where the CPU goes in a Go epoll loop: the ordinary
// unix.EpollWait goes through the runtime's blocking-syscall path, which
// lets the runtime hand the loop's processor (P) to another thread while
// it waits (a context switch and sysmon's attention per wait under load),
// while a raw wait keeps the P for as long as it blocks. So a busy loop's
// waits, all short (yielder.YieldEvery), are raw epoll_pwait calls, and
// only a long wait (an idle loop) goes through unix.EpollWait, which tells
// the scheduler it may block. A raw wait does not hold up a garbage
// collector's stop-the-world: the runtime's preemption signal interrupts
// epoll_pwait (EINTR, never restarted), and the loop is preempted at its
// next function call (checked: runtime.GC beside a goroutine blocked in
// 3 s raw waits took 2 ms, as without it).

package netpoll

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is one epoll instance with an eventfd that wakes it.
// All methods but Wake and Close must be called from the loop's goroutine.
type Poller struct {
	epfd    int
	wakefd  int
	events  []unix.EpollEvent
	ready   []Ready
	wakeBuf [8]byte
}

// Ready is one readiness report: the fd and the epoll event bits.
type Ready struct {
	Fd     int
	Events uint32
}

// Open creates a Poller that reports up to batch events per Wait.
func Open(batch int) (*Poller, error) {
	if batch <= 0 {
		batch = 256
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: open: %w", os.NewSyscallError("epoll_create1", err))
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: open: %w", os.NewSyscallError("eventfd", err))
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, batch), ready: make([]Ready, 0, batch)}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, In); err != nil {
		p.Close()
		return nil, fmt.Errorf("netpoll: open: %w", err)
	}
	return p, nil
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return fmt.Errorf("netpoll: close: %w", os.NewSyscallError("close", err1))
	}
	if err2 != nil {
		return fmt.Errorf("netpoll: close: %w", os.NewSyscallError("close", err2))
	}
	return nil
}

// ctl is epoll_ctl as a raw syscall: it never blocks, and it runs once per
// connection (the Add of an accepted one) or more, so the runtime's
// blocking-syscall bookkeeping would only cost (see Read).
func (p *Poller) ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(p.epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		return os.NewSyscallError("epoll_ctl", e)
	}
	return nil
}

// Add registers fd for the given events (level-triggered).
func (p *Poller) Add(fd int, events uint32) error { return p.ctl(unix.EPOLL_CTL_ADD, fd, events) }

// Mod changes the events fd is registered for.
func (p *Poller) Mod(fd int, events uint32) error { return p.ctl(unix.EPOLL_CTL_MOD, fd, events) }

// Del unregisters fd. Closing an fd also unregisters it.
func (p *Poller) Del(fd int) error { return p.ctl(unix.EPOLL_CTL_DEL, fd, 0) }

// AddListener registers a listening socket shared by several loops with
// EPOLLEXCLUSIVE, so one incoming connection wakes one loop, not all.
func (p *Poller) AddListener(fd int) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, In|unix.EPOLLEXCLUSIVE)
}

// Wake makes a Wait in progress (or the next one) return with woken true.
// Safe from any goroutine.
func (p *Poller) Wake() error {
	var one = [8]byte{1}
	_, err := unix.Write(p.wakefd, one[:])
	if err != nil && err != unix.EAGAIN { // EAGAIN: counter saturated, a wake is pending anyway
		return fmt.Errorf("netpoll: wake: %w", os.NewSyscallError("write", err))
	}
	return nil
}

// Eventfd returns a new non-blocking eventfd (close-on-exec): a wake-up
// that several loops, in several processes, can wait on with Add(fd,
// In|Edge) and signal with Signal. Nobody reads it: were one waiter to
// reset it, the others, woken by the same Signal, would find it not ready
// and report nothing; edge-triggered, each Signal is reported once to
// every loop waiting on it while the counter only grows (2^64 signals).
func Eventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("netpoll: %w", os.NewSyscallError("eventfd", err))
	}
	return fd, nil
}

// Signal reports the eventfd fd once to every loop waiting on it.
func Signal(fd int) error {
	var one = [8]byte{1}
	if _, err := unix.Write(fd, one[:]); err != nil && err != unix.EAGAIN {
		return fmt.Errorf("netpoll: signal: %w", os.NewSyscallError("write", err))
	}
	return nil
}

// Wait returns the ready fds (valid until the next Wait) and whether Wake
// was called. It first polls without blocking; only if nothing is ready does
// it block, for at most timeout (negative: MaxIdleWait).
//
// A wait of at most MaxRawWait blocks in a raw epoll_pwait, keeping the
// loop's P (see the file comment): a busy loop's short waits, which went
// through the runtime's syscall path, let sysmon take the P whenever
// anything else wanted one, and each take set sysmon polling every 20 us
// again (~1,000 sysmon wake-ups a second per worker under wrk at 1,000
// connections; bench/README.md "10,000 connections"). A garbage
// collector's stop-the-world is not held up by it: the runtime's
// preemption signal ends the wait with EINTR, and the loop is preempted
// at its next function call. Longer waits (an idle loop) go through the
// runtime, so an idle loop is not woken by sysmon's preemption every
// 10 ms.
func (p *Poller) Wait(timeout time.Duration) (ready []Ready, woken bool, err error) {
	if timeout < 0 || timeout > MaxIdleWait {
		timeout = MaxIdleWait
	}
	ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
	raw := 0
	if timeout <= MaxRawWait {
		raw = ms
	}
	n, errno := rawWait(p.epfd, p.events, raw)
	if errno != 0 && errno != unix.EINTR {
		return nil, false, fmt.Errorf("netpoll: wait: %w", os.NewSyscallError("epoll_pwait", errno))
	}
	if n <= 0 && raw == 0 && ms > 0 {
		n, err = unix.EpollWait(p.epfd, p.events, ms)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				return p.ready[:0], false, nil
			}
			return nil, false, fmt.Errorf("netpoll: wait: %w", os.NewSyscallError("epoll_wait", err))
		}
	}
	ready = p.ready[:0]
	for i := 0; i < n; i++ {
		ev := &p.events[i]
		if int(ev.Fd) == p.wakefd {
			unix.Read(p.wakefd, p.wakeBuf[:]) // reset the counter; EAGAIN is fine
			woken = true
			continue
		}
		ready = append(ready, Ready{Fd: int(ev.Fd), Events: ev.Events})
	}
	p.ready = ready
	return ready, woken, nil
}

// MaxRawWait is the longest wait Wait makes as a raw syscall: under
// sysmon's 10 ms preemption period, so a loop that yields at least this
// often (yielder.YieldEvery) is not sent preemption signals for it.
const MaxRawWait = 9 * time.Millisecond

// rawWait is epoll_pwait with no signal mask, as a raw syscall, for at most
// ms milliseconds (0: a poll that never blocks).
func rawWait(epfd int, events []unix.EpollEvent, ms int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	return int(r), e
}

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
func RaiseNoFile() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("netpoll: raise nofile: %w", os.NewSyscallError("getrlimit", err))
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("netpoll: raise nofile: %w", os.NewSyscallError("setrlimit", err))
		}
	}
	return lim.Cur, nil
}

// Listen opens a non-blocking, close-on-exec TCP listening socket on addr
// ("127.0.0.1:0", ":8080"). backlog <= 0 asks for the kernel's maximum
// (net.core.somaxconn). With reusePort it sets SO_REUSEPORT, for
// designs that give each process its own socket; the default design shares
// one socket, because when a SO_REUSEPORT listener closes, the connections
// queued on it but not yet accepted are reset.
func Listen(addr string, backlog int, reusePort bool) (int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, fmt.Errorf("netpoll: listen %s: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return -1, fmt.Errorf("netpoll: listen %s: bad port: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "" {
		ip = net.IPv6zero
	}
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return -1, fmt.Errorf("netpoll: listen %s: resolve: %w", addr, err)
		}
		ip = ips[0]
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr
	if ip4 := ip.To4(); ip4 != nil && host != "" {
		family = unix.AF_INET
		s := &unix.SockaddrInet4{Port: port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		s := &unix.SockaddrInet6{Port: port}
		copy(s.Addr[:], ip.To16())
		sa = s
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netpoll: listen %s: %w", addr, os.NewSyscallError("socket", err))
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("netpoll: listen %s: %w", addr, os.NewSyscallError(op, err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) // dual stack where allowed
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if backlog <= 0 {
		backlog = maxBacklog()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// maxBacklog is net.core.somaxconn, the longest accept queue the kernel
// grants (4096 when it cannot be read). A queue shorter than a burst of
// new connections drops the handshakes' last ACKs: those clients believe
// they are connected and send their first request, which waits for the
// server's SYN-ACK retransmission, a second later (wrk at 10,000
// connections: 2,331 ListenOverflows with a queue of 4,096, none for
// nginx with 8,192; bench/README.md "10,000 connections").
func maxBacklog() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return min(n, 1<<16-1)
}

// Addr returns the local address a socket is bound to, as "ip:port".
func Addr(fd int) (string, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", fmt.Errorf("netpoll: addr: %w", os.NewSyscallError("getsockname", err))
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	}
	return "", fmt.Errorf("netpoll: addr: unsupported socket family %T", sa)
}

// SetNonblock puts an inherited fd (a listener passed by the supervisor) in
// non-blocking mode.
func SetNonblock(fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("netpoll: set nonblock: %w", os.NewSyscallError("fcntl", err))
	}
	return nil
}

// Accept accepts one pending connection from a non-blocking listener, as a
// non-blocking, close-on-exec fd with TCP_NODELAY, and returns the peer's
// IP address (invalid for a peer that is not IPv4 or IPv6). It returns ok
// false when the queue is empty (EAGAIN); callers loop until then. It
// allocates nothing: the address comes with accept4, in a buffer on the
// stack (it was a getpeername per connection, whose x/sys wrapper also
// called getsockopt and allocated the address: 12 % of a worker's CPU
// while 10,000 connections were opened, bench/README.md "10,000
// connections"), and accept4 and setsockopt are raw syscalls (neither
// blocks on a non-blocking listener; see Read).
func Accept(lfd int) (fd int, peer netip.Addr, ok bool, err error) {
	var rsa unix.RawSockaddrAny
	for {
		n := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
			uintptr(unsafe.Pointer(&n)), uintptr(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), 0, 0)
		switch e {
		case 0:
			fd = int(r)
			one := int32(1)
			unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY,
				uintptr(unsafe.Pointer(&one)), 4, 0)
			return fd, peerAddr(&rsa), true, nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return -1, netip.Addr{}, false, nil
		default:
			return -1, netip.Addr{}, false, fmt.Errorf("netpoll: accept: %w", os.NewSyscallError("accept4", e))
		}
	}
}

// peerAddr reads the IP address of a socket address filled by the kernel.
func peerAddr(rsa *unix.RawSockaddrAny) netip.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(rsa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(rsa)).Addr).Unmap()
	}
	return netip.Addr{}
}

// Read reads from a non-blocking fd. n is 0 with err nil on EAGAIN;
// eof is true when the peer closed its side.
//
// Read, Writev and Write use raw syscalls: on a non-blocking fd they never
// block, and the runtime's syscall path costs more than it saves here. With
// it, a loop spends part of each request "in a syscall", where sysmon may
// retake its P (a handoff) and, having retaken one, keeps polling every
// 20 µs; at 10,000 connections sysmon's thread took several times more of
// a worker's CPU with the runtime's calls than with raw ones (figures in
// bench/README.md). A raw call
// delays a stop-the-world by at most one non-blocking read or writev.
// fd must be non-blocking.
func Read(fd int, p []byte) (n int, eof bool, err error) {
	if len(p) == 0 {
		return 0, false, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			if r == 0 {
				return 0, true, nil
			}
			return int(r), false, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, false, nil
		default:
			return 0, false, os.NewSyscallError("read", e)
		}
	}
}

// Writev writes the iovecs with one writev call on a non-blocking fd.
// n is 0 with err nil on EAGAIN. Unlike unix.Writev it takes prepared
// iovecs, so a caller that reuses its slice allocates nothing.
func Writev(fd int, iov []Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	if len(iov) > MaxIovecs {
		iov = iov[:MaxIovecs]
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, os.NewSyscallError("writev", e)
		}
	}
}

// Write writes p with one call on a non-blocking fd; EAGAIN is n 0. It is
// Writev of one buffer (used off the hot path: rejections).
func Write(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	iov := [1]Iovec{IovecOf(p)}
	return Writev(fd, iov[:])
}

// MaxIovecs is the most iovecs one Writev passes to the kernel (IOV_MAX).
const MaxIovecs = 1024

// Iovec is one writev segment.
type Iovec = unix.Iovec

// IovecOf returns an iovec for b (b must be non-empty).
func IovecOf(b []byte) Iovec {
	v := Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}

// Close closes a raw fd. It is a raw syscall: closing a socket (without
// SO_LINGER), an eventfd or an epoll fd never sleeps (see Read).
func Close(fd int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return os.NewSyscallError("close", e)
	}
	return nil
}

// CloseWriteSide half-closes a connection (SHUT_WR), so the peer reads EOF
// after everything written so far, before the fd is closed.
func CloseWriteSide(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// BatchScheduling puts every thread of the process under SCHED_BATCH, and
// so the threads it starts later (a new thread inherits its creator's
// policy). The kernel then never lets a wake-up of these threads preempt
// the task running on the CPU: a loop woken by a client's request waits
// for the client's time slice to end or for it to block, and finds a
// batch of requests instead of one. Under SCHED_OTHER the loop, using
// less CPU than its clients, won every wake-up and ran for one or two
// requests at a time: wrk at 1,000 connections made 0.24-0.42 context
// switches per request against jawas, 0.04-0.09 against nginx (whose
// slower loop batches by itself), 0.04-0.09 against jawas under
// SCHED_BATCH (bench/README.md "10,000 connections"). An idle CPU still
// runs a woken thread at once.
func BatchScheduling() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("netpoll: batch scheduling: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := unix.SchedAttr{Policy: unix.SCHED_BATCH}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && err != unix.ESRCH { // ESRCH: the thread ended meanwhile
			return fmt.Errorf("netpoll: batch scheduling of thread %d: %w", tid, os.NewSyscallError("sched_setattr", err))
		}
	}
	return nil
}
