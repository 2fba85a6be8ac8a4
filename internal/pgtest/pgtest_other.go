//go:build !linux

package pgtest

import (
	"errors"
	"syscall"
)

func runAs() (*ids, *syscall.SysProcAttr, error) {
	return nil, nil, errors.New("pgtest runs PostgreSQL on Linux only")
}
