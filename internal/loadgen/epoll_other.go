//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

const haveEpoll = false

func (r *run) runEpoll(ctx context.Context, start time.Time, rampLeft *atomic.Int64) error {
	return errors.New("the epoll engine needs Linux")
}
