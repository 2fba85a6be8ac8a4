package period

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestGCNotify: the memory guard wakes after every garbage collection
// (it no longer polls).
func TestGCNotify(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gcs := gcNotify(ctx)
	for i := range 3 { // each collection re-arms the next notification
		deadline := time.Now().Add(10 * time.Second)
	wait:
		for {
			runtime.GC()
			select {
			case <-gcs:
				break wait
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no notification %d after 10 s of collections", i+1)
			}
		}
	}
}
