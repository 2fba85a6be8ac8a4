//go:build linux

// -client epoll, the default load client on Linux, is package epollhttp's
// event loops (bench/internal/epollhttp: why and how).

package main

import (
	"sync"
	"time"

	"github.com/jawas/jawas/bench/internal/epollhttp"
)

const (
	defaultClient  = "epoll"
	epollSupported = true
)

// epollLoad starts min(loops, n) event loops that share load's n
// connections round-robin, each connection sending every `every`
// (staggered over one interval) or flat out when every is 0. wg counts the
// loops.
func epollLoad(addr string, req []byte, want, n, loops int, every time.Duration, t *tally, stop <-chan struct{}, wg *sync.WaitGroup) {
	epollhttp.Load([]string{addr}, req, want, n, loops, every, &t.Counts, stop, wg)
}
