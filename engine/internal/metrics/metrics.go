// Package metrics owns jawas's operational numbers: the serving counters
// each event loop keeps in a small shared-memory file under the run
// directory, the engine's per-source status file, and the report that sums
// them all for /_jawas/metrics (Prometheus text format), /_jawas/status and
// /_jawas/health.
//
// Writers (event loops, the engine) only do atomic adds and stores on memory
// they own; readers (the admin endpoints of any worker) map every file
// read-only and sum. Nothing here ever takes a lock or allocates on a
// request's path, and nothing here serves HTTP or reads jawas.toml.
package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"unsafe"
)

// Kind is the route a request took, a label of the request counters.
type Kind uint8

const (
	KindSnapshot Kind = iota // a published snapshot (and the client library)
	KindPage                 // a page rendered from templates/
	KindSite                 // a file from site/
	KindWrite                // POST/PUT to a snapshot URL
	KindAdmin                // /_jawas/metrics, status, health
	KindOther                // 404, 405, OPTIONS, malformed requests
	NumKinds
)

var kindNames = [NumKinds]string{"snapshot", "page", "site", "write", "admin", "other"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "other"
}

// Serve is one event loop's counters. Its layout is shared between
// processes: fields are only ever appended, never reordered. Every method is
// a plain atomic add, safe from any goroutine and any process.
type Serve struct {
	Requests    [NumKinds][5]atomic.Uint64 // by route kind and status class 1xx..5xx
	NotModified atomic.Uint64              // 304 answers (also counted in Requests)
	BytesOut    atomic.Uint64              // bytes written to sockets
	Accepted    atomic.Uint64              // connections accepted
	Rejected    atomic.Uint64              // connections refused with 503 over max_conns
	Open        atomic.Int64               // connections open now (a gauge)
	AdminDenied atomic.Uint64              // admin requests refused (network or token)
	LogLines    atomic.Uint64              // access log lines written
	LogDropped  atomic.Uint64              // access log lines dropped (buffer full, write error)

	// The write journal of the worker this loop belongs to (kept on its
	// first loop only).
	JournalCommits    atomic.Uint64 // group commits
	JournalFsyncs     atomic.Uint64 // fdatasyncs
	JournalFsyncNanos atomic.Uint64 // time spent in them

	ProxyRefused atomic.Uint64 // connections closed for a malformed PROXY protocol header
}

// Count records one answer with status on route k.
func (s *Serve) Count(k Kind, status int) {
	c := status/100 - 1
	if c < 0 || c > 4 {
		c = 4
	}
	if k >= NumKinds {
		k = KindOther
	}
	s.Requests[k][c].Add(1)
	if status == 304 {
		s.NotModified.Add(1)
	}
}

// File layout of a serve counters file: a 64-byte header (magic, layout
// size, writer pid), then Serve.
const (
	serveMagic  = 0x4a41574153435431 // "JAWASCT1"
	serveHeader = 64
	serveSize   = serveHeader + int(unsafe.Sizeof(Serve{}))
	servePrefix = "serve-"
	serveExt    = ".bin"
)

// ServeFile is a mapped counters file.
type ServeFile struct {
	C    *Serve
	data []byte
}

// ServeFileName is the counters file of one loop of the process in slot,
// under a run directory's metrics folder.
func ServeFileName(dir string, slot, loop int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%d-%d%s", servePrefix, slot, loop, serveExt))
}

// OpenServe maps (creating it when absent) the counters file at path for
// writing by this process. Counters left by an earlier process in the same
// slot are kept, so sums never go backwards; the open-connections gauge is
// reset, since that process's connections are gone.
func OpenServe(path string) (*ServeFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: open counters: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metrics: stat counters: %w", err)
	}
	fresh := fi.Size() == 0
	if !fresh && fi.Size() != int64(serveSize) {
		return nil, fmt.Errorf("metrics: %s has size %d, want %d (another jawas version?)", path, fi.Size(), serveSize)
	}
	if fresh {
		if err := f.Truncate(int64(serveSize)); err != nil {
			return nil, fmt.Errorf("metrics: size counters: %w", err)
		}
	}
	data, err := mapShared(f, serveSize, true)
	if err != nil {
		return nil, fmt.Errorf("metrics: map %s: %w", path, os.NewSyscallError("mmap", err))
	}
	sf := &ServeFile{C: (*Serve)(unsafe.Pointer(&data[serveHeader])), data: data}
	sf.word(16).Store(int64(os.Getpid()))
	sf.C.Open.Store(0)
	sf.word(8).Store(int64(serveSize))
	sf.word(0).Store(serveMagic) // last: a reader seeing the magic sees the rest
	return sf, nil
}

func (sf *ServeFile) word(off int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Pointer(&sf.data[off]))
}

// Close unmaps the file; C must not be used afterwards.
func (sf *ServeFile) Close() error {
	if sf == nil || sf.data == nil {
		return nil
	}
	err := unmapShared(sf.data)
	sf.data, sf.C = nil, nil
	if err != nil {
		return fmt.Errorf("metrics: unmap counters: %w", os.NewSyscallError("munmap", err))
	}
	return nil
}

// ServeTotals is the sum of every loop's counters.
type ServeTotals struct {
	Requests    [NumKinds][5]uint64
	NotModified uint64
	BytesOut    uint64
	Accepted    uint64
	Rejected    uint64
	Open        int64 // only loops whose process is alive
	AdminDenied uint64
	LogLines    uint64
	LogDropped  uint64
	Loops       int // counters files read

	ProxyRefused uint64

	JournalCommits, JournalFsyncs, JournalFsyncNanos uint64
}

// Total is the number of answered requests.
func (t *ServeTotals) Total() uint64 {
	var n uint64
	for k := range t.Requests {
		for _, v := range t.Requests[k] {
			n += v
		}
	}
	return n
}

// Add adds one loop's counters; alive says whether its open connections count.
func (t *ServeTotals) Add(s *Serve, alive bool) {
	for k := range s.Requests {
		for c := range s.Requests[k] {
			t.Requests[k][c] += s.Requests[k][c].Load()
		}
	}
	t.NotModified += s.NotModified.Load()
	t.BytesOut += s.BytesOut.Load()
	t.Accepted += s.Accepted.Load()
	t.Rejected += s.Rejected.Load()
	if alive {
		t.Open += s.Open.Load()
	}
	t.AdminDenied += s.AdminDenied.Load()
	t.LogLines += s.LogLines.Load()
	t.LogDropped += s.LogDropped.Load()
	t.JournalCommits += s.JournalCommits.Load()
	t.JournalFsyncs += s.JournalFsyncs.Load()
	t.JournalFsyncNanos += s.JournalFsyncNanos.Load()
	t.ProxyRefused += s.ProxyRefused.Load()
	t.Loops++
}

// SumServe adds up every counters file under dir. Files of dead processes
// still count (their requests happened) except for the open-connections
// gauge.
func SumServe(dir string) (ServeTotals, error) {
	var t ServeTotals
	paths, err := filepath.Glob(filepath.Join(dir, servePrefix+"*"+serveExt))
	if err != nil {
		return t, fmt.Errorf("metrics: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := sumOne(&t, p); err != nil {
			return t, err
		}
	}
	return t, nil
}

func sumOne(t *ServeTotals, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if fi.Size() != int64(serveSize) {
		return nil // being created, or not ours
	}
	data, err := mapShared(f, serveSize, false)
	if err != nil {
		return fmt.Errorf("metrics: map %s: %w", path, os.NewSyscallError("mmap", err))
	}
	defer unmapShared(data)
	sf := ServeFile{data: data}
	if uint64(sf.word(0).Load()) != serveMagic {
		return nil
	}
	pid := int(sf.word(16).Load())
	t.Add((*Serve)(unsafe.Pointer(&data[serveHeader])), alive(pid))
	return nil
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return processExists(pid)
}
