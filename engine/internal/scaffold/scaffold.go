// Package scaffold owns the files `jawas init` writes: a small working
// project embedded in the binary. It never overwrites an existing file.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

//go:embed all:files
var files embed.FS

// Files lists the project-relative paths Create writes, sorted.
func Files() []string {
	var out []string
	fs.WalkDir(files, "files", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel("files", p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// Create writes the project into dir (created if missing). It refuses, and
// writes nothing, when any file it would write already exists.
func Create(dir string) ([]string, error) {
	names := Files()
	var clash []string
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			clash = append(clash, n)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	if len(clash) > 0 {
		return nil, fmt.Errorf("refusing to overwrite existing files in %s (nothing was written): %v", dir, clash)
	}
	for _, n := range names {
		data, err := files.ReadFile("files/" + n)
		if err != nil {
			return nil, fmt.Errorf("init: read embedded %s: %w", n, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		// O_EXCL: never clobber a file that appeared since the check.
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		_, werr := f.Write(data)
		cerr := f.Close()
		if werr != nil || cerr != nil {
			return nil, fmt.Errorf("init: write %s: %w", dst, errors.Join(werr, cerr))
		}
	}
	return names, nil
}
