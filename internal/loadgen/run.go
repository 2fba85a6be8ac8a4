// Package loadgen is the engine of `jawas bench`: it simulates the founding
// scenario of jawas — many clients, each polling one URL once per period on
// its own kept-alive connection, at its own random phase, with If-None-Match
// — and reports whether the asked rate was held, latency percentiles, errors
// by kind, the 304 share and how old the served snapshots were.
//
// It owns its minimal HTTP/1.1 response reader (http.go), its histogram
// (hist.go) and two engines that drive the clients: epoll_linux.go (the
// default: one loop per CPU over raw non-blocking sockets) and run.go's
// goroutine-per-client engine on net.Conn (portable, the reference).
// It must never use net/http on the request path (too heavy for 10,000
// connections on 2 cores), never allocate per request in steady state, and
// never let a late client burst to catch up: a client that falls a whole
// period behind counts the polls it missed instead of sending them.
package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to simulate. Zero fields take the defaults of Main.
type Config struct {
	URL          string        // http://host:port/path
	Clients      int           // connections, one simulated client each
	Period       time.Duration // each client polls once per period
	Duration     time.Duration // measured window
	Warmup       time.Duration // after all connections are open, excluded from stats
	ConnectRate  int           // new connections per second while ramping up
	Timeout      time.Duration // per request; connects get max(Timeout, 5s): a SYN retry takes 1 s
	MaxErrorRate float64       // OK() fails when errors/attempts exceeds this
	MinRateRatio float64       // OK() fails when achieved < MinRateRatio × asked
	Engine       string        // "epoll" (Linux default: a few loops own raw sockets) or "goroutine" (one per client)
}

func (c *Config) setDefaults() {
	if c.Clients <= 0 {
		c.Clients = 100
	}
	if c.Period <= 0 {
		c.Period = defaultPeriod
	}
	if c.Duration <= 0 {
		c.Duration = defaultDuration
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = 2000
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.MinRateRatio <= 0 {
		c.MinRateRatio = 0.95
	}
	if c.Engine == "" {
		c.Engine = "goroutine"
		if haveEpoll {
			c.Engine = "epoll"
		}
	}
}

// run is the shared state of one Run.
type run struct {
	cfg     Config
	tgt     *target
	ph      phase
	endAt   atomic.Int64 // unix ns; 0 until the ramp is done
	open    atomic.Int64 // connections currently open
	rampErr atomic.Uint64
	dialer  net.Dialer
}

// Run opens cfg.Clients connections at cfg.ConnectRate, lets them poll
// through the warmup, measures for cfg.Duration and returns the result. A
// progress line is written to progress once per second (nil: none). When
// ctx is cancelled Run stops early and returns the partial result with
// ctx's error.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	cfg.setDefaults()
	tgt, err := parseTarget(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if cfg.Engine != "goroutine" && (cfg.Engine != "epoll" || !haveEpoll) {
		return nil, fmt.Errorf("loadgen: engine %q: want goroutine or epoll (Linux)", cfg.Engine)
	}
	if err := raiseNoFile(cfg.Clients); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r := &run{cfg: cfg, tgt: tgt}
	r.dialer.Timeout = max(cfg.Timeout, 5*time.Second)

	cpu0 := selfCPU()
	start := time.Now()
	var clients, dialed sync.WaitGroup
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go r.progressLoop(progress, start, stopProgress, progressDone) // own goroutine: reads counters only

	var engineErr error
	if cfg.Engine == "epoll" {
		var rampLeft atomic.Int64
		var finished atomic.Bool
		rampLeft.Store(int64(cfg.Clients))
		clients.Add(1)
		go func() { // the epoll loops, until endAt or ctx is done
			defer clients.Done()
			engineErr = r.runEpoll(ctx, start, &rampLeft) // read after clients.Wait
			finished.Store(true)
		}()
		for rampLeft.Load() > 0 && ctx.Err() == nil && !finished.Load() {
			time.Sleep(2 * time.Millisecond)
		}
	}

	// Ramp: client i starts at start + i/ConnectRate.
	interval := time.Second / time.Duration(cfg.ConnectRate)
	cancelled := cfg.Engine != "goroutine"
	for i := 0; i < cfg.Clients && !cancelled; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				cancelled = true
				continue
			case <-time.After(d):
			}
		}
		clients.Add(1)
		dialed.Add(1)
		go func() { // one goroutine per simulated client, until endAt or ctx is done
			defer clients.Done()
			r.client(ctx, &dialed)
		}()
	}
	dialed.Wait()
	rampDone := time.Now()
	measureFrom := rampDone.Add(cfg.Warmup)
	r.ph.measureFrom.Store(measureFrom.UnixNano())
	r.endAt.Store(measureFrom.Add(cfg.Duration).UnixNano())
	clients.Wait()
	close(stopProgress)
	<-progressDone
	if engineErr != nil {
		return nil, fmt.Errorf("loadgen: %w", engineErr)
	}

	// Requests are attributed by their scheduled time, so the window is the
	// whole Duration even when the last response came in before its end.
	window := cfg.Duration
	if ctx.Err() != nil {
		window = min(max(time.Since(measureFrom), 0), cfg.Duration) // cancelled early
	}
	res := r.result(rampDone.Sub(start), window)
	if res.TotalSent > 0 {
		res.GeneratorCPUus = float64((selfCPU() - cpu0).Microseconds()) / float64(res.TotalSent)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: run interrupted: %w", err)
	}
	return res, nil
}

// client is one simulated poller. It fires at phase + k·period (epoch
// aligned), never drifting; if it wakes a full period late it counts the
// missed polls and resumes at the latest due one.
func (r *run) client(ctx context.Context, dialed *sync.WaitGroup) {
	period := int64(r.cfg.Period)
	phase := rand.Int64N(period)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
			r.open.Add(-1)
		}
	}()

	// The first connection is part of the ramp.
	c, err := r.dialer.DialContext(ctx, "tcp", r.tgt.addr)
	if err != nil {
		r.rampErr.Add(1)
	} else {
		conn = c
		r.open.Add(1)
	}
	dialed.Done()

	req := make([]byte, 0, len(r.tgt.prefix)+160)
	etag := make([]byte, 0, 128)
	var res response
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	now := time.Now().UnixNano()
	k := (now - phase + period - 1) / period // first fire at or after now
	for {
		fire := k*period + phase
		end := r.endAt.Load()
		if end != 0 && fire >= end {
			return
		}
		if d := time.Duration(fire - time.Now().UnixNano()); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		sendAt := time.Now()
		if late := (sendAt.UnixNano() - fire) / period; late > 0 {
			r.countMissed(fire, late, period, end)
			k += late
			fire += late * period
			if end != 0 && fire >= end {
				return
			}
		}
		k++
		st := r.ph.at(time.Unix(0, fire))
		st.lag.Record(time.Duration(sendAt.UnixNano() - fire))

		if conn == nil {
			c, err := r.dialer.DialContext(ctx, "tcp", r.tgt.addr)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				st.errs[st.errIdx(errConnect)].Add(1)
				continue
			}
			conn = c
			r.open.Add(1)
			st.reconnect.Add(1)
			etag = etag[:0]
			sendAt = time.Now()
		}

		req = r.tgt.appendRequest(req[:0], etag)
		st.sent.Add(1)
		err := r.roundTrip(conn, sendAt, req, &res, etag)
		if err != nil {
			kind := classify(err)
			if ctx.Err() != nil {
				return // our own shutdown, not the server's fault
			}
			st.errs[st.errIdx(kind)].Add(1)
			conn.Close()
			r.open.Add(-1)
			conn = nil
			continue
		}
		got := time.Now()
		st.lat.Record(got.Sub(sendAt))
		st.bytes.Add(uint64(res.wireBytes))
		switch res.status {
		case 200:
			st.ok200.Add(1)
			etag = res.etag // aliases the etag buffer
		case 304:
			st.ok304.Add(1)
			if len(res.etag) > 0 {
				etag = res.etag
			}
		default:
			etag = etag[:0] // the buffer may hold this response's ETag: start over

			if res.status < len(st.status) {
				st.status[res.status].Add(1)
			} else {
				st.errs[st.errIdx(errProtoc)].Add(1)
			}
		}
		if res.periodMs > 0 && res.nextMs >= 0 {
			// Snapshot age at receipt, an upper bound: the server said the
			// next boundary was nextMs away when it answered, so the current
			// period began periodMs−nextMs before that, and it answered at
			// most one latency before we got it. X-Jawas-Stale adds the
			// engine's lag when it fell behind.
			age := time.Duration(res.periodMs-res.nextMs+res.staleMs)*time.Millisecond + got.Sub(sendAt)
			st.stale.Record(age)
		}
		if res.close {
			conn.Close()
			r.open.Add(-1)
			conn = nil
		}
	}
}

// countMissed attributes `late` skipped polls, starting at fire, to the
// phase each was due in, ignoring those due after end.
func (r *run) countMissed(fire, late, period, end int64) {
	for i := int64(0); i < late; i++ {
		f := fire + i*period
		if end != 0 && f >= end {
			return
		}
		r.ph.at(time.Unix(0, f)).missed.Add(1)
	}
}

// roundTrip writes req and reads one response into res.
func (r *run) roundTrip(conn net.Conn, sendAt time.Time, req []byte, res *response, etag []byte) error {
	if err := conn.SetDeadline(sendAt.Add(r.cfg.Timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	if err := readResponse(br, res, etag); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("read response: %w: %d unexpected bytes after the response", errProtocol, br.Buffered())
	}
	return nil
}

// progressLoop writes one line per second until stop is closed.
func (r *run) progressLoop(w io.Writer, start time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if w == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev uint64
	var prevSt *stats
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			st := r.ph.at(now)
			name := "warmup"
			if st == &r.ph.meas {
				name = "measure"
			}
			if r.endAt.Load() == 0 {
				name = "ramp"
			}
			n := st.sent.Load()
			if st != prevSt {
				prev, prevSt = 0, st
			}
			fmt.Fprintf(w, "%5.0fs %-7s conns=%d req/s=%d p99=%s errors=%d missed=%d\n",
				now.Sub(start).Seconds(), name, r.open.Load(), n-prev,
				fmtDur(st.lat.Quantile(0.99)), st.errorCount()+r.rampErr.Load(), st.missed.Load())
			prev = n
		}
	}
}

const (
	defaultPeriod   = 200 * time.Millisecond
	defaultDuration = 10 * time.Second
	defaultWarmup   = 2 * time.Second
	defaultTimeout  = 2 * time.Second
)
