//go:build linux

package writes_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusFileIdle: an engine with nothing new to report does not
// rewrite the event status file every period (it holds up to 10,000
// statuses); a new write is published as before.
func TestStatusFileIdle(t *testing.T) {
	p := newProject(t, "", map[string]string{"q.js": queueJS})
	p.start()
	c := &client{addr: p.addr}
	defer c.close()
	status := filepath.Join(p.dir, ".jawas", "journal", "status.json")
	applied := func(body string) {
		t.Helper()
		resp, b, err := c.do(post("/q.json", "application/json", body))
		must(t, err)
		if resp.StatusCode != 202 {
			t.Fatalf("write: %d %s", resp.StatusCode, b)
		}
		var a ack
		must(t, json.Unmarshal(b, &a))
		for deadline := time.Now().Add(5 * time.Second); ; {
			_, b, err := c.do(get("/_jawas/events/" + a.ID))
			must(t, err)
			if strings.Contains(string(b), `"applied"`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s not applied after 5s: %s", a.ID, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stat := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(status)
		must(t, err)
		return fi
	}
	applied(`{"id":"a"}`)
	time.Sleep(600 * time.Millisecond) // three periods: anything left is published
	before := stat()
	time.Sleep(time.Second) // five idle periods
	if after := stat(); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("status file rewritten while idle: %v %d → %v %d", before.ModTime(), before.Size(), after.ModTime(), after.Size())
	}
	applied(`{"id":"b"}`)
	if after := stat(); os.SameFile(before, after) && after.ModTime().Equal(before.ModTime()) {
		t.Fatal("status file not republished after a new write was applied")
	}
}
