// Package netpoll owns the epoll loop primitives every jawas worker builds
// on: a Poller (epoll instance plus an eventfd to wake it from other
// goroutines), non-blocking listening sockets shared by several loops,
// accept4 until EAGAIN, and allocation-free read/writev on raw fds.
//
// It must never know about HTTP, snapshots or connections' meaning: it moves
// readiness events and bytes, and the caller decides what they are.
package netpoll

import "time"

// Event bits, re-exported so callers need not import x/sys/unix for them.
const (
	In    uint32 = 0x1     // EPOLLIN
	Out   uint32 = 0x4     // EPOLLOUT
	Err   uint32 = 0x8     // EPOLLERR
	Hup   uint32 = 0x10    // EPOLLHUP
	RdHup uint32 = 0x2000  // EPOLLRDHUP
	Edge  uint32 = 1 << 31 // EPOLLET: report once per wake-up, not while ready
)

// MaxIdleWait caps one blocking wait, so a loop that runs timer sweeps is
// never asleep longer than this even when no fd is ready.
const MaxIdleWait = time.Second
