package http1

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// got is a copy of what the parser returned for one request, taken before
// the input bytes are dropped.
type got struct {
	Method, Path, Query, Host string
	Minor                     int
	KeepAlive, Chunked, E100  bool
	CL                        int64
	Body                      string
	Headers                   int
	AE, INM                   string
}

func snapshot(r *Request) got {
	return got{
		Method: string(r.MethodRaw), Path: string(r.Path), Query: string(r.Query), Host: string(r.Host),
		Minor: r.Minor, KeepAlive: r.KeepAlive, Chunked: r.Chunked, E100: r.Expect100,
		CL: r.ContentLength, Body: string(r.Body), Headers: len(r.Headers),
		AE: string(r.AcceptEncoding), INM: string(r.IfNoneMatch),
	}
}

// feed gives input to a parser in the pieces cut returns, the way a
// connection loop does: append what was read, parse as long as requests come
// out, drop what was parsed. Each append copies into a new array so that a
// request straddling reads sees its buffer move (as a growing buffer does).
func feed(p *Parser, input []byte, cut func(rest int) int) ([]got, error) {
	var (
		buf  []byte
		out  []got
		req  Request
		rest = input
	)
	for {
		for len(buf) > 0 {
			n, err := p.Parse(buf, &req)
			if err != nil {
				return out, err
			}
			if n == 0 {
				break
			}
			if n > len(buf) {
				return out, fmt.Errorf("n=%d > len(buf)=%d", n, len(buf))
			}
			out = append(out, snapshot(&req))
			buf = append([]byte(nil), buf[n:]...)
		}
		if len(rest) == 0 {
			return out, nil
		}
		k := cut(len(rest))
		nb := make([]byte, len(buf), len(buf)+k)
		copy(nb, buf)
		buf = append(nb, rest[:k]...)
		rest = rest[k:]
	}
}

// feedings are the three ways every table case is fed.
func feedings(seed int64) map[string]func(int) int {
	rng := rand.New(rand.NewSource(seed))
	return map[string]func(int) int{
		"whole":  func(rest int) int { return rest },
		"bytes":  func(int) int { return 1 },
		"random": func(rest int) int { return 1 + rng.Intn(min(rest, 17)) },
	}
}

const okGet = "GET /clock.json HTTP/1.1\r\nHost: example.com\r\n\r\n"

func TestParseValid(t *testing.T) {
	base := got{Method: "GET", Path: "/", Host: "h", Minor: 1, KeepAlive: true, CL: -1, Headers: 1}
	with := func(f func(*got)) got { g := base; f(&g); return g }
	pipelined := strings.Repeat("GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", 10)
	var ten []got
	for range 10 {
		ten = append(ten, with(func(g *got) { g.Path, g.Query = "/a", "x=1" }))
	}
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", []got{base}},
		{"GET with typical headers",
			"GET /clock.json?v=2 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n" +
				"Accept-Encoding: gzip, br\r\nIf-None-Match: \"abc\"\r\nConnection: keep-alive\r\n\r\n",
			[]got{with(func(g *got) {
				g.Path, g.Query, g.Host, g.Headers, g.AE, g.INM = "/clock.json", "v=2", "example.com:8080", 6, "gzip, br", `"abc"`
			})}},
		{"HEAD", "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", []got{with(func(g *got) { g.Method, g.Path = "HEAD", "/x" })}},
		{"POST with Content-Length",
			"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
			[]got{with(func(g *got) { g.Method, g.Path, g.CL, g.Body, g.Headers = "POST", "/w", 5, "hello", 2 })}},
		{"POST with Content-Length 0",
			"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
			[]got{with(func(g *got) { g.Method, g.Path, g.CL, g.Headers = "POST", "/w", 0, 2 })}},
		{"identical repeated Content-Length",
			"PUT /w HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
			[]got{with(func(g *got) { g.Method, g.Path, g.CL, g.Body, g.Headers = "PUT", "/w", 3, "abc", 3 })}},
		{"chunked with extension and trailers",
			"POST /w HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5;name=\"v\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n",
			[]got{with(func(g *got) {
				g.Method, g.Path, g.Chunked, g.Body, g.Headers = "POST", "/w", true, "helloabcdefghijklmnopqrstuvwxyz", 2
			})}},
		{"chunked empty body", "POST /w HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
			[]got{with(func(g *got) { g.Method, g.Path, g.Chunked, g.Headers = "POST", "/w", true, 2 })}},
		{"pipelined 10", pipelined, ten},
		{"pipelined POST then GET",
			"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			[]got{with(func(g *got) { g.Method, g.Path, g.CL, g.Body, g.Headers = "POST", "/w", 2, "ok", 2 }), base}},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			[]got{with(func(g *got) { g.Minor, g.Host = 0, "" })}},
		{"HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n",
			[]got{with(func(g *got) { g.Minor, g.Host, g.KeepAlive, g.Headers = 0, "", false, 0 })}},
		{"HTTP/1.1 Connection: close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n",
			[]got{with(func(g *got) { g.KeepAlive, g.Headers = false, 2 })}},
		{"HTTP/1.2 is read as 1.1", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", []got{base}},
		{"absolute-form", "GET http://example.com:8080/a%20b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
			[]got{with(func(g *got) { g.Path, g.Query, g.Host = "/a b", "x=1", "example.com:8080" })}},
		{"absolute-form without path", "GET https://[::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
			[]got{with(func(g *got) { g.Host = "[::1]:443" })}},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", []got{with(func(g *got) { g.Method, g.Path = "OPTIONS", "*" })}},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", []got{base}},
		{"percent-decoded path, raw query", "GET /a%2Fb%41/%2e%2e?q=%zz HTTP/1.1\r\nHost: h\r\n\r\n",
			[]got{with(func(g *got) { g.Path, g.Query = "/a/bA/..", "q=%zz" })}},
		{"repeated Accept-Encoding joined", "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\naccept-encoding:  br \r\n\r\n",
			[]got{with(func(g *got) { g.AE, g.Headers = "gzip, br", 3 })}},
		{"Expect 100-continue", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
			[]got{with(func(g *got) { g.Method, g.E100, g.CL, g.Body, g.Headers = "PUT", true, 1, "x", 3 })}},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", []got{with(func(g *got) { g.Host = "" })}},
		{"obs-text and tabs in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A:\t caf\xc3\xa9 \t\r\n\r\n",
			[]got{with(func(g *got) { g.Headers = 2 })}},
		{"unknown method", "PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n", []got{with(func(g *got) { g.Method, g.Path = "PROPFIND", "/d" })}},
	}
	for _, tt := range tests {
		for mode, cut := range feedings(1) {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var p Parser
				out, err := feed(&p, []byte(tt.in), cut)
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if len(out) != len(tt.want) {
					t.Fatalf("parsed %d requests, want %d: %+v", len(out), len(tt.want), out)
				}
				for i := range out {
					if out[i] != tt.want[i] {
						t.Errorf("request %d:\n got %+v\nwant %+v", i, out[i], tt.want[i])
					}
				}
			})
		}
	}
}

func TestParseRejects(t *testing.T) {
	small := Limits{MaxRequestLine: 64, MaxHeaderBytes: 128, MaxHeaders: 4, MaxBody: 16}
	h := "Host: h\r\n"
	post := "POST / HTTP/1.1\r\n" + h
	chunked := post + "Transfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"differing CL", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400},
		{"CL same number spelled differently", post + "Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello", 400},
		{"CL plus sign", post + "Content-Length: +5\r\n\r\nhello", 400},
		{"CL hex", post + "Content-Length: 0x5\r\n\r\nhello", 400},
		{"CL list", post + "Content-Length:  5,6\r\n\r\nhello", 400},
		{"CL list of equal values", post + "Content-Length: 5, 5\r\n\r\nhello", 400},
		{"CL negative", post + "Content-Length: -1\r\n\r\n", 400},
		{"CL empty", post + "Content-Length: \r\n\r\n", 400},
		{"CL overflow", post + "Content-Length: 99999999999999999999\r\n\r\n", 400},
		{"CL over MaxBody", post + "Content-Length: 17\r\n\r\n", 413},
		{"TE unknown", post + "Transfer-Encoding: gzip\r\n\r\n", 501},
		{"TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"TE chunked not last", post + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"TE chunked on two lines", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE empty list", post + "Transfer-Encoding: ,\r\n\r\n", 400},
		{"TE empty element", post + "Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE chunked with parameter", post + "Transfer-Encoding: chunked;a=1\r\n\r\n0\r\n\r\n", 400},
		{"chunk extension after whitespace", chunked + "5 ;a=1\r\nhello\r\n0\r\n\r\n", 400},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunk size not hex", chunked + "zz\r\n", 400},
		{"chunk size empty", chunked + "\r\n", 400},
		{"chunk size negative", chunked + "-5\r\n", 400},
		{"chunk size overflow", chunked + "fffffffffffffffff\r\n", 400},
		{"chunk size trailing space", chunked + "5 \r\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension control byte", chunked + "5;a=\x01\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension too long", chunked + "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk data without CRLF", chunked + "5\r\nhelloX\r\n0\r\n\r\n", 400},
		{"chunk data with bare LF", chunked + "5\r\nhello\n0\r\n\r\n", 400},
		{"chunk line bare LF", chunked + "5\nhello\r\n0\r\n\r\n", 400},
		{"chunked total over MaxBody", chunked + "a\r\n0123456789\r\n7\r\n0123456\r\n0\r\n\r\n", 413},
		{"trailer whitespace before colon", chunked + "0\r\nX-A : 1\r\n\r\n", 400},
		{"trailer obs-fold", chunked + "0\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"trailer control byte", chunked + "0\r\nX-A: \x00\r\n\r\n", 400},
		{"too many trailers", chunked + "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", 431},
		{"whitespace before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
		{"tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
		{"whitespace before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r2\r\n\r\n", 400},
		{"bare CR ending a line", "GET / HTTP/1.1\r\nHost: h\rX-A: 1\r\n\r\n", 400},
		{"bare LF line endings", "GET / HTTP/1.1\nHost: h\n\n", 400},
		{"bare LF after headers", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
		{"bare LF before request", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bare CR before request", "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"too many empty lines first", strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"NUL in target", "GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"DEL in target", "GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"non-ASCII in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n", 400},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", 400},
		{"empty header name", "GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n", 400},
		{"invalid method", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
		{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
		{"Host with bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
		{"Host with bad IPv6", "GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"missing version", "GET /\r\nHost: h\r\n\r\n", 400},
		{"missing target", "GET HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
		{"trailing space in request line", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
		{"two-digit minor", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
		{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
		{"HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 505},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"oversize request line", "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
		{"oversize request line, no end", "GET /" + strings.Repeat("a", 100), 414},
		{"oversize header section", "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + strings.Repeat("a", 200) + "\r\n\r\n", 431},
		{"oversize header section, no end", "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + strings.Repeat("a", 200), 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", 431},
		{"invalid percent-escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"truncated percent-escape", "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"decoded NUL", "GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"authority-form", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"absolute-form other scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"absolute-form empty host", "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"absolute-form userinfo", "GET http://u@h/a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: h\r\nExpect: later\r\n\r\n", 417},
	}
	for _, tt := range tests {
		for mode, cut := range feedings(2) {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				p := Parser{Limits: small}
				out, err := feed(&p, []byte(tt.in), cut)
				e, ok := err.(*Error)
				if !ok {
					t.Fatalf("got %v (requests %+v), want status %d", err, out, tt.status)
				}
				if e.Status != tt.status {
					t.Fatalf("got %d %q, want %d", e.Status, e.Reason, tt.status)
				}
				if len(out) != 0 {
					t.Fatalf("parsed %+v before the error", out)
				}
				// The error sticks until Reset.
				var req Request
				if _, err2 := p.Parse([]byte(okGet), &req); err2 != err {
					t.Errorf("after an error Parse returned %v", err2)
				}
				p.Reset()
				if n, err := p.Parse([]byte(okGet), &req); n != len(okGet) || err != nil {
					t.Errorf("after Reset: n=%d err=%v", n, err)
				}
			})
		}
	}
}

func TestHeadersComplete(t *testing.T) {
	var p Parser
	var req Request
	in := []byte("PUT /w HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nda")
	n, err := p.Parse(in, &req)
	if n != 0 || err != nil || !p.HeadersComplete() || !req.Expect100 || string(req.Path) != "/w" {
		t.Fatalf("n=%d err=%v complete=%v req=%+v", n, err, p.HeadersComplete(), snapshot(&req))
	}
	in = append(in, "ta"...)
	if n, err = p.Parse(in, &req); n != len(in) || err != nil || string(req.Body) != "data" {
		t.Fatalf("n=%d err=%v body=%q", n, err, req.Body)
	}
	if p.HeadersComplete() {
		t.Error("HeadersComplete after the request was returned")
	}

	// A body that completes in a moved buffer and into another Request
	// still yields a whole, live request.
	p.Reset()
	in = []byte("PUT /w%41 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nda")
	if n, err = p.Parse(in, &req); n != 0 || err != nil {
		t.Fatalf("n=%d err=%v", n, err)
	}
	moved := append([]byte(nil), in...)
	clear(in)
	moved = append(moved, "ta"...)
	var other Request
	if n, err = p.Parse(moved, &other); n != len(moved) || err != nil {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if g := snapshot(&other); g.Path != "/wA" || g.Host != "h" || g.Body != "data" || g.Method != "PUT" || g.CL != 4 {
		t.Errorf("got %+v", g)
	}
}

func TestParseDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"request line at limit", "GET /" + strings.Repeat("a", d.MaxRequestLine-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: h\r\n\r\n", 0},
		{"request line over limit", "GET /" + strings.Repeat("a", d.MaxRequestLine-len("GET / HTTP/1.1")+1) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
		{"100 headers", "GET / HTTP/1.1\r\n" + strings.Repeat("A: 1\r\n", 99) + "Host: h\r\n\r\n", 0},
		{"101 headers", "GET / HTTP/1.1\r\n" + strings.Repeat("A: 1\r\n", 100) + "Host: h\r\n\r\n", 431},
		{"body at limit", fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", d.MaxBody, strings.Repeat("b", int(d.MaxBody))), 0},
		{"body over limit", fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", d.MaxBody+1), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var req Request
			n, err := p.Parse([]byte(tt.in), &req)
			if tt.status == 0 {
				if err != nil || n != len(tt.in) {
					t.Fatalf("n=%d err=%v", n, err)
				}
				return
			}
			if e, ok := err.(*Error); !ok || e.Status != tt.status {
				t.Fatalf("err=%v, want %d", err, tt.status)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	in := []byte("GET /game/arena.json?since=42 HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"If-None-Match: \"5d8c72a5edda8d6a\"\r\nReferer: https://example.com/\r\n" +
		"Connection: keep-alive\r\n\r\n")
	var p Parser
	var req Request
	p.Parse(in, &req) // warm up: Headers grows once
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := p.Parse(in, &req); n != len(in) || err != nil {
			t.Fatalf("n=%d err=%v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per parse, want 0", allocs)
	}
}

// TestHeaderLimitEdge checks that the limit is the same whole or split: the
// fields (with their CRLFs) may take exactly MaxHeaderBytes, and so may the
// trailers.
func TestHeaderLimitEdge(t *testing.T) {
	head := func(v int) string { return "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", v) + "\r\n\r\n" }
	// The head's fields take 37 of the 40 bytes; the trailer section is counted apart.
	trailers := func(v int) string {
		return "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("v", v) + "\r\n\r\n"
	}
	for _, tt := range []struct {
		name   string
		max    int
		in     string
		status int
	}{
		{"at limit", 32, head(18), 0},
		{"one over", 32, head(19), 431},
		{"trailers at limit", 40, trailers(35), 0},
		{"trailers one over", 40, trailers(36), 431},
	} {
		for mode, cut := range feedings(3) {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				p := Parser{Limits: Limits{MaxHeaderBytes: tt.max}}
				out, err := feed(&p, []byte(tt.in), cut)
				if tt.status == 0 {
					if err != nil || len(out) != 1 {
						t.Fatalf("err=%v out=%+v", err, out)
					}
					return
				}
				if e, ok := err.(*Error); !ok || e.Status != tt.status {
					t.Fatalf("err=%v, want status %d", err, tt.status)
				}
			})
		}
	}
}
