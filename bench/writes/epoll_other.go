//go:build unix && !linux

// This file stands in for epoll_linux.go, because -client epoll drives
// sockets with epoll, which only Linux has: elsewhere the default client is
// raw, and main refuses -client epoll before any load starts.

package main

import (
	"sync"
	"time"
)

const (
	defaultClient  = "raw"
	epollSupported = false
)

// epollLoad is never called: main rejects -client epoll here.
func epollLoad(addr string, req []byte, want, n, loops int, every time.Duration, t *tally, stop <-chan struct{}, wg *sync.WaitGroup) {
	panic("writes: -client epoll is Linux-only")
}
