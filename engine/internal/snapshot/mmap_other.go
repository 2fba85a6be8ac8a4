//go:build !linux

package snapshot

import "errors"

const supported = false

var errUnsupported = errors.New("snapshot: the store needs Linux (shared mmap of the control page and version files)")

func mapFile(path string, size int) ([]byte, error)         { return nil, errUnsupported }
func unmap(b []byte) error                                  { return errUnsupported }
func openControl(dir string, writable bool) ([]byte, error) { return nil, errUnsupported }
