package metrics

// This file implements connection balancing between the event loops that
// share one listening socket. With EPOLLEXCLUSIVE the kernel wakes one
// waiting loop per new connection, and the loop that woke drains the accept
// queue: a burst of connections (a load balancer reconnecting, wrk starting)
// often lands entirely on one worker, leaving the other cores idle. nginx
// answers the same problem with accept_mutex and ngx_accept_disabled; jawas
// lets a loop that holds clearly more than its share stop accepting for a
// moment, so the kernel hands the queue to the others. The shares come from
// the open-connections gauges every loop already keeps in shared memory.

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Balance tells a loop whether it may accept now.
//
// Threading: Allow and Accepted are called by event loops (lock-free:
// atomic loads, a non-blocking send); a background goroutine started by NewBalance
// refreshes the set of peers when asked (see NewBalance) until Close.
type Balance struct {
	dir    string
	expect int64 // loops expected to share the listener; 0: those seen
	// starting is true during the start-up phase, while expect counts
	// loops whose counters file does not exist yet.
	starting atomic.Bool
	peers    atomic.Pointer[[]peer]
	kick     chan struct{} // Accepted asks for a refresh
	stop     chan struct{}
	mu       sync.Mutex // one refresh at a time
}

type peer struct {
	path string
	data []byte
	s    *Serve
	pid  int
}

// The peer set is refreshed every startupRefresh for startupPhase after
// NewBalance, then on demand.
const (
	startupRefresh = 5 * time.Millisecond
	startupPhase   = 2 * time.Second
)

// NewBalance watches the counters files under dir (every loop's, this
// process's included). The peer set is refreshed often for startupPhase,
// then only when a loop accepts a connection (Accepted), at most once per
// refresh: an idle server lists no directory. It used to be refreshed every refresh
// whether or not anything was accepted (a glob of the metrics directory
// and a kill(pid, 0) per peer, 10 times a second per worker;
// bench/README.md "Idle server"). What Allow reads meanwhile is the peers'
// live counters; only the set of peers can be late, by one refresh after
// a worker was replaced, as before.
//
// expect is how many loops share the listener, over every process (0: as
// many as have a counters file). During the start-up phase a loop that
// expects more peers than it sees counts the missing ones as holding no
// connection: the workers start together, but a worker that created its
// counters file before its sibling had would otherwise take a whole burst
// as the lone loop (TestE2EBurstAsSoonAsItAnswers went 0/32 once under
// load). After the start-up phase only the loops seen count, so a worker
// that never came up does not keep the others from accepting.
func NewBalance(dir string, refresh time.Duration, expect int) *Balance {
	return newBalance(dir, refresh, startupPhase, expect)
}

func newBalance(dir string, refresh, startup time.Duration, expect int) *Balance {
	b := &Balance{dir: dir, expect: int64(expect), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	b.starting.Store(startup > 0)
	empty := []peer{}
	b.peers.Store(&empty)
	b.refresh()
	go func() { // refreshes the peer set; ends with Close
		// Quickly at first: the workers start together, and a loop that
		// does not know its peers yet takes a whole burst of connections
		// (a client connecting as soon as the port answers).
		t := time.NewTimer(min(refresh, startupRefresh))
		defer t.Stop()
		warm := time.Now().Add(startup)
		for time.Now().Before(warm) {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.refresh()
				t.Reset(min(refresh, startupRefresh))
			}
		}
		b.starting.Store(false)
		for {
			select {
			case <-b.stop:
				return
			case <-b.kick:
			}
			b.refresh()
			t.Reset(refresh) // the rate limit: kicks meanwhile wait in the channel
			select {
			case <-b.stop:
				return
			case <-t.C:
			}
		}
	}()
	return b
}

// Allow reports whether the loop whose counters file is self, holding mine
// connections, may accept more: yes unless it holds clearly more than the
// average of all live loops (average + 1 + average/32: when every
// connection is busy, as under a closed-loop load, a looser margin left one
// core saturated and the other half idle). The loop holding the
// fewest is always allowed, so connections never wait for all of them
// (during the start-up phase, a loop expected but not seen yet counts as
// holding none: see NewBalance).
func (b *Balance) Allow(self string, mine int64) bool {
	peers := *b.peers.Load()
	total, n := mine, int64(1)
	for i := range peers {
		if peers[i].path == self {
			continue
		}
		if c := peers[i].s.Open.Load(); c > 0 {
			total += c
		}
		n++
	}
	if n < b.expect && b.starting.Load() {
		n = b.expect
	}
	avg := total / n
	return mine <= avg+1+avg/32
}

// Accepted tells b that a loop accepted a connection: the peer set is
// refreshed soon, so the next Allow calls see the loops running now.
// Lock-free for the common case (a refresh already asked for).
func (b *Balance) Accepted() {
	select {
	case b.kick <- struct{}{}: // wakes the refresher, or waits for it
	default: // a refresh is already asked for
	}
}

// refresh maps new live peers' files and drops those whose process is gone.
func (b *Balance) refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
	paths, _ := filepath.Glob(filepath.Join(b.dir, servePrefix+"*"+serveExt))
	old := *b.peers.Load()
	byPath := map[string]peer{}
	for _, p := range old {
		byPath[p.path] = p
	}
	next := make([]peer, 0, len(paths))
	for _, path := range paths {
		p, known := byPath[path]
		if !known {
			var ok bool
			if p, ok = mapPeer(path); !ok {
				continue
			}
		}
		// The pid word may change when a new process takes over the slot.
		p.pid = int((*atomic.Int64)(unsafe.Pointer(&p.data[16])).Load())
		if !alive(p.pid) {
			if !known {
				unmapShared(p.data) // never published: no loop can be reading it
			}
			continue // a known one stays in byPath: unmapped after the grace
		}
		delete(byPath, path)
		next = append(next, p)
	}
	b.peers.Store(&next)
	// Peers no longer listed are unmapped only after a grace, since a loop
	// may be reading the previous slice right now.
	if len(byPath) > 0 {
		gone := byPath
		time.AfterFunc(time.Second, func() {
			for _, p := range gone {
				unmapShared(p.data)
			}
		})
	}
}

func mapPeer(path string) (peer, bool) {
	f, err := os.Open(path)
	if err != nil {
		return peer{}, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(serveSize) {
		return peer{}, false
	}
	data, err := mapShared(f, serveSize, false)
	if err != nil {
		return peer{}, false
	}
	if uint64((*atomic.Int64)(unsafe.Pointer(&data[0])).Load()) != serveMagic {
		unmapShared(data)
		return peer{}, false
	}
	return peer{path: path, data: data, s: (*Serve)(unsafe.Pointer(&data[serveHeader]))}, true
}

// Close stops the refresher. Mappings are left to the process's exit.
func (b *Balance) Close() { close(b.stop) }
