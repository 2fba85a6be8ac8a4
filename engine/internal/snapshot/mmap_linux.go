//go:build linux

// This file implements the memory mappings the store is built on: the shared
// read-write control page (writer), the read-only control page and version
// files (readers). Linux-only because the store relies on MAP_SHARED
// coherence between processes and on unlinked mapped files staying valid.

package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jawas/jawas/internal/atomicfile"
	"golang.org/x/sys/unix"
)

const supported = true

// mapFile maps the file at path read-only. size is the size the manifest
// promises; a file of another size is an error (the version is not the one
// the manifest names). An empty file maps to an empty non-nil slice.
func mapFile(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("map version file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("map version file: %w", err)
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("map version file %s: size %d, manifest says %d", path, st.Size(), size)
	}
	if size == 0 {
		return []byte{}, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map version file %s: %w", path, os.NewSyscallError("mmap", err))
	}
	return b[:size:size], nil
}

func unmap(b []byte) error {
	if cap(b) == 0 {
		return nil
	}
	if err := unix.Munmap(b[:cap(b)]); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

// openControl maps dir/control, creating it (and dir) when it does not exist.
// Creation writes a complete file under a temporary name and links it into
// place, so concurrent creators (engine and workers starting together) agree
// on one inode and nobody ever maps a file without its magic.
func openControl(dir string, writable bool) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open control: %w", err)
	}
	path := filepath.Join(dir, controlName)
	for attempt := 0; attempt < 3; attempt++ {
		flag, prot := os.O_RDONLY, unix.PROT_READ
		if writable {
			flag, prot = os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
		}
		f, err := os.OpenFile(path, flag, 0)
		if errors.Is(err, fs.ErrNotExist) {
			if err := createControl(path, false); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open control: %w", err)
		}
		b, err := mapControl(f, prot)
		f.Close()
		if err == nil {
			return b, nil
		}
		if !writable {
			return nil, err
		}
		// The writer replaces a damaged control file; readers attached to the
		// old one must be restarted, which the supervisor does anyway.
		if err := createControl(path, true); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("open control %s: gave up after retries", path)
}

func mapControl(f *os.File, prot int) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open control: %w", err)
	}
	if st.Size() != controlSize {
		return nil, fmt.Errorf("open control %s: size %d, want %d", f.Name(), st.Size(), controlSize)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, controlSize, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("open control %s: %w", f.Name(), os.NewSyscallError("mmap", err))
	}
	if string(b[:len(controlMagic)]) != controlMagic {
		unix.Munmap(b)
		return nil, fmt.Errorf("open control %s: bad magic %q", f.Name(), b[:len(controlMagic)])
	}
	return b, nil
}

func createControl(path string, replace bool) error {
	buf := make([]byte, controlSize)
	copy(buf, controlMagic)
	err := atomicfile.WriteFile(path, buf, 0o644, atomicfile.Options{TempPattern: tmpPrefix + "control-*", NoReplace: !replace})
	if !replace && errors.Is(err, fs.ErrExist) {
		err = nil // someone else created it first: use theirs
	}
	if err != nil {
		return fmt.Errorf("create control: %w", err)
	}
	return nil
}
