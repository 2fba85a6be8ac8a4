//go:build unix

package main

import (
	"bytes"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jawas/jawas/bench/internal/fakehttp"
)

// fakeServer answers each GET on its connections, cycling through answers:
// a 200 written in pieces (so the client reads it in several reads), a 200
// in one write, and a 500 the clients must not count. It counts the 200s it
// starts to send, after delay, and notes when a client pipelined (sent a
// request before the previous one's answer).
type fakeServer struct {
	addr      string
	delay     time.Duration
	sent      atomic.Int64 // 200s started
	pipelined atomic.Bool
}

var fakeAnswers = [][]byte{
	[]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"),
	[]byte("HTTP/1.1 200 OK\r\ncontent-length:2\r\n\r\nok"),
	[]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"),
}

func newFakeServer(t *testing.T, delay time.Duration) *fakeServer {
	s := &fakeServer{delay: delay}
	s.addr = fakehttp.Start(t, func(c net.Conn, k int, pipelined bool) error {
		if pipelined {
			s.pipelined.Store(true)
		}
		time.Sleep(s.delay)
		a := fakeAnswers[k%len(fakeAnswers)]
		if bytes.HasPrefix(a, []byte("HTTP/1.1 200")) {
			s.sent.Add(1) // before writing: the client may count it before this goroutine runs again
		}
		if k%len(fakeAnswers) != 0 {
			_, err := c.Write(a)
			return err
		}
		for i := 0; i < len(a); i += 7 { // pieces of 7 bytes, each its own segment
			if _, err := c.Write(a[i:min(i+7, len(a))]); err != nil {
				return err
			}
			time.Sleep(50 * time.Microsecond)
		}
		return nil
	})
	return s
}

func TestClients(t *testing.T) {
	const conns, d = 8, 500 * time.Millisecond
	for _, kind := range []string{"epoll", "raw", "nethttp"} {
		for _, tc := range []struct {
			name  string
			rate  float64       // total; 0: flat out
			delay time.Duration // before each answer
		}{
			{"flat", 0, 0},
			{"paced", 400, 0},
			{"paced-slow-server", 400, 30 * time.Millisecond}, // interval 20 ms: every answer late
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				if kind == "epoll" && !epollSupported {
					t.Skip("epoll is Linux-only")
				}
				defer func(k string, g int) { *clientKind, *genThreads = k, g }(*clientKind, *genThreads)
				*clientKind, *genThreads = kind, 2
				// The fake server runs in this process, unlike the bench's
				// servers: give it Ps of its own. Two thread-locked epoll
				// loops in blocking waits hold both Ps of a 2-core box, and
				// the server's goroutines then wait for sysmon to take one
				// back, up to 10 ms once the loops' yields let sysmon sleep.
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), *genThreads+2)))
				s := newFakeServer(t, tc.delay)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				tl := load(s.addr, getReq, 200, conns, *genThreads, tc.rate, stop, &wg)
				time.Sleep(d)
				close(stop)
				wg.Wait()
				ok, sent, late := tl.OK.Load(), s.sent.Load(), tl.Late.Load()
				// Answers still in flight at stop were sent, not counted.
				if ok == 0 || ok > sent || ok < sent-conns {
					t.Fatalf("counted %d 200s, server sent %d (%d connections)", ok, sent, conns)
				}
				if s.pipelined.Load() {
					t.Fatal("a client sent a request before the previous answer")
				}
				switch {
				case tc.rate > 0 && tc.delay == 0:
					// 200s are 2 of every 3 answers; allow the stagger and timer slack.
					want := 2.0 / 3 * tc.rate * d.Seconds()
					if got := float64(ok); got < 0.7*want || got > 1.1*want {
						t.Fatalf("paced at %.0f/s: counted %d 200s in %v, want about %.0f", tc.rate, ok, d, want)
					}
				case tc.delay > 0:
					// Each connection sends on its answer, late, every delay.
					if max := float64(conns) * d.Seconds() / tc.delay.Seconds(); float64(ok) > max {
						t.Fatalf("counted %d 200s, at most %.0f possible without pipelining", ok, max)
					}
					if late < ok/2 {
						t.Fatalf("%d late sends for %d 200s; every send after the first should be late", late, ok)
					}
				}
			})
		}
	}
}
