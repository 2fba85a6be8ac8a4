package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// commitMap is the count's 16 bytes, mapped shared: the commit count,
// then the segment generation.
type commitMap struct {
	mem  []byte
	n    *atomic.Uint64 // the first 8 bytes of mem (page aligned)
	segs *atomic.Uint64 // the next 8
}

func openCommitMap(dir string) (commitMap, error) {
	jdir := filepath.Join(dir, journalDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return commitMap{}, err
	}
	f, err := os.OpenFile(filepath.Join(jdir, commitsFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return commitMap{}, err
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return commitMap{}, err
	}
	// Grown, never shrunk: a process that maps it while another grows it
	// sees the same bytes (a shorter file would fault on access). It was
	// 8 bytes before the segment generation: grown to 16, the count kept.
	if fi.Size() < commitMapSize {
		if err := f.Truncate(commitMapSize); err != nil {
			return commitMap{}, err
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, commitMapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return commitMap{}, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	return commitMap{mem: mem, n: (*atomic.Uint64)(unsafe.Pointer(&mem[0])), segs: (*atomic.Uint64)(unsafe.Pointer(&mem[8]))}, nil
}

// commitMapSize is the size of commits.count.
const commitMapSize = 16

func (m commitMap) add() { m.n.Add(1) }

func (m commitMap) load() (uint64, bool) { return m.n.Load(), true }

func (m commitMap) addSegs() { m.segs.Add(1) }

func (m commitMap) loadSegs() (uint64, bool) { return m.segs.Load(), true }

func (m commitMap) close() error { return unix.Munmap(m.mem) }
