//go:build !unix

package jsvm

import "testing"

func loopCPU(b *testing.B, f func()) {
	for b.Loop() {
		f()
	}
}
