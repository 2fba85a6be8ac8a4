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
	if c.ops.forwarded {
		l.requestClient(c, req) // proxy.go
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
			// The state admin endpoints (/_jawas/state/…) are never a
			// snapshot's URL: looked for only when no source is, like
			// the admin GETs, so a write costs no extra check.
			if !l.adminState(c, req) {
				l.notFound(c, req)
			}
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
//
// Each content coding of a version has its own strong ETag (RFC 9110
// §8.8.3), so the coding is negotiated first, even for a conditional
// request: If-None-Match is compared with the ETag of the body this
// request would get. A client (or cache) holding the identity body and now
// asking for gzip gets the gzip body, not a 304 that would pair its
// identity bytes with a gzip request.
func (l *loop) entry(c *conn, req *http1.Request, e *snapshot.Entry) {
	if e.Status != 0 {
		l.unavailable(c, req, e)
		return
	}
	variants := e.Gzip != nil || e.Brotli != nil
	body, enc, etagS := e.Body, http1.EncIdentity, e.ETag
	if variants {
		body, enc = negotiated(c, req, e.Body, e.Gzip, e.Brotli)
		switch enc {
		case http1.EncGzip:
			etagS = e.ETagGzip
		case http1.EncBrotli:
			etagS = e.ETagBrotli
		}
	}
	etag := bytesOf(etagS)
	notModified := unchanged(req, etag, e.Modified)
	var base []byte // Delta-Base: the client's tag of the version body patches
	if !notModified && req.AIM != nil && len(e.Deltas) > 0 {
		body, enc, base = l.delta(c, req, e, body, enc)
	}

	b := c.out
	h0 := len(b)
	status := 200
	switch {
	case notModified:
		status = 304
	case base != nil:
		status = 226
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
	if base != nil {
		b = append(b, "IM: "+snapshot.DeltaFormat+"\r\nDelta-Base: "...)
		b = append(b, base...)
		b = append(b, "\r\n"...)
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
	if base != nil {
		// A patch is for the one client holding its base: a shared cache
		// that does not know 226 must not store it, nor serve it to others.
		b = append(b, "Cache-Control: no-store\r\n"...)
	} else if l.s.opt.Cache.enabled() {
		b = l.cachePolicy(b, period, left, cur)
	} else if period < time.Second {
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
	var stale int64 // ns: the engine is gone, or the source is failing
	if !l.beat.IsZero() {
		if s := l.nowNS - l.beat.UnixNano(); s > 3*p {
			stale = s
		}
	}
	if !e.StaleSince.IsZero() {
		stale = max(stale, l.nowNS-e.StaleSince.UnixNano())
	}
	if stale > 0 {
		// The engine stopped publishing, or the source is failing: the
		// body is what it was then. Age (RFC 9111 §5.1) tells caches how
		// old, so none keeps it as fresh.
		b = append(b, "X-Jawas-Stale: "...)
		b = strconv.AppendInt(b, stale/int64(time.Millisecond), 10)
		b = append(b, "\r\nAge: "...)
		b = strconv.AppendInt(b, stale/int64(time.Second), 10)
		b = append(b, "\r\n"...)
	}
	b = l.corsHeaders(b, req, variants, len(e.Deltas) > 0)
	b = l.tail(b, c)
	c.out = b
	if status != 304 && req.Method != http1.MethodHead {
		l.queue(c, h0, body, nil)
	} else {
		l.queue(c, h0, nil, nil)
	}
}

// unavailable answers a route that has no content yet (e.Status, see
// snapshot.Meta.Status): its JSON body says which source and why, with
// Retry-After one period (whole seconds, at least 1) and no caching, so
// clients back off and retry while the author fixes it.
func (l *loop) unavailable(c *conn, req *http1.Request, e *snapshot.Entry) {
	b := c.out
	h0 := len(b)
	b = l.head(b, e.Status)
	b = append(b, "Content-Type: "...)
	b = append(b, e.ContentType...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(e.Body)), 10)
	b = append(b, "\r\nCache-Control: no-store\r\nRetry-After: "...)
	b = strconv.AppendInt(b, max(1, int64((e.Period+time.Second-1)/time.Second)), 10)
	b = append(b, "\r\n"...)
	if e.Period > 0 {
		b = append(b, "X-Jawas-Period: "...)
		b = strconv.AppendInt(b, e.Period.Milliseconds(), 10)
		b = append(b, "\r\n"...)
	}
	b = l.corsHeaders(b, req, false, false)
	b = l.tail(b, c)
	c.out = b
	if req.Method != http1.MethodHead {
		l.queue(c, h0, e.Body, nil)
	} else {
		l.queue(c, h0, nil, nil)
	}
}

// cachePolicy appends Cache-Control under Options.Cache: the default
// contract, plus s-maxage for shared caches and the stale-* allowances,
// in whole seconds (a span under a second is left out).
func (l *loop) cachePolicy(b []byte, period time.Duration, left, cur int64) []byte {
	pol := &l.s.opt.Cache
	swr := int64(pol.StaleWhileRevalidate.of(period) / time.Second)
	sie := int64(pol.StaleIfError.of(period) / time.Second)
	switch {
	case period >= time.Second:
		age := left / int64(time.Second)
		if l.beat.UnixNano() < cur {
			age = 0 // this period's snapshot is not committed yet
		}
		b = append(b, "Cache-Control: public, max-age="...)
		b = strconv.AppendInt(b, age, 10)
		b = append(b, ", s-maxage="...)
		b = strconv.AppendInt(b, age, 10)
	case pol.SMaxage >= time.Second:
		b = append(b, "Cache-Control: public, max-age=0, s-maxage="...)
		b = strconv.AppendInt(b, int64(pol.SMaxage/time.Second), 10)
	default:
		b = append(b, "Cache-Control: no-cache"...)
		swr = 0 // every use is revalidated: nothing to serve while revalidating
	}
	if swr > 0 {
		b = append(b, ", stale-while-revalidate="...)
		b = strconv.AppendInt(b, swr, 10)
	}
	if sie > 0 {
		b = append(b, ", stale-if-error="...)
		b = strconv.AppendInt(b, sie, 10)
	}
	if swr == 0 && sie == 0 && period >= time.Second {
		b = append(b, ", must-revalidate"...)
	}
	return append(b, "\r\n"...)
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
func negotiated(c *conn, req *http1.Request, identity, gz, br []byte) ([]byte, http1.Encoding) {
	switch c.ae.negotiate(req.AcceptEncoding, gz != nil, br != nil) {
	case http1.EncGzip:
		return gz, http1.EncGzip
	case http1.EncBrotli:
		return br, http1.EncBrotli
	}
	return identity, http1.EncIdentity
}

// aeCache remembers a connection's last Accept-Encoding and what it chose
// for each set of variants: a client sends the same value on every
// request, and parsing it (q-values, a list) costs more than the rest of a
// 304. Values longer than the key are parsed each time.
type aeCache struct {
	key   [48]byte
	n     int8 // len of the cached value; -1 (and the zero value): none
	valid bool
	enc   [4]uint8 // by variants (gzip*2 + br): Encoding+1; 0 not yet chosen
}

func (a *aeCache) negotiate(ae []byte, gz, br bool) http1.Encoding {
	if len(ae) > len(a.key) {
		return http1.Negotiate(ae, gz, br)
	}
	if !a.valid || int(a.n) != len(ae) || string(a.key[:len(ae)]) != string(ae) {
		copy(a.key[:], ae)
		a.n, a.valid, a.enc = int8(len(ae)), true, [4]uint8{}
	}
	i := 0
	if gz {
		i = 2
	}
	if br {
		i++
	}
	if e := a.enc[i]; e != 0 {
		return http1.Encoding(e - 1)
	}
	e := http1.Negotiate(ae, gz, br)
	a.enc[i] = uint8(e) + 1
	return e
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
// Like a snapshot, each coding has its own strong ETag, negotiated before
// If-None-Match is compared. A file that may get compressed variants
// always says Vary: Accept-Encoding, also while they are being made, so a
// cache never takes its identity answer for every coding.
func (l *loop) file(c *conn, req *http1.Request, f *siteFile) {
	body, enc, etag := f.data, http1.EncIdentity, f.etag
	if v := f.enc.Load(); v != nil && (v.gz != nil || v.br != nil) {
		body, enc = negotiated(c, req, f.data, v.gz, v.br)
		etag = f.etagFor(enc)
	}
	notModified := unchanged(req, etag, f.mtime)
	variants := f.compressible
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
	b = append(b, etag...)
	b = append(b, "\r\nLast-Modified: "...)
	b = append(b, f.lastMod...)
	b = append(b, "\r\nCache-Control: no-cache\r\n"...)
	b = l.corsHeaders(b, req, variants, false)
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
	// no-store: a URL may be published at the next boundary, and a 404
	// has no validator a cache could revalidate it with.
	b = append(b, "\r\nCache-Control: no-store\r\n"...)
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
				b = append(b, "Content-Type, If-None-Match, A-IM"...)
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

func (l *loop) corsHeaders(b []byte, req *http1.Request, variants, deltas bool) []byte {
	var origin []byte
	if req.Origin != nil {
		origin = l.s.cors.allowed(req.Origin)
	}
	if origin != nil {
		b = append(b, "Access-Control-Allow-Origin: "...)
		b = append(b, origin...)
		b = append(b, "\r\nAccess-Control-Expose-Headers: ETag, X-Jawas-Period, X-Jawas-Next\r\n"...)
	}
	// Vary: what else than the URL chose this answer. A-IM: a URL with
	// patches answers 226 to an A-IM request (never stored by a cache, but
	// a cache's 200 for a request without A-IM must not answer one with it).
	sep := "Vary: "
	if deltas {
		b = append(b, sep+"A-IM"...)
		sep = ", "
	}
	if variants {
		b = append(b, sep+"Accept-Encoding"...)
		sep = ", "
	}
	if len(l.s.cors.origins) > 0 && !l.s.cors.any {
		b = append(b, sep+"Origin"...)
		sep = ", "
	}
	if sep == ", " {
		b = append(b, "\r\n"...)
	}
	return b
}

// delta returns the patch (snapshot.Entry.Deltas) to answer req with, in
// the coding req accepts, and the client's tag of its base: when
// req's A-IM accepts snapshot.DeltaFormat, If-None-Match names a version
// e has a patch from (in any coding's form: "HASH", "HASH-gzip", "HASH-br"),
// and the patch is smaller than body, the full answer in its coding.
// Otherwise it returns body and enc as they are and a nil tag.
func (l *loop) delta(c *conn, req *http1.Request, e *snapshot.Entry, body []byte, enc http1.Encoding) ([]byte, http1.Encoding, []byte) {
	if req.IfNoneMatch == nil || !http1.HasToken(req.AIM, snapshot.DeltaFormat) {
		return body, enc, nil
	}
	for list := req.IfNoneMatch; ; {
		tag, hash, rest := nextTag(list)
		if tag == nil {
			return body, enc, nil
		}
		list = rest
		for i := range e.Deltas {
			d := &e.Deltas[i]
			if string(d.Base) != string(hash) {
				continue
			}
			pb, penc := negotiated(c, req, d.Body, d.Gzip, d.Brotli)
			if len(pb) >= len(body) {
				return body, enc, nil
			}
			return pb, penc, tag
		}
	}
}

// nextTag returns the first entity-tag of an If-None-Match list (quoted,
// "W/" dropped), the version hash it names (without a coding suffix), and
// the rest of the list; tag is nil at the end or at a malformed element.
func nextTag(list []byte) (tag, hash, rest []byte) {
	for len(list) > 0 && (list[0] == ' ' || list[0] == '\t' || list[0] == ',') {
		list = list[1:]
	}
	if len(list) >= 2 && list[0] == 'W' && list[1] == '/' {
		list = list[2:]
	}
	if len(list) < 2 || list[0] != '"' {
		return nil, nil, nil
	}
	end := bytes.IndexByte(list[1:], '"')
	if end < 0 {
		return nil, nil, nil
	}
	tag, rest = list[:end+2], list[end+2:]
	hash = tag[1 : end+1]
	for _, suffix := range [...]string{snapshot.GzipETagSuffix, snapshot.BrotliETagSuffix} {
		if bytes.HasSuffix(hash, []byte(suffix)) {
			hash = hash[:len(hash)-len(suffix)]
			break
		}
	}
	return tag, hash, rest
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
