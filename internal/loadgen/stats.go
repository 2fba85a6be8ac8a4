package loadgen

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// Error kinds, as reported in Result.Errors.
const (
	errConnect  = "connect"
	errTimeout  = "timeout"
	errReset    = "reset"
	errEOF      = "eof"
	errProtoc   = "protocol"
	errOther    = "other"
	statusKindP = "status_" // + code, e.g. "status_503"
)

var errKinds = []string{errConnect, errTimeout, errReset, errEOF, errProtoc, errOther}

// stats counts one phase (warmup or measurement). All fields are updated
// concurrently by client goroutines.
type stats struct {
	lat       Hist // send → response fully read
	lag       Hist // scheduled fire time → send: the generator's own delay
	stale     Hist // snapshot age at receipt (only responses with X-Jawas-* headers)
	ok200     atomic.Uint64
	ok304     atomic.Uint64
	sent      atomic.Uint64
	missed    atomic.Uint64 // polls skipped because the client was a full period late
	bytes     atomic.Uint64 // response bytes read (headers + body)
	status    [600]atomic.Uint64
	errs      [6]atomic.Uint64 // indexed like errKinds
	reconnect atomic.Uint64    // connections reopened after a close or error
}

func (s *stats) errIdx(kind string) int {
	if i := slices.Index(errKinds, kind); i >= 0 {
		return i
	}
	return len(errKinds) - 1
}

func (s *stats) errorCount() uint64 {
	var n uint64
	for i := range s.errs {
		n += s.errs[i].Load()
	}
	for code := range s.status {
		if !okStatus(code) {
			n += s.status[code].Load()
		}
	}
	return n
}

func okStatus(code int) bool { return code == 200 || code == 304 }

// classify names the kind of a network or parse error.
func classify(err error) string {
	switch {
	case errors.Is(err, errProtocol):
		return errProtoc
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errEOF
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return errReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errTimeout
	}
	return errOther
}

// phase is the stats a request is attributed to, chosen by its send time.
type phase struct {
	warm, meas  stats
	measureFrom atomic.Int64 // unix ns; 0 until known
}

func (p *phase) at(t time.Time) *stats {
	if m := p.measureFrom.Load(); m != 0 && t.UnixNano() >= m {
		return &p.meas
	}
	return &p.warm
}
