// This file implements the loop's side of writes: handing a POST/PUT to
// Options.Write, answering it when the callee calls done (any status, an
// optional body and extra headers such as Allow or Retry-After), and the
// GET /_jawas/events/ID route. The journal and the policy live in
// engine/writes; the loop only moves bytes.

package serve

import (
	"bytes"
	"strconv"

	"github.com/jawas/jawas/engine/http1"
	"github.com/jawas/jawas/engine/snapshot"
)

// eventsPrefix is the path of the event status route, followed by an ID.
var eventsPrefix = []byte("/_jawas/events/")

// write hands a POST/PUT to e's URL to Options.Write; later requests on c
// wait until it calls done. Loop goroutine only.
func (l *loop) write(c *conn, req *http1.Request, e *snapshot.Entry) {
	if l.s.opt.Write == nil {
		l.appendError(c, 405, c.closing, allowRead)
		return
	}
	w := Write{
		Method:        req.Method,
		URL:           e.URL,
		Period:        e.Period,
		Body:          append([]byte(nil), req.Body...),
		ContentType:   string(req.ContentType),
		Authorization: string(req.Authorization),
		RemoteAddr:    peerText(c),
		Conn:          uint64(c.fd)<<32 | uint64(c.gen),
		UserAgent:     string(req.UserAgent),
		Referer:       string(req.Referer),
		Origin:        string(req.Origin),
		Time:          l.now,
	}
	c.waiting = true
	if !l.wrote {
		l.wrote = true
		l.doneMu.Lock()
		l.collecting = true
		l.doneMu.Unlock()
	}
	l.s.opt.Write(w, l.writeDone(c))
}

// writeResponse queues the answer to a write. Loop goroutine only.
func (l *loop) writeResponse(c *conn, res *WriteResult) {
	if res.Body == nil {
		l.appendError(c, res.Status, c.closing, res.Header...)
		return
	}
	ctype := res.ContentType
	if ctype == "" {
		ctype = "application/json"
	}
	l.appendBody(c, res.Status, ctype, res.Body, res.Header, false)
}

// appendBody queues a whole response with body; head sends the headers only.
func (l *loop) appendBody(c *conn, status int, ctype string, body []byte, extra []http1.Header, head bool) {
	if c.http10 && !c.closing {
		c.closing = true // see appendError
	}
	b := c.out
	h0 := len(b)
	b = l.head(b, status)
	b = append(b, "Content-Type: "...)
	b = append(b, ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nCache-Control: no-store\r\n"...)
	for _, h := range extra {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	b = l.tail(b, c)
	c.out = b
	if head {
		body = nil
	}
	l.queue(c, h0, body, nil)
}

// eventStatus answers GET/HEAD /_jawas/events/ID and reports whether the
// request was one. Loop goroutine only.
func (l *loop) eventStatus(c *conn, req *http1.Request) bool {
	if l.s.opt.Events == nil || !bytes.HasPrefix(req.Path, eventsPrefix) {
		return false
	}
	status, body := l.s.opt.Events(string(req.Path[len(eventsPrefix):]))
	l.appendBody(c, status, "application/json", body, nil, req.Method == http1.MethodHead)
	return true
}

// peerText returns c's peer address as text ("" when not known), formatted
// once per connection: the address was read at accept (admin.go).
func peerText(c *conn) string {
	if c.ops.peerS == "" && c.ops.peer.IsValid() {
		c.ops.peerS = c.ops.peer.String()
	}
	return c.ops.peerS
}
