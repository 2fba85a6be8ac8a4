//go:build unix

package serve

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// peerIP returns the IP address of socket fd's peer.
func peerIP(fd int) (netip.Addr, bool) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.Addr{}, false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr), true
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap(), true
	}
	return netip.Addr{}, false
}
