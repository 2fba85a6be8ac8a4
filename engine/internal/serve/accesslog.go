// This file implements the optional access log (combined format). A loop
// appends each line to its own buffer with append-style formatting (no fmt,
// no allocation once the buffer has grown) and hands full buffers, or what
// it has every 100 ms, to one writer goroutine; the request path never
// touches the file.

package serve

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/metrics"
)

const (
	logBufSize  = 64 << 10 // a loop hands its buffer over at this size
	logMaxQueue = 8 << 20  // lines are dropped (and counted) beyond this many queued bytes
)

// AccessLog is an open access log shared by a server's loops.
type AccessLog struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	full   [][]byte // handed over, not yet written
	free   [][]byte
	queued int

	kick   chan struct{}
	reopen chan struct{}
	stop   chan struct{}
	done   chan struct{}
	f      *os.File // writer goroutine only
}

// OpenAccessLog opens (appending, creating) the access log at path and
// starts its writer.
func OpenAccessLog(path string, log *slog.Logger) (*AccessLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("serve: access log: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	a := &AccessLog{path: path, log: log, f: f, kick: make(chan struct{}, 1), reopen: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go a.writer() // the writer: owns a.f; takes buffers from a.full
	return a, nil
}

// Reopen makes the writer reopen the file (after rotation; SIGUSR1).
// Safe from any goroutine.
func (a *AccessLog) Reopen() {
	select {
	case a.reopen <- struct{}{}:
	default:
	}
}

// Close writes what was handed over and closes the file. Call it after the
// server's loops have stopped.
func (a *AccessLog) Close() error {
	close(a.stop)
	<-a.done
	return nil
}

func (a *AccessLog) writer() {
	defer close(a.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.write()
			a.f.Close()
			return
		case <-a.reopen:
			a.write()
			f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				a.log.Error("access log: cannot reopen; keeping the old file", "path", a.path, "error", err)
				continue
			}
			a.f.Close()
			a.f = f
		case <-a.kick:
			a.write()
		case <-t.C:
			a.write()
		}
	}
}

// write writes every handed-over buffer and recycles them. Writer only.
func (a *AccessLog) write() {
	a.mu.Lock()
	bufs := a.full
	a.full = nil
	a.mu.Unlock()
	for _, b := range bufs {
		if _, err := a.f.Write(b); err != nil {
			a.log.Error("access log: write failed", "path", a.path, "error", err)
		}
	}
	a.mu.Lock()
	for _, b := range bufs {
		a.queued -= len(b)
		if len(a.free) < 16 {
			a.free = append(a.free, b[:0])
		}
	}
	a.mu.Unlock()
}

// swap takes b (full of lines) and returns an empty buffer; ok is false when
// too much is queued already and b was dropped. Any goroutine.
func (a *AccessLog) swap(b []byte) (fresh []byte, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.queued+len(b) > logMaxQueue {
		return b[:0], false
	}
	a.full = append(a.full, b)
	a.queued += len(b)
	if n := len(a.free); n > 0 {
		fresh = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		fresh = make([]byte, 0, 2*logBufSize)
	}
	if a.queued >= logBufSize {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return fresh, true
}

// logBuf is a loop's pending access-log lines. Loop goroutine only.
type logBuf struct {
	a     *AccessLog
	buf   []byte
	lines uint64
	next  int64 // unix ns of the next hand-over
	sec   int64
	stamp []byte // "[10/Oct/2000:13:55:36 +0000]" for sec
}

func (lb *logBuf) init(a *AccessLog) {
	lb.a = a
	lb.buf = make([]byte, 0, 2*logBufSize)
	lb.stamp = make([]byte, 0, 32)
}

// handOff gives the buffered lines to the writer.
func (lb *logBuf) handOff(m *metrics.Serve) {
	if lb.a == nil || len(lb.buf) == 0 {
		return
	}
	fresh, ok := lb.a.swap(lb.buf)
	if ok {
		m.LogLines.Add(lb.lines)
	} else {
		m.LogDropped.Add(lb.lines)
	}
	lb.buf, lb.lines = fresh, 0
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func (lb *logBuf) timestamp(now time.Time) []byte {
	if s := now.Unix(); s != lb.sec || len(lb.stamp) == 0 {
		lb.sec = s
		t := now.UTC()
		b := append(lb.stamp[:0], '[')
		b = append2(b, t.Day())
		b = append(b, '/')
		b = append(b, months[t.Month()-1]...)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(t.Year()), 10)
		b = append(b, ':')
		b = append2(b, t.Hour())
		b = append(b, ':')
		b = append2(b, t.Minute())
		b = append(b, ':')
		b = append2(b, t.Second())
		lb.stamp = append(b, " +0000]"...)
	}
	return lb.stamp
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// appendQuoted appends v quoted and escaped as Apache does: '"', '\'
// and bytes outside printable ASCII as \xHH; "-" when empty.
func appendQuoted(b, v []byte) []byte {
	b = append(b, '"')
	if len(v) == 0 {
		b = append(b, '-')
	}
	return append(appendEscaped(b, v), '"')
}

func appendEscaped(b, v []byte) []byte {
	const hex = "0123456789abcdef"
	for _, ch := range v {
		switch {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20 || ch >= 0x7f:
			b = append(b, '\\', 'x', hex[ch>>4], hex[ch&15])
		default:
			b = append(b, ch)
		}
	}
	return b
}

// appendRequestLine appends `"GET /x HTTP/1.1"` for req.
func appendRequestLine(b []byte, req *http1.Request) []byte {
	if req.MethodRaw == nil {
		return append(b, `"-"`...)
	}
	b = append(b, '"')
	b = appendEscaped(b, req.MethodRaw)
	b = append(b, ' ')
	b = appendEscaped(b, req.Target)
	b = append(b, " HTTP/1."...)
	b = strconv.AppendInt(b, int64(req.Minor), 10)
	return append(b, '"')
}

// appendAgent appends ` "referer" "user-agent"`.
func appendAgent(b []byte, req *http1.Request) []byte {
	b = append(b, ' ')
	b = appendQuoted(b, req.Referer)
	b = append(b, ' ')
	return appendQuoted(b, req.UserAgent)
}

// logged appends the access-log line of the answer just queued on c
// (status from count, size its body). Loop goroutine only.
func (l *loop) logged(c *conn, size int) {
	lb := &l.ops.log
	status := l.ops.status
	l.ops.status = 0
	if lb.a == nil || status == 0 {
		return
	}
	b := lb.buf
	if c.ops.reqClient.IsValid() {
		b = c.ops.reqClient.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - - "...)
	b = append(b, lb.timestamp(l.now)...)
	b = append(b, ' ')
	req := &c.req
	write := req.MethodRaw == nil && len(c.ops.wline) > 0 && l.ops.kind == metrics.KindWrite // answered after its request was dropped
	if write {
		b = append(b, c.ops.wline[:c.ops.wsplit]...)
	} else {
		b = appendRequestLine(b, req)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if size > 0 {
		b = strconv.AppendInt(b, int64(size), 10)
	} else {
		b = append(b, '-')
	}
	if write {
		b = append(b, c.ops.wline[c.ops.wsplit:]...)
		c.ops.wline = c.ops.wline[:0]
	} else {
		b = appendAgent(b, req)
	}
	lb.buf = append(b, '\n')
	lb.lines++
	if len(lb.buf) >= logBufSize {
		lb.handOff(l.ops.m)
	}
}

// saveWriteLine keeps the request parts of a write's log line: the answer
// comes after the request's bytes are gone. Loop goroutine only.
func (l *loop) saveWriteLine(c *conn, req *http1.Request) {
	if l.ops.log.a == nil {
		return
	}
	b := appendRequestLine(c.ops.wline[:0], req)
	c.ops.wsplit = len(b)
	c.ops.wline = appendAgent(b, req)
}
