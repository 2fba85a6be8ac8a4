package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	tests := []struct {
		in string
		ok bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true},
		{"Sun Nov  6 08:49:37 1994", true},
		{"Sun, 06 Nov 1994 08:49:37 UTC", false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 8:49:37 GMT", false},
		{"Xyz, 06 Nov 1994 08:49:37 GMT", false},
		{"Sun, 06 Foo 1994 08:49:37 GMT", false},
		{"Sun, 31 Feb 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 24:49:37 GMT", false},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", false},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", false},
		{"Sun Nov 06 08:49:37 94", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseHTTPDate([]byte(tt.in))
			if ok != tt.ok || ok && !got.Equal(want) {
				t.Fatalf("got %v %v, want ok=%v %v", got, ok, tt.ok, want)
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		for _, tm := range []time.Time{want, time.Unix(0, 0), time.Date(2038, 1, 19, 3, 14, 8, 0, time.FixedZone("X", 3600)), time.Now().Truncate(time.Second)} {
			b := AppendHTTPDate([]byte("Date: "), tm)
			if s := string(b[6:]); s != tm.UTC().Format(http.TimeFormat) {
				t.Errorf("AppendHTTPDate = %q, net/http %q", s, tm.UTC().Format(http.TimeFormat))
			}
			back, ok := ParseHTTPDate(b[6:])
			if !ok || !back.Equal(tm) {
				t.Errorf("round trip of %v gave %v %v", tm, back, ok)
			}
		}
	})
	t.Run("no allocations", func(t *testing.T) {
		in, buf := []byte("Sun, 06 Nov 1994 08:49:37 GMT"), make([]byte, 0, 64)
		if a := testing.AllocsPerRun(100, func() { ParseHTTPDate(in); AppendHTTPDate(buf[:0], want) }); a != 0 {
			t.Errorf("%v allocations", a)
		}
	})
}

func TestDateCache(t *testing.T) {
	var d DateCache
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 100, time.UTC)
	a := string(d.Get(t0))
	if a != "Wed, 01 May 2024 12:00:00 GMT" {
		t.Fatalf("Get = %q", a)
	}
	if b := string(d.Get(t0.Add(900 * time.Millisecond))); b != a {
		t.Errorf("same second gave %q", b)
	}
	if c := string(d.Get(t0.Add(time.Second))); c != "Wed, 01 May 2024 12:00:01 GMT" {
		t.Errorf("next second gave %q", c)
	}
	if c := string(d.Get(time.Unix(0, 0))); c != "Thu, 01 Jan 1970 00:00:00 GMT" {
		t.Errorf("epoch gave %q", c)
	}
}

func TestNoneMatch(t *testing.T) {
	tests := []struct {
		inm, etag string
		want      bool
	}{
		{`"abc"`, `"abc"`, false},
		{`"abc"`, `"abd"`, true},
		{`W/"abc"`, `"abc"`, false},
		{`"abc"`, `W/"abc"`, false},
		{`"x", "y" ,W/"abc"`, `"abc"`, false},
		{`"x","y"`, `"abc"`, true},
		{`*`, `"abc"`, false},
		{``, `"abc"`, true},
		{`abc`, `"abc"`, true},
		{`"ab,c"`, `"ab,c"`, false},
		{`"abc`, `"abc"`, true},
		{`"a" "abc"`, `"abc"`, true},
		{`"abc"`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.inm+"|"+tt.etag, func(t *testing.T) {
			if got := NoneMatch([]byte(tt.inm), []byte(tt.etag)); got != tt.want {
				t.Errorf("NoneMatch(%q, %q) = %v", tt.inm, tt.etag, got)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		ae     string
		absent bool
		gz, br bool
		want   Encoding
	}{
		{absent: true, gz: true, br: true, want: EncIdentity},
		{ae: "", gz: true, br: true, want: EncIdentity},
		{ae: "gzip, deflate, br", gz: true, br: true, want: EncBrotli},
		{ae: "gzip, deflate, br", gz: true, want: EncGzip},
		{ae: "gzip, deflate, br", want: EncIdentity},
		{ae: "br;q=0.5, gzip;q=0.8", gz: true, br: true, want: EncGzip},
		{ae: "br;q=0.8, gzip;q=0.8", gz: true, br: true, want: EncBrotli},
		{ae: "gzip;q=0, br;q=0", gz: true, br: true, want: EncIdentity},
		{ae: "GZIP", gz: true, br: true, want: EncGzip},
		{ae: "x-gzip", gz: true, want: EncGzip},
		{ae: "*", gz: true, br: true, want: EncBrotli},
		{ae: "*;q=0.5, br;q=0", gz: true, br: true, want: EncGzip},
		{ae: "identity;q=0", want: EncNone},
		{ae: "identity;q=0, gzip", gz: true, want: EncGzip},
		{ae: "*;q=0", gz: true, want: EncNone},
		{ae: "*;q=0, identity", gz: true, want: EncIdentity},
		{ae: "identity, gzip;q=0.5", gz: true, want: EncIdentity},
		{ae: "gzip;q=0.001", gz: true, want: EncGzip},
		{ae: "gzip;q=2", gz: true, want: EncIdentity},
		{ae: "gzip;q=0.5.1", gz: true, want: EncIdentity},
		{ae: "gzip;q=1.000, identity;q=1", gz: true, want: EncGzip},
		{ae: "deflate", gz: true, br: true, want: EncIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.ae, func(t *testing.T) {
			var ae []byte
			if !tt.absent {
				ae = []byte(tt.ae)
			}
			if got := Negotiate(ae, tt.gz, tt.br); got != tt.want {
				t.Errorf("Negotiate(%q, gz=%v, br=%v) = %v, want %v", tt.ae, tt.gz, tt.br, got, tt.want)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	if s := string(AppendStatusLine(nil, 200)); s != "HTTP/1.1 200 OK\r\n" {
		t.Errorf("status line %q", s)
	}
	// RFC 9110 renamed 413 and 414; net/http keeps the old names.
	if StatusText(413) != "Content Too Large" || StatusText(414) != "URI Too Long" || StatusText(299) != "Status" {
		t.Errorf("StatusText 413/414/299: %q %q %q", StatusText(413), StatusText(414), StatusText(299))
	}
	for _, code := range []int{100, 200, 202, 304, 400, 404, 405, 417, 431, 501, 505} {
		if StatusText(code) != http.StatusText(code) {
			t.Errorf("StatusText(%d) = %q, net/http %q", code, StatusText(code), http.StatusText(code))
		}
	}
	tests := []struct {
		name  string
		code  int
		date  []byte
		close bool
		extra []Header
	}{
		{"plain", 404, nil, false, nil},
		{"dated, closing", 431, []byte("Wed, 01 May 2024 12:00:00 GMT"), true, nil},
		{"with Allow", 405, nil, false, []Header{{Name: []byte("Allow"), Value: []byte("GET, HEAD")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendErrorResponse([]byte("prefix"), tt.code, tt.date, tt.close, tt.extra...)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("dst was not appended to")
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b[6:])), nil)
			if err != nil {
				t.Fatalf("net/http cannot read %q: %v", b, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tt.code || !bytes.Contains(body, []byte(StatusText(tt.code))) {
				t.Errorf("status %d body %q err %v", resp.StatusCode, body, err)
			}
			if resp.Close != tt.close || (resp.Header.Get("Date") != "") != (tt.date != nil) {
				t.Errorf("close=%v date=%q", resp.Close, resp.Header.Get("Date"))
			}
			for _, h := range tt.extra {
				if resp.Header.Get(string(h.Name)) != string(h.Value) {
					t.Errorf("header %s missing", h.Name)
				}
			}
		})
	}
	buf := make([]byte, 0, 512)
	date := []byte("Wed, 01 May 2024 12:00:00 GMT")
	if a := testing.AllocsPerRun(100, func() { AppendErrorResponse(buf[:0], 400, date, true) }); a != 0 {
		t.Errorf("AppendErrorResponse: %v allocations", a)
	}
}

func TestMethodString(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "OPTIONS", "DELETE", "PATCH"} {
		if got := methodOf([]byte(m)).String(); got != m {
			t.Errorf("%s -> %s", m, got)
		}
	}
	if methodOf([]byte("get")) != MethodOther || Method(200).String() != "OTHER" {
		t.Error("unknown methods are not MethodOther")
	}
}
