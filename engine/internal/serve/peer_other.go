//go:build !unix

package serve

import "net/netip"

// peerIP is unknown off Unix (the server itself needs Linux's epoll).
func peerIP(fd int) (netip.Addr, bool) { return netip.Addr{}, false }
