//go:build !linux

// This file is the stub for systems without epoll: every call fails with
// ErrUnsupported, so the rest of jawas builds everywhere and says why it
// cannot serve.

package netpoll

import (
	"errors"
	"net/netip"
	"time"
)

// ErrUnsupported is returned by every netpoll call off Linux.
var ErrUnsupported = errors.New("netpoll: epoll serving needs Linux")

type Poller struct{}

type Ready struct {
	Fd     int
	Events uint32
}

type Iovec struct {
	Base *byte
	Len  uint64
}

const MaxIovecs = 1024

func Open(batch int) (*Poller, error)                              { return nil, ErrUnsupported }
func (p *Poller) Close() error                                     { return ErrUnsupported }
func (p *Poller) Add(fd int, events uint32) error                  { return ErrUnsupported }
func (p *Poller) Mod(fd int, events uint32) error                  { return ErrUnsupported }
func (p *Poller) Del(fd int) error                                 { return ErrUnsupported }
func (p *Poller) AddListener(fd int) error                         { return ErrUnsupported }
func (p *Poller) Wake() error                                      { return ErrUnsupported }
func (p *Poller) Wait(time.Duration) ([]Ready, bool, error)        { return nil, false, ErrUnsupported }
func RaiseNoFile() (uint64, error)                                 { return 0, ErrUnsupported }
func BatchScheduling() error                                       { return ErrUnsupported }
func Listen(addr string, backlog int, reusePort bool) (int, error) { return -1, ErrUnsupported }
func Addr(fd int) (string, error)                                  { return "", ErrUnsupported }
func SetNonblock(fd int) error                                     { return ErrUnsupported }
func Accept(lfd int) (int, netip.Addr, bool, error)                { return -1, netip.Addr{}, false, ErrUnsupported }
func Read(fd int, p []byte) (int, bool, error)                     { return 0, false, ErrUnsupported }
func Writev(fd int, iov []Iovec) (int, error)                      { return 0, ErrUnsupported }
func Write(fd int, p []byte) (int, error)                          { return 0, ErrUnsupported }
func IovecOf(b []byte) Iovec                                       { return Iovec{Base: &b[0], Len: uint64(len(b))} }
func Close(fd int) error                                           { return ErrUnsupported }
func CloseWriteSide(fd int) error                                  { return ErrUnsupported }
func Eventfd() (int, error)                                        { return -1, ErrUnsupported }
func Signal(fd int) error                                          { return ErrUnsupported }
