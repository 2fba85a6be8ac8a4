// Package testbin builds the jawas binary once for a test package whose
// end-to-end tests run it as a user would. It is for tests only and must
// never be imported by the product.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds cmd/jawas into a temporary directory, sets *bin to its path,
// runs the package's tests, removes the directory and exits with the tests'
// code. Call it from TestMain. A failed build fails the whole package.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "jawas-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin: temp dir:", err)
		os.Exit(1)
	}
	path := filepath.Join(dir, "jawas")
	build := exec.Command("go", "build", "-o", path, "github.com/jawas/jawas/cmd/jawas")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "testbin: go build of cmd/jawas failed:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	*bin = path
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
