//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// memoryCgroup creates a memory cgroup (v1 or v2) under this process's own,
// limited to limit bytes, and returns the file a pid is written to, to move
// it in. It fails the test when cgroups cannot be created here.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var dir, limitFile string
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if strings.Contains(","+parts[1]+",", ",memory,") {
			dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", parts[2]), "memory.limit_in_bytes"
			break
		}
		if parts[0] == "0" && parts[1] == "" && dir == "" {
			dir, limitFile = filepath.Join("/sys/fs/cgroup", parts[2]), "memory.max"
		}
	}
	cg := filepath.Join(dir, fmt.Sprintf("jawas-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatalf("this test needs to create a memory cgroup under %s (run as root on Linux with cgroups): %v", dir, err)
	}
	t.Cleanup(func() {
		// Empty once every process in it died (they are killed at cleanup).
		deadline := time.Now().Add(5 * time.Second)
		for os.Remove(cg) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(cg, limitFile), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		t.Fatalf("set the cgroup's memory limit: %v", err)
	}
	return filepath.Join(cg, "cgroup.procs")
}

// TestE2EOOMKillReported: an engine killed by the kernel's OOM killer (the
// memory guard off, a bomb, a memory cgroup of 200 MiB) is reported as
// such by the supervisor, not as a bare SIGKILL.
func TestE2EOOMKillReported(t *testing.T) {
	procs := memoryCgroup(t, 200<<20)
	dir := newProject(t, "max_memory = 0")
	writeFile(t, filepath.Join(dir, "sources", "bomb.js"), bombJS)
	logPath := filepath.Join(t.TempDir(), "serve.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	// The shell moves itself into the cgroup, then becomes jawas serve:
	// the supervisor and every child it starts are in it.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$0" && exec "$1" serve --listen 127.0.0.1:0`, procs, jawasBin)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	var log string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		log = string(b)
		if strings.Contains(log, `msg="child died" role=engine`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log, `msg="child died" role=engine`) {
		t.Fatalf("the engine was not killed within the deadline:\n%s", log)
	}
	if !strings.Contains(log, "killed by the kernel's OOM killer") {
		t.Fatalf("the supervisor did not report the OOM kill:\n%s", log)
	}
}
