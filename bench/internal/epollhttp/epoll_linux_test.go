//go:build linux

package epollhttp

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jawas/jawas/bench/internal/fakehttp"
)

// server answers every request on its connections in turn with one of
// answers, and counts what it sent with the marked header.
type server struct {
	addr    string
	answers [][]byte
	marked  atomic.Int64 // 202s sent with the header
	all     atomic.Int64 // 202s sent
}

func newServer(t *testing.T, answers ...string) *server {
	s := &server{}
	for _, a := range answers {
		s.answers = append(s.answers, []byte(a))
	}
	s.addr = fakehttp.Start(t, func(c net.Conn, k int, _ bool) error {
		a := s.answers[k%len(s.answers)]
		if bytes.HasPrefix(a, []byte("HTTP/1.1 202")) {
			s.all.Add(1)
			if bytes.Contains(bytes.ToLower(a), []byte("x-jawas-replicated: yes")) {
				s.marked.Add(1)
			}
		}
		_, err := c.Write(a)
		return err
	})
	return s
}

// TestLoadCountsMarkedAcrossAddrs: connections spread over every address
// given, and Marked counts exactly the wanted answers that carry Mark
// (in any case), OK every wanted answer.
func TestLoadCountsMarkedAcrossAddrs(t *testing.T) {
	a := newServer(t,
		"HTTP/1.1 202 Accepted\r\nX-Jawas-Replicated: yes\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 202 Accepted\r\nx-jawas-replicated: pending\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 503 Service Unavailable\r\nX-Jawas-Replicated: yes\r\nContent-Length: 0\r\n\r\n")
	b := newServer(t, "HTTP/1.1 202 Accepted\r\nCONTENT-LENGTH: 0\r\nx-JAWAS-replicated: YES\r\n\r\n")
	c := &Counts{Mark: "\r\nX-Jawas-Replicated: yes\r\n"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	Load([]string{a.addr, b.addr}, []byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), 202, 4, 2, 0, c, stop, &wg)
	deadline := time.Now().Add(10 * time.Second)
	for (a.all.Load() < 100 || b.all.Load() < 100) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if a.all.Load() < 100 || b.all.Load() < 100 {
		t.Fatalf("after 10 s: %d answers from the first address, %d from the second; want connections to both", a.all.Load(), b.all.Load())
	}
	// A connection stops at stop between answers, so the server may have
	// sent one answer per connection that the client never read.
	okSent, markedSent := a.all.Load()+b.all.Load(), a.marked.Load()+b.marked.Load()
	if got := c.OK.Load(); got > okSent || got < okSent-4 {
		t.Errorf("OK = %d, server sent %d 202s", got, okSent)
	}
	if got := c.Marked.Load(); got > markedSent || got < markedSent-4 {
		t.Errorf("Marked = %d, server sent %d marked 202s", got, markedSent)
	}
	if c.Marked.Load() >= c.OK.Load() {
		t.Errorf("Marked %d ≥ OK %d: the pending answers were counted as marked", c.Marked.Load(), c.OK.Load())
	}
}
