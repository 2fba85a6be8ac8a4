//go:build !linux

package serve

import (
	"errors"
	"os"
)

func mapFile(f *os.File, size int64) ([]byte, error) {
	return nil, errors.New("serve: mapping site files needs Linux")
}

func unmapFile(b []byte) {}

func inode(st os.FileInfo) uint64 { return 0 }
