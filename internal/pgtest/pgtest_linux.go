package pgtest

import (
	"os"
	"syscall"
)

// runAs says who the server runs as: the test's own user, or the
// "postgres" user when the test runs as root. The server also gets
// SIGQUIT (immediate shutdown) if the test process dies first, so no
// orphan keeps the port.
func runAs() (*ids, *syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if os.Geteuid() != 0 {
		return nil, attr, nil
	}
	owner, err := lookupPostgres()
	if err != nil {
		return nil, nil, err
	}
	attr.Credential = &syscall.Credential{Uid: uint32(owner.uid), Gid: uint32(owner.gid)}
	return owner, attr, nil
}
