//go:build unix

// Command writes benchmarks jawas's write path with the real binary:
// acknowledged writes/s at 64 concurrent writers with durability "sync"
// (group commit; fsyncs per write from the workers' journal stats) and
// "none", and read throughput alone versus while writes run.
//
//	go run ./bench/writes -jawas bin/jawas -d 5s
//
// Every client is one kept-alive connection that sends preformatted request
// bytes, reads the whole response (status line, headers with
// Content-Length, body; see parseHead), counts it when its status is the
// wanted one, and repeats until stop. It never pipelines. The clients share
// the 2 cores with the server, so their own CPU limits what the bench can
// show; -client picks how they run:
//
//   - epoll (the default on Linux; epoll_linux.go): -gen-threads event
//     loops per load (default 1), each on its own OS thread, drive
//     non-blocking sockets outside Go's netpoller with level-triggered epoll
//     and raw read/write syscalls; the cheapest per request.
//   - raw (the default elsewhere): one goroutine per connection on net.Conn.
//   - nethttp: the bench's first client, net/http's response reader, kept to
//     show what it cost.
//
// A load is flat out (each connection sends again as soon as its answer is
// complete) or paced at a total rate: each of the n connections then sends
// every n/rate seconds, staggered, never more than one request in flight; a
// request whose fire time passed while the previous answer was still out
// goes as soon as that answer is complete and counts as a late send.
//
// Lines printed (each window measured after -warmup):
//
//	durability=sync / none   64 writers flat out for -d, each window on a
//	                         fresh server, -write-rounds windows per
//	                         durability (alternating): the median window
//	reads alone, the N windows beside R: …    32 readers flat out
//	reads while 64 writers post R: …          the same readers while the
//	                         writers post at each -write-rates total rate R,
//	                         then flat out
//
// The read lines share one server (-read-durability, default sync) and
// one set of readers, which run throughout. For each rate the bench takes
// -rounds pairs of -read-window windows back to back, one without writes
// and one with the writers started for it (even pairs without writes
// first, odd pairs with writes first), and prints the median of the
// pairs' ratios with their range: the 2-core box's speed drifts by tens
// of percent within a minute, and a pair sees the same drift on both
// sides, which one "alone" window measured first did not.
// Every line shows the CPU both sides used: the server's summed over its
// process tree (/proc, bench/internal/proc), the generator's from
// getrusage(RUSAGE_SELF) (its own threads only, never the server's) plus
// the writers' child process, each per answered request of every kind and
// as a share of a core. Server CPU per read alone is not separable from
// the writes' in the mixed windows, so those lines give the total.
//
// -only writes|reads runs one half; -commit-window sets
// serve.commit_window on every server.
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
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jawas/jawas/bench/internal/epollhttp"
	"github.com/jawas/jawas/bench/internal/proc"
)

const queueJS = `
export const initial = { n: 0 };
export function post(state, event) { state.n++; }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n }; }
`

var (
	clientKind = flag.String("client", defaultClient, "load client: epoll (event loops on raw sockets, Linux only), raw (a goroutine per kept-alive net.Conn) or nethttp (net/http's response reader)")
	genThreads = flag.Int("gen-threads", 1, "event loops (one OS thread each) per load of -client epoll in the read windows (1 cost less CPU per request than 2 on 2 cores)")
	// Flat out, one loop leaves the box partly idle (it waits for answers
	// while the server waits for requests); two keep both cores busy, as
	// wrk -t2 does in the serving bench, and gave more writes/s (figures in
	// bench/README.md).
	writeGenThreads = flag.Int("write-gen-threads", 2, "event loops per load of -client epoll in the flat-out write windows")
	warmup          = flag.Duration("warmup", 500*time.Millisecond, "load before the measured window")
	writersProcess  = flag.Bool("writers-process", true, "in the read windows, run the writers' load in a child process (as separate clients), not beside the readers' loop in this one")
	writerChildArg  = flag.String("writer-child", "", "internal: run as the writers' child process (ADDR,RATE,N)")
	serverCPUs      = flag.String("server-cpus", "", "run jawas under taskset -c with this CPU list (e.g. 0; run the bench itself under taskset -c 1 to keep the two apart)")
	readDurability  = flag.String("read-durability", "sync", "serve.durability of the server the read windows run against")
	workers         = flag.Int("workers", 0, "serve.workers (0: jawas's default)")
	writeRounds     = flag.Int("write-rounds", 5, "write windows per durability (alternating sync and none, each on a fresh server); the median is printed")
	rounds          = flag.Int("rounds", 5, "pairs of read windows (without writes, with writes) per write rate")
	readWindow      = flag.Duration("read-window", time.Second, "duration of each read window (after -warmup)")
	commitWindow    = flag.String("commit-window", "", "serve.commit_window of every server (empty: jawas's default)")
	only            = flag.String("only", "", "run only the write windows (writes) or only the read windows (reads); empty: both")
	nginxBin        = flag.String("nginx", "nginx", "nginx binary for the write windows' baseline (return 202, no journal); empty: no baseline")
)

func main() {
	bin := flag.String("jawas", "bin/jawas", "jawas binary")
	dur := flag.Duration("d", 5*time.Second, "duration of each measured window")
	writers := flag.Int("writers", 64, "concurrent writers")
	readers := flag.Int("readers", 32, "concurrent readers")
	rateList := flag.String("write-rates", "1000,5000", "comma-separated total write rates (requests/s) to measure reads against")
	flag.Parse()
	// Each epoll load loop keeps a P while busy; with a P to spare per loop
	// plus one, the other loops and the measuring goroutine never wait for
	// the runtime to preempt one (GOMAXPROCS follows the CPU affinity, so
	// it is 1 when this process is pinned to one CPU).
	if n := 2*max(*genThreads, *writeGenThreads) + 1; runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	if *writerChildArg != "" {
		if err := writerChild(*writerChildArg); err != nil {
			fmt.Fprintln(os.Stderr, "writes:", err)
			os.Exit(2)
		}
		return
	}
	switch *clientKind {
	case "raw", "nethttp":
	case "epoll":
		if !epollSupported {
			fmt.Fprintln(os.Stderr, "writes: -client epoll is Linux-only; use -client raw")
			os.Exit(2)
		}
	default:
		fmt.Fprintln(os.Stderr, "writes: -client must be epoll, raw or nethttp")
		os.Exit(2)
	}
	if *only != "" && *only != "reads" && *only != "writes" {
		fmt.Fprintln(os.Stderr, "writes: -only must be reads or writes")
		os.Exit(2)
	}
	if *rounds < 1 || *writeRounds < 1 {
		fmt.Fprintln(os.Stderr, "writes: -rounds and -write-rounds must be at least 1")
		os.Exit(2)
	}
	if *genThreads < 1 || *writeGenThreads < 1 {
		fmt.Fprintln(os.Stderr, "writes: -gen-threads and -write-gen-threads must be at least 1")
		os.Exit(2)
	}
	rates, err := parseRates(*rateList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes: -write-rates:", err)
		os.Exit(2)
	}
	gen := *clientKind
	if gen == "epoll" {
		gen += fmt.Sprintf(" (%d loops per load in the write windows, %d in the read windows)", *writeGenThreads, *genThreads)
	}
	fmt.Printf("client=%s; CPU columns: µs per answered request (server = jawas process tree, gen = this load generator)\n", gen)
	// Write windows alternate between the durabilities, -write-rounds
	// times, each on a fresh server; the line per durability is the
	// median window (by writes/s), with the others' rates beside it.
	//
	// The baseline, in the same alternation: nginx answering each POST
	// with a fixed 202 and no journal at all (`return 202`), the most an
	// HTTP server does for these writers on this box at this moment; the
	// "none" line gives its ratio to it, which the box's speed (it drifts
	// by a quarter within an hour here) moves much less than writes/s.
	kinds := []string{"sync", "none"}
	if *nginxBin != "" {
		if _, err := exec.LookPath(*nginxBin); err != nil {
			fmt.Fprintf(os.Stderr, "writes: no baseline (%s not found; -nginx \"\" to skip it)\n", *nginxBin)
		} else {
			kinds = append(kinds, "nginx")
		}
	}
	wins := map[string][]writeWin{}
	for i := 0; i < *writeRounds && *only != "reads"; i++ {
		for _, d := range kinds {
			var r result
			var fsyncs float64
			var err error
			if d == "nginx" {
				r, err = nginxRun(*nginxBin, *writers, *dur)
			} else {
				r, fsyncs, err = writeRun(*bin, d, *writers, *dur)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "writes:", err)
				os.Exit(1)
			}
			wins[d] = append(wins[d], writeWin{r, fsyncs})
		}
	}
	medians := map[string]float64{}
	for _, d := range kinds {
		w := wins[d]
		if len(w) == 0 {
			continue
		}
		sort.Slice(w, func(i, j int) bool { return w[i].r.rate() < w[j].r.rate() })
		m := w[len(w)/2]
		medians[d] = m.r.rate()
		rates := make([]string, len(w))
		for i := range w {
			rates[i] = fmt.Sprintf("%.0f", w[i].r.rate())
		}
		if d == "nginx" {
			fmt.Printf("baseline: nginx return 202, writers=%d  answered %8.0f/s (median of %d windows: %s)  no journal  %s\n",
				*writers, m.r.rate(), len(w), strings.Join(rates, " "), m.r.cpu())
			continue
		}
		goal := map[string]int{"sync": 10000, "none": 50000}[d]
		fmt.Printf("durability=%-4s writers=%d  acknowledged %8.0f writes/s (median of %d windows: %s)  fsyncs %6.0f/s  (goal >= %d/s)  %s\n",
			d, *writers, m.r.rate(), len(w), strings.Join(rates, " "), m.fsyncs*m.r.rate(), goal, m.r.cpu())
	}
	if b := medians["nginx"]; b > 0 && *only != "reads" {
		fmt.Printf("durability=none ÷ nginx return 202 (medians, same run): %.2f; sync ÷ nginx: %.2f\n", medians["none"]/b, medians["sync"]/b)
	}
	if *only == "writes" {
		return
	}
	err = readRun(*bin, *readers, *writers, rates, *readWindow, *rounds, func(rate float64, r, alone result, ratios []float64) {
		label := "flat out"
		writes := fmt.Sprintf("writes meanwhile %.0f/s", r.otherRate())
		if rate > 0 {
			label = fmt.Sprintf("%.0f/s", rate)
			writes += fmt.Sprintf(" (%.1f%% sent late)", 100*float64(r.late)/float64(max(r.other, 1)))
		}
		lower := make([]float64, len(ratios))
		for i, x := range ratios {
			lower[i] = 100 * (1 - x)
		}
		sort.Float64s(lower)
		fmt.Printf("reads alone, the %d windows beside %s: %8.0f req/s  %s\n", len(ratios), label, alone.rate(), alone.cpu())
		fmt.Printf("reads while %d writers post %s: %8.0f req/s; median of %d pairs %.1f%% lower (%.1f%% to %.1f%%; goal < 10%%)  %s  %s\n",
			*writers, label, r.rate(), len(lower), median(lower), lower[0], lower[len(lower)-1], writes, r.cpu())
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes:", err)
		os.Exit(1)
	}
}

// median of sorted xs.
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// parseRates reads -write-rates: positive requests/s, comma-separated.
func parseRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("%q is not a positive rate", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
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
	if *commitWindow != "" {
		toml += fmt.Sprintf("commit_window = %q\n", *commitWindow)
	}
	if *workers > 0 {
		toml += fmt.Sprintf("workers = %d\n", *workers)
	}
	os.WriteFile(filepath.Join(dir, "jawas.toml"), []byte(toml), 0o644)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-C", dir)
	if *serverCPUs != "" {
		cmd = exec.Command("taskset", "-c", *serverCPUs, bin, "serve", "-C", dir)
	}
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

// stopCmd sends sig to the server cmd started and waits for it to exit,
// killing it after 10 s.
func stopCmd(cmd *exec.Cmd, sig os.Signal) {
	cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// stop drains the server (SIGTERM) and returns the fsyncs per accepted
// write its workers reported when closing their journals.
func (s *server) stop() (fsyncsPerWrite float64) {
	stopCmd(s.cmd, syscall.SIGTERM)
	b, _ := os.ReadFile(s.log)
	var accepted, fsyncs int64
	for _, m := range regexp.MustCompile(`journal closed.* accepted=(\d+).* fsyncs=(\d+)`).FindAllSubmatch(b, -1) {
		a, _ := strconv.ParseInt(string(m[1]), 10, 64)
		f, _ := strconv.ParseInt(string(m[2]), 10, 64)
		accepted += a
		fsyncs += f
	}
	switch {
	case accepted == 0:
		// No "journal closed" line: the fsyncs column would read 0.
		fmt.Fprintf(os.Stderr, "writes: no worker reported its journal on stopping; kept %s (see its log)\n", s.dir)
		return 0
	case os.Getenv("JAWAS_BENCH_KEEP") == "":
		os.RemoveAll(s.dir)
	default:
		fmt.Fprintln(os.Stderr, "kept", s.dir)
	}
	return float64(fsyncs) / float64(accepted)
}

// client is one kept-alive connection that sends req, waits for the whole
// response, counts it in t when its status is want, and repeats until stop,
// at p's fire times (nil p: flat out). It never pipelines. The response
// reader handles what jawas sends: a status line, headers with
// Content-Length, and that many body bytes.
//
// Threading: one goroutine per connection, started by load; ends at stop.
func client(addr string, req []byte, want int, p *pacer, t *tally, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writes: dial:", err)
		return
	}
	defer c.Close()
	if *clientKind == "nethttp" {
		nethttpClient(c, req, want, p, t, stop)
		return
	}
	buf := make([]byte, 16<<10)
	n := 0 // bytes in buf
	for p.wait(stop) {
		if _, err := c.Write(req); err != nil {
			fmt.Fprintln(os.Stderr, "writes: write:", err)
			return
		}
		status, size := 0, -1 // size: header + body bytes, once known
		for size < 0 || n < size {
			if size < 0 {
				if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
					var err error
					if status, size, err = epollhttp.ParseHead(buf[:end+4]); err != nil {
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
			t.OK.Add(1)
		}
		n = copy(buf, buf[size:n]) // nothing, unless the server sent more than asked
	}
}

// pacer holds the fire times of one goroutine client: every `every` from
// its first, on a fixed grid. A nil pacer is flat out and only checks stop.
type pacer struct {
	every time.Duration
	next  time.Time
	sent  bool // a request went out already
	timer *time.Timer
	late  *atomic.Int64
}

// newPacer returns a pacer whose first fire time is `first` from now, or
// nil when every is 0 (flat out).
func newPacer(first, every time.Duration, late *atomic.Int64) *pacer {
	if every <= 0 {
		return nil
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{every: every, next: time.Now().Add(first), timer: t, late: late}
}

// wait blocks until the next fire time and returns true, or returns false
// once stop is closed. A fire time already past means the previous answer
// came late: the request goes out now, counted as late, and the fire times
// it missed are skipped, so no backlog builds up.
func (p *pacer) wait(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if p == nil {
		return true
	}
	now := time.Now()
	if d := p.next.Sub(now); d > 0 {
		p.timer.Reset(d)
		select {
		case <-stop:
			p.timer.Stop()
			return false
		case <-p.timer.C:
		}
		p.next = p.next.Add(p.every)
	} else {
		if p.sent {
			p.late.Add(1)
		}
		p.next = p.next.Add((now.Sub(p.next)/p.every + 1) * p.every)
	}
	p.sent = true
	return true
}

// nethttpClient is the client this bench used first (net/http's response
// parser), kept to show what it cost.
func nethttpClient(c net.Conn, req []byte, want int, p *pacer, t *tally, stop <-chan struct{}) {
	br := bufio.NewReader(c)
	for p.wait(stop) {
		if _, err := c.Write(req); err != nil {
			fmt.Fprintln(os.Stderr, "writes: write:", err)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "writes: read:", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == want {
			t.OK.Add(1)
		}
	}
}

// tally counts one load's answers; its clients add to it.
type tally struct {
	epollhttp.Counts // answers with the wanted status, paced sends that went out late

	// For a load run by a child process (-writers-process): fetch copies
	// the child's counts into ok and late, cpu returns the child's CPU.
	fetch func()
	cpu   func() proc.CPU
}

func (t *tally) refresh() {
	if t.fetch != nil {
		t.fetch()
	}
}

func (t *tally) childCPU() proc.CPU {
	if t.cpu == nil {
		return proc.CPU{}
	}
	return t.cpu()
}

// load runs n connections sending req until stop is closed, at rate
// requests/s summed over them (0: flat out); wg counts the goroutines or
// event loops it starts.
func load(addr string, req []byte, want, n, loops int, rate float64, stop <-chan struct{}, wg *sync.WaitGroup) *tally {
	t := new(tally)
	var every time.Duration // each connection's interval between sends
	if rate > 0 {
		every = time.Duration(float64(n) / rate * float64(time.Second))
	}
	if *clientKind == "epoll" {
		epollLoad(addr, req, want, n, loops, every, t, stop, wg)
		return t
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		p := newPacer(every*time.Duration(i)/time.Duration(n), every, &t.Late) // staggered over one interval
		go client(addr, req, want, p, t, stop, wg)                             // one client connection; ends at stop
	}
	return t
}

var (
	postReq = []byte("POST /q.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\n")
	getReq  = []byte("GET /q.json HTTP/1.1\r\nHost: x\r\n\r\n")
)

// result is one measured window.
type result struct {
	n, other int64 // answers counted (and of the other kind, when mixed)
	late     int64 // paced sends that went out late, both kinds
	secs     float64
	server   proc.CPU
	gen      proc.CPU
}

// add sums two windows.
func (r result) add(o result) result {
	return result{n: r.n + o.n, other: r.other + o.other, late: r.late + o.late, secs: r.secs + o.secs,
		server: proc.CPU{User: r.server.User + o.server.User, Sys: r.server.Sys + o.server.Sys},
		gen:    proc.CPU{User: r.gen.User + o.gen.User, Sys: r.gen.Sys + o.gen.Sys}}
}

func (r result) rate() float64      { return float64(r.n) / r.secs }
func (r result) otherRate() float64 { return float64(r.other) / r.secs }

func (r result) cpu() string {
	all := float64(r.n + r.other)
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / all }
	sys := func(c proc.CPU) float64 { return 100 * float64(c.Sys) / float64(max(c.Total(), 1)) }
	return fmt.Sprintf("server %5.1f µs/req (%3.0f%% sys, %3.0f%% of a core)  gen %5.1f µs/req (%3.0f%% sys, %3.0f%% of a core)",
		us(r.server.Total()), sys(r.server), 100*r.server.Total().Seconds()/r.secs,
		us(r.gen.Total()), sys(r.gen), 100*r.gen.Total().Seconds()/r.secs)
}

// selfCPU is the generator's own CPU (all its threads, no children).
func selfCPU() proc.CPU {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return proc.CPU{User: time.Duration(ru.Utime.Nano()), Sys: time.Duration(ru.Stime.Nano())}
}

// measure waits out the warmup, then counts answers (counted's, and
// other's when not nil) and CPU for d.
func measure(s *server, d time.Duration, counted, other *tally) (result, error) {
	if other == nil {
		other = new(tally)
	}
	time.Sleep(*warmup)
	s0, err := proc.Tree(s.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	// Counts are read next to the clock, not around the /proc walks (which
	// take milliseconds), so a paced load measures at its rate.
	c0 := other.childCPU()
	other.refresh()
	g0, t0 := selfCPU(), time.Now()
	n0, o0, l0 := counted.OK.Load(), other.OK.Load(), counted.Late.Load()+other.Late.Load()
	time.Sleep(d)
	other.refresh()
	var r result
	r.n, r.other = counted.OK.Load()-n0, other.OK.Load()-o0
	r.late = counted.Late.Load() + other.Late.Load() - l0
	r.secs = time.Since(t0).Seconds()
	r.gen = selfCPU().Sub(g0)
	if c := other.childCPU().Sub(c0); c.Total() > 0 {
		r.gen = proc.CPU{User: r.gen.User + c.User, Sys: r.gen.Sys + c.Sys}
	}
	s1, err := proc.Tree(s.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	r.server = s1.Sub(s0)
	if r.n == 0 {
		return r, errors.New("no answer counted in the window (errors above, if any; server log " + s.log + ")")
	}
	return r, nil
}

// writeWin is one write window and its server's fsyncs per write.
type writeWin struct {
	r      result
	fsyncs float64
}

func writeRun(bin, durability string, writers int, d time.Duration) (result, float64, error) {
	s, err := start(bin, durability)
	if err != nil {
		return result{}, 0, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := load(s.addr, postReq, 202, writers, *writeGenThreads, 0, stop, &wg)
	r, err := measure(s, d, c, nil)
	close(stop)
	wg.Wait()
	fsyncs := s.stop()
	return r, fsyncs, err
}

// readRun measures, on one server, readers flat out without writes and
// with writers posting at each of rates (0: flat out). The readers run the
// whole time; for each rate it takes rounds pairs of windows, one without
// writes and one with the writers started for it, back to back (in
// alternating order), so a noisy neighbour slows both windows of a pair
// alike. show gets each
// rate's summed windows and each pair's ratio of reads with writes to
// reads alone.
func readRun(bin string, readers, writers int, rates []float64, d time.Duration, rounds int, show func(rate float64, with, alone result, ratios []float64)) error {
	s, err := start(bin, *readDurability)
	if err != nil {
		return err
	}
	defer s.stop()
	stopReaders := make(chan struct{})
	var readersWG sync.WaitGroup
	defer readersWG.Wait()
	defer close(stopReaders)
	c := load(s.addr, getReq, 200, readers, *genThreads, 0, stopReaders, &readersWG)
	window := func(writeRate float64) (result, error) {
		if writeRate < 0 {
			return measure(s, d, c, nil)
		}
		if *writersProcess {
			w, stopChild, err := childLoad(s.addr, writers, writeRate)
			if err != nil {
				return result{}, err
			}
			defer stopChild()
			return measure(s, d, c, w)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(stop)
		return measure(s, d, c, load(s.addr, postReq, 202, writers, *genThreads, writeRate, stop, &wg))
	}
	for _, rate := range append(rates[:len(rates):len(rates)], 0) {
		var with, alone result
		var ratios []float64
		for i := 0; i < rounds; i++ {
			// Odd pairs run the window with writes first (ABBA order), so a
			// box that speeds up or slows down steadily over the pairs
			// favours neither side.
			var a, w result
			var err error
			if i%2 == 0 {
				if a, err = window(-1); err == nil {
					w, err = window(rate)
				}
			} else {
				if w, err = window(rate); err == nil {
					a, err = window(-1)
				}
			}
			if err != nil {
				return err
			}
			alone, with = alone.add(a), with.add(w)
			ratios = append(ratios, w.rate()/a.rate())
		}
		show(rate, with, alone, ratios)
	}
	return nil
}

// nginxConf answers POST /q.json with a fixed 202 the size of jawas's
// (nginx reads and discards the body), keep-alive without a request limit.
const nginxConf = `%[3]s
worker_processes 2;
worker_rlimit_nofile 20000;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
master_process on;
events { worker_connections 4096; use epoll; }
http {
	access_log off;
	keepalive_requests 1000000000;
	client_body_temp_path %[1]s/body;
	server {
		listen %[2]s;
		location = /q.json {
			default_type application/json;
			return 202 '{"id":"0123456789abcdef01234567-0000000000000001","visible_at":1795692702800,"status_url":"/_jawas/events/0123456789abcdef01234567-0000000000000001","period_ms":200}';
		}
	}
}
`

// nginxRun measures the baseline window: the writers flat out against
// nginx's fixed 202. nginx runs in the foreground as this program's child
// and is stopped by its pid.
func nginxRun(bin string, writers int, d time.Duration) (result, error) {
	dir, err := os.MkdirTemp("", "jawas-bench-nginx-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	addr := l.Addr().String()
	l.Close()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // as root, nginx's workers would run as nobody
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, addr, user)), 0o644); err != nil {
		return result{}, err
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return result{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-p", dir, "-c", conf)
	if *serverCPUs != "" {
		cmd = exec.Command("taskset", "-c", *serverCPUs, bin, "-p", dir, "-c", conf)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	s := &server{cmd: cmd, dir: dir, addr: addr, log: logf.Name()}
	defer stopCmd(cmd, syscall.SIGQUIT) // graceful; the workers follow their master
	up := false
	for i := 0; i < 100 && !up; i++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			up = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !up {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return result{}, fmt.Errorf("nginx did not start on %s: %s", addr, b)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := load(addr, postReq, 202, writers, *writeGenThreads, 0, stop, &wg)
	r, err := measure(s, d, c, nil)
	close(stop)
	wg.Wait()
	return r, err
}
