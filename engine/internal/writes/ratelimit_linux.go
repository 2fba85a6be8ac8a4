package writes

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openRateTable maps the rate table at path, creating it (zeroed, at its
// full size) if it is not there yet: the workers of one server open the
// same file and share their clients' limits.
func openRateTable(path string, rate float64, burst int) (*rateTable, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write rate table: %w", err)
	}
	defer f.Close()
	size := rateHeader + rateSlots*8
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("write rate table: %w", err)
	}
	// Growing a new file is safe while another worker does the same; a
	// file of any other size is not ours.
	switch fi.Size() {
	case 0:
		if err := f.Truncate(int64(size)); err != nil {
			return nil, fmt.Errorf("write rate table %s: %w", path, err)
		}
	case int64(size):
	default:
		return nil, fmt.Errorf("write rate table %s: %d bytes, want %d", path, fi.Size(), size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("write rate table %s: %w", path, os.NewSyscallError("mmap", err))
	}
	// The mapping is page-aligned, so its 8-byte words are aligned for
	// atomic access.
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&data[0])), size/8)
	magic := &words[0]
	if !atomic.CompareAndSwapUint64(magic, 0, rateMagic) && atomic.LoadUint64(magic) != rateMagic {
		unix.Munmap(data)
		return nil, fmt.Errorf("write rate table %s: not a jawas rate table (magic %x)", path, binary.LittleEndian.Uint64(data))
	}
	epoch := (*int64)(unsafe.Pointer(&words[1]))
	return newRateTable(words[rateHeader/8:], epoch, rate, burst, func() error { return unix.Munmap(data) }), nil
}
