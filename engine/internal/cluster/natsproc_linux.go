//go:build linux && !race

package cluster

// This file stops a timer the NATS server library starts in every process
// that links it: its pse package's init() samples the process's CPU use
// from /proc/PID/stat once a second, forever, for the server's monitoring
// (Varz and system-account statistics), which jawas does not expose. Every
// jawas process links it (one binary), so the supervisor, the engine and
// each worker woke once a second for it, idle or not, each wake-up also
// costing the Go runtime's short sleeps after it (bench/README.md, "Idle
// server").
//
// The sampler re-arms itself only when it could read the file. Its path,
// a private variable, is pointed at a file that does not exist, here in
// this package's init(): the first sample, a second after the library's
// init(), finds no file and stops. The new path has the old one's length,
// so a read of it concurrent with this write (it cannot be: the sample is
// a second away) would still see a valid string either way; race builds
// leave the sampler alone rather than report that write. Should the
// library rename the variable, the link fails: the build says so.

import (
	_ "unsafe" // go:linkname

	_ "github.com/nats-io/nats-server/v2/server/pse" // its init() runs before this one
)

//go:linkname natsProcStatFile github.com/nats-io/nats-server/v2/server/pse.procStatFile
var natsProcStatFile string

func init() {
	// "/proc/PID/stat" -> "/proc/PID/sta_": same length, never a file.
	if n := len(natsProcStatFile); n > 0 {
		natsProcStatFile = natsProcStatFile[:n-1] + "_"
	}
}
