// Package api is jawas's one public Go surface: what the jawas command
// calls, and what a test or a cluster node uses to build the same pieces.
// Everything else under engine/ is internal.
//
// The pieces, one type per role:
//   - Engine: loads the project, evaluates sources at their periods,
//     applies queued writes, publishes snapshots (engine.go);
//   - Worker: the epoll HTTP/1.1 loops that serve snapshots, pages and
//     site files, and accept writes into the journal (worker.go);
//   - Supervise and RunChild: `jawas serve`'s process model, one
//     supervisor re-executing this binary as an engine and N workers
//     (process.go); ServeSingle runs an Engine and a Worker in one
//     process (single.go);
//   - Build: the static site (build.go); Check: load without running;
//   - the state of sources, from a running server or a data directory
//     (state.go: `jawas state`);
//   - a cluster node (cluster.go): an Engine led by a lease in NATS
//     JetStream, the journal forwarded to a replicated stream, heads
//     mirrored into the local snapshot store.
//
// It must never parse command lines or print to the terminal on its own:
// cmd/jawas does that.
package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/scaffold"
)

// Config is jawas.toml, with defaults applied (see the README's config
// reference).
type Config = config.Config

// LoadConfig reads DIR/jawas.toml (every key optional) and validates it;
// errors name the file, line and key.
func LoadConfig(dir string) (*Config, error) { return config.Load(dir) }

// Init writes a new working project into dir and returns the files it
// wrote; it writes nothing when any of them exists.
func Init(dir string) ([]string, error) { return scaffold.Create(dir) }

// PrintDiagnostics prints the author errors in err (engine.Diagnostics or
// one engine.Diagnostic), each with file:line and its code frame, under a
// heading naming what failed. It reports false when err carries no
// diagnostics (then nothing is printed).
func PrintDiagnostics(w io.Writer, what string, err error) bool {
	var ds engine.Diagnostics
	var d engine.Diagnostic
	switch {
	case errors.As(err, &ds):
	case errors.As(err, &d):
		ds = engine.Diagnostics{d}
	default:
		return false
	}
	fmt.Fprintf(w, "jawas: %s: %d error(s):\n", what, len(ds))
	for _, d := range ds {
		printDiagnostic(w, d)
	}
	return true
}

// printDiagnostic prints one author error with its code frame.
func printDiagnostic(w io.Writer, d engine.Diagnostic) {
	fmt.Fprintf(w, "  %s\n", d.Error())
	if d.Frame != "" {
		for _, l := range strings.Split(strings.TrimRight(d.Frame, "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// RunDir is where one server's snapshot store and shared memory live. It
// is rebuilt at every start, so it goes on tmpfs (/dev/shm) when there is
// one: publishing a version there costs a fraction of what it costs on a
// disk, and nothing in it needs to survive a reboot (the journal and
// checkpoints stay in serve.data_dir). The name is derived from the data
// directory, so two projects never share one.
func RunDir(cfg *Config) string {
	data := cfg.Path(cfg.Serve.DataDir)
	if writableDir("/dev/shm") {
		sum := sha256.Sum256([]byte(data))
		return filepath.Join("/dev/shm", "jawas-"+hex.EncodeToString(sum[:6]))
	}
	return filepath.Join(data, "run")
}

// writableDir reports whether dir exists and this process can create files
// in it.
func writableDir(dir string) bool {
	f, err := os.CreateTemp(dir, ".jawas-probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// metricsDir is where every process of one run keeps counters and the
// engine status (under the run directory, tmpfs when available).
func metricsDir(runDir string) string { return filepath.Join(runDir, "metrics") }
