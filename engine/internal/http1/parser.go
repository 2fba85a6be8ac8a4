package http1

// This file implements the request parser. It works in two steps, because
// that keeps the incremental part tiny: first it only looks for the end of
// the header section (one bytes.IndexByte per line, resumed where the last
// call stopped, so byte-at-a-time input stays linear); then it parses the
// complete head in one pass into the Request. Bodies are framed by
// Content-Length (aliasing the input) or de-chunked into scratch memory.

import (
	"bytes"
	"net/netip"
	"strconv"
)

type stage uint8

const (
	stHead      stage = iota // looking for the blank line that ends the head
	stBody                   // Content-Length body pending
	stChunkLine              // reading a chunk-size line
	stChunkData              // copying chunk data
	stChunkCRLF              // expecting the CRLF after chunk data
	stTrailer                // reading trailer fields
	stFailed                 // an error was returned; Reset before reuse
)

const (
	maxLeadingCRLF = 8    // empty lines ignored before a request line (RFC 9112 §2.2)
	maxChunkLine   = 4096 // chunk-size line, extensions included (net/http's limit too)
	keepScratch    = 64 << 10
)

// state is the Parser's memory between calls. Offsets are into the caller's
// buf, whose prefix does not change until a request is returned.
type state struct {
	stage     stage
	start     int      // offset of the request line
	scan      int      // next byte to look at
	lineStart int      // start of the line being scanned
	fields    int      // offset of the first header field line; 0 until the request line is found
	checked   bool     // request line already validated (early, while the head was incomplete)
	lines     int      // field lines seen (headers, then trailers)
	headEnd   int      // offset just after the blank line that ends the head
	base      *byte    // &buf[0] when req was filled; refilled when the caller moved buf
	req       *Request // the Request that was filled; refilled when the caller passed another
	left      int64    // bytes left in the current chunk
	total     int64    // de-chunked body bytes so far
	trailer   int      // trailer section bytes so far
	err       *Error

	body []byte // de-chunked body
	path []byte // percent-decoded path
	join []byte // repeated list headers joined
}

func fail(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

func errorString(e *Error) string {
	return "http1: " + strconv.Itoa(e.Status) + " " + statusText(e.Status) + ": " + e.Reason
}

var methodNames = [...]string{MethodOther: "OTHER", MethodGet: "GET", MethodHead: "HEAD", MethodPost: "POST",
	MethodPut: "PUT", MethodOptions: "OPTIONS", MethodDelete: "DELETE", MethodPatch: "PATCH"}

func methodName(m Method) string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "OTHER"
}

func (r *Request) reset() {
	h := r.Headers[:0]
	clear(r.Headers[:cap(r.Headers)]) // drop references into old buffers
	*r = Request{Headers: h, ContentLength: -1}
}

func (p *Parser) limits() Limits {
	l, d := p.Limits, DefaultLimits()
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = d.MaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = d.MaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	return l
}

func (p *Parser) reset() {
	s := &p.st
	body, path, join := s.body[:0], s.path[:0], s.join[:0]
	if cap(body) > keepScratch {
		body = nil
	}
	*s = state{body: body, path: path, join: join}
}

func (p *Parser) headersComplete() bool {
	return p.st.stage != stHead && p.st.stage != stFailed
}

func (p *Parser) parse(buf []byte, req *Request) (int, error) {
	s := &p.st
	if s.stage == stFailed {
		return 0, s.err
	}
	n, err := p.step(buf, req)
	if err != nil {
		s.stage, s.err = stFailed, err
		return 0, err
	}
	if n > 0 {
		body := s.body
		p.reset()
		s.body = body[:0] // keep what the returned req.Body aliases until the next call
		if cap(body) > keepScratch {
			s.body = nil
		}
	}
	return n, nil
}

func (p *Parser) step(buf []byte, req *Request) (int, *Error) {
	s := &p.st
	lim := p.limits()
	if s.stage == stHead {
		done, err := p.scanHead(buf, lim)
		if err != nil {
			return 0, err
		}
		if !done {
			if s.fields > 0 && !s.checked {
				// Reject a bad request line now rather than after the client
				// has sent a whole head.
				req.reset()
				if err := p.requestLine(buf[s.start:s.fields-2], req); err != nil {
					return 0, err
				}
				s.checked = true
			}
			return 0, nil
		}
		if err := p.fill(buf, req, lim); err != nil {
			return 0, err
		}
		switch {
		case req.Chunked:
			s.stage, s.scan, s.lineStart, s.lines = stChunkLine, s.headEnd, s.headEnd, 0
		case req.ContentLength > 0:
			s.stage, s.left = stBody, req.ContentLength
		default:
			return s.headEnd, nil
		}
	}
	if s.stage == stBody {
		end := s.headEnd + int(s.left) // not req.ContentLength: req may be another Request
		if len(buf) < end {
			return 0, nil
		}
		p.refill(buf, req, lim)
		req.Body = buf[s.headEnd:end:end]
		return end, nil
	}
	end, err := p.chunks(buf, lim)
	if err != nil || end == 0 {
		return 0, err
	}
	p.refill(buf, req, lim)
	if len(s.body) > 0 {
		req.Body = s.body
	}
	return end, nil
}

// refill parses the head again when the caller moved buf to a new array (or
// passed another Request) since req was filled, so that req's slices alias
// the live input.
func (p *Parser) refill(buf []byte, req *Request, lim Limits) {
	if p.st.base != &buf[0] || p.st.req != req {
		p.fill(buf, req, lim) // it succeeded on the same bytes before
	}
}

// scanHead advances over complete lines until the blank line that ends the
// head, enforcing the size limits and CRLF line endings as it goes.
func (p *Parser) scanHead(buf []byte, lim Limits) (bool, *Error) {
	s := &p.st
	for s.scan == s.start && s.start < len(buf) && (buf[s.start] == '\r' || buf[s.start] == '\n') {
		switch buf[s.start] {
		case '\r':
			if s.start+1 >= len(buf) {
				return false, nil
			}
			if buf[s.start+1] != '\n' {
				return false, fail(400, "bare CR")
			}
			if s.start >= 2*maxLeadingCRLF {
				return false, fail(400, "too many empty lines before the request line")
			}
			s.start += 2
			s.scan, s.lineStart = s.start, s.start
			continue
		case '\n':
			return false, fail(400, "bare LF")
		}
	}
	for {
		i := bytes.IndexByte(buf[s.scan:], '\n')
		if i < 0 {
			s.scan = len(buf)
			if s.fields == 0 {
				if len(buf)-s.start > lim.MaxRequestLine+1 {
					return false, fail(414, "request line too long")
				}
			} else if len(buf)-s.fields > lim.MaxHeaderBytes+2 { // +2: the blank line
				return false, fail(431, "header section too large")
			}
			return false, nil
		}
		lf := s.scan + i
		s.scan = lf + 1
		if lf == s.lineStart || buf[lf-1] != '\r' {
			return false, fail(400, "bare LF")
		}
		if s.fields == 0 {
			if lf-1-s.start > lim.MaxRequestLine {
				return false, fail(414, "request line too long")
			}
			s.fields, s.lineStart = lf+1, lf+1
			continue
		}
		if lf+1-s.fields > lim.MaxHeaderBytes+2 {
			return false, fail(431, "header section too large")
		}
		if lf-1 == s.lineStart {
			s.headEnd = lf + 1
			return true, nil
		}
		s.lines++
		if s.lines > lim.MaxHeaders {
			return false, fail(431, "too many header fields")
		}
		s.lineStart = lf + 1
	}
}

// requestLine parses method SP request-target SP HTTP-version (RFC 9112 §3).
func (p *Parser) requestLine(line []byte, req *Request) *Error {
	i := 0
	for i < len(line) && isToken(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return fail(400, "malformed method")
	}
	req.MethodRaw = line[:i:i]
	req.Method = methodOf(req.MethodRaw)
	rest := line[i+1:]
	j := 0
	for j < len(rest) && byteClass[rest[j]]&classTarget != 0 {
		j++
	}
	if j == 0 || j == len(rest) || rest[j] != ' ' {
		return fail(400, "malformed request-target")
	}
	req.Target = rest[:j:j]
	vers := rest[j+1:]
	if len(vers) != 8 || string(vers[:5]) != "HTTP/" || vers[6] != '.' ||
		vers[5] < '0' || vers[5] > '9' || vers[7] < '0' || vers[7] > '9' {
		return fail(400, "malformed HTTP-version")
	}
	switch major, minor := vers[5]-'0', vers[7]-'0'; {
	case major != 1:
		return fail(505, "only HTTP/1.x is served")
	case minor == 0:
		req.Minor = 0
	default:
		req.Minor = 1 // 1.2 and later are read as 1.1 (RFC 9110 §2.5)
	}
	return p.target(req)
}

func methodOf(m []byte) Method {
	switch string(m) { // no allocation: the compiler compares in place
	case "GET":
		return MethodGet
	case "HEAD":
		return MethodHead
	case "POST":
		return MethodPost
	case "PUT":
		return MethodPut
	case "OPTIONS":
		return MethodOptions
	case "DELETE":
		return MethodDelete
	case "PATCH":
		return MethodPatch
	}
	return MethodOther
}

// target splits the request-target into Path and Query (RFC 9112 §3.2).
func (p *Parser) target(req *Request) *Error {
	t := req.Target
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		if req.Method != MethodOptions {
			return fail(400, "asterisk-form is only for OPTIONS")
		}
		req.Path = t
		return nil
	default:
		var err *Error
		if t, err = absoluteForm(t, req); err != nil {
			return err
		}
	}
	path := t
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		path, req.Query = t[:q:q], t[q+1:]
	}
	if len(path) == 0 {
		req.Path = slash
		return nil
	}
	if bytes.IndexByte(path, '%') < 0 {
		req.Path = path
		return nil
	}
	s := &p.st
	s.path = s.path[:0]
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' {
			if i+2 >= len(path) || byteClass[path[i+1]]&classHex == 0 || byteClass[path[i+2]]&classHex == 0 {
				return fail(400, "invalid percent-escape in path")
			}
			c = unhex(path[i+1])<<4 | unhex(path[i+2])
			if c == 0 {
				return fail(400, "NUL in path")
			}
			i += 2
		}
		s.path = append(s.path, c)
	}
	req.Path = s.path
	return nil
}

var slash = []byte("/")

// absoluteForm checks an absolute-form target ("http://host/path?q"), sets
// req.Host to its authority and returns the rest (path and query).
func absoluteForm(t []byte, req *Request) ([]byte, *Error) {
	var rest []byte
	switch {
	case len(t) > 7 && equalFold(t[:7], "http://"):
		rest = t[7:]
	case len(t) > 8 && equalFold(t[:8], "https://"):
		rest = t[8:]
	default:
		return nil, fail(400, "request-target is neither origin-form nor absolute-form")
	}
	end := len(rest)
	if i := bytes.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	auth := rest[:end:end]
	if len(auth) == 0 || !validAuthority(auth) {
		return nil, fail(400, "bad authority in absolute-form target")
	}
	req.Host = auth
	return rest[end:], nil
}

// validAuthority accepts host [":" port] with a reg-name, IPv4 or bracketed
// IPv6 host; userinfo and percent-escapes are refused. An empty value (a
// Host header for a URI without authority) is valid.
func validAuthority(a []byte) bool {
	host := a
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 {
			return false
		}
		ip, err := netip.ParseAddr(string(a[1:end]))
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		host = nil
		a = a[end+1:]
	} else if c := bytes.IndexByte(a, ':'); c >= 0 {
		host, a = a[:c], a[c:]
	} else {
		a = nil
	}
	for _, b := range host {
		if byteClass[b]&classHost == 0 {
			return false
		}
	}
	if len(a) > 0 {
		if a[0] != ':' || len(a) > 6 {
			return false
		}
		for _, b := range a[1:] {
			if b < '0' || b > '9' {
				return false
			}
		}
	}
	return true
}

// Header names the parser acts on or extracts.
type hdr uint8

const (
	hOther hdr = iota
	hHost
	hContentLength
	hTransferEncoding
	hConnection
	hExpect
	hIfNoneMatch
	hIfModifiedSince
	hAcceptEncoding
	hOrigin
	hContentType
	hAuthorization
	hACRequestMethod
	hACRequestHeaders
	hUserAgent
	hReferer
	hAIM
)

func headerOf(name []byte) hdr {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			return hHost
		}
		if equalFold(name, "a-im") {
			return hAIM
		}
	case 6:
		if equalFold(name, "expect") {
			return hExpect
		}
		if equalFold(name, "origin") {
			return hOrigin
		}
	case 7:
		if equalFold(name, "referer") {
			return hReferer
		}
	case 10:
		if equalFold(name, "connection") {
			return hConnection
		}
		if equalFold(name, "user-agent") {
			return hUserAgent
		}
	case 12:
		if equalFold(name, "content-type") {
			return hContentType
		}
	case 13:
		if equalFold(name, "if-none-match") {
			return hIfNoneMatch
		}
		if equalFold(name, "authorization") {
			return hAuthorization
		}
	case 14:
		if equalFold(name, "content-length") {
			return hContentLength
		}
	case 15:
		if equalFold(name, "accept-encoding") {
			return hAcceptEncoding
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return hTransferEncoding
		}
		if equalFold(name, "if-modified-since") {
			return hIfModifiedSince
		}
	case 29:
		if equalFold(name, "access-control-request-method") {
			return hACRequestMethod
		}
	case 30:
		if equalFold(name, "access-control-request-headers") {
			return hACRequestHeaders
		}
	}
	return hOther
}

// fieldLine splits "name: value" (RFC 9112 §5): the name is a token right
// before the colon, the value is trimmed and holds no control bytes.
func fieldLine(line []byte) (name, value []byte, err *Error) {
	i := 0
	for i < len(line) && isToken(line[i]) {
		i++
	}
	switch {
	case i == 0 && len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
		return nil, nil, fail(400, "obs-fold or whitespace at the start of a field line")
	case i == len(line):
		return nil, nil, fail(400, "field line without a colon")
	case line[i] == ' ' || line[i] == '\t':
		return nil, nil, fail(400, "whitespace before the colon")
	case line[i] != ':' || i == 0:
		return nil, nil, fail(400, "invalid field name")
	}
	value = line[i+1:]
	for _, b := range value {
		if byteClass[b]&classValue == 0 {
			return nil, nil, fail(400, "control byte in field value")
		}
	}
	return line[:i:i], trimOWS(value), nil
}

// fill parses the complete head buf[s.start:s.headEnd] into req.
func (p *Parser) fill(buf []byte, req *Request, lim Limits) *Error {
	s := &p.st
	s.base, s.req = &buf[0], req
	req.reset()
	if err := p.requestLine(buf[s.start:s.fields-2], req); err != nil {
		return err
	}
	var (
		hostSeen, clSeen, teSeen, close  bool
		keepAlive                        bool
		teCount, chunkedCount, unknownTE int
		chunkedLast                      bool
		repeated                         uint32 // bit per hdr seen twice
		clValue                          []byte
	)
	absoluteHost := req.Host != nil
	rest := buf[s.fields : s.headEnd-2]
	for len(rest) > 0 {
		lf := bytes.IndexByte(rest, '\n')
		line := rest[:lf-1]
		rest = rest[lf+1:]
		name, value, err := fieldLine(line)
		if err != nil {
			return err
		}
		req.Headers = append(req.Headers, Header{Name: name, Value: value})
		h := headerOf(name)
		var slot *[]byte
		switch h {
		case hHost:
			if hostSeen {
				return fail(400, "repeated Host")
			}
			hostSeen = true
			if !validAuthority(value) {
				return fail(400, "invalid Host")
			}
			if !absoluteHost {
				req.Host = value
			}
		case hContentLength:
			n, err := contentLength(value, lim)
			if err != nil {
				return err
			}
			if clSeen && !bytes.Equal(value, clValue) {
				return fail(400, "differing Content-Length values")
			}
			clSeen, clValue, req.ContentLength = true, value, n
		case hTransferEncoding:
			if req.Minor == 0 {
				return fail(400, "Transfer-Encoding in an HTTP/1.0 request")
			}
			teSeen = true
			// Strict list: no empty elements, and chunked takes no parameters
			// (net/http and many proxies read these differently).
			for list := value; ; {
				var c []byte
				if i := bytes.IndexByte(list, ','); i >= 0 {
					c, list = trimOWS(list[:i]), list[i+1:]
				} else {
					c, list = trimOWS(list), nil
				}
				if len(c) == 0 {
					return fail(400, "empty element in Transfer-Encoding")
				}
				teCount++
				chunkedLast = equalFold(c, "chunked")
				if chunkedLast {
					chunkedCount++
				} else if semi := bytes.IndexByte(c, ';'); semi >= 0 && equalFold(trimOWS(c[:semi]), "chunked") {
					return fail(400, "chunked with parameters")
				} else {
					unknownTE++
				}
				if list == nil {
					break
				}
			}
		case hConnection:
			for c, list := nextElem(value); c != nil; c, list = nextElem(list) {
				close = close || equalFold(c, "close")
				keepAlive = keepAlive || equalFold(c, "keep-alive")
			}
		case hExpect:
			if !equalFold(value, "100-continue") {
				return fail(417, "only Expect: 100-continue is supported")
			}
			req.Expect100 = req.Minor == 1
		case hIfNoneMatch:
			slot = &req.IfNoneMatch
		case hIfModifiedSince:
			slot = &req.IfModifiedSince
		case hAcceptEncoding:
			slot = &req.AcceptEncoding
		case hOrigin:
			slot = &req.Origin
		case hContentType:
			slot = &req.ContentType
		case hAuthorization:
			slot = &req.Authorization
		case hACRequestMethod:
			slot = &req.ACRequestMethod
		case hACRequestHeaders:
			slot = &req.ACRequestHeaders
		case hUserAgent:
			slot = &req.UserAgent
		case hReferer:
			slot = &req.Referer
		case hAIM:
			slot = &req.AIM
		}
		if slot != nil {
			if *slot == nil {
				*slot = value
			} else {
				repeated |= 1 << h
			}
		}
	}
	if req.Minor == 1 && !hostSeen {
		return fail(400, "missing Host")
	}
	if teSeen {
		switch {
		case teCount == 0:
			return fail(400, "empty Transfer-Encoding")
		case clSeen:
			return fail(400, "both Content-Length and Transfer-Encoding")
		case chunkedCount > 1 || chunkedCount == 1 && !chunkedLast:
			return fail(400, "chunked must be the last transfer coding, once")
		case unknownTE > 0:
			return fail(501, "unsupported transfer coding")
		}
		req.Chunked = true
	}
	if req.Minor == 1 {
		req.KeepAlive = !close
	} else {
		req.KeepAlive = keepAlive && !close
	}
	if repeated&(1<<hIfNoneMatch|1<<hAcceptEncoding|1<<hACRequestHeaders|1<<hAIM) != 0 {
		p.joinRepeated(req, repeated)
	}
	return nil
}

// joinRepeated joins the values of repeated list headers with ", " into
// scratch memory (RFC 9110 §5.3); other repeated headers keep their first value.
func (p *Parser) joinRepeated(req *Request, repeated uint32) {
	s := &p.st
	s.join = s.join[:0]
	var spans [4][2]int
	for k, h := range [4]hdr{hIfNoneMatch, hAcceptEncoding, hACRequestHeaders, hAIM} {
		if repeated&(1<<h) == 0 {
			continue
		}
		start := len(s.join)
		for _, f := range req.Headers {
			if headerOf(f.Name) == h && len(f.Value) > 0 {
				if len(s.join) > start {
					s.join = append(s.join, ", "...)
				}
				s.join = append(s.join, f.Value...)
			}
		}
		spans[k] = [2]int{start, len(s.join)}
	}
	for k, slot := range [4]*[]byte{&req.IfNoneMatch, &req.AcceptEncoding, &req.ACRequestHeaders, &req.AIM} {
		if sp := spans[k]; sp[1] > sp[0] {
			*slot = s.join[sp[0]:sp[1]:sp[1]]
		}
	}
}

// nextElem returns the first non-empty element of a comma-separated list
// (RFC 9110 §5.6.1) and the rest; elem is nil when the list is exhausted.
func nextElem(list []byte) (elem, rest []byte) {
	for len(list) > 0 {
		if c := bytes.IndexByte(list, ','); c >= 0 {
			elem, list = list[:c], list[c+1:]
		} else {
			elem, list = list, nil
		}
		if elem = trimOWS(elem); len(elem) > 0 {
			return elem, list
		}
	}
	return nil, nil
}

// contentLength parses 1*DIGIT, refusing signs, spaces, lists and overflow.
func contentLength(v []byte, lim Limits) (int64, *Error) {
	if len(v) == 0 {
		return 0, fail(400, "empty Content-Length")
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return 0, fail(400, "malformed Content-Length")
		}
		if n > (1<<63-1-9)/10 {
			return 0, fail(400, "Content-Length overflows")
		}
		n = n*10 + int64(b-'0')
	}
	if n > lim.MaxBody {
		return 0, fail(413, "body too large")
	}
	return n, nil
}

// chunks de-chunks the body (RFC 9112 §7.1) into s.body; it returns the end
// offset of the request once the last chunk and the trailers are in.
func (p *Parser) chunks(buf []byte, lim Limits) (int, *Error) {
	s := &p.st
	for {
		switch s.stage {
		case stChunkLine:
			i := bytes.IndexByte(buf[s.scan:], '\n')
			if i < 0 {
				s.scan = len(buf)
				if len(buf)-s.lineStart > maxChunkLine {
					return 0, fail(400, "chunk-size line too long")
				}
				return 0, nil
			}
			lf := s.scan + i
			s.scan = lf + 1
			if lf == s.lineStart || buf[lf-1] != '\r' {
				return 0, fail(400, "bare LF")
			}
			line := buf[s.lineStart : lf-1]
			if len(line) > maxChunkLine {
				return 0, fail(400, "chunk-size line too long")
			}
			size, err := chunkSize(line)
			if err != nil {
				return 0, err
			}
			s.lineStart = s.scan
			if size == 0 {
				s.stage = stTrailer
				continue
			}
			if size > lim.MaxBody-s.total {
				return 0, fail(413, "body too large")
			}
			s.total += size
			s.left = size
			s.stage = stChunkData
		case stChunkData:
			take := int64(len(buf) - s.scan)
			if take > s.left {
				take = s.left
			}
			s.body = append(s.body, buf[s.scan:s.scan+int(take)]...)
			s.scan += int(take)
			s.left -= take
			if s.left > 0 {
				return 0, nil
			}
			s.stage = stChunkCRLF
		case stChunkCRLF:
			switch len(buf) - s.scan {
			case 0:
				return 0, nil
			case 1:
				if buf[s.scan] != '\r' {
					return 0, fail(400, "chunk data not followed by CRLF")
				}
				return 0, nil
			}
			if buf[s.scan] != '\r' || buf[s.scan+1] != '\n' {
				return 0, fail(400, "chunk data not followed by CRLF")
			}
			s.scan += 2
			s.lineStart = s.scan
			s.stage = stChunkLine
		case stTrailer:
			i := bytes.IndexByte(buf[s.scan:], '\n')
			if i < 0 {
				s.scan = len(buf)
				if s.trailer+len(buf)-s.lineStart > lim.MaxHeaderBytes+2 {
					return 0, fail(431, "trailer section too large")
				}
				return 0, nil
			}
			lf := s.scan + i
			s.scan = lf + 1
			if lf == s.lineStart || buf[lf-1] != '\r' {
				return 0, fail(400, "bare LF")
			}
			line := buf[s.lineStart : lf-1]
			s.lineStart = s.scan
			if len(line) == 0 {
				return s.scan, nil
			}
			s.trailer += len(line) + 2
			if s.trailer > lim.MaxHeaderBytes {
				return 0, fail(431, "trailer section too large")
			}
			s.lines++
			if s.lines > lim.MaxHeaders {
				return 0, fail(431, "too many trailer fields")
			}
			if _, _, err := fieldLine(line); err != nil {
				return 0, err
			}
		}
	}
}

// chunkSize parses chunk-size [ chunk-ext ]: 1*HEXDIG (at most 15 digits),
// then optionally ";" and extension text without control bytes (its length
// is bounded by maxChunkLine).
func chunkSize(line []byte) (int64, *Error) {
	var n int64
	i := 0
	for i < len(line) && byteClass[line[i]]&classHex != 0 {
		if i == 15 {
			return 0, fail(400, "chunk size too large")
		}
		n = n<<4 | int64(unhex(line[i]))
		i++
	}
	if i == 0 {
		return 0, fail(400, "malformed chunk size")
	}
	ext := line[i:]
	if len(ext) == 0 {
		return n, nil
	}
	if ext[0] != ';' { // BWS before ';' is refused too: net/http and others reject it
		return 0, fail(400, "malformed chunk extension")
	}
	for _, b := range ext {
		if byteClass[b]&classValue == 0 {
			return 0, fail(400, "control byte in chunk extension")
		}
	}
	return n, nil
}
