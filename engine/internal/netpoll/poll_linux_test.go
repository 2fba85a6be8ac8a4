//go:build linux

package netpoll

import (
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEchoLoop runs a real loop: a shared listener, accept until EAGAIN,
// read what arrives, answer with one writev of two segments.
func TestEchoLoop(t *testing.T) {
	lfd, err := Listen("127.0.0.1:0", 128, false)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(lfd)
	addr, err := Addr(lfd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(64)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AddListener(lfd); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	stop := make(chan struct{})
	// Loop goroutine: owns p and every accepted fd.
	go func() {
		buf := make([]byte, 4096)
		prefix := []byte("echo:")
		iov := make([]Iovec, 2)
		for {
			ready, woken, err := p.Wait(time.Second)
			if err != nil {
				done <- err
				return
			}
			if woken {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
			}
			for _, r := range ready {
				if r.Fd == lfd {
					for {
						fd, _, ok, err := Accept(lfd)
						if err != nil {
							done <- err
							return
						}
						if !ok {
							break
						}
						p.Add(fd, In|RdHup)
					}
					continue
				}
				n, eof, err := Read(r.Fd, buf)
				if err != nil || eof {
					Close(r.Fd)
					continue
				}
				if n == 0 {
					continue
				}
				iov[0], iov[1] = IovecOf(prefix), IovecOf(buf[:n])
				if _, err := Writev(r.Fd, iov); err != nil {
					done <- err
					return
				}
			}
		}
	}()

	for _, msg := range []string{"a", "hello", "a longer message of bytes"} {
		t.Run(msg, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			want := "echo:" + msg
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}

	close(stop)
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end a blocking Wait")
	}
}

func TestWaitTimesOutWhenIdle(t *testing.T) {
	p, err := Open(8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	ready, woken, err := p.Wait(20 * time.Millisecond)
	if err != nil || woken || len(ready) != 0 {
		t.Fatalf("idle wait: ready=%v woken=%v err=%v", ready, woken, err)
	}
	if time.Since(start) < 15*time.Millisecond {
		t.Fatalf("idle wait returned after %v, want it to block ~20ms", time.Since(start))
	}
	// A wake before the wait is not lost.
	p.Wake()
	if _, woken, _ := p.Wait(time.Second); !woken {
		t.Fatal("a Wake before Wait was lost")
	}
}

func TestAcceptEmptyQueue(t *testing.T) {
	lfd, err := Listen("127.0.0.1:0", 16, true)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(lfd)
	if _, _, ok, err := Accept(lfd); ok || err != nil {
		t.Fatalf("accept on empty queue: ok=%v err=%v", ok, err)
	}
}

// TestAcceptPeer: Accept names the client's address, IPv4 and IPv6
// (v4-mapped addresses unmapped), and sets TCP_NODELAY.
func TestAcceptPeer(t *testing.T) {
	for _, tc := range []struct{ listen, dial, want string }{
		{"127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
		{"[::1]:0", "::1", "::1"},
		{":0", "127.0.0.1", "127.0.0.1"}, // dual stack: ::ffff:127.0.0.1
	} {
		lfd, err := Listen(tc.listen, 16, false)
		if err != nil {
			t.Logf("%s: %v (no such stack here)", tc.listen, err)
			continue
		}
		addr, err := Addr(lfd)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		c, err := net.Dial("tcp", net.JoinHostPort(tc.dial, port))
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.listen, err)
		}
		var fd int
		var peer netip.Addr
		for ok := false; !ok; { // the connection is queued once Dial returned; a non-blocking accept may still race the handshake
			if fd, peer, ok, err = Accept(lfd); err != nil {
				t.Fatal(err)
			}
		}
		if peer.String() != tc.want {
			t.Errorf("%s: peer %v, want %s", tc.listen, peer, tc.want)
		}
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
			t.Errorf("%s: TCP_NODELAY %d %v", tc.listen, v, err)
		}
		c.Close()
		Close(fd)
		Close(lfd)
	}
}

// TestListenMaxBacklog: backlog 0 asks for net.core.somaxconn.
func TestListenMaxBacklog(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := maxBacklog(); got != min(want, 1<<16-1) || got <= 128 {
		t.Fatalf("maxBacklog() = %d, somaxconn %d", got, want)
	}
}

func TestRaiseNoFile(t *testing.T) {
	n, err := RaiseNoFile()
	if err != nil {
		t.Fatal(err)
	}
	if n < 64 {
		t.Fatalf("nofile limit %d", n)
	}
}

// TestBatchScheduling: every thread of the process, and a thread started
// afterwards, runs under SCHED_BATCH. (The test process keeps the policy.)
func TestBatchScheduling(t *testing.T) {
	if err := BatchScheduling(); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		a, err := unix.SchedGetAttr(tid, 0)
		if err == unix.ESRCH {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Policy != unix.SCHED_BATCH {
			t.Errorf("thread %d: policy %d, want SCHED_BATCH", tid, a.Policy)
		}
	}
	// Goroutines locked to their threads force the runtime to start more
	// threads than existed above; each must have inherited the policy.
	const n = 8
	policies := make(chan uint32, n)
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread() // exits with the goroutine: the thread is not reused
			a, err := unix.SchedGetAttr(0, 0)
			if err != nil {
				policies <- 1 << 31
			} else {
				policies <- a.Policy
			}
			<-release
		}()
	}
	for i := 0; i < n; i++ {
		if p := <-policies; p != unix.SCHED_BATCH {
			t.Errorf("a thread started later: policy %d, want SCHED_BATCH", p)
		}
	}
	close(release)
}
