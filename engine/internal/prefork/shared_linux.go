package prefork

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// createShared creates the worker table with n slots under runDir
// (supervisor only).
func createShared(runDir string, n int, supervisorPID int) (*Shared, error) {
	path := filepath.Join(runDir, SharedFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prefork: create worker table: %w", err)
	}
	defer f.Close()
	size := headerSize + n*slotSize
	if err := f.Truncate(int64(size)); err != nil {
		return nil, fmt.Errorf("prefork: size worker table: %w", err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("prefork: map worker table %s: %w", path, os.NewSyscallError("mmap", err))
	}
	s := &Shared{data: data, writable: true}
	s.word(offNSlots).Store(int64(n))
	s.word(offSupPID).Store(int64(supervisorPID))
	s.word(offMagic).Store(shmMagic) // last: a reader seeing the magic sees the rest
	return s, nil
}

// OpenShared maps the worker table under runDir. Children open it writable
// (to beat and count); status readers and tests open it read-only.
func OpenShared(runDir string, writable bool) (*Shared, error) {
	path := filepath.Join(runDir, SharedFile)
	flag, prot := os.O_RDONLY, unix.PROT_READ
	if writable {
		flag, prot = os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("prefork: open worker table: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("prefork: stat worker table: %w", err)
	}
	if fi.Size() < headerSize || (fi.Size()-headerSize)%slotSize != 0 {
		return nil, fmt.Errorf("prefork: worker table %s has bad size %d", path, fi.Size())
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("prefork: map worker table %s: %w", path, os.NewSyscallError("mmap", err))
	}
	s := &Shared{data: data, writable: writable}
	if uint64(s.word(offMagic).Load()) != shmMagic || int64(s.Len()) != (fi.Size()-headerSize)/slotSize {
		unix.Munmap(data)
		return nil, fmt.Errorf("prefork: %s is not a jawas worker table", path)
	}
	return s, nil
}

// OpenSelf opens the worker table of this child's supervisor writable and
// returns this child's slot.
func OpenSelf() (*Shared, *WorkerSlot, error) {
	dir, slot := RunDir(), Slot()
	if dir == "" || slot < 0 {
		return nil, nil, fmt.Errorf("prefork: not a supervised child (%s/%s unset)", EnvRunDir, EnvSlot)
	}
	s, err := OpenShared(dir, true)
	if err != nil {
		return nil, nil, err
	}
	if slot >= s.Len() {
		s.Close()
		return nil, nil, fmt.Errorf("prefork: slot %d out of range [0,%d)", slot, s.Len())
	}
	return s, s.Slot(slot), nil
}

// Close unmaps the table; slots obtained from it must not be used afterwards.
func (s *Shared) Close() error {
	if s.data == nil {
		return nil
	}
	err := unix.Munmap(s.data)
	s.data = nil
	if err != nil {
		return fmt.Errorf("prefork: unmap worker table: %w", os.NewSyscallError("munmap", err))
	}
	return nil
}
