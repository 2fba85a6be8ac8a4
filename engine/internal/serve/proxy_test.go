//go:build linux

package serve

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// proxied starts a server behind "proxies": 127.0.0.2 is the trusted
// proxy, every other loopback address a client connecting directly. The
// admin endpoints answer 203.0.113.0/24 only, and a write answers with
// the address it was counted against (Write.RemoteAddr), so each request
// shows which client jawas believed.
func proxied(t *testing.T, px Proxies) (*fixture, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "access.log")
	al, err := OpenAccessLog(logPath, nil)
	must(t, err)
	t.Cleanup(func() { al.Close() })
	px.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	f := start(t, func(o *Options) {
		o.Proxies = px
		o.Admin.Networks = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		o.AccessLog = al
		o.Write = func(w Write, done Done) {
			go done.Answer(WriteResult{Status: 202, Body: []byte(w.RemoteAddr), ContentType: "text/plain"})
		}
	})
	return f, logPath
}

// who posts from local address from with extra header lines and returns
// the client address jawas counted the write against, and the status of
// an admin request made the same way.
func who(t *testing.T, f *fixture, from string, hdrs ...string) (client string, admin int) {
	t.Helper()
	c := dialFrom(t, f, from)
	defer c.Close()
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "POST /a.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"+strings.Join(hdrs, "")+"\r\n{}")
	if resp.StatusCode != 202 {
		t.Fatalf("write: %d %s", resp.StatusCode, body)
	}
	resp, _ = roundTrip(t, c, br, get("/_jawas/status.json", hdrs...))
	return string(body), resp.StatusCode
}

// TestTrustedProxyHeaders: X-Forwarded-For is believed from the trusted
// proxy only, read right to left past trusted hops, for the write rate
// limit's address, the admin allowlist and the access log; from anyone
// else it is ignored, so a client cannot pick its own address.
func TestTrustedProxyHeaders(t *testing.T) {
	f, logPath := proxied(t, Proxies{})
	for _, tc := range []struct {
		name, from string
		hdrs       []string
		client     string
		admin      int
	}{
		{"direct client", "127.0.0.3", nil, "127.0.0.3", 403},
		{"direct client spoofing", "127.0.0.3", []string{"X-Forwarded-For: 203.0.113.5\r\n"}, "127.0.0.3", 403},
		{"direct client spoofing Forwarded", "127.0.0.3", []string{"Forwarded: for=203.0.113.5\r\n"}, "127.0.0.3", 403},
		{"through the proxy", "127.0.0.2", []string{"X-Forwarded-For: 203.0.113.5\r\n"}, "203.0.113.5", 200},
		{"client prepends a fake", "127.0.0.2", []string{"X-Forwarded-For: 203.0.113.5, 198.51.100.9\r\n"}, "198.51.100.9", 403},
		{"trusted hops skipped", "127.0.0.2", []string{"X-Forwarded-For: 198.51.100.9, 203.0.113.5, 127.0.0.2\r\n"}, "203.0.113.5", 200},
		{"two fields are one list", "127.0.0.2", []string{"X-Forwarded-For: 198.51.100.9\r\n", "x-forwarded-for: 203.0.113.5:4711\r\n"}, "203.0.113.5", 200},
		{"IPv6 client", "127.0.0.2", []string{"X-Forwarded-For: [2001:db8::7]:80\r\n"}, "2001:db8::7", 403},
		{"malformed: the proxy itself", "127.0.0.2", []string{"X-Forwarded-For: 203.0.113.5, not-an-address\r\n"}, "127.0.0.2", 403},
		{"Forwarded not configured", "127.0.0.2", []string{"Forwarded: for=203.0.113.5\r\n"}, "127.0.0.2", 403},
		{"proxy's own request", "127.0.0.2", nil, "127.0.0.2", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, admin := who(t, f, tc.from, tc.hdrs...)
			if client != tc.client || admin != tc.admin {
				t.Fatalf("client %q, admin %d; want %q, %d", client, admin, tc.client, tc.admin)
			}
		})
	}
	// The access log names the believed client of each request (two per
	// case; the loops hand their lines over in any order): the spoofing
	// clients by their own address, the proxied ones by the proxy's word.
	count := map[string]int{}
	for _, line := range waitLines(t, logPath, 22) {
		client, _, _ := strings.Cut(line, " ")
		count[client]++
	}
	want := map[string]int{"127.0.0.3": 6, "203.0.113.5": 6, "198.51.100.9": 2, "2001:db8::7": 2, "127.0.0.2": 6}
	for client, n := range want {
		if count[client] != n {
			t.Errorf("access log: %d lines from %s, want %d (all: %v)", count[client], client, n, count)
		}
	}
}

// TestTrustedProxyForwarded: with Header = Forwarded, the for= of RFC 7239
// elements is read (quoted, bracketed, with ports), X-Forwarded-For is not.
func TestTrustedProxyForwarded(t *testing.T) {
	f, _ := proxied(t, Proxies{Header: Forwarded})
	for _, tc := range []struct {
		hdr, client string
		admin       int
	}{
		{"Forwarded: for=203.0.113.5;proto=http;by=127.0.0.2\r\n", "203.0.113.5", 200},
		{"Forwarded: for=\"[2001:db8::7]:4711\"\r\n", "2001:db8::7", 403},
		{"Forwarded: for=198.51.100.9, for=\"203.0.113.5:80\";proto=https\r\n", "203.0.113.5", 200},
		{"Forwarded: for=203.0.113.5, for=unknown\r\n", "127.0.0.2", 403},
		{"X-Forwarded-For: 203.0.113.5\r\n", "127.0.0.2", 403},
	} {
		client, admin := who(t, f, "127.0.0.2", tc.hdr)
		if client != tc.client || admin != tc.admin {
			t.Errorf("%q: client %q, admin %d; want %q, %d", tc.hdr, client, admin, tc.client, tc.admin)
		}
	}
	if client, _ := who(t, f, "127.0.0.3", "Forwarded: for=203.0.113.5\r\n"); client != "127.0.0.3" {
		t.Errorf("untrusted peer's Forwarded believed: %q", client)
	}
}

func proxyV2Header(src string, sport uint16) []byte {
	a := netip.MustParseAddr(src)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21")
	var block []byte
	if a.Is4() {
		b = append(b, 0x11)
		s, d := a.As4(), [4]byte{127, 0, 0, 1}
		block = append(s[:], d[:]...)
	} else {
		b = append(b, 0x21)
		s, d := a.As16(), netip.IPv6Loopback().As16()
		block = append(s[:], d[:]...)
	}
	block = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(block, sport), 80)
	block = append(block, 0x04, 0, 3, 'a', 'b', 'c') // a NOOP TLV
	b = binary.BigEndian.AppendUint16(b, uint16(len(block)))
	return append(b, block...)
}

// TestProxyProtocol: a trusted peer's connection starts with a PROXY
// header (v1 or v2, whole, byte by byte, or with requests in the same
// packet), which names the client; a malformed or missing header closes
// the connection without an answer. An untrusted peer's connection is
// plain HTTP, so its PROXY line is a bad request, not a new address.
func TestProxyProtocol(t *testing.T) {
	f, _ := proxied(t, Proxies{Protocol: true})
	post := "POST /a.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	send := func(from string, chunks ...[]byte) (net.Conn, *bufio.Reader) {
		t.Helper()
		c := dialFrom(t, f, from)
		c.(*net.TCPConn).SetNoDelay(true)
		for _, ch := range chunks {
			if _, err := c.Write(ch); err != nil {
				t.Fatal(err)
			}
		}
		return c, bufio.NewReader(c)
	}
	bytewise := func(b []byte) [][]byte {
		out := make([][]byte, len(b))
		for i := range b {
			out[i] = b[i : i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		chunks [][]byte
		client string
	}{
		{"v1", [][]byte{[]byte("PROXY TCP4 203.0.113.5 127.0.0.1 5000 80\r\n"), []byte(post)}, "203.0.113.5"},
		{"v1 and the request in one write", [][]byte{[]byte("PROXY TCP6 2001:db8::7 ::1 5000 80\r\n" + post)}, "2001:db8::7"},
		{"v1 byte by byte", bytewise([]byte("PROXY TCP4 203.0.113.6 127.0.0.1 5000 80\r\n" + post)), "203.0.113.6"},
		{"v1 unknown", [][]byte{[]byte("PROXY UNKNOWN\r\n" + post)}, "127.0.0.2"},
		{"v2", [][]byte{proxyV2Header("203.0.113.7", 5000), []byte(post)}, "203.0.113.7"},
		{"v2 byte by byte", bytewise(append(proxyV2Header("2001:db8::8", 1), post...)), "2001:db8::8"},
		{"v2 local", [][]byte{[]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00" + post)}, "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := send("127.0.0.2", tc.chunks...)
			defer c.Close()
			resp, body := readResp(t, br, false)
			if resp.StatusCode != 202 || string(body) != tc.client {
				t.Fatalf("%d %q, want 202 %q", resp.StatusCode, body, tc.client)
			}
			// The connection stays the client's: a second request too.
			resp, body = roundTrip(t, c, br, post)
			if resp.StatusCode != 202 || string(body) != tc.client {
				t.Fatalf("second request: %d %q", resp.StatusCode, body)
			}
		})
	}
	// The header's client is then checked like any other: it may use the
	// admin endpoints (203.0.113.0/24), and its X-Forwarded-For is not
	// believed (it is not a trusted proxy).
	c, br := send("127.0.0.2", []byte("PROXY TCP4 203.0.113.5 127.0.0.1 5000 80\r\n"))
	if resp, _ := roundTrip(t, c, br, get("/_jawas/status.json", "X-Forwarded-For: 198.51.100.1\r\n")); resp.StatusCode != 200 {
		t.Fatalf("admin from the PROXY header's client: %d", resp.StatusCode)
	}
	c.Close()

	closed := func(name string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || len(b) != 0 {
			t.Errorf("%s: read %q, %v; want the connection closed without an answer", name, b, err)
		}
		c.Close()
	}
	for name, raw := range map[string]string{
		"malformed v1":     "PROXY TCP4 203.0.113.5 127.0.0.1 5000\r\n" + post,
		"no header":        post,
		"v2 bad version":   "\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c",
		"v1 CR without LF": "PROXY TCP4 203.0.113.5\r127",
	} {
		c, _ := send("127.0.0.2", []byte(raw))
		closed(name, c)
	}
	// An untrusted peer: plain HTTP. Its PROXY line is no request (400,
	// closed); its requests count against its own address.
	c, br = send("127.0.0.3", []byte("PROXY TCP4 203.0.113.5 127.0.0.1 5000 80\r\n"+post))
	if resp, _ := readResp(t, br, false); resp.StatusCode != 400 {
		t.Fatalf("untrusted PROXY line: %d, want 400", resp.StatusCode)
	}
	c.Close()
	if client, _ := who(t, f, "127.0.0.3"); client != "127.0.0.3" {
		t.Fatalf("untrusted client: %q", client)
	}
	if got := value(scrapeFrom(t, f, "PROXY TCP4 203.0.113.5 127.0.0.1 1 2\r\n"), "jawas_proxy_protocol_refused_total"); got != 4 {
		t.Fatalf("refused connections counted %v, want 4", got)
	}
}

// scrapeFrom reads /_jawas/metrics through the trusted proxy (127.0.0.2),
// whose connection starts with prefix (a PROXY header naming an admin
// client).
func scrapeFrom(t *testing.T, f *fixture, prefix string) map[string]*dto.MetricFamily {
	t.Helper()
	c := dialFrom(t, f, "127.0.0.2")
	defer c.Close()
	resp, body := roundTrip(t, c, bufio.NewReader(c), prefix+get("/_jawas/metrics"))
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return mfs
}
