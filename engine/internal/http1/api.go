// Package http1 owns the HTTP/1.1 wire format for jawas: a strict, push-style
// request parser (RFC 9112) and append-style helpers that write responses
// (status lines, error responses, Date values) plus the small header
// negotiations the server needs (If-None-Match, Accept-Encoding).
//
// It is pure code: it must never do I/O, make a syscall, start a goroutine or
// allocate per request in steady state. The connection loop (engine/serve)
// feeds it bytes and writes the bytes it appends.
//
// This file is the package's whole exported API, kept in one place because
// the server is written against it; the implementations live in parser.go,
// date.go, response.go and negotiate.go.
//
// Changes from the brief (documented here on purpose):
//   - A de-chunked Request.Body, a decoded Request.Path (when the target had %-escapes) and
//     joined repeated headers live in the Parser's scratch memory: they stay
//     valid until the next call to Parse or Reset on that Parser, like the
//     slices that alias buf stay valid until those bytes are dropped.
//   - The parser fills req as soon as the headers are complete (so the server
//     can answer Expect: 100-continue); if a later call gets another buf
//     array or another *Request, it parses the head again (rare: only when a
//     body straddles reads and the buffer moved).
package http1

import "time"

// Limits bounds what one request may cost. A zero field means its default.
type Limits struct {
	MaxRequestLine int   // default 8 KiB   -> 414 URI Too Long
	MaxHeaderBytes int   // default 16 KiB  -> 431 (the header fields after the request line, and again the trailers)
	MaxHeaders     int   // default 100     -> 431
	MaxBody        int64 // default 1 MiB   -> 413 (Content-Length or chunked total)
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{MaxRequestLine: 8 << 10, MaxHeaderBytes: 16 << 10, MaxHeaders: 100, MaxBody: 1 << 20}
}

// Method is a request method; methods jawas does not know are MethodOther
// (look at Request.MethodRaw).
type Method uint8

const (
	MethodOther Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodOptions
	MethodDelete
	MethodPatch
)

// String returns the method's name ("GET"), or "OTHER".
func (m Method) String() string { return methodName(m) }

// Header is one header field as received; Value has its surrounding
// whitespace removed.
type Header struct{ Name, Value []byte }

// Request is one parsed request. Its slices alias the parser's input (or the
// parser's scratch memory, see the package comment); copy what must outlive
// the request.
type Request struct {
	Method        Method
	MethodRaw     []byte
	Target        []byte // raw request-target
	Path          []byte // percent-decoded path (before '?'): origin-form, the path of an absolute-form target ("/" when empty), or "*" (OPTIONS only). Dot-segments are NOT resolved; "%2F" decodes to '/'.
	Query         []byte // raw query after '?', without the '?'; nil when none
	Minor         int    // HTTP/1.Minor: 0 or 1 (1.2 and later are read as 1.1)
	KeepAlive     bool   // 1.1: true unless Connection: close; 1.0: only with Connection: keep-alive
	Host          []byte // the Host header, or the authority of an absolute-form target
	ContentLength int64  // -1 when absent
	Chunked       bool
	Expect100     bool // Expect: 100-continue on HTTP/1.1

	// Headers the server needs, pre-extracted (nil when absent). Repeated
	// list headers are joined with ", ".
	IfNoneMatch, IfModifiedSince, AcceptEncoding, Origin, ContentType, Authorization, ACRequestMethod, ACRequestHeaders, UserAgent, Referer []byte
	// AIM is A-IM (RFC 3229 §10.5.3): the instance manipulations (delta
	// formats) the client accepts.
	AIM []byte

	Headers []Header // every header field in order (trailers are checked, not kept)
	Body    []byte   // complete body (de-chunked), nil when none
}

// Reset clears r for reuse, keeping the capacity of Headers.
func (r *Request) Reset() { r.reset() }

// Error is a request the server must refuse: answer Status (see
// AppendErrorResponse), then close the connection.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return errorString(e) }

// Parser parses the requests of one connection. The zero value is ready to
// use with DefaultLimits. Not safe for concurrent use.
type Parser struct {
	Limits Limits
	st     state
}

// Parse parses one request from buf (the connection's unconsumed input).
// Returns n > 0 when a whole request (including body) was parsed: the caller
// handles req and drops buf[:n]. Returns n == 0, err == nil when more input is
// needed (the parser remembers how far it scanned, so feeding one byte at a time
// stays linear); the caller appends input to buf and calls again. err is always an *Error; after one, the parser must be Reset before reuse.
// req's slices alias buf; valid until those bytes are dropped.
//
// Decisions where RFC 9112 leaves a choice: bare LF and bare CR are refused
// (400); up to 8 empty lines before a request line are ignored; an empty Host
// is accepted, an absolute-form target's authority replaces Host; an Expect
// other than 100-continue is 417; Transfer-Encoding must be exactly
// "chunked" (other codings 501, repeated or not last 400); chunk sizes have at
// most 15 hex digits and no whitespace before extensions; identical repeated
// Content-Length lines are accepted, lists ("5, 5") are not.
func (p *Parser) Parse(buf []byte, req *Request) (n int, err error) { return p.parse(buf, req) }

// HeadersComplete reports that the headers of the current request are parsed
// (req is filled, except Body) and its body is still pending: the server sends
// "100 Continue" once when req.Expect100.
func (p *Parser) HeadersComplete() bool { return p.headersComplete() }

// Reset forgets any partial request (for a new connection, or after an error).
func (p *Parser) Reset() { p.reset() }

// DateCache holds the Date header value, formatted at most once per second.
// Safe for one goroutine (each worker loop keeps its own).
type DateCache struct {
	sec int64
	buf [29]byte
}

// Get returns the IMF-fixdate for now, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
// The returned slice is overwritten by a later Get in another second.
func (d *DateCache) Get(now time.Time) []byte { return d.get(now) }

// AppendHTTPDate appends t as an IMF-fixdate (RFC 9110 §5.6.7) to dst.
func AppendHTTPDate(dst []byte, t time.Time) []byte { return appendHTTPDate(dst, t) }

// ParseHTTPDate parses an IMF-fixdate, or the obsolete RFC 850 and asctime
// forms (RFC 9110 §5.6.7). ok is false for anything else.
func ParseHTTPDate(b []byte) (t time.Time, ok bool) { return parseHTTPDate(b) }

// StatusText returns the reason phrase for code ("Not Found"), or "Status"
// for codes it does not know.
func StatusText(code int) string { return statusText(code) }

// HasToken reports whether the comma-separated list (a header value)
// names token, case-insensitively, with or without parameters
// ("splice;q=0.5"); a zero q-value does not count.
func HasToken(list []byte, token string) bool { return hasToken(list, token) }

// AppendStatusLine appends "HTTP/1.1 200 OK\r\n".
func AppendStatusLine(dst []byte, code int) []byte { return appendStatusLine(dst, code) }

// AppendErrorResponse appends a whole response for code with a small
// text/plain body naming the problem ("404 Not Found\n"), never to be
// stored by a cache (Cache-Control: no-store). date (from a
// DateCache) is omitted when nil; close adds "Connection: close"; extra
// headers (e.g. Allow) are written before the blank line.
func AppendErrorResponse(dst []byte, code int, date []byte, close bool, extra ...Header) []byte {
	return appendErrorResponse(dst, code, date, close, extra)
}

// NoneMatch reports whether etag (a quoted entity-tag, maybe W/-prefixed)
// matches none of the entity-tags in an If-None-Match value, by weak
// comparison (RFC 9110 §13.1.2): false means "answer 304". "*" matches any
// current representation; a malformed If-None-Match matches nothing.
func NoneMatch(ifNoneMatch, etag []byte) bool { return noneMatch(ifNoneMatch, etag) }

// Encoding is a content coding chosen by Negotiate.
type Encoding uint8

const (
	EncIdentity Encoding = iota
	EncGzip
	EncBrotli
	// EncNone: the client refused every coding we have, identity included
	// ("identity;q=0" or "*;q=0"). RFC 9110 §12.5.3 lets the server answer
	// 406 or send identity anyway; jawas sends identity for snapshots.
	EncNone
)

// Negotiate picks the content coding for a response from an Accept-Encoding
// value, given which compressed variants exist. Highest q wins; at equal q, br
// beats gzip beats identity. An absent or empty value means identity.
func Negotiate(acceptEncoding []byte, haveGzip, haveBr bool) Encoding {
	return negotiate(acceptEncoding, haveGzip, haveBr)
}
