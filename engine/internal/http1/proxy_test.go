package http1

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// proxyV2 builds a v2 header: command (0 LOCAL, 1 PROXY), family and
// transport byte, address block and TLVs.
func proxyV2(cmd, famProto byte, addr []byte, tlvs ...[]byte) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, 0x20|cmd, famProto, 0, 0)
	body := append([]byte(nil), addr...)
	for _, t := range tlvs {
		body = append(body, t...)
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(body)))
	return append(b, body...)
}

func tlv(typ byte, v string) []byte {
	return append([]byte{typ, byte(len(v) >> 8), byte(len(v))}, v...)
}

func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sport), dport)
}

func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sport), dport)
}

type proxyCase struct {
	name   string
	header []byte
	want   ProxyHeader
}

func proxyValid() []proxyCase {
	ap := netip.MustParseAddrPort
	return []proxyCase{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"), ProxyHeader{Version: 1, Src: ap("192.0.2.7:56324"), Dst: ap("198.51.100.1:443")}},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n"), ProxyHeader{Version: 1, Src: ap("[2001:db8::7]:65535"), Dst: ap("[2001:db8::1]:0")}},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			ProxyHeader{Version: 1, Src: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dst: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), ProxyHeader{Version: 1, Local: true}},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN 192.0.2.7 198.51.100.1 1 2\r\n"), ProxyHeader{Version: 1, Local: true}},
		{"v2 inet", proxyV2(1, 0x11, inet4("192.0.2.7", "198.51.100.1", 56324, 443)), ProxyHeader{Version: 2, Src: ap("192.0.2.7:56324"), Dst: ap("198.51.100.1:443")}},
		{"v2 inet6", proxyV2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 1, 2)), ProxyHeader{Version: 2, Src: ap("[2001:db8::7]:1"), Dst: ap("[2001:db8::1]:2")}},
		{"v2 inet with TLVs", proxyV2(1, 0x11, inet4("203.0.113.9", "10.0.0.1", 4000, 80), tlv(0x02, "example.com"), tlv(0x04, ""), tlv(0xEA, "vpce-0123")),
			ProxyHeader{Version: 2, Src: ap("203.0.113.9:4000"), Dst: ap("10.0.0.1:80")}},
		{"v2 local", proxyV2(0, 0x00, nil), ProxyHeader{Version: 2, Local: true}},
		{"v2 local ignores its block", proxyV2(0, 0xF5, []byte("anything")), ProxyHeader{Version: 2, Local: true}},
		{"v2 unspec", proxyV2(1, 0x00, nil), ProxyHeader{Version: 2, Local: true}},
		{"v2 unix", proxyV2(1, 0x31, make([]byte, 216)), ProxyHeader{Version: 2, Local: true}},
	}
}

func proxyMalformed() map[string][]byte {
	long := proxyV2(1, 0x11, inet4("192.0.2.7", "198.51.100.1", 1, 2), tlv(0x04, strings.Repeat("x", ProxyV2MaxLen)))
	return map[string][]byte{
		"plain request":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"lower case":             []byte("proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n"),
		"v1 bare LF":             []byte("PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n"),
		"v1 CR inside":           []byte("PROXY TCP4 192.0.2.7\r198.51.100.1 1 2\r\n"),
		"v1 two spaces":          []byte("PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n"),
		"v1 trailing space":      []byte("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n"),
		"v1 missing port":        []byte("PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n"),
		"v1 extra field":         []byte("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n"),
		"v1 v6 address for TCP4": []byte("PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n"),
		"v1 v4 address for TCP6": []byte("PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n"),
		"v1 mapped v4 for TCP4":  []byte("PROXY TCP4 ::ffff:192.0.2.7 198.51.100.1 1 2\r\n"),
		"v1 zone":                []byte("PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n"),
		"v1 port too big":        []byte("PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n"),
		"v1 port leading zero":   []byte("PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n"),
		"v1 negative port":       []byte("PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n"),
		"v1 udp":                 []byte("PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n"),
		"v1 hostname":            []byte("PROXY TCP4 localhost 198.51.100.1 1 2\r\n"),
		"v1 too long":            []byte("PROXY UNKNOWN " + strings.Repeat("a", 100) + "\r\n"),
		"v1 unknown control":     []byte("PROXY UNKNOWN \x00\r\n"),
		"v1 empty":               []byte("PROXY \r\n"),
		"v2 version 1":           append(append([]byte(nil), proxyV2Sig...), 0x11, 0x11, 0, 12),
		"v2 command 2":           append(append([]byte(nil), proxyV2Sig...), 0x22, 0x11, 0, 12),
		"v2 family 4":            proxyV2(1, 0x41, make([]byte, 12)),
		"v2 datagram":            proxyV2(1, 0x12, inet4("192.0.2.7", "198.51.100.1", 1, 2)),
		"v2 unspec transport":    proxyV2(1, 0x10, inet4("192.0.2.7", "198.51.100.1", 1, 2)),
		"v2 transport 3":         proxyV2(1, 0x13, inet4("192.0.2.7", "198.51.100.1", 1, 2)),
		"v2 short inet block":    proxyV2(1, 0x11, make([]byte, 11)),
		"v2 short inet6 block":   proxyV2(1, 0x21, make([]byte, 35)),
		"v2 truncated TLV":       proxyV2(1, 0x11, inet4("192.0.2.7", "198.51.100.1", 1, 2), []byte{1, 0}),
		"v2 TLV overruns":        proxyV2(1, 0x11, inet4("192.0.2.7", "198.51.100.1", 1, 2), []byte{1, 0, 9, 'x'}),
		"v2 too long":            long,
		"v2 bad signature":       append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 0),
	}
}

// TestParseProxy: each valid header is parsed whole, byte by byte and in
// random splits, with a request behind it that is never consumed; every
// prefix shorter than the header asks for more.
func TestParseProxy(t *testing.T) {
	rest := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range proxyValid() {
		t.Run(tc.name, func(t *testing.T) {
			in := append(append([]byte(nil), tc.header...), rest...)
			var h ProxyHeader
			n, err := ParseProxy(in, &h)
			if err != nil || n != len(tc.header) || h != tc.want {
				t.Fatalf("whole: n=%d err=%v %+v; want n=%d %+v", n, err, h, len(tc.header), tc.want)
			}
			if !bytes.Equal(in[n:], rest) {
				t.Fatalf("the request behind the header was touched")
			}
			// Byte by byte: every shorter prefix needs more.
			for i := 0; i < len(tc.header); i++ {
				if n, err := ParseProxy(in[:i], &h); n != 0 || err != nil {
					t.Fatalf("prefix of %d bytes: n=%d err=%v, want need-more", i, n, err)
				}
			}
			// Random splits, as reads deliver them.
			for range 50 {
				got := 0
				for end := 0; got == 0; {
					end = min(len(in), end+1+rng.IntN(16))
					n, err := ParseProxy(in[:end], &h)
					if err != nil {
						t.Fatalf("split at %d: %v", end, err)
					}
					if n == 0 && end == len(in) {
						t.Fatal("never complete")
					}
					got = n
				}
				if got != len(tc.header) || h != tc.want {
					t.Fatalf("random splits: n=%d %+v", got, h)
				}
			}
		})
	}
}

// TestParseProxyMalformed: a malformed header is refused once the bytes
// that prove it arrived, whole or fed byte by byte; never "complete".
func TestParseProxyMalformed(t *testing.T) {
	for name, in := range proxyMalformed() {
		t.Run(name, func(t *testing.T) {
			var h ProxyHeader
			n, err := ParseProxy(in, &h)
			if err == nil || n != 0 {
				t.Fatalf("whole: n=%d err=%v %+v, want an error", n, err, h)
			}
			if e, ok := err.(*Error); !ok || e.Status != 400 || !strings.HasPrefix(e.Reason, "PROXY protocol: ") {
				t.Fatalf("error %#v", err)
			}
			refused := false
			for i := 1; i <= len(in); i++ {
				n, err := ParseProxy(in[:i], &h)
				if n != 0 {
					t.Fatalf("prefix of %d bytes complete", i)
				}
				if err != nil {
					refused = true
					break
				}
			}
			if !refused {
				t.Fatal("byte by byte: never refused")
			}
		})
	}
}

// FuzzParseProxy checks that ParseProxy never panics and that its verdict
// does not depend on how the bytes arrive: every prefix of a complete
// header needs more, a refused prefix stays refused, and the header parsed
// from exactly its own bytes is the same.
func FuzzParseProxy(f *testing.F) {
	for _, tc := range proxyValid() {
		f.Add(append(tc.header, "GET / HTTP/1.1\r\n"...))
	}
	for _, in := range proxyMalformed() {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 3*ProxyV2MaxLen {
			return
		}
		var h ProxyHeader
		n, err := ParseProxy(data, &h)
		if n < 0 || n > len(data) || (n > 0 && err != nil) {
			t.Fatalf("n=%d err=%v len=%d", n, err, len(data))
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("error %#v", err)
			}
		}
		if n > 0 {
			if h.Version != 1 && h.Version != 2 || h.Local == h.Src.IsValid() || h.Src.IsValid() != h.Dst.IsValid() {
				t.Fatalf("inconsistent header %+v", h)
			}
			var h2 ProxyHeader
			if n2, err2 := ParseProxy(data[:n], &h2); n2 != n || err2 != nil || h2 != h {
				t.Fatalf("own bytes: n=%d err=%v %+v; whole %+v", n2, err2, h2, h)
			}
		}
		end := len(data)
		if n > 0 {
			end = n
		}
		for i := 0; i < end; i++ {
			var h3 ProxyHeader
			n3, err3 := ParseProxy(data[:i], &h3)
			switch {
			case n > 0 && i < n && (n3 != 0 || err3 != nil):
				t.Fatalf("prefix %d of a %d-byte header: n=%d err=%v", i, n, n3, err3)
			case err3 != nil && err == nil:
				t.Fatalf("prefix %d refused (%v), the whole accepted", i, err3)
			}
		}
	})
}
