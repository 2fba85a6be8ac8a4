// This file implements operability on the loop: the per-loop counters
// (plain atomic adds into a shared-memory file, see engine/metrics), the
// client-network check made once per connection, and the admin endpoints
// /_jawas/metrics, /_jawas/status(.json) and /_jawas/health. Admin answers
// read every worker's counters and the engine's status file, so they
// allocate and touch the run directory (tmpfs when available); the GET path
// of snapshots, pages and site files only pays the counter adds.

package serve

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
)

// Admin configures the admin endpoints and where the loops keep counters.
type Admin struct {
	// Networks may call the admin endpoints; nil means loopback only
	// (127.0.0.0/8 and ::1). The client library is public regardless.
	Networks []netip.Prefix
	// Token, when set, also admits any client sending
	// "Authorization: Bearer <Token>".
	Token string

	// MetricsDir holds every loop's counters file and the engine's status
	// file (the run directory's metrics folder, shared by all processes).
	// Empty: counters live in this process only and the admin endpoints
	// see only this server and no engine.
	MetricsDir string
	// Slot names this process's counters files (its worker-table slot), so
	// a restarted worker keeps adding to its predecessor's counts.
	Slot int

	// Processes returns the supervisor's process table for the status page
	// and the restart counters; nil without a supervisor. Called on a loop
	// goroutine; must not block.
	Processes func() ([]metrics.Process, *metrics.Supervisor)

	// HealthMaxMissed: /_jawas/health answers 503 once no source has
	// published for this many of its periods; default 10.
	HealthMaxMissed int

	// State answers the state endpoints (admin_state.go): method and path
	// in, status and a JSON body out. Nil: they answer 404. Called on a
	// loop goroutine.
	State func(method, path string) (status int, body []byte)
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ops is a loop's operability state. Loop goroutine only, except that m
// points into shared memory read by other processes.
type ops struct {
	m      *metrics.Serve
	file   *metrics.ServeFile // nil when the counters are on the heap
	kind   metrics.Kind       // route of the request being answered
	status int                // status just appended, for the access log; 0 none
	log    logBuf
}

// connOps is a connection's operability state, set once at accept.
type connOps struct {
	peer      netip.Addr // the socket's peer
	client    netip.Addr // the connection's client: peer, or what a trusted proxy's PROXY header named (proxy.go)
	clientS   string     // client as text, made at the connection's first write (write.go)
	reqClient netip.Addr // the client of the request being answered (requestClient)
	admin     bool       // client's network may use the admin endpoints
	forwarded bool       // client is a trusted proxy: believe its forwarding header per request
	wline     []byte     // access-log request line + referer and agent of a write awaiting its answer
	wsplit    int        // where the request line ends in wline
}

// initOps maps loop i's counters. Called by Server.init.
func (l *loop) initOps(i int) error {
	a := &l.s.opt.Admin
	if a.MetricsDir == "" {
		l.ops.m = new(metrics.Serve)
	} else {
		f, err := metrics.OpenServe(metrics.ServeFileName(a.MetricsDir, a.Slot, i))
		if err != nil {
			return err
		}
		l.ops.file, l.ops.m = f, f.C
	}
	if al := l.s.opt.AccessLog; al != nil {
		l.ops.log.init(al)
	}
	return nil
}

// closeOps hands the last access-log lines over and unmaps the counters.
// Called once the loop has stopped.
func (l *loop) closeOps() {
	l.ops.log.handOff(l.ops.m)
	if l.ops.file != nil {
		l.ops.m.Open.Store(0)
		l.ops.file.Close()
		l.ops.file = nil
		l.ops.m = new(metrics.Serve) // late Requests() or counts stay valid
	}
}

// opened records a new connection, its client and whether it may use the
// admin endpoints (ip: the peer address accept4 gave, invalid when none).
// Loop goroutine only.
func (l *loop) opened(c *conn, ip netip.Addr) {
	l.ops.m.Accepted.Add(1)
	l.ops.m.Open.Add(1)
	c.ops = connOps{}
	if ip.IsValid() {
		c.ops.peer = ip
		l.setClient(c, ip)
		px := &l.s.opt.Proxies
		c.proxyWait = px.Protocol && px.trusted(ip)
	}
}

// count records the status of the answer being appended. Loop goroutine.
func (l *loop) count(status int) {
	l.ops.m.Count(l.ops.kind, status)
	l.ops.status = status
}

// opsTick hands buffered access-log lines to the writer every 100 ms.
func (l *loop) opsTick() {
	if l.ops.log.a != nil && l.nowNS >= l.ops.log.next {
		l.ops.log.next = l.nowNS + int64(100*time.Millisecond)
		l.ops.log.handOff(l.ops.m)
	}
}

var (
	pathMetrics    = "/_jawas/metrics"
	pathStatus     = "/_jawas/status"
	pathStatusJSON = "/_jawas/status.json"
	pathHealth     = "/_jawas/health"
	bearer         = []byte("Bearer ")
)

// admin answers GET/HEAD of an admin endpoint and reports whether req was
// one. Loop goroutine only.
func (l *loop) admin(c *conn, req *http1.Request) bool {
	if l.adminState(c, req) {
		return true
	}
	p := string(req.Path) // no allocation: compared, never kept
	if p != pathMetrics && p != pathStatus && p != pathStatusJSON && p != pathHealth {
		return false
	}
	l.ops.kind = metrics.KindAdmin
	admin := c.ops.admin
	if c.ops.forwarded {
		admin = l.adminNet(c.ops.reqClient)
	}
	if !admin && !l.tokenOK(req) {
		l.ops.m.AdminDenied.Add(1)
		l.adminBody(c, req, 403, "text/plain; charset=utf-8",
			[]byte("403 Forbidden: admin endpoints answer only the networks in serve.admin_networks or a request with serve.admin_token\n"))
		return true
	}
	r, err := l.report()
	if err != nil {
		l.s.opt.Log.Error("admin: cannot read the metrics", "error", err)
		l.adminBody(c, req, 500, "text/plain; charset=utf-8", []byte("500 cannot read the metrics: "+err.Error()+"\n"))
		return true
	}
	maxMissed := l.s.opt.Admin.HealthMaxMissed
	if maxMissed <= 0 {
		maxMissed = 10
	}
	switch p {
	case pathMetrics:
		body, err := r.Prometheus()
		if err != nil {
			l.adminBody(c, req, 500, "text/plain; charset=utf-8", []byte(err.Error()+"\n"))
			return true
		}
		l.adminBody(c, req, 200, metrics.PrometheusContentType, body)
	case pathHealth:
		ok, why := r.Health(maxMissed)
		status := 200
		if !ok {
			status = 503
		}
		l.adminBody(c, req, status, "text/plain; charset=utf-8", []byte(strconv.Itoa(status)+" "+why+"\n"))
	case pathStatus, pathStatusJSON:
		doc := r.Status(maxMissed)
		if p == pathStatus && prefersHTML(req) {
			l.adminBody(c, req, 200, "text/html; charset=utf-8", doc.HTML())
		} else {
			l.adminBody(c, req, 200, "application/json", doc.JSON())
		}
	}
	return true
}

func (l *loop) tokenOK(req *http1.Request) bool {
	tok := l.s.opt.Admin.Token
	a := req.Authorization
	if tok == "" || len(a) <= len(bearer) || !bytes.EqualFold(a[:len(bearer)], bearer) {
		return false
	}
	return subtle.ConstantTimeCompare(bytes.TrimSpace(a[len(bearer):]), []byte(tok)) == 1
}

// report reads every process's counters (or this server's loops when the
// counters are not shared), the engine status and the process table.
func (l *loop) report() (*metrics.Report, error) {
	a := &l.s.opt.Admin
	r, err := metrics.Gather(a.MetricsDir, l.now, a.Processes)
	if err != nil {
		return nil, fmt.Errorf("serve: admin: %w", err)
	}
	if a.MetricsDir == "" {
		for _, o := range l.s.loops {
			r.Serve.Add(o.ops.m, true)
		}
	}
	return r, nil
}

// prefersHTML: a browser asking for text/html gets the page; scripts and
// curl get JSON.
func prefersHTML(req *http1.Request) bool {
	for _, h := range req.Headers {
		if len(h.Name) == 6 && bytes.EqualFold(h.Name, []byte("Accept")) && bytes.Contains(h.Value, []byte("text/html")) {
			return true
		}
	}
	return false
}

// adminBody queues a whole admin response (never cached).
func (l *loop) adminBody(c *conn, req *http1.Request, status int, ctype string, body []byte) {
	l.appendBody(c, status, ctype, body, nil, req.Method == http1.MethodHead)
}
