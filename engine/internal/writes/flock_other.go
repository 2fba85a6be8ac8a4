//go:build !unix

package writes

import "errors"

const (
	lockSH = 1
	lockEX = 2
	lockNB = 4
	lockUN = 8
)

var (
	errWouldBlock = errors.New("would block")
	errIntr       = errors.New("interrupted")
)

// flock: the write path needs Unix file locks (jawas serve runs on Linux).
func sysFlock(fd int, how int) error {
	return errors.New("writes: journal locks need a Unix system (jawas serve runs on Linux)")
}
