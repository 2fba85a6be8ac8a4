package pgtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// alive says whether pid is a live process (a zombie counts as dead:
// PID 1 here does not reap orphans).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	pid := s.Pid()
	if !alive(pid) {
		t.Fatalf("postmaster %d not running", pid)
	}
	s.Exec("CREATE TABLE t (v int); INSERT INTO t VALUES (7)")
	s.Stop()
	if alive(pid) {
		t.Fatalf("postmaster %d still running after Stop", pid)
	}
	if _, err := pgconn.Connect(context.Background(), s.URL()); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	s.Restart()
	if s.Pid() == pid || !alive(s.Pid()) {
		t.Fatalf("restart: pid %d (was %d)", s.Pid(), pid)
	}
	c, err := pgconn.Connect(context.Background(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	res, err := c.Exec(context.Background(), "SELECT v FROM t").ReadAll()
	if err != nil || string(res[0].Rows[0][0]) != "7" {
		t.Fatalf("data after restart: %v %v", res, err)
	}
}
