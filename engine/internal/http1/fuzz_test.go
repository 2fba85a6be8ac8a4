package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzParse checks that the parser never panics, that it accepts the same
// inputs whatever way they are split, and that whatever it accepts net/http
// accepts too, with the same method, path and body framing. (net/http is more
// lenient in places; only "we accept => they accept, identically" is checked.)
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var p Parser
		var req Request
		n, err := p.Parse(data, &req)
		if n < 0 || n > len(data) || (n > 0 && err != nil) {
			t.Fatalf("n=%d err=%v len=%d", n, err, len(data))
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
		}
		// Byte by byte must reach the same verdict (and stay linear: the
		// fuzzer's per-input timeout catches quadratic rescans).
		var q Parser
		var req2 Request
		n2, err2 := 0, error(nil)
		for i := 1; i <= len(data); i++ {
			if n2, err2 = q.Parse(data[:i], &req2); n2 != 0 || err2 != nil {
				break
			}
		}
		if n2 != n || (err == nil) != (err2 == nil) {
			t.Fatalf("whole: n=%d err=%v; byte by byte: n=%d err=%v", n, err, n2, err2)
		}
		if n == 0 {
			return
		}
		if !bytes.Equal(req.Body, req2.Body) || !bytes.Equal(req.Path, req2.Path) {
			t.Fatalf("whole and byte-by-byte differ: %+v vs %+v", snapshot(&req), snapshot(&req2))
		}
		// net/http must read the same request from exactly data[:n].
		raw := data[:n]
		for bytes.HasPrefix(raw, []byte("\r\n")) {
			raw = raw[2:] // net/http does not skip empty lines before a request
		}
		rd := bufio.NewReader(bytes.NewReader(raw))
		hr, herr := http.ReadRequest(rd)
		if herr != nil {
			t.Fatalf("we accepted %q, net/http: %v", raw, herr)
		}
		body, herr := io.ReadAll(hr.Body)
		if herr != nil {
			t.Fatalf("we accepted %q, net/http body: %v", raw, herr)
		}
		if rest, _ := io.ReadAll(rd); len(rest) != 0 {
			t.Fatalf("net/http left %q of %q unread", rest, raw)
		}
		if hr.Method != string(req.MethodRaw) {
			t.Fatalf("method %q, net/http %q", req.MethodRaw, hr.Method)
		}
		hpath := hr.URL.Path
		if hpath == "" && hr.URL.Host != "" {
			hpath = "/"
		}
		if hr.RequestURI == "*" {
			hpath = "*"
		}
		if hpath != string(req.Path) {
			t.Fatalf("path %q, net/http %q (target %q)", req.Path, hpath, req.Target)
		}
		if !bytes.Equal(body, req.Body) {
			t.Fatalf("body %q, net/http %q", req.Body, body)
		}
	})
}

func fuzzSeeds() []string {
	s := []string{
		okGet,
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"POST /w HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET http://example.com:8080/a%20b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET https://[::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\nGET /%41?%zz HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n 2\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		strings.Repeat("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 3),
		"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET http://h:/?q HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET HTTP://H.example./%2F%2e%2E HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET //a//b HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?b?c=%% HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a|b{c}^`\\ HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5; a=\"b;c\"\r\nhello\r\n0000\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n000000000000005\r\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n0\r\nX: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\nabcdefg",
		"POST / HTTP/1.9\r\nHost: h\r\nTransfer-Encoding:  chunked \r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX:\r\nY:  \t\r\n\r\n",
	}
	return s
}

// FuzzHTTPDate checks that any date ParseHTTPDate accepts is written back
// by AppendHTTPDate as an IMF-fixdate that parses to the same instant, and
// that Negotiate and NoneMatch never panic on header garbage.
func FuzzHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "gzip;q=0.5, br", `W/"a", "b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Negotiate(b, true, true)
		NoneMatch(b, []byte(`"a"`))
		tm, ok := ParseHTTPDate(b)
		if !ok {
			return
		}
		out := AppendHTTPDate(nil, tm)
		back, ok := ParseHTTPDate(out)
		if !ok || !back.Equal(tm) {
			t.Fatalf("%q -> %v -> %q -> %v %v", b, tm, out, back, ok)
		}
	})
}
