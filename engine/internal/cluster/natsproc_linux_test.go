//go:build linux && !race

package cluster

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server/pse"
)

// TestNATSProcSamplerStopped: this package's init() pointed the NATS
// library's CPU sampler at a file that does not exist, so the sampler,
// which re-arms its 1 s timer only after reading its file, has stopped;
// ProcUsage, which reads the same file, now fails. Without the init() (or
// if it wrote another variable than the one the library reads) it
// succeeds.
func TestNATSProcSamplerStopped(t *testing.T) {
	var pcpu float64
	var rss, vss int64
	if err := pse.ProcUsage(&pcpu, &rss, &vss); err == nil {
		t.Fatalf("pse.ProcUsage read %q (rss %d): the NATS library's sampler still finds its file and re-arms its 1 s timer in every jawas process", natsProcStatFile, rss)
	}
}
