//go:build !unix

package metrics

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("metrics: shared-memory counters need a Unix system (jawas serve runs on Linux)")

func mapShared(f *os.File, size int, writable bool) ([]byte, error) { return nil, errUnsupported }

func unmapShared(b []byte) error { return errUnsupported }

func processExists(pid int) bool { return false }
