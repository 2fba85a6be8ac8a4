package loadgen

// This file implements the smallest HTTP/1.1 client that can poll a URL on a
// kept-alive connection, because net/http costs too much per connection and
// per request for 10,000 connections on 2 cores. It writes a preformatted GET
// and reads one response: status line, the few headers it needs, and a body
// framed by Content-Length or chunked encoding (nginx and net/http use both),
// discarding the body bytes. It never pipelines.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
)

// errProtocol marks a response this client cannot parse.
var errProtocol = errors.New("protocol error")

// readerPool holds 8 KB readers; a client takes one only while a response is
// in flight, so memory follows concurrency, not the number of connections.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}

// target is a parsed http:// URL with the fixed part of the request.
type target struct {
	addr   string // host:port to dial
	prefix []byte // "GET /path HTTP/1.1\r\nHost: ...\r\n...": everything but If-None-Match and the final CRLF
}

func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("parse url %q: only http:// is supported", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("parse url %q: no host", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	path := u.RequestURI()
	p := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: jawas-bench\r\nAccept: application/json\r\n", path, u.Host)
	return &target{addr: addr, prefix: p}, nil
}

// appendRequest appends the request bytes, with If-None-Match when etag is set.
func (t *target) appendRequest(dst, etag []byte) []byte {
	dst = append(dst, t.prefix...)
	if len(etag) > 0 {
		dst = append(dst, "If-None-Match: "...)
		dst = append(dst, etag...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// response is what the client keeps of one response. etag points into the
// caller's buffer (copied there by readResponse), never into the reader.
type response struct {
	status    int
	bodyBytes int64
	wireBytes int64
	etag      []byte
	close     bool  // server asked to close, or framing requires it
	toEOF     bool  // no Content-Length nor chunked: the body ends when the connection does
	periodMs  int64 // X-Jawas-Period; -1 when absent
	nextMs    int64 // X-Jawas-Next; -1 when absent
	staleMs   int64 // X-Jawas-Stale; 0 when absent
}

var (
	hContentLength    = []byte("Content-Length")
	hTransferEncoding = []byte("Transfer-Encoding")
	hConnection       = []byte("Connection")
	hETag             = []byte("ETag")
	hPeriod           = []byte("X-Jawas-Period")
	hNext             = []byte("X-Jawas-Next")
	hStale            = []byte("X-Jawas-Stale")
)

// readResponse reads one response to a GET from br into res. etagBuf is
// reused for the ETag copy; the returned response's etag aliases it.
func readResponse(br *bufio.Reader, res *response, etagBuf []byte) error {
	*res = response{etag: etagBuf[:0], periodMs: -1, nextMs: -1}
	line, err := readLine(br, res)
	if err != nil {
		return err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return fmt.Errorf("%w: bad status line %q", errProtocol, clip(line))
	}
	st, ok := atoi(line[9:12])
	if !ok || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: bad status code %q", errProtocol, clip(line))
	}
	res.status = int(st)
	http10 := line[7] == '0'
	res.close = http10
	contentLength := int64(-1)
	chunked := false
	for {
		line, err = readLine(br, res)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: bad header line %q", errProtocol, clip(line))
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, hContentLength):
			n, ok := atoi(value)
			if !ok || (contentLength >= 0 && n != contentLength) {
				return fmt.Errorf("%w: bad Content-Length %q", errProtocol, clip(value))
			}
			contentLength = n
		case bytes.EqualFold(name, hTransferEncoding):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errProtocol, clip(value))
			}
			chunked = true
		case bytes.EqualFold(name, hConnection):
			if containsFold(value, "close") {
				res.close = true
			} else if containsFold(value, "keep-alive") {
				res.close = false
			}
		case bytes.EqualFold(name, hETag):
			res.etag = append(res.etag[:0], value...)
		case bytes.EqualFold(name, hPeriod):
			if n, ok := atoi(value); ok {
				res.periodMs = n
			}
		case bytes.EqualFold(name, hNext):
			if n, ok := atoi(value); ok {
				res.nextMs = n
			}
		case bytes.EqualFold(name, hStale):
			if n, ok := atoi(value); ok {
				res.staleMs = n
			}
		}
	}
	if res.status < 200 {
		return fmt.Errorf("%w: unexpected informational status %d", errProtocol, res.status)
	}
	if res.status == 204 || res.status == 304 {
		return nil
	}
	switch {
	case chunked && contentLength >= 0:
		return fmt.Errorf("%w: both Content-Length and chunked", errProtocol)
	case chunked:
		return readChunked(br, res)
	case contentLength >= 0:
		return discard(br, res, contentLength)
	default: // body runs to the end of the connection
		res.close, res.toEOF = true, true
		for {
			n, err := br.Discard(br.Buffered() + 1)
			res.bodyBytes += int64(n)
			res.wireBytes += int64(n)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

func readChunked(br *bufio.Reader, res *response) error {
	for {
		line, err := readLine(br, res)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		size, ok := hexAtoi(line)
		if !ok {
			return fmt.Errorf("%w: bad chunk size %q", errProtocol, clip(line))
		}
		if size == 0 {
			for { // trailers up to the empty line
				line, err := readLine(br, res)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := discard(br, res, size); err != nil {
			return err
		}
		line, err = readLine(br, res)
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errProtocol)
		}
	}
}

func discard(br *bufio.Reader, res *response, n int64) error {
	for n > 0 {
		step := n
		if step > 1<<30 {
			step = 1 << 30
		}
		got, err := br.Discard(int(step))
		res.bodyBytes += int64(got)
		res.wireBytes += int64(got)
		n -= int64(got)
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readLine returns one CRLF- (or LF-) terminated line without its ending.
// The slice is valid until the next read.
func readLine(br *bufio.Reader, res *response) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	res.wireBytes += int64(len(line))
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: header line longer than %d bytes", errProtocol, br.Size())
		}
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func hexAtoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// containsFold reports whether the comma-separated list v has token tok.
func containsFold(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		part := v
		if i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if bytes.EqualFold(bytes.TrimSpace(part), []byte(tok)) {
			return true
		}
	}
	return false
}

func clip(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return strconv.Quote(string(b))
}
