package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// Bodies and checkpoints are stored under their content hash (the
// snapshot store's: hex of the first 16 bytes of SHA-256): "v.<hash>"
// for bodies, "c.<hash>" for checkpoints. A key's value is 'i' followed
// by the bytes, or 'o' when the bytes are in the object store under the
// same name (over inline_max). Content addressing makes a deposed
// leader's late writes harmless: a key can only ever hold its content.
const (
	inlineMark = 'i'
	objectMark = 'o'
)

func bodyKey(hash string) string       { return "v." + hash }
func checkpointKey(hash string) string { return "c." + hash }

// putBlob stores body under key. Each put to the bucket is retried while
// it goes unanswered (retryUnanswered): a key only ever holds its
// content, so a put repeated is harmless.
func (c *Conn) putBlob(ctx context.Context, key string, body []byte) error {
	put := func(v []byte) error {
		return retryUnanswered(ctx, func(ctx context.Context) error {
			_, err := c.Snap.Put(ctx, key, v)
			return err
		})
	}
	if len(body) <= c.Cfg.InlineMax {
		v := make([]byte, 0, 1+len(body))
		v = append(append(v, inlineMark), body...)
		if err := put(v); err != nil {
			return fmt.Errorf("cluster: put %s: %w", key, err)
		}
		return nil
	}
	// A large object may take longer than one attempt's deadline: it has
	// the caller's whole deadline.
	if _, err := c.Blobs.PutBytes(ctx, key, body); err != nil {
		return fmt.Errorf("cluster: put %s in the object store: %w", key, err)
	}
	if err := put([]byte{objectMark}); err != nil {
		return fmt.Errorf("cluster: put %s: %w", key, err)
	}
	return nil
}

// blobRetries is how often a read that does not check out is retried: a
// replica may lag on an object's chunks right after it was put
// (measured on this kind of machine: 13 of 40 reads of a fresh 4 MiB object failed the
// digest check and all succeeded 100 ms later).
const blobRetries = 10

// getBlob returns the bytes under key, whose hash must be hash. value is
// the key's value when already known (a watcher delivered it), else nil.
func (c *Conn) getBlob(ctx context.Context, key, hash string, value []byte) ([]byte, error) {
	var last error
	for attempt := 0; attempt < blobRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		v := value
		value = nil
		if v == nil {
			gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			e, err := c.Snap.Get(gctx, key)
			cancel()
			if err != nil {
				last = err
				if errors.Is(err, jetstream.ErrKeyNotFound) && attempt >= 3 {
					return nil, fmt.Errorf("cluster: %s: %w", key, err)
				}
				continue
			}
			v = e.Value()
		}
		if len(v) == 0 {
			last = errors.New("empty value")
			continue
		}
		body := v[1:]
		if v[0] == objectMark {
			gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := c.Blobs.GetBytes(gctx, key)
			cancel()
			if err != nil { // includes a digest mismatch of a lagging replica
				last = err
				continue
			}
			body = b
		} else if v[0] != inlineMark {
			last = fmt.Errorf("unknown value kind %q", v[0])
			continue
		}
		if got := snapshot.HashOf(body); got != hash {
			last = fmt.Errorf("content hash %s, want %s", got, hash)
			continue
		}
		return body, nil
	}
	return nil, fmt.Errorf("cluster: read %s: %w", key, last)
}

// deleteBlob removes key (and its object, if any).
func (c *Conn) deleteBlob(ctx context.Context, key string) {
	e, err := c.Snap.Get(ctx, key)
	if err == nil && len(e.Value()) > 0 && e.Value()[0] == objectMark {
		c.Blobs.Delete(ctx, key)
	}
	c.Snap.Purge(ctx, key)
}
