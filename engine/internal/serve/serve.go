// Package serve owns the worker's HTTP/1.1 serving: event loops (one
// goroutine each, no goroutine per connection), connections with their
// input and output buffers, routing of a request to a snapshot, a rendered
// page or a site file, and the response headers that state jawas's caching
// contract (ETag, Cache-Control, X-Jawas-Period/Next/Stale).
//
// It must never evaluate sources, compress, hash or encode JSON per
// request, never block a loop (no disk reads beyond opening and mmapping a
// site file on a cache miss, no waiting for a write's journal), and never
// allocate on the steady-state GET path.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// Write is one POST or PUT to a published URL, handed to Options.Write.
// Every field is a copy the callee owns and nobody modifies (Body is a
// piece of an append-only buffer of the loop; repeated header texts are
// shared), so handing one over allocates nothing per request.
type Write struct {
	Method        http1.Method
	URL           string
	Period        time.Duration // the published entry's period (0 when unknown)
	Body          []byte
	ContentType   string
	Authorization string // the Authorization header, "" when absent
	RemoteAddr    string // the client's IP address, "" when unknown
	Conn          uint64 // names the connection among this process's open ones (its fd and reuse count)
	UserAgent     string
	Referer       string
	Origin        string
	Time          time.Time // arrival (the loop's clock)
}

// WriteResult is the answer to a write. A nil Body gets the short text body
// of an error response ("405 Method Not Allowed"); Header holds extra
// fields such as Allow or Retry-After.
type WriteResult struct {
	Status      int
	Body        []byte
	ContentType string // of Body; default application/json
	Header      []http1.Header
}

// WriteFunc accepts a write. It runs on an event loop, so it must not block:
// it queues w and calls done.Answer exactly once, from any goroutine, with
// the answer (202 once the write is durable). Requests pipelined behind
// the write on the same connection wait for the answer.
type WriteFunc func(w Write, done Done)

// Done answers one write. It is a small value naming the connection and
// the write (not a closure), so a write costs no allocation for it; an
// answer to a write that is no longer waiting (its connection closed, or
// a second answer) is dropped.
type Done struct {
	l   *loop
	fd  int
	gen uint32 // the connection's reuse count
	seq uint32 // the write's number on its connection
	fn  func(WriteResult)
}

// DoneFunc returns a Done whose Answer calls f: for calling a WriteFunc
// outside a loop (tests, benchmarks).
func DoneFunc(f func(WriteResult)) Done { return Done{fn: f} }

// Answer hands res to the loop that read the write. Safe from any
// goroutine.
func (d Done) Answer(res WriteResult) {
	if d.fn != nil {
		d.fn(res)
		return
	}
	l := d.l
	l.doneMu.Lock()
	wake := len(l.doneQ) == 0 && !l.collecting
	l.doneQ = append(l.doneQ, writeDone{fd: d.fd, gen: d.gen, seq: d.seq, res: res})
	l.doneMu.Unlock()
	// One wake per batch: a non-empty queue means whoever queued first has
	// woken (or is about to wake) the loop, which then takes the whole
	// queue, this answer included; while the loop is collecting it takes
	// the queue before it waits again.
	if wake {
		l.p.Wake() // after Shutdown the eventfd may be closed: the answer is moot then
	}
}

// EventsFunc answers GET /_jawas/events/ID with a status code and a JSON
// body. It runs on an event loop and must not block.
type EventsFunc func(id string) (status int, body []byte)

// Options configures a Server. Zero values mean the documented defaults.
type Options struct {
	ListenFD    int    // a listening TCP socket shared by every loop (inherited from the supervisor); not closed by the Server
	Loops       int    // event loops; default GOMAXPROCS
	SnapshotDir string // snapshot store to serve (required unless Store is set)
	Store       *snapshot.Reader
	SiteDir     string // static files; empty: none
	// SiteHTML, when set, rewrites the body of every HTML site file when
	// it is (re)loaded (dev mode injects its live-reload tag); the result
	// is served from the heap, without compressed variants. Loop
	// goroutine; must not keep body.
	SiteHTML     func(body []byte) []byte
	NotFoundPage []byte // HTML body of 404 answers; default a small page

	Limits        http1.Limits
	HeaderTimeout time.Duration // a request's headers must be complete within this; default 10s
	IdleTimeout   time.Duration // keep-alive connection with nothing to do; default 60s
	WriteTimeout  time.Duration // pending output must make progress within this; default 30s

	MaxConns         int // per loop; over it a new connection gets 503 and is closed; default 10000
	MaxPipelined     int // requests answered before their output is flushed; default 64
	MaxPendingOutput int // queued response bytes per connection before reading stops; default 4 MiB

	CORSOrigins []string // exact origins, or "*"; empty: no CORS headers

	// CloseListener makes the Server close ListenFD as soon as every loop
	// has stopped accepting during Shutdown. A worker process that shares
	// the socket with others sets it: once no process holds the socket, new
	// connections are refused at once instead of queueing on a socket
	// nobody accepts from and being reset when the process exits.
	CloseListener bool

	// Balance evens out connections between every loop that shares the
	// listener (this process's and other workers'), using the open-connection
	// gauges under Admin.MetricsDir: a loop holding clearly more than the
	// average stops accepting until the others catch up. Without it, a burst
	// of new connections often lands on a single worker.
	Balance bool

	// BalanceLoops is how many loops share ListenFD, over every process
	// (workers × loops): while they start, a loop counts the ones that
	// have no counters file yet as holding no connection, instead of
	// taking a whole burst alone (metrics.NewBalance). 0: this Server's.
	BalanceLoops int

	// AcceptHintFD is an eventfd every loop on ListenFD waits on, in every
	// process (the supervisor passes one to all workers). A loop that stops
	// accepting to even out connections signals it, so an idle loop takes
	// the connections already queued: the kernel woke only the first loop
	// for them, and would not wake another until a new one arrived. 0: with
	// Balance, the Server makes one for its own loops.
	AcceptHintFD int

	// JournalStats, when set, reports the worker's write journal totals
	// (group commits, fdatasyncs, nanoseconds in them); the first loop adds
	// their growth to its shared counters at each sweep (four times a
	// second, once a second without connections). Called on a
	// loop goroutine; must not block.
	JournalStats func() (commits, fsyncs, fsyncNanos int64)

	// Alive, when set, is called by the first loop on its goroutine with
	// Progress() (when no loop's is zero) at an iteration at least
	// aliveEvery after the call before: every iteration of an idle loop
	// (idleWait apart), four times a second at most under load. A
	// supervised worker beats from it, so the loops' progress is its
	// heartbeat without a timer of its own. Must not block.
	Alive func(progress time.Time)

	// WriteMethods reports which writes a published URL accepts, for the
	// Allow header of 405 and OPTIONS answers; nil: Write's presence alone
	// decides. Called on a loop goroutine (error and OPTIONS paths only).
	WriteMethods func(url string) (post, put bool)

	// Write handles POST/PUT to a published URL; nil answers 405.
	// Called on an event loop goroutine (see WriteFunc).
	Write WriteFunc

	// WriteFlush, when set, is called by a loop on its own goroutine once
	// per iteration in which it handed at least one write to Write, after
	// every ready connection has been read: the writes that arrived
	// together can be committed as one group. done may be called inside it;
	// the answers go out in the same iteration, without a wake-up. Like
	// Write it must not wait long: the loop serves nobody meanwhile.
	WriteFlush func()

	// Events answers GET /_jawas/events/ID; nil answers 404.
	// Called on an event loop goroutine.
	Events EventsFunc

	// Admin configures /_jawas/metrics, status and health, and where the
	// loops keep their counters (admin.go).
	Admin Admin
	// Proxies says which peers are proxies whose word about the client (a
	// PROXY protocol header, X-Forwarded-For or Forwarded) is believed, for
	// Write.RemoteAddr, the admin networks and the access log (proxy.go).
	Proxies Proxies

	// Cache is the Cache-Control policy for shared caches (handle.go);
	// the zero value is jawas's default contract.
	Cache CachePolicy

	// AccessLog, when set, gets a combined-format line per answer, written
	// off the loops (accesslog.go). The caller closes it after Serve.
	AccessLog *AccessLog

	Log *slog.Logger
}

// CachePolicy tells shared caches (CDNs, nginx, Varnish) what they may do
// with snapshots and pages beyond the default contract. Each span is a
// number of the URL's periods or a fixed duration; caches count whole
// seconds, so a span under one second is left out.
type CachePolicy struct {
	// SMaxage: for sub-second periods, s-maxage instead of no-cache, so
	// shared caches may reuse a version this long (a staleness bound the
	// operator chose). Periods of 1 s and more always get s-maxage = the
	// seconds to the next boundary when the policy is on.
	SMaxage time.Duration
	// StaleWhileRevalidate and StaleIfError: stale-while-revalidate and
	// stale-if-error (RFC 5861). Either drops must-revalidate, which would
	// forbid them.
	StaleWhileRevalidate, StaleIfError Span
}

// Span is a number of periods (when Periods > 0) or a duration.
type Span struct {
	Periods  int64
	Duration time.Duration
}

func (s Span) of(period time.Duration) time.Duration {
	if s.Periods > 0 {
		return time.Duration(s.Periods) * period
	}
	return s.Duration
}

func (p *CachePolicy) enabled() bool { return *p != CachePolicy{} }

func (o *Options) defaults() {
	if o.Loops <= 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10000
	}
	if o.MaxPipelined <= 0 {
		o.MaxPipelined = 64
	}
	if o.MaxPendingOutput <= 0 {
		o.MaxPendingOutput = 4 << 20
	}
	if o.NotFoundPage == nil {
		o.NotFoundPage = defaultNotFound
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	d := http1.DefaultLimits()
	if o.Limits.MaxRequestLine <= 0 {
		o.Limits.MaxRequestLine = d.MaxRequestLine
	}
	if o.Limits.MaxHeaderBytes <= 0 {
		o.Limits.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if o.Limits.MaxHeaders <= 0 {
		o.Limits.MaxHeaders = d.MaxHeaders
	}
	if o.Limits.MaxBody <= 0 {
		o.Limits.MaxBody = d.MaxBody
	}
}

var defaultNotFound = []byte("<!doctype html>\n<meta charset=utf-8>\n<title>404 Not Found</title>\n<h1>404 Not Found</h1>\n<p>Nothing is published at this address.</p>\n")

// Server serves one worker's connections on Options.Loops event loops.
type Server struct {
	opt      Options
	store    *snapshot.Reader
	ownStore bool
	cors     cors

	loops        []*loop
	site         siteWatch // site.go: when cached site files must be re-checked
	draining     atomic.Bool
	notAccepting atomic.Int32 // loops that stopped accepting (Shutdown)
	balance      *metrics.Balance
	hint         int  // AcceptHintFD or the Server's own; 0: none
	ownHint      bool // hint is the Server's to close
	forced       atomic.Bool
	started      atomic.Bool
	done         chan struct{} // closed when Serve returns
	doneOnce     sync.Once
}

// New checks opt, opens the snapshot store and prepares the loops.
func New(opt Options) (*Server, error) {
	opt.defaults()
	if opt.ListenFD <= 0 {
		return nil, errors.New("serve: new: Options.ListenFD must be a listening socket")
	}
	s := &Server{opt: opt, store: opt.Store, done: make(chan struct{})}
	if s.store == nil {
		if opt.SnapshotDir == "" {
			return nil, errors.New("serve: new: Options.SnapshotDir or Options.Store is required")
		}
		r, err := snapshot.OpenReader(opt.SnapshotDir)
		if err != nil {
			return nil, fmt.Errorf("serve: new: %w", err)
		}
		s.store, s.ownStore = r, true
	}
	s.cors = newCORS(opt.CORSOrigins)
	if err := s.init(); err != nil {
		if s.ownStore {
			s.store.Close()
		}
		return nil, fmt.Errorf("serve: new: %w", err)
	}
	return s, nil
}

// Requests returns how many requests this server has answered.
// Safe from any goroutine.
func (s *Server) Requests() uint64 {
	var n uint64
	for _, l := range s.loops {
		n += l.requests.Load()
	}
	return n
}

// Serve runs the loops, each on its own goroutine, and returns when
// all have stopped (after Shutdown) with the first loop error.
func (s *Server) Serve() error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("serve: Serve called twice")
	}
	defer s.doneOnce.Do(func() { close(s.done) })
	defer s.site.start(s.opt.SiteDir, s)()
	// A busy loop keeps its P (its raw non-blocking waits never hand it
	// back), so with no P to spare the write committer, the access-log
	// writer and timers wait for the runtime to preempt a loop, 10 ms at a
	// time. That is the case under a one-CPU affinity or cgroup limit (the
	// runtime sizes GOMAXPROCS from them): reads halved here with a few
	// writes running. One P more than loops lets the kernel interleave them.
	if runtime.GOMAXPROCS(0) <= len(s.loops) {
		runtime.GOMAXPROCS(len(s.loops) + 1)
	}
	errs := make(chan error, len(s.loops))
	for _, l := range s.loops {
		// Loop goroutine: owns l, its poller and every connection it
		// accepts. Not locked to its OS thread: the loop yields every
		// yielder.YieldEvery, and a yield of a locked goroutine hands its P
		// to another thread and sleeps until that thread hands it back
		// (two wake-ups; 10-28 us each on this box, against 0.1 us
		// unlocked, and on a loaded box each waits for a CPU;
		// bench/README.md "10,000 connections").
		go func() { errs <- l.run() }()
	}
	var first error
	for range s.loops {
		if err := <-errs; err != nil && first == nil {
			first = err
			s.forced.Store(true)
			s.draining.Store(true)
			s.wakeAll()
		}
	}
	s.closeLoops()
	if s.balance != nil {
		s.balance.Close()
	}
	if s.ownStore {
		s.store.Close()
	}
	return first
}

// Shutdown stops accepting, lets in-flight responses finish, closes
// keep-alive connections after their current response (with
// "Connection: close"), and returns when every loop has stopped or ctx
// ends; then the remaining connections are closed at once and ctx's error
// is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.wakeAll()
	if !s.started.Load() {
		s.doneOnce.Do(func() { close(s.done) })
		s.closeLoops()
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.forced.Store(true)
		s.wakeAll()
		<-s.done
		return fmt.Errorf("serve: shutdown: %w", ctx.Err())
	}
}

// Progress returns the time of the least recent loop iteration: every loop
// wakes at least once a second (idleWait), so an old value means a loop is
// stuck.
// A supervisor heartbeat built on it proves the loops, not just the process,
// are alive. Zero before Serve started the loops.
func (s *Server) Progress() time.Time {
	var oldest int64
	for _, l := range s.loops {
		t := l.lastTick.Load()
		if t == 0 {
			return time.Time{}
		}
		if oldest == 0 || t < oldest {
			oldest = t
		}
	}
	if oldest == 0 {
		return time.Time{}
	}
	return time.Unix(0, oldest)
}

// stoppedAccepting is called by each loop once, when it stops accepting
// during Shutdown; the last one closes the listener if the Server owns it.
func (s *Server) stoppedAccepting() {
	if s.notAccepting.Add(1) == int32(len(s.loops)) && s.opt.CloseListener {
		netpoll.Close(s.opt.ListenFD)
	}
}
