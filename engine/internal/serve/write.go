// This file implements the loop's side of writes: handing a POST/PUT to
// Options.Write, answering it when the callee calls done (any status, an
// optional body and extra headers such as Allow or Retry-After), and the
// GET /_jawas/events/ID route. The journal and the policy live in
// engine/writes; the loop only moves bytes.

package serve

import (
	"bytes"
	"strconv"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/snapshot"
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
		Body:          l.keepBody(req.Body),
		ContentType:   l.text(req.ContentType),
		Authorization: l.text(req.Authorization),
		RemoteAddr:    l.clientText(c),
		Conn:          uint64(c.fd)<<32 | uint64(c.gen),
		UserAgent:     l.text(req.UserAgent),
		Referer:       l.text(req.Referer),
		Origin:        l.text(req.Origin),
		Time:          l.now,
	}
	c.waiting = true
	c.writes++
	if !l.wrote {
		l.wrote = true
		l.doneMu.Lock()
		l.collecting = true
		l.doneMu.Unlock()
	}
	l.s.opt.Write(w, Done{l: l, fd: c.fd, gen: c.gen, seq: c.writes})
}

// slabSize is the size of a body slab: a few hundred typical bodies.
const slabSize = 64 << 10

// keepBody returns a copy of b that nobody will modify: a piece of the loop's
// append-only slab (its capacity ends with it, so an append by the holder
// reallocates rather than overwrite the next body). A slab is dropped when
// full and freed by the collector once no body in it is held; the bench
// showed 4 allocations per write before (this, the header texts and the
// done closure), 0 after.
func (l *loop) keepBody(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if cap(l.slab)-len(l.slab) < len(b) {
		l.slab = make([]byte, 0, max(slabSize, len(b)))
	}
	n := len(l.slab)
	l.slab = append(l.slab, b...)
	return l.slab[n:len(l.slab):len(l.slab)]
}

// textBound is the longest header value text shares: a longer one (a
// token, a long Referer) is copied each time.
const textBound = 256

// text returns b as a string, shared with earlier requests that sent the
// same value (l.texts). Loop goroutine only.
func (l *loop) text(b []byte) string { return l.texts.String(b) }

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

// clientText returns the client of the request being answered as text (""
// when not known): the connection's client, formatted once per
// connection, or the address a trusted proxy named for this request
// (shared with earlier requests that named the same one).
func (l *loop) clientText(c *conn) string {
	if c.ops.reqClient != c.ops.client {
		if !c.ops.reqClient.IsValid() {
			return ""
		}
		return l.text(c.ops.reqClient.AppendTo(l.path[:0]))
	}
	if c.ops.clientS == "" && c.ops.client.IsValid() {
		c.ops.clientS = c.ops.client.String()
	}
	return c.ops.clientS
}
