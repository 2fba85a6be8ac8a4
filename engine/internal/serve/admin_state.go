package serve

// This file implements the state admin endpoints behind `jawas state`
// against a running server: GET /_jawas/state (every source), GET
// /_jawas/state/NAME (one, with its state) and POST /_jawas/state/NAME/reset
// (journal a reset). The worker knows no JavaScript and no state: it hands
// the request to Admin.State, which the assembly (engine/api) implements
// from the engine's checkpoint and the journal. Admin access rules apply.

import (
	"bytes"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
)

// StatePrefix is where the state endpoints live.
const StatePrefix = "/_jawas/state"

var statePrefix = []byte(StatePrefix)

// adminState answers a state endpoint and reports whether req was one.
// Loop goroutine only; Admin.State may touch the disk (a reset is fsynced
// before it is acknowledged), which is rare enough to do on the loop.
func (l *loop) adminState(c *conn, req *http1.Request) bool {
	if !bytes.HasPrefix(req.Path, statePrefix) || (len(req.Path) > len(statePrefix) && req.Path[len(statePrefix)] != '/') {
		return false // no allocation on every other request
	}
	p := string(req.Path)
	l.ops.kind = metrics.KindAdmin
	if !c.ops.admin && !l.tokenOK(req) {
		l.ops.m.AdminDenied.Add(1)
		l.adminBody(c, req, 403, "text/plain; charset=utf-8",
			[]byte("403 Forbidden: admin endpoints answer only the networks in serve.admin_networks or a request with serve.admin_token\n"))
		return true
	}
	h := l.s.opt.Admin.State
	if h == nil {
		l.adminBody(c, req, 404, "text/plain; charset=utf-8", []byte("404 this server keeps no state endpoints\n"))
		return true
	}
	status, body := h(req.Method.String(), p)
	l.adminBody(c, req, status, "application/json", body)
	return true
}
