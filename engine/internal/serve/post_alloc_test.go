//go:build linux

package serve

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jawas/jawas/engine/internal/netpoll"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// BenchmarkHandlePost: the loop's side of a POST (parse, hand to
// Options.Write, answer from done, as completeWrites does), with a Write
// that answers at once with a fixed 202 body: what the loop itself costs
// per write, without the journal.
func BenchmarkHandlePost(b *testing.B) {
	dir := b.TempDir()
	store, err := snapshot.Create(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	publish(b, store, "/q.json", clockBody, "application/json", 200*time.Millisecond)
	lfd, err := netpoll.Listen("127.0.0.1:0", 16, false)
	if err != nil {
		b.Fatal(err)
	}
	defer netpoll.Close(lfd)
	accepted := []byte(`{"id":"0123456789abcdef01234567-0000000000000001","visible_at":1,"status_url":"/_jawas/events/0123456789abcdef01234567-0000000000000001","period_ms":200}`)
	s, err := New(Options{ListenFD: lfd, Loops: 1, SnapshotDir: dir,
		Write: func(w Write, done Done) { done.Answer(WriteResult{Status: 202, Body: accepted}) }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { s.Shutdown(context.Background()); s.store.Close() }()
	l := s.loops[0]
	l.tick()
	// A real socket, so completeWrites finds the conn and flush writes
	// the answer; the other end is drained every iteration.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[1])
	c := l.newConn(fds[0])
	for len(l.conns) <= fds[0] {
		l.conns = append(l.conns, nil)
	}
	l.conns[fds[0]] = c
	sink := make([]byte, 64<<10)
	raw := []byte("POST /q.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\n")
	b.ReportAllocs()
	for b.Loop() {
		handleRaw(b, l, c, raw)
		l.completeWrites()
		if c.hasOutput() {
			b.Fatal("answer not written")
		}
		if n, _ := unix.Read(fds[1], sink); n < 200 {
			b.Fatalf("answer of %d bytes", n)
		}
	}
}
