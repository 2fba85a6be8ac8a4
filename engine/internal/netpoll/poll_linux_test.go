//go:build linux

package netpoll

import (
	"io"
	"net"
	"testing"
	"time"
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
						fd, ok, err := Accept(lfd)
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
	if _, ok, err := Accept(lfd); ok || err != nil {
		t.Fatalf("accept on empty queue: ok=%v err=%v", ok, err)
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
