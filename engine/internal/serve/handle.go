// This file implements routing and response headers: everything a request
// costs after parsing. It appends to the connection's output buffer and
// queues body slices that point into mmapped files, so a steady-state GET
// allocates nothing (TestHandleAllocs guards this).

package serve

import (
	"bytes"
	"strconv"
	"time"
	"unsafe"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// handle answers one complete request by queueing its response on c.
// Loop goroutine only.
func (l *loop) handle(c *conn, req *http1.Request) {
	l.requests.Add(1)
	l.ops.kind = metrics.KindOther
	c.http10 = req.Minor == 0
	if !req.KeepAlive || l.s.draining.Load() {
		c.closing = true
	}
	switch req.Method {
	case http1.MethodGet, http1.MethodHead:
		if e := l.view.LookupBytes(req.Path); e != nil {
			l.ops.kind = metrics.KindSnapshot
			l.entry(c, req, e)
			return
		}
		if l.eventStatus(c, req) {
			return
		}
		if l.admin(c, req) {
			return
		}
		if e := l.page(req.Path); e != nil {
			l.ops.kind = metrics.KindPage
			l.entry(c, req, e)
			return
		}
		if l.site != nil {
			if f := l.site.lookup(req.Path, l.nowNS); f != nil {
				l.ops.kind = metrics.KindSite
				if f.dir {
					l.slashRedirect(c, req)
				} else {
					l.file(c, req, f)
				}
				return
			}
		}
		if l.pageDir(req.Path) {
			l.ops.kind = metrics.KindPage
			l.slashRedirect(c, req)
			return
		}
		l.notFound(c, req)
	case http1.MethodPost, http1.MethodPut:
		e := l.view.LookupBytes(req.Path)
		if e == nil {
			l.notFound(c, req)
			return
		}
		l.ops.kind = metrics.KindWrite
		l.saveWriteLine(c, req)
		l.write(c, req, e)
	case http1.MethodOptions:
		l.options(c, req)
	default:
		l.appendError(c, 405, c.closing, l.allow(req.Path))
	}
}

var (
	allowRead  = http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS")}
	allowWrite = http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS, POST, PUT")}
	allowPost  = http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS, POST")}
	allowPut   = http1.Header{Name: []byte("Allow"), Value: []byte("GET, HEAD, OPTIONS, PUT")}
)

// allow is the Allow header for path: reads everywhere, plus the writes
// the published source at path accepts (Options.WriteMethods).
func (l *loop) allow(path []byte) http1.Header {
	if l.s.opt.Write == nil || l.s.opt.WriteMethods == nil || l.view.LookupBytes(path) == nil {
		return allowRead
	}
	switch post, put := l.s.opt.WriteMethods(string(path)); {
	case post && put:
		return allowWrite
	case post:
		return allowPost
	case put:
		return allowPut
	}
	return allowRead
}

// page maps an extensionless path to a rendered template page in the
// snapshot store: "/" and "/docs/" → "/index.html", "/docs/index.html";
// "/about" → "/about.html". Only when the last segment has no '.', so a
// missing "/x.css" is never answered with an HTML page.
func (l *loop) page(path []byte) *snapshot.Entry {
	p := l.pagePath(path)
	if p == nil {
		return nil
	}
	return l.view.LookupBytes(p)
}

// pageDir reports whether path names a directory of template pages
// without its trailing '/': "/docs" when "/docs/index.html" is published.
func (l *loop) pageDir(path []byte) bool {
	if len(path) < 2 || path[0] != '/' || path[len(path)-1] == '/' || hasExtension(path) {
		return false
	}
	l.path = append(append(l.path[:0], path...), "/index.html"...)
	return l.view.LookupBytes(l.path) != nil
}

// slashRedirect answers a directory named without its trailing '/' with a
// 301 to the same target with the '/', query kept. Location is built from
// the raw request-target, which the parser has checked holds no byte a
// header may not, so a decoded path never reaches the header.
func (l *loop) slashRedirect(c *conn, req *http1.Request) {
	path := req.Target
	if len(path) > 0 && path[0] != '/' { // absolute-form: from the path on
		if i := bytes.Index(path, []byte("://")); i >= 0 {
			if j := bytes.IndexByte(path[i+3:], '/'); j >= 0 {
				path = path[i+3+j:]
			} else {
				path = nil
			}
		}
	}
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if len(path) == 0 || path[0] != '/' {
		l.notFound(c, req)
		return
	}
	b := c.out
	h0 := len(b)
	b = l.head(b, 301)
	b = append(b, "Location: "...)
	b = append(b, path...)
	b = append(b, '/')
	if req.Query != nil {
		b = append(b, '?')
		b = append(b, req.Query...)
	}
	b = append(b, "\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n"...)
	b = l.tail(b, c)
	c.out = b
	l.queue(c, h0, nil, nil)
}

func (l *loop) pagePath(path []byte) []byte {
	if len(path) == 0 || path[0] != '/' {
		return nil
	}
	if path[len(path)-1] == '/' {
		l.path = append(append(l.path[:0], path...), "index.html"...)
		return l.path
	}
	if hasExtension(path) {
		return nil
	}
	l.path = append(append(l.path[:0], path...), ".html"...)
	return l.path
}

// hasExtension reports whether the last segment of path has a '.': such a
// path names a file, never a page or a directory of pages.
func hasExtension(path []byte) bool {
	for i := len(path) - 1; i >= 0 && path[i] != '/'; i-- {
		if path[i] == '.' {
			return true
		}
	}
	return false
}

// Cache-Control for snapshots. The contract is that any standard cache is
// at most one period behind. max-age has whole-second resolution, so:
//   - period < 1s: "no-cache": caches may store the body but must revalidate
//     every use; the strong ETag makes that a cheap 304.
//   - period ≥ 1s: max-age = whole seconds left until the next epoch-aligned
//     boundary (rounded down, so a cache never holds past the boundary), with
//     must-revalidate. If the engine's heartbeat shows this period's snapshot
//     is not committed yet (heartbeat before the current boundary), max-age=0:
//     the body may be last period's and must not be held for a whole new one.
//
// X-Jawas-Next is the same remaining time in milliseconds, for clients that
// schedule their next poll.
func (l *loop) entry(c *conn, req *http1.Request, e *snapshot.Entry) {
	etag := bytesOf(e.ETag)
	notModified := unchanged(req, etag, e.Modified)
	variants := e.Gzip != nil || e.Brotli != nil
	body, enc := e.Body, http1.EncIdentity
	if variants && !notModified {
		body, enc = negotiated(req, e.Body, e.Gzip, e.Brotli)
	}

	b := c.out
	h0 := len(b)
	status := 200
	if notModified {
		status = 304
	}
	b = l.head(b, status)
	if !notModified {
		b = append(b, "Content-Type: "...)
		b = append(b, e.ContentType...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
		b = appendContentEncoding(b, enc)
	}
	b = append(b, "ETag: "...)
	b = append(b, etag...)
	if e.LastModified != nil {
		b = append(b, "\r\nLast-Modified: "...)
		b = append(b, e.LastModified...)
	}
	b = append(b, "\r\n"...)

	period := e.Period
	if period <= 0 {
		period = 200 * time.Millisecond
	}
	p := int64(period)
	cur := l.nowNS - l.nowNS%p // current boundary (epoch-aligned)
	left := cur + p - l.nowNS  // ns to the next boundary, in (0, p]
	if period < time.Second {
		b = append(b, "Cache-Control: no-cache\r\n"...)
	} else {
		age := left / int64(time.Second)
		if l.beat.UnixNano() < cur {
			age = 0
		}
		b = append(b, "Cache-Control: public, max-age="...)
		b = strconv.AppendInt(b, age, 10)
		b = append(b, ", must-revalidate\r\n"...)
	}
	b = append(b, "X-Jawas-Period: "...)
	b = strconv.AppendInt(b, p/int64(time.Millisecond), 10)
	b = append(b, "\r\nX-Jawas-Next: "...)
	b = strconv.AppendInt(b, left/int64(time.Millisecond), 10)
	b = append(b, "\r\n"...)
	if !l.beat.IsZero() {
		if stale := l.nowNS - l.beat.UnixNano(); stale > 3*p {
			b = append(b, "X-Jawas-Stale: "...)
			b = strconv.AppendInt(b, stale/int64(time.Millisecond), 10)
			// Age (RFC 9111 §5.1): how long ago this was last known
			// current, in seconds, for caches and clients.
			b = append(b, "\r\nAge: "...)
			b = strconv.AppendInt(b, stale/int64(time.Second), 10)
			b = append(b, "\r\n"...)
		}
	}
	b = l.corsHeaders(b, req, variants)
	b = l.tail(b, c)
	c.out = b
	if status == 200 && req.Method != http1.MethodHead {
		l.queue(c, h0, body, nil)
	} else {
		l.queue(c, h0, nil, nil)
	}
}

// unchanged reports whether a conditional GET is answered 304: If-None-Match
// against etag (weak comparison, lists, "*"), else If-Modified-Since against
// modified (RFC 9110 §13.2.2: If-Modified-Since only without If-None-Match).
func unchanged(req *http1.Request, etag []byte, modified time.Time) bool {
	if req.IfNoneMatch != nil {
		return !http1.NoneMatch(req.IfNoneMatch, etag)
	}
	if req.IfModifiedSince != nil {
		t, ok := http1.ParseHTTPDate(req.IfModifiedSince)
		return ok && modified.Unix() <= t.Unix()
	}
	return false
}

// negotiated picks the body req's Accept-Encoding asks for among identity
// and the compressed variants gz and br (nil: none).
func negotiated(req *http1.Request, identity, gz, br []byte) ([]byte, http1.Encoding) {
	switch http1.Negotiate(req.AcceptEncoding, gz != nil, br != nil) {
	case http1.EncGzip:
		return gz, http1.EncGzip
	case http1.EncBrotli:
		return br, http1.EncBrotli
	}
	return identity, http1.EncIdentity
}

// appendContentEncoding appends the Content-Encoding field for enc (none
// for identity).
func appendContentEncoding(b []byte, enc http1.Encoding) []byte {
	switch enc {
	case http1.EncGzip:
		return append(b, "Content-Encoding: gzip\r\n"...)
	case http1.EncBrotli:
		return append(b, "Content-Encoding: br\r\n"...)
	}
	return b
}

// file answers with a site file (f is referenced by the caller's lookup).
func (l *loop) file(c *conn, req *http1.Request, f *siteFile) {
	notModified := unchanged(req, f.etag, f.mtime)
	body, enc := f.data, http1.EncIdentity
	v := f.enc.Load()
	variants := v != nil && (v.gz != nil || v.br != nil)
	if variants && !notModified {
		body, enc = negotiated(req, f.data, v.gz, v.br)
	}
	b := c.out
	h0 := len(b)
	if notModified {
		b = l.head(b, 304)
	} else {
		b = l.head(b, 200)
		b = append(b, "Content-Type: "...)
		b = append(b, f.ctype...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
		b = appendContentEncoding(b, enc)
	}
	b = append(b, "ETag: "...)
	b = append(b, f.etag...)
	b = append(b, "\r\nLast-Modified: "...)
	b = append(b, f.lastMod...)
	b = append(b, "\r\nCache-Control: no-cache\r\n"...)
	b = l.corsHeaders(b, req, variants)
	b = l.tail(b, c)
	c.out = b
	switch {
	case notModified || req.Method == http1.MethodHead || len(body) == 0:
		l.queue(c, h0, nil, nil)
	case enc != http1.EncIdentity:
		l.queue(c, h0, body, nil) // on the heap: the queue's reference keeps it
	default:
		f.refs++ // the mapping stays until this response is written
		l.queue(c, h0, body, f)
	}
}

func (l *loop) notFound(c *conn, req *http1.Request) {
	page := l.s.opt.NotFoundPage
	b := c.out
	h0 := len(b)
	b = l.head(b, 404)
	b = append(b, "Content-Type: text/html; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(page)), 10)
	b = append(b, "\r\nCache-Control: no-cache\r\n"...)
	b = l.tail(b, c)
	c.out = b
	if req.Method == http1.MethodHead {
		page = nil
	}
	l.queue(c, h0, page, nil)
}

// options answers OPTIONS: a CORS preflight when configured, else 204 with
// Allow.
func (l *loop) options(c *conn, req *http1.Request) {
	b := c.out
	h0 := len(b)
	b = l.head(b, 204)
	allow := l.allow(req.Path)
	b = append(b, "Allow: "...)
	b = append(b, allow.Value...)
	b = append(b, "\r\n"...)
	if req.ACRequestMethod != nil && req.Origin != nil {
		if o := l.s.cors.allowed(req.Origin); o != nil {
			b = append(b, "Access-Control-Allow-Origin: "...)
			b = append(b, o...)
			b = append(b, "\r\nAccess-Control-Allow-Methods: "...)
			b = append(b, allow.Value...)
			b = append(b, "\r\nAccess-Control-Allow-Headers: "...)
			if req.ACRequestHeaders != nil {
				b = append(b, req.ACRequestHeaders...) // echoed: jawas reads no header a client could abuse cross-origin
			} else {
				b = append(b, "Content-Type, If-None-Match"...)
			}
			b = append(b, "\r\nAccess-Control-Max-Age: 86400\r\n"...)
			if !l.s.cors.any {
				b = append(b, "Vary: Origin\r\n"...)
			}
		}
	}
	b = l.tail(b, c)
	c.out = b
	l.queue(c, h0, nil, nil)
}

// head appends the status line, Server and Date.
func (l *loop) head(b []byte, status int) []byte {
	l.count(status)
	b = http1.AppendStatusLine(b, status)
	b = append(b, "Server: jawas\r\nDate: "...)
	b = append(b, l.date...)
	return append(b, "\r\n"...)
}

// tail appends the Connection header when needed and the blank line.
func (l *loop) tail(b []byte, c *conn) []byte {
	if c.closing {
		b = append(b, "Connection: close\r\n"...)
	} else if c.req.Minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

func (l *loop) corsHeaders(b []byte, req *http1.Request, variants bool) []byte {
	var origin []byte
	if req.Origin != nil {
		origin = l.s.cors.allowed(req.Origin)
	}
	if origin != nil {
		b = append(b, "Access-Control-Allow-Origin: "...)
		b = append(b, origin...)
		b = append(b, "\r\nAccess-Control-Expose-Headers: ETag, X-Jawas-Period, X-Jawas-Next\r\n"...)
	}
	switch {
	case variants && len(l.s.cors.origins) > 0 && !l.s.cors.any:
		b = append(b, "Vary: Accept-Encoding, Origin\r\n"...)
	case variants:
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	case len(l.s.cors.origins) > 0 && !l.s.cors.any:
		b = append(b, "Vary: Origin\r\n"...)
	}
	return b
}

// appendError queues a short text response for status (errors, 202).
func (l *loop) appendError(c *conn, status int, close bool, extra ...http1.Header) {
	if c.http10 && !close {
		// AppendErrorResponse cannot say "Connection: keep-alive", so an
		// HTTP/1.0 client would wait for a close: give it one.
		close, c.closing = true, true
	}
	l.count(status)
	h0 := len(c.out)
	c.out = http1.AppendErrorResponse(c.out, status, l.date, close, extra...)
	l.queue(c, h0, nil, nil)
}

// cors is the configured allow-list of origins.
type cors struct {
	any     bool
	origins [][]byte
}

func newCORS(list []string) cors {
	var c cors
	for _, o := range list {
		if o == "*" {
			c.any = true
		}
		c.origins = append(c.origins, []byte(o))
	}
	return c
}

var star = []byte("*")

// allowed returns the Access-Control-Allow-Origin value for origin, nil when
// it is not allowed.
func (c *cors) allowed(origin []byte) []byte {
	if c.any {
		return star
	}
	for _, o := range c.origins {
		if string(o) == string(origin) {
			return origin
		}
	}
	return nil
}

// bytesOf views a string's bytes without copying; the result must never be
// written to.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
