// Package atomicfile replaces a file's content so that a reader sees either
// the old file or the whole new one, never a part: it writes a temporary file
// in the same directory and renames it over the target. It owns only that
// sequence and the fsyncs around it; it must never decide durability for its
// callers, which say per call whether the file and the directory are synced.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Options say how WriteFile makes the new content durable and names its
// temporary file. The zero value renames without any fsync: after a crash
// the file holds the old or the new content, or (on some file systems) is
// empty or missing; good enough for files rebuilt on start.
type Options struct {
	// Sync fsyncs the temporary file before the rename, so the content
	// reaches the disk before the name points at it.
	Sync bool
	// SyncDir fsyncs the directory after the rename, so the new name
	// itself survives a power loss.
	SyncDir bool
	// TempPattern is the os.CreateTemp pattern of the temporary file, for
	// callers that sweep leftovers by name; "" means "." + base + ".*.tmp".
	TempPattern string
	// NoReplace creates path only if it does not exist yet (by a hard link
	// instead of a rename): when it does, WriteFile leaves it as it is and
	// returns an error that matches fs.ErrExist.
	NoReplace bool
}

// WriteFile writes data to path through a temporary file in path's directory
// and a rename. The file gets exactly perm (the umask does not apply). On any
// error the temporary file is removed and path is left as it was.
func WriteFile(path string, data []byte, perm fs.FileMode, opt Options) (err error) {
	dir := filepath.Dir(path)
	pattern := opt.TempPattern
	if pattern == "" {
		pattern = "." + filepath.Base(path) + ".*.tmp"
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if opt.Sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if opt.NoReplace {
		if err := os.Link(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if opt.SyncDir {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir fsyncs a directory, making the names created, renamed or removed
// in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
