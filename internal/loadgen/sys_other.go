//go:build !unix

package loadgen

import (
	"errors"
	"time"
)

// raiseNoFile: jawas bench needs a Unix system for its file-descriptor limit
// and CPU accounting.
func raiseNoFile(clients int) error {
	return errors.New("jawas bench runs on Unix systems (Linux first)")
}

func selfCPU() time.Duration { return 0 }
