package http1

// This file implements the PROXY protocol header (HAProxy's
// proxy-protocol.txt, versions 1 and 2) that a TCP load balancer sends
// before the first request to name the client it connected for. Like the
// request parser it is push-style and pure: the server feeds it whatever
// the connection has read so far and learns "complete", "need more" or
// "malformed" (then the connection is closed: the spec forbids guessing).
// The server decides whether to believe it (serve.trusted_proxies).

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// ProxyHeader is a parsed PROXY protocol header.
type ProxyHeader struct {
	Version int // 1 or 2
	// Local: the header names no client (v2 LOCAL, a v2 header without an
	// IP address family, v1 UNKNOWN): the connection's own endpoints stand.
	Local bool
	// Src and Dst are the client's and the proxy's listening endpoints;
	// zero when Local.
	Src, Dst netip.AddrPort
}

const (
	// proxyV1Max is the longest v1 header: "PROXY TCP6 " + two 39-byte
	// addresses + two ports + spaces + CRLF (proxy-protocol.txt §2.1).
	proxyV1Max = 107
	// ProxyV2MaxLen bounds the address block plus TLVs of a v2 header.
	// The spec allows 65535; real senders stay far below (addresses plus a
	// few TLVs: SSL, AWS, Azure), and the bytes wait in a connection buffer.
	ProxyV2MaxLen = 4096
)

var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// ParseProxy parses a PROXY protocol header (v1 or v2) at the start of buf.
// It returns n > 0, the header's length, once the whole header is in buf;
// n == 0 and a nil error when buf is a correct beginning that needs more
// bytes; an *Error (Status 400) when buf cannot begin a valid header. It
// keeps no state: call it again with the longer buf. It never reads past
// the header, so buf[n:] is the first request.
func ParseProxy(buf []byte, h *ProxyHeader) (n int, err error) {
	*h = ProxyHeader{}
	switch {
	case len(buf) == 0:
		return 0, nil
	case buf[0] == 'P':
		return parseProxyV1(buf, h)
	case buf[0] == '\r':
		return parseProxyV2(buf, h)
	}
	return 0, proxyFail("not a PROXY protocol header")
}

func proxyFail(reason string) *Error { return &Error{Status: 400, Reason: "PROXY protocol: " + reason} }

func parseProxyV1(buf []byte, h *ProxyHeader) (int, error) {
	if k := min(len(buf), len(proxyV1Sig)); !bytes.Equal(buf[:k], proxyV1Sig[:k]) {
		return 0, proxyFail("not a PROXY protocol header")
	}
	end := bytes.IndexByte(buf[:min(len(buf), proxyV1Max)], '\n')
	if end < 0 {
		if len(buf) >= proxyV1Max {
			return 0, proxyFail("v1 header longer than 107 bytes")
		}
		if cr := bytes.IndexByte(buf, '\r'); cr >= 0 && cr != len(buf)-1 {
			return 0, proxyFail("v1 header: CR not followed by LF")
		}
		return 0, nil
	}
	if end == 0 || buf[end-1] != '\r' {
		return 0, proxyFail("v1 header must end with CRLF")
	}
	line := buf[len(proxyV1Sig) : end-1]
	h.Version = 1
	if bytes.HasPrefix(line, []byte("UNKNOWN")) && (len(line) == 7 || line[7] == ' ') {
		// The rest is to be ignored (proxy-protocol.txt §2.1), but it is
		// still a line of printable text.
		for _, c := range line {
			if c < ' ' || c > '~' {
				return 0, proxyFail("v1 header: control byte")
			}
		}
		h.Local = true
		return end + 1, nil
	}
	var fam []byte
	var parts [4][]byte
	fam, line = cutSpace(line)
	for i := range parts {
		parts[i], line = cutSpace(line)
		if parts[i] == nil {
			return 0, proxyFail("v1 header: expected protocol, 2 addresses and 2 ports")
		}
	}
	if line != nil {
		return 0, proxyFail("v1 header: extra fields")
	}
	v6 := false
	switch string(fam) {
	case "TCP4":
	case "TCP6":
		v6 = true
	default:
		return 0, proxyFail("v1 header: protocol must be TCP4, TCP6 or UNKNOWN")
	}
	var addrs [2]netip.Addr
	for i := range addrs {
		a, ok := parseIP(parts[i])
		if !ok || a.Is6() != v6 {
			return 0, proxyFail("v1 header: bad address for " + string(fam))
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i := range ports {
		p, ok := parsePort(parts[2+i])
		if !ok {
			return 0, proxyFail("v1 header: bad port")
		}
		ports[i] = p
	}
	h.Src = netip.AddrPortFrom(addrs[0], ports[0])
	h.Dst = netip.AddrPortFrom(addrs[1], ports[1])
	return end + 1, nil
}

// cutSpace splits "field rest" at the first single space; field is nil
// when s is empty or starts with a space (v1 fields are separated by
// exactly one space), rest is nil when there is no space.
func cutSpace(s []byte) (field, rest []byte) {
	if len(s) == 0 || s[0] == ' ' {
		return nil, nil
	}
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, nil
}

// parseIP parses a dotted IPv4 or an IPv6 address (no zone, no brackets).
func parseIP(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false // no zone ('%'), no spaces
		}
	}
	var buf [45]byte
	a, err := netip.ParseAddr(string(append(buf[:0], b...)))
	return a, err == nil
}

// parsePort parses a decimal port 0-65535 without sign or leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 65535
}

func parseProxyV2(buf []byte, h *ProxyHeader) (int, error) {
	if k := min(len(buf), len(proxyV2Sig)); !bytes.Equal(buf[:k], proxyV2Sig[:k]) {
		return 0, proxyFail("not a PROXY protocol header")
	}
	if len(buf) > 12 && buf[12]>>4 != 2 {
		return 0, proxyFail("v2 header: version must be 2")
	}
	if len(buf) > 12 && buf[12]&0xf > 1 {
		return 0, proxyFail("v2 header: command must be LOCAL or PROXY")
	}
	if len(buf) < 16 {
		return 0, nil
	}
	cmd, fam, proto := buf[12]&0xf, buf[13]>>4, buf[13]&0xf
	size := int(binary.BigEndian.Uint16(buf[14:16]))
	if size > ProxyV2MaxLen {
		return 0, proxyFail("v2 header: longer than 4096 bytes")
	}
	h.Version = 2
	if cmd == 0 {
		// LOCAL: the proxy's own connection (a health check); the address
		// block, whatever its family, is ignored (proxy-protocol.txt §2.2).
		if len(buf) < 16+size {
			return 0, nil
		}
		h.Local = true
		return 16 + size, nil
	}
	var need int // bytes of the address block
	switch fam {
	case 0: // AF_UNSPEC
	case 1: // AF_INET
		need = 12
	case 2: // AF_INET6
		need = 36
	case 3: // AF_UNIX
		need = 216
	default:
		return 0, proxyFail("v2 header: unknown address family")
	}
	switch {
	case proto > 2:
		return 0, proxyFail("v2 header: unknown transport protocol")
	case fam != 0 && proto != 1:
		return 0, proxyFail("v2 header: HTTP needs a stream connection")
	case size < need:
		return 0, proxyFail("v2 header: address block too short for its family")
	}
	if len(buf) < 16+size {
		return 0, nil
	}
	body := buf[16 : 16+size]
	for tlv := body[need:]; len(tlv) > 0; {
		if len(tlv) < 3 {
			return 0, proxyFail("v2 header: truncated TLV")
		}
		l := 3 + int(binary.BigEndian.Uint16(tlv[1:3]))
		if l > len(tlv) {
			return 0, proxyFail("v2 header: TLV longer than the header")
		}
		tlv = tlv[l:]
	}
	switch fam {
	case 1:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 2:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	default: // no IP address (UNSPEC, UNIX): the connection's endpoints stand
		h.Local = true
	}
	return 16 + size, nil
}
