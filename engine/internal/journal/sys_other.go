//go:build !linux

// This file is the portable stand-in for sys_linux.go, so the package builds
// (and its pure parts can be tested) elsewhere. Without flock every segment
// reads as dead, so Compact must not run while writers are open.

package journal

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

func lockExclusive(f *os.File) error { return nil }

func isLive(f *os.File) (bool, error) { return false, nil }
