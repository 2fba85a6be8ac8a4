// Command writes benchmarks jawas's write path with the real binary:
// acknowledged writes/s at 64 concurrent writers with durability "sync"
// (group commit; fsyncs/s from the workers' journal stats) and "none", and
// read throughput alone versus while writes run.
//
//	go run ./bench/writes -jawas bin/jawas -d 5s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const queueJS = `
export const initial = { n: 0 };
export function post(state, event) { state.n++; }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n }; }
`

func main() {
	bin := flag.String("jawas", "bin/jawas", "jawas binary")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	writers := flag.Int("writers", 64, "concurrent writers")
	readers := flag.Int("readers", 32, "concurrent readers")
	flag.Parse()
	for _, d := range []string{"sync", "none"} {
		n, fsyncs, secs, err := writeRun(*bin, d, *writers, *dur)
		if err != nil {
			fmt.Fprintln(os.Stderr, "writes:", err)
			os.Exit(1)
		}
		goal := map[string]int{"sync": 10000, "none": 50000}[d]
		fmt.Printf("durability=%-4s writers=%d  acknowledged %8.0f writes/s  fsyncs %6.0f/s  (goal >= %d/s)\n", d, *writers, float64(n)/secs, float64(fsyncs)/secs, goal)
	}
	alone, with, err := readRun(*bin, *readers, *writers, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes:", err)
		os.Exit(1)
	}
	fmt.Printf("reads alone %8.0f req/s; while %d writers run %8.0f req/s (%.1f%% lower; goal < 10%%)\n", alone, *writers, with, 100*(1-with/alone))
}

type server struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

func start(bin, durability string) (*server, error) {
	dir, err := os.MkdirTemp("", "jawas-bench-writes-")
	if err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(dir, "sources"), 0o755)
	os.WriteFile(filepath.Join(dir, "sources", "q.js"), []byte(queueJS), 0o644)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	toml := fmt.Sprintf("[serve]\nlisten = %q\ndurability = %q\nshutdown_timeout = \"3s\"\n", addr, durability)
	os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-C", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, addr: addr, log: logf.Name()}
	for i := 0; i < 200; i++ {
		if r, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/_jawas/writes.json"); err == nil {
			r.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("jawas did not start (log %s)", s.log)
}

// stop drains the server (SIGTERM) and returns the fsyncs its workers
// reported when closing their journals.
func (s *server) stop() int64 {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	b, _ := os.ReadFile(s.log)
	var n int64
	for _, m := range regexp.MustCompile(`journal closed.* fsyncs=(\d+)`).FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += v
	}
	os.RemoveAll(filepath.Dir(s.log))
	return n
}

// load runs n keep-alive clients sending req until stop, counting answers
// with status want.
func load(addr, req string, want, n int, stop <-chan struct{}) *atomic.Int64 {
	var count atomic.Int64
	for i := 0; i < n; i++ {
		go func() { // one client connection
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := io.WriteString(c, req); err != nil {
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode == want {
					count.Add(1)
				}
			}
		}()
	}
	return &count
}

const postReq = "POST /q.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\n"
const getReq = "GET /q.json HTTP/1.1\r\nHost: x\r\n\r\n"

func writeRun(bin, durability string, writers int, d time.Duration) (n, fsyncs int64, secs float64, err error) {
	s, err := start(bin, durability)
	if err != nil {
		return 0, 0, 0, err
	}
	stop := make(chan struct{})
	c := load(s.addr, postReq, 202, writers, stop)
	t0 := time.Now()
	time.Sleep(d)
	n = c.Load()
	secs = time.Since(t0).Seconds()
	close(stop)
	fsyncs = s.stop()
	return n, fsyncs, secs, nil
}

func readRun(bin string, readers, writers int, d time.Duration) (alone, with float64, err error) {
	s, err := start(bin, "sync")
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	var mu sync.Mutex
	measure := func(withWrites bool) float64 {
		mu.Lock()
		defer mu.Unlock()
		stop := make(chan struct{})
		if withWrites {
			load(s.addr, postReq, 202, writers, stop)
		}
		c := load(s.addr, getReq, 200, readers, stop)
		t0 := time.Now()
		time.Sleep(d)
		r := float64(c.Load()) / time.Since(t0).Seconds()
		close(stop)
		time.Sleep(200 * time.Millisecond)
		return r
	}
	return measure(false), measure(true), nil
}
