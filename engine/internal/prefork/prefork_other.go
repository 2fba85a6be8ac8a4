//go:build !linux

package prefork

import (
	"context"
	"os"
	"time"
)

// Supervise is only implemented on Linux.
func Supervise(ctx context.Context, opt Options) error { return ErrUnsupported }

// OpenShared is only implemented on Linux.
func OpenShared(runDir string, writable bool) (*Shared, error) { return nil, ErrUnsupported }

// OpenSelf is only implemented on Linux.
func OpenSelf() (*Shared, *WorkerSlot, error) { return nil, nil, ErrUnsupported }

// Close is a no-op on other systems.
func (s *Shared) Close() error { return nil }

// InheritedListeners is only implemented on Linux.
func InheritedListeners() ([]*os.File, error) { return nil, ErrUnsupported }

// InheritedFile is only implemented on Linux.
func InheritedFile(i int) (int, bool) { return -1, false }

// WatchParent does nothing on other systems.
func WatchParent() {}

// YieldToOOMKiller does nothing on other systems.
func YieldToOOMKiller() {}

// NotifyDrain returns a channel that is never closed on other systems.
func NotifyDrain() <-chan struct{} { return make(chan struct{}) }

// NotifyReopen returns a channel that never receives on other systems.
func NotifyReopen() <-chan os.Signal { return make(chan os.Signal) }

func ring() {}

// ExecWithTimerSlack does nothing on other systems.
func ExecWithTimerSlack(time.Duration) {}
