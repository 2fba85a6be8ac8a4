// This file implements trusted proxies: which address a request is from,
// for the write rate limit, the admin allowlist and the access log. A
// peer's word about the client it forwards (a PROXY protocol header at the
// start of the connection, an X-Forwarded-For or Forwarded field) is
// believed only when that peer is in Proxies.Trusted; from anyone else such
// words are ignored, so a client cannot pick its own address.

package serve

import (
	"bytes"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/jawas/jawas/engine/internal/http1"
)

// ForwardedHeader names the request header a trusted proxy adds the client
// to. One only: a proxy that appends to one passes the other through as
// the client sent it.
type ForwardedHeader uint8

const (
	XForwardedFor     ForwardedHeader = iota // X-Forwarded-For: client, proxy1, proxy2
	Forwarded                                // Forwarded: for=client, for=proxy1 (RFC 7239)
	NoForwardedHeader                        // believe no header (the PROXY protocol only)
)

// ParseForwardedHeader maps a config value ("x-forwarded-for", "forwarded",
// "none"; any case) to a ForwardedHeader.
func ParseForwardedHeader(s string) (ForwardedHeader, bool) {
	switch strings.ToLower(s) {
	case "", "x-forwarded-for":
		return XForwardedFor, true
	case "forwarded":
		return Forwarded, true
	case "none":
		return NoForwardedHeader, true
	}
	return 0, false
}

// Proxies says whose word about the client is believed.
type Proxies struct {
	// Trusted are the networks of proxies in front of jawas. Empty: every
	// peer is the client, and forwarding headers are ignored.
	Trusted []netip.Prefix
	// Protocol: a connection from a trusted peer starts with a PROXY
	// protocol header (v1 or v2), which names the client; a malformed or
	// missing header closes the connection. Connections from other peers
	// are plain HTTP.
	Protocol bool
	// Header is the field a trusted proxy names the client in.
	Header ForwardedHeader
}

// trusted reports whether ip is a trusted proxy.
func (p *Proxies) trusted(ip netip.Addr) bool {
	for _, n := range p.Trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// setClient makes ip the connection's client: whether it may use the admin
// endpoints, and whether its forwarding headers are believed. Loop
// goroutine only.
func (l *loop) setClient(c *conn, ip netip.Addr) {
	c.ops.client, c.ops.reqClient, c.ops.clientS = ip, ip, ""
	c.ops.admin = l.adminNet(ip)
	px := &l.s.opt.Proxies
	c.ops.forwarded = px.Header != NoForwardedHeader && px.trusted(ip)
}

// adminNet reports whether ip may use the admin endpoints.
func (l *loop) adminNet(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	nets := l.s.opt.Admin.Networks
	if nets == nil {
		nets = loopback
	}
	for _, p := range nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// proxyHeader reads the PROXY protocol header a trusted peer starts its
// connection with, and returns the input after it (nil: nothing more yet,
// or the connection was closed). Loop goroutine only.
func (l *loop) proxyHeader(c *conn, buf []byte) []byte {
	var h http1.ProxyHeader
	n, err := http1.ParseProxy(buf, &h)
	if err != nil {
		l.s.opt.Log.Debug("serve: closing a connection with a malformed PROXY protocol header", "peer", c.ops.peer, "err", err)
		l.ops.m.ProxyRefused.Add(1)
		l.close(c)
		return nil
	}
	if n == 0 {
		l.keep(c, buf, 0)
		return nil
	}
	c.proxyWait = false
	if !h.Local {
		l.setClient(c, h.Src.Addr().Unmap())
	}
	l.keep(c, buf, n)
	return c.in
}

// requestClient sets c.ops.reqClient, the client req is from: the
// connection's client, or, when that is a trusted proxy, the nearest
// address its forwarding header names that is not a trusted proxy itself
// (read right to left: each trusted hop appended the one before it).
// Loop goroutine only.
func (l *loop) requestClient(c *conn, req *http1.Request) {
	c.ops.reqClient = c.ops.client
	if !c.ops.forwarded {
		return
	}
	px := &l.s.opt.Proxies
	name := "x-forwarded-for"
	if px.Header == Forwarded {
		name = "forwarded"
	}
	addr := c.ops.client
	for i := len(req.Headers) - 1; i >= 0; i-- {
		h := &req.Headers[i]
		if len(h.Name) != len(name) || !equalFoldASCII(h.Name, name) {
			continue
		}
		for v := h.Value; len(v) > 0; {
			elem := v
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				elem, v = v[j+1:], v[:j]
			} else {
				v = nil
			}
			elem = bytes.TrimSpace(elem)
			if len(elem) == 0 {
				continue
			}
			if px.Header == Forwarded {
				elem = forwardedFor(elem)
			}
			a, ok := parseNodeAddr(elem)
			if !ok {
				c.ops.reqClient = addr // unknown or malformed: the last hop we can name
				return
			}
			addr = a
			if !px.trusted(addr) {
				c.ops.reqClient = addr
				return
			}
		}
	}
	c.ops.reqClient = addr
}

// forwardedFor returns the value of the for= parameter of one Forwarded
// element (RFC 7239 §4), unquoted; nil when absent.
func forwardedFor(elem []byte) []byte {
	for len(elem) > 0 {
		pair := elem
		if j := bytes.IndexByte(elem, ';'); j >= 0 {
			pair, elem = elem[:j], elem[j+1:]
		} else {
			elem = nil
		}
		pair = bytes.TrimSpace(pair)
		if len(pair) > 4 && equalFoldASCII(pair[:4], "for=") {
			v := pair[4:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return nil
}

// parseNodeAddr parses a forwarded node: an IPv4 or IPv6 address,
// optionally with a port ("192.0.2.7:4711", "[2001:db8::7]:4711", the
// bracketed form also without a port). "unknown" and obfuscated names are
// not addresses.
func parseNodeAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || (end+1 < len(b) && b[end+1] != ':') {
			return netip.Addr{}, false
		}
		a, ok := parseIP(b[1:end])
		return a, ok && a.Is6()
	}
	if i := bytes.IndexByte(b, ':'); i >= 0 && bytes.IndexByte(b[i+1:], ':') < 0 {
		b = b[:i] // IPv4 with a port
	}
	return parseIP(b)
}

// parseIP parses an IP address without allocating: b is viewed as a
// string, which is safe because ParseAddr keeps none of it once zones
// ('%') are refused here.
func parseIP(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// equalFoldASCII compares b with the lower-case ASCII s, ignoring case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
