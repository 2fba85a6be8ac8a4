//go:build unix

// Command writes benchmarks jawas's write path with the real binary:
// acknowledged writes/s at 64 concurrent writers with durability "sync"
// (group commit; fsyncs per write from the workers' journal stats) and
// "none", and read throughput alone versus while writes run.
//
//	go run ./bench/writes -jawas bin/jawas -d 5s
//
// The clients are raw kept-alive TCP connections sending preformatted
// request bytes and reading each response with a few byte scans (see
// client below), because net/http's client cost more CPU than the server on
// these 2 shared cores and so measured itself. Every run prints the CPU
// both sides used during the measured window: the server's summed over its
// process tree (/proc, bench/internal/proc), the generator's from
// getrusage(RUSAGE_SELF) (its own threads only, never the server's).
// -client nethttp runs the old net/http client for comparison.
//
// JAWAS_BENCH_KEEP=1 leaves the project directory (log, journal) behind.
package main

import (
	"bufio"
	"bytes"
	"errors"
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

	"github.com/jawas/jawas/bench/internal/proc"
)

const queueJS = `
export const initial = { n: 0 };
export function post(state, event) { state.n++; }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n }; }
`

var (
	clientKind = flag.String("client", "raw", "load client: raw (preformatted bytes on kept-alive TCP) or nethttp (net/http's response reader)")
	warmup     = flag.Duration("warmup", 500*time.Millisecond, "load before the measured window")
	workers    = flag.Int("workers", 0, "serve.workers (0: jawas's default)")
)

func main() {
	bin := flag.String("jawas", "bin/jawas", "jawas binary")
	dur := flag.Duration("d", 5*time.Second, "duration of each measured window")
	writers := flag.Int("writers", 64, "concurrent writers")
	readers := flag.Int("readers", 32, "concurrent readers")
	flag.Parse()
	if *clientKind != "raw" && *clientKind != "nethttp" {
		fmt.Fprintln(os.Stderr, "writes: -client must be raw or nethttp")
		os.Exit(2)
	}
	fmt.Printf("client=%s; CPU columns: µs per answered request (server = jawas process tree, gen = this load generator)\n", *clientKind)
	for _, d := range []string{"sync", "none"} {
		r, fsyncs, err := writeRun(*bin, d, *writers, *dur)
		if err != nil {
			fmt.Fprintln(os.Stderr, "writes:", err)
			os.Exit(1)
		}
		goal := map[string]int{"sync": 10000, "none": 50000}[d]
		fmt.Printf("durability=%-4s writers=%d  acknowledged %8.0f writes/s  fsyncs %6.0f/s  (goal >= %d/s)  %s\n",
			d, *writers, r.rate(), fsyncs*r.rate(), goal, r.cpu())
	}
	alone, with, err := readRun(*bin, *readers, *writers, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes:", err)
		os.Exit(1)
	}
	fmt.Printf("reads alone %8.0f req/s  %s\n", alone.rate(), alone.cpu())
	fmt.Printf("reads while %d writers run %8.0f req/s (%.1f%% lower; goal < 10%%)  writes meanwhile %.0f/s  %s\n",
		*writers, with.rate(), 100*(1-with.rate()/alone.rate()), float64(with.other)/with.secs, with.cpu())
}

type server struct {
	cmd  *exec.Cmd
	dir  string
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
	if *workers > 0 {
		toml += fmt.Sprintf("workers = %d\n", *workers)
	}
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
	s := &server{cmd: cmd, dir: dir, addr: addr, log: logf.Name()}
	for i := 0; i < 200; i++ {
		if r, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/_jawas/writes.json"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("jawas did not start (log %s)", s.log)
}

// stop drains the server (SIGTERM) and returns the fsyncs per accepted
// write its workers reported when closing their journals.
func (s *server) stop() (fsyncsPerWrite float64) {
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
	var accepted, fsyncs int64
	for _, m := range regexp.MustCompile(`journal closed.* accepted=(\d+).* fsyncs=(\d+)`).FindAllSubmatch(b, -1) {
		a, _ := strconv.ParseInt(string(m[1]), 10, 64)
		f, _ := strconv.ParseInt(string(m[2]), 10, 64)
		accepted += a
		fsyncs += f
	}
	if os.Getenv("JAWAS_BENCH_KEEP") == "" {
		os.RemoveAll(s.dir)
	} else {
		fmt.Fprintln(os.Stderr, "kept", s.dir)
	}
	if accepted == 0 {
		return 0
	}
	return float64(fsyncs) / float64(accepted)
}

// client is one kept-alive connection that sends req, waits for the whole
// response, counts it when its status is want, and repeats until stop. It
// never pipelines. The response reader handles what jawas sends: a status
// line, headers with Content-Length, and that many body bytes.
func client(addr string, req []byte, want int, count *atomic.Int64, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes: dial:", err)
		return
	}
	defer c.Close()
	if *clientKind == "nethttp" {
		nethttpClient(c, req, want, count, stop)
		return
	}
	buf := make([]byte, 16<<10)
	n := 0 // bytes in buf
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := c.Write(req); err != nil {
			return
		}
		status, size := 0, -1 // size: header + body bytes, once known
		for size < 0 || n < size {
			if size < 0 {
				if end := bytes.Index(buf[:n], crlf2); end >= 0 {
					var err error
					if status, size, err = parseHead(buf[:end+4]); err != nil {
						fmt.Fprintln(os.Stderr, "writes:", err)
						return
					}
					if size > len(buf) {
						buf = append(buf, make([]byte, size-len(buf))...)
					}
					continue
				}
				if n == len(buf) {
					fmt.Fprintln(os.Stderr, "writes: response head too large")
					return
				}
			}
			m, err := c.Read(buf[n:])
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fmt.Fprintln(os.Stderr, "writes: read:", err)
				}
				return
			}
			n += m
		}
		if status == want {
			count.Add(1)
		}
		n = copy(buf, buf[size:n]) // nothing, unless the server sent more than asked
	}
}

var (
	crlf2  = []byte("\r\n\r\n")
	hCL    = []byte("\r\ncontent-length:")
	hCLLen = len(hCL)
)

// parseHead returns the status and the response's total size (head + body)
// from a response head ending in CRLF CRLF.
func parseHead(h []byte) (status, size int, err error) {
	if len(h) < 12 || !bytes.HasPrefix(h, []byte("HTTP/1.")) {
		return 0, 0, fmt.Errorf("bad status line %q", h[:min(len(h), 40)])
	}
	status, err = strconv.Atoi(string(h[9:12]))
	if err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", h[:min(len(h), 40)])
	}
	for i := 0; i+hCLLen <= len(h); i++ {
		if h[i] == '\r' && bytes.EqualFold(h[i:i+hCLLen], hCL) {
			v := h[i+hCLLen:]
			v = v[:bytes.IndexByte(v, '\r')]
			cl, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || cl < 0 {
				return 0, 0, fmt.Errorf("bad Content-Length %q", v)
			}
			return status, len(h) + cl, nil
		}
	}
	return 0, 0, fmt.Errorf("response without Content-Length: %q", h)
}

// nethttpClient is the client this bench used first (net/http's response
// parser), kept to show what it cost.
func nethttpClient(c net.Conn, req []byte, want int, count *atomic.Int64, stop <-chan struct{}) {
	br := bufio.NewReader(c)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := c.Write(req); err != nil {
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
}

// load runs n clients sending req until stop is closed; wg counts them.
func load(addr string, req []byte, want, n int, stop <-chan struct{}, wg *sync.WaitGroup) *atomic.Int64 {
	var count atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go client(addr, req, want, &count, stop, wg) // one client connection; ends at stop
	}
	return &count
}

var (
	postReq = []byte("POST /q.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\n")
	getReq  = []byte("GET /q.json HTTP/1.1\r\nHost: x\r\n\r\n")
)

// result is one measured window.
type result struct {
	n, other int64 // answers counted (and of the other kind, when mixed)
	secs     float64
	server   proc.CPU
	gen      proc.CPU
}

func (r result) rate() float64 { return float64(r.n) / r.secs }

func (r result) cpu() string {
	all := float64(r.n + r.other)
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / all }
	return fmt.Sprintf("server %5.1f µs/req (%3.0f%% sys, %3.0f%% of a core)  gen %5.1f µs/req (%3.0f%% of a core)",
		us(r.server.Total()), 100*float64(r.server.Sys)/float64(max(r.server.Total(), 1)),
		100*r.server.Total().Seconds()/r.secs, us(r.gen.Total()), 100*r.gen.Total().Seconds()/r.secs)
}

// selfCPU is the generator's own CPU (all its threads, no children).
func selfCPU() proc.CPU {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return proc.CPU{User: time.Duration(ru.Utime.Nano()), Sys: time.Duration(ru.Stime.Nano())}
}

// measure waits out the warmup, then counts answers and CPU for d.
func measure(s *server, d time.Duration, counts ...*atomic.Int64) (result, error) {
	time.Sleep(*warmup)
	c0 := make([]int64, len(counts))
	for i, c := range counts {
		c0[i] = c.Load()
	}
	s0, err := proc.Tree(s.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	g0, t0 := selfCPU(), time.Now()
	time.Sleep(d)
	var r result
	r.secs = time.Since(t0).Seconds()
	r.gen = selfCPU().Sub(g0)
	s1, err := proc.Tree(s.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	r.server = s1.Sub(s0)
	r.n = counts[0].Load() - c0[0]
	if len(counts) > 1 {
		r.other = counts[1].Load() - c0[1]
	}
	return r, nil
}

func writeRun(bin, durability string, writers int, d time.Duration) (result, float64, error) {
	s, err := start(bin, durability)
	if err != nil {
		return result{}, 0, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := load(s.addr, postReq, 202, writers, stop, &wg)
	r, err := measure(s, d, c)
	close(stop)
	wg.Wait()
	fsyncs := s.stop()
	return r, fsyncs, err
}

func readRun(bin string, readers, writers int, d time.Duration) (alone, with result, err error) {
	s, err := start(bin, "sync")
	if err != nil {
		return result{}, result{}, err
	}
	defer s.stop()
	run := func(withWrites bool) (result, error) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		w := new(atomic.Int64)
		if withWrites {
			w = load(s.addr, postReq, 202, writers, stop, &wg)
		}
		c := load(s.addr, getReq, 200, readers, stop, &wg)
		r, err := measure(s, d, c, w)
		close(stop)
		wg.Wait()
		return r, err
	}
	if alone, err = run(false); err != nil {
		return
	}
	with, err = run(true)
	return
}
