package client

import (
	"os/exec"
	"testing"
)

// TestNode runs the JavaScript unit tests (client.test.mjs) with Node's
// built-in runner, so `go test ./...` covers them too. A missing node fails
// the test (make test installs it through scripts/ensure-deps.sh); it never
// skips silently.
func TestNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("no node on PATH: run scripts/ensure-deps.sh (make test does), then node --test engine/client/")
	}
	out, err := exec.Command(node, "--test", "--test-reporter=spec", "client.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
