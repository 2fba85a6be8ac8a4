package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// commitMap is the count's 8 bytes, mapped shared.
type commitMap struct {
	mem []byte
	n   *atomic.Uint64 // the first 8 bytes of mem (page aligned)
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
	// sees the same 8 bytes (a shorter file would fault on access).
	if fi.Size() < 8 {
		if err := f.Truncate(8); err != nil {
			return commitMap{}, err
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return commitMap{}, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	return commitMap{mem: mem, n: (*atomic.Uint64)(unsafe.Pointer(&mem[0]))}, nil
}

func (m commitMap) add() { m.n.Add(1) }

func (m commitMap) load() (uint64, bool) { return m.n.Load(), true }

func (m commitMap) close() error { return unix.Munmap(m.mem) }
