package cluster

import (
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ack table is how a node's forwarder tells its workers, which are
// other processes, what the stream holds: a small file in the run
// directory mapped shared by all of them. Word 0 holds flags; word
// ackFirst+slot holds, for worker slot slot, the newest incarnation the
// forwarder shipped (a 24-bit tag) and its highest sequence number
// acknowledged by the stream (40 bits). Datagrams on unix sockets wake
// the other side: workers poke the forwarder after each commit, the
// forwarder pokes a worker after each acknowledgement for its slot.
const (
	ackFile    = "cluster-acks.shm"
	ackFirst   = 8
	ackSlots   = 1024
	ackSize    = (ackFirst + ackSlots) * 8
	flagDown   = 1 // the forwarder cannot reach the stream
	seqBits    = 40
	seqMask    = 1<<seqBits - 1
	fwdSock    = "cluster-fwd.sock"
	ackSockFmt = "cluster-ack-%d.sock"
)

// Acks is the mapped ack table.
type Acks struct {
	mem []byte
	dir string
}

// OpenAcks maps the ack table in runDir, creating it if needed.
func OpenAcks(runDir string) (*Acks, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: ack table: %w", err)
	}
	path := filepath.Join(runDir, ackFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster: ack table: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("cluster: ack table: %w", err)
	} else if fi.Size() < ackSize {
		if err := f.Truncate(ackSize); err != nil {
			return nil, fmt.Errorf("cluster: ack table: %w", err)
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, ackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cluster: ack table: mmap %s: %w", path, err)
	}
	return &Acks{mem: mem, dir: runDir}, nil
}

func (a *Acks) word(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&a.mem[i*8]))
}

// Close unmaps the table.
func (a *Acks) Close() error {
	if a.mem == nil {
		return nil
	}
	err := unix.Munmap(a.mem)
	a.mem = nil
	return err
}

// SetDown records whether the forwarder can reach the stream.
func (a *Acks) SetDown(down bool) {
	w := a.word(0)
	for {
		old := w.Load()
		nw := old &^ flagDown
		if down {
			nw |= flagDown
		}
		if old == nw || w.CompareAndSwap(old, nw) {
			return
		}
	}
}

// Down reports whether the forwarder last failed to reach the stream.
func (a *Acks) Down() bool { return a.word(0).Load()&flagDown != 0 }

// incTag is the 24-bit tag of an incarnation.
func incTag(inc string) uint64 {
	h := fnv.New32a()
	h.Write([]byte(inc))
	return uint64(h.Sum32() & 0xffffff)
}

// Acked records that the stream holds every record of incarnation inc in
// slot up to seq (forwarder).
func (a *Acks) Acked(slot int, inc string, seq uint64) {
	if slot < 0 || slot >= ackSlots {
		return
	}
	a.word(ackFirst + slot).Store(incTag(inc)<<seqBits | seq&seqMask)
}

// Has reports whether the stream holds record seq of incarnation inc in
// slot (worker).
func (a *Acks) Has(slot int, inc string, seq uint64) bool {
	if slot < 0 || slot >= ackSlots {
		return false
	}
	w := a.word(ackFirst + slot).Load()
	return w>>seqBits == incTag(inc) && w&seqMask >= seq&seqMask
}

// wakeup is the receiving end of pokes: a bound unix datagram socket.
type wakeup struct{ conn *net.UnixConn }

func listenWakeup(path string) (*wakeup, error) {
	os.Remove(path) // a previous process's
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("cluster: wakeup socket: %w", err)
	}
	return &wakeup{conn: c}, nil
}

// wait returns when poked (draining every poke queued) or after d.
func (w *wakeup) wait(d time.Duration) {
	var b [16]byte
	w.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := w.conn.Read(b[:]); err != nil {
		return
	}
	w.conn.SetReadDeadline(time.Now()) // drain without waiting
	for {
		if _, err := w.conn.Read(b[:]); err != nil {
			return
		}
	}
}

func (w *wakeup) close() { w.conn.Close() }

// poker sends pokes: one unbound, non-blocking datagram socket.
type poker struct{ fd int }

func newPoker() (*poker, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cluster: poke socket: %w", err)
	}
	return &poker{fd: fd}, nil
}

// poke sends one byte to path; a full queue already holds a poke, and a
// missing socket has nobody waiting, so errors are ignored.
func (p *poker) poke(path string) {
	_ = unix.Sendto(p.fd, []byte{1}, unix.MSG_DONTWAIT, &unix.SockaddrUnix{Name: path})
}

func (p *poker) close() { unix.Close(p.fd) }

func ackSockPath(runDir string, slot int) string {
	return filepath.Join(runDir, fmt.Sprintf(ackSockFmt, slot))
}

// WorkerLink is a worker's side of the ack table: the writes.Replica of
// a worker process in cluster mode.
type WorkerLink struct {
	acks  *Acks
	slot  int
	wake  *wakeup
	poker *poker
	fwd   string
}

// OpenWorkerLink opens the ack table and this worker slot's socket.
func OpenWorkerLink(runDir string, slot int) (*WorkerLink, error) {
	acks, err := OpenAcks(runDir)
	if err != nil {
		return nil, err
	}
	w, err := listenWakeup(ackSockPath(runDir, slot))
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
	return &WorkerLink{acks: acks, slot: slot, wake: w, poker: p, fwd: filepath.Join(runDir, fwdSock)}, nil
}

// Committed pokes the forwarder.
func (l *WorkerLink) Committed() { l.poker.poke(l.fwd) }

// Wait blocks until the stream holds record seq of incarnation inc, the
// forwarder reports the stream unreachable, or deadline (one goroutine at
// a time: the acceptor's replica waiter).
func (l *WorkerLink) Wait(inc string, seq uint64, deadline time.Time) bool {
	for {
		if l.acks.Has(l.slot, inc, seq) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 || l.acks.Down() {
			return false
		}
		l.wake.wait(min(left, 50*time.Millisecond))
	}
}

// Close releases the link.
func (l *WorkerLink) Close() {
	l.wake.close()
	l.poker.close()
	l.acks.Close()
	os.Remove(ackSockPath(l.acks.dir, l.slot))
}
