package client

import (
	"os/exec"
	"testing"
)

// TestNode runs the JavaScript unit tests (client.test.mjs) with Node's
// built-in runner, so `go test ./...` covers them too. Skipped without node.
func TestNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; run: node --test engine/client/")
	}
	out, err := exec.Command(node, "--test", "--test-reporter=spec", "client.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
