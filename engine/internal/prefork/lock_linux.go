package prefork

// This file implements the data-directory lock and the runtime directory,
// because two supervisors on one data directory would interleave journals
// and snapshots: the second must fail at once, naming the first.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dirLock is an flock held for the supervisor's life. The fd is close-on-exec
// so children never hold it: the lock dies with the supervisor.
type dirLock struct{ f *os.File }

func acquireLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prefork: open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			holder := strings.TrimSpace(string(b))
			if holder == "" {
				holder = "unknown"
			}
			return nil, fmt.Errorf("prefork: %s is locked by another jawas serve (pid %s)", path, holder)
		}
		return nil, fmt.Errorf("prefork: lock %s: %w", path, os.NewSyscallError("flock", err))
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("prefork: write lock: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("prefork: write lock: %w", err)
	}
	return &dirLock{f: f}, nil
}

// release empties the pid and drops the lock; the file stays (removing it
// would let two processes lock two different inodes of one path).
func (l *dirLock) release() {
	if l == nil {
		return
	}
	l.f.Truncate(0)
	l.f.Close()
}

// freshRunDir removes a stale runtime directory and creates it empty. It
// refuses to remove a non-empty directory that does not hold a worker table:
// a misconfigured run_dir must not cost the user their files.
func freshRunDir(dir string) error {
	if dir == "" {
		return errors.New("prefork: RunDir is required")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("prefork: read run dir: %w", err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, SharedFile)); err != nil {
			return fmt.Errorf("prefork: run dir %s is not empty and holds no %s; refusing to clean it", dir, SharedFile)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("prefork: remove stale run dir: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("prefork: create run dir: %w", err)
	}
	return nil
}
