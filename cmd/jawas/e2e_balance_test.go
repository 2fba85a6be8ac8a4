package main

import (
	"testing"
	"time"
)

// TestE2EConnectionsSpreadOverWorkers opens a burst of keep-alive
// connections, as wrk or a reconnecting load balancer does: with one shared
// listener the kernel tends to hand the whole burst to one worker, and the
// accept balancing must spread it so every core serves.
func TestE2EConnectionsSpreadOverWorkers(t *testing.T) {
	s := startServe(t, newProject(t, "workers = 2"))
	workers := s.waitChildren("worker", 2, 10*time.Second)
	s.waitOK("/clock.json", 5*time.Second)
	time.Sleep(300 * time.Millisecond) // both workers ready and idle
	base := map[int]int{}
	for _, w := range workers {
		base[w.pid] = socketCount(w.pid)
	}
	const n = 80
	var conns []*rawConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := dial(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if r, err := c.get("/clock.json"); err != nil || r.status != 200 {
			t.Fatalf("connection %d: %v %+v", i, err, r)
		}
	}
	var got []int
	for _, w := range workers {
		got = append(got, socketCount(w.pid)-base[w.pid])
	}
	t.Logf("%d connections spread over the workers as %v", n, got)
	for _, c := range got {
		if c < n/4 {
			t.Errorf("a worker holds %d of %d connections (%v): the burst was not balanced", c, n, got)
		}
	}
}
