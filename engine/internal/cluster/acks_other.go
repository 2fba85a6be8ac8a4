//go:build !linux

package cluster

import (
	"errors"
	"time"
)

// Cluster mode needs Linux: the ack table is a shared mapping and the
// wakeups are unix datagram sockets (acks_linux.go).
var errNotLinux = errors.New("cluster mode needs Linux")

const (
	fwdSock = "cluster-fwd.sock"
)

// Acks is the ack table (Linux only).
type Acks struct{}

// OpenAcks fails on this system.
func OpenAcks(string) (*Acks, error)         { return nil, errNotLinux }
func (a *Acks) Close() error                 { return nil }
func (a *Acks) SetDown(bool)                 {}
func (a *Acks) Down() bool                   { return true }
func (a *Acks) Acked(int, string, uint64)    {}
func (a *Acks) Has(int, string, uint64) bool { return false }

type wakeup struct{}

func listenWakeup(string) (*wakeup, error) { return nil, errNotLinux }
func (w *wakeup) wait(time.Duration)       {}
func (w *wakeup) close()                   {}

type poker struct{}

func newPoker() (*poker, error) { return nil, errNotLinux }
func (p *poker) poke(string)    {}
func (p *poker) close()         {}

func ackSockPath(string, int) string { return "" }

// WorkerLink is a worker's link to the forwarder (Linux only).
type WorkerLink struct{}

// OpenWorkerLink fails on this system.
func OpenWorkerLink(string, int) (*WorkerLink, error)     { return nil, errNotLinux }
func (l *WorkerLink) Committed()                          {}
func (l *WorkerLink) Wait(string, uint64, time.Time) bool { return false }
func (l *WorkerLink) Close()                              {}
