// Package watch owns file watching: it turns fsnotify's per-directory,
// per-event stream into debounced batches of changed paths for whole
// directory trees (new sub-folders are watched as they appear, and the files
// already inside them are reported) and for single files (watched through
// their parent directory, so editors that save by writing a temporary file
// and renaming it over the original are seen).
//
// It must never read file contents or decide what a change means: callers
// get paths and decide.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configures a Watcher. Zero values mean the documented defaults.
type Options struct {
	// Debounce is the quiet time after the last event before a batch is
	// delivered. 0 delivers every event at once, one path per batch (what a
	// cache that only needs "something changed" wants).
	Debounce time.Duration
	// MaxDelay bounds how long a batch may be held back by a stream of
	// events that never goes quiet; default 10 × Debounce.
	MaxDelay time.Duration
	// Ignore, when set, drops paths (and, for directories, whole subtrees)
	// it returns true for. The default ignores names starting with "." and
	// node_modules folders, and editor backup files ending in "~".
	Ignore func(path string, isDir bool) bool
}

// Watcher watches a set of roots until Close.
//
// Threading: one goroutine reads fsnotify and delivers batches by calling
// the onChange callback; onChange is never called concurrently with itself.
type Watcher struct {
	opt      Options
	fsw      *fsnotify.Watcher
	onChange func([]string)
	files    map[string]bool // single-file roots, absolute
	trees    []string        // directory roots, absolute

	mu      sync.Mutex
	watched map[string]bool // directories added to fsw

	done   chan struct{}
	closed sync.Once
	exited chan struct{}
}

// DefaultIgnore is Options.Ignore's default.
func DefaultIgnore(path string, isDir bool) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || (isDir && base == "node_modules")
}

// New watches roots: a directory is watched with everything below it, a
// file through its parent directory (only events for that file are
// reported). A root that does not exist yet is an error unless it is a file
// whose directory exists. onChange receives absolute, sorted, de-duplicated
// paths of files and directories that were created, written, removed,
// renamed or chmodded.
func New(roots []string, opt Options, onChange func(paths []string)) (*Watcher, error) {
	if opt.Ignore == nil {
		opt.Ignore = DefaultIgnore
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = 10 * opt.Debounce
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{opt: opt, fsw: fsw, onChange: onChange, files: map[string]bool{},
		watched: map[string]bool{}, done: make(chan struct{}), exited: make(chan struct{})}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		st, err := os.Stat(abs)
		if err == nil && st.IsDir() {
			w.trees = append(w.trees, abs)
			if _, err := w.addTree(abs); err != nil {
				fsw.Close()
				return nil, err
			}
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		w.files[abs] = true
		if err := w.add(filepath.Dir(abs)); err != nil {
			fsw.Close()
			return nil, err
		}
	}
	go w.run() // reads fsnotify until Close; the only caller of onChange
	return w, nil
}

// Close stops watching and waits until onChange is no longer running.
func (w *Watcher) Close() error {
	var err error
	w.closed.Do(func() {
		close(w.done)
		err = w.fsw.Close()
		<-w.exited
	})
	return err
}

func (w *Watcher) add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched[dir] {
		return nil
	}
	if err := w.fsw.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	w.watched[dir] = true
	return nil
}

// addTree watches dir and every directory below it, and returns the paths
// found inside (so files created before the watch existed are reported).
func (w *Watcher) addTree(dir string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if p != dir && w.opt.Ignore(p, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if p != dir {
			found = append(found, p)
		}
		if d.IsDir() {
			return w.add(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("watch tree %s: %w", dir, err)
	}
	return found, nil
}

// forget drops the watches of a directory that was removed or renamed away,
// and of everything below it. A renamed directory keeps its inotify watch,
// but fsnotify would go on naming its events by the old path; dropping it
// lets the Create at the new name add a correctly named watch.
func (w *Watcher) forget(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.watched {
		if d == p || strings.HasPrefix(d, p+string(filepath.Separator)) {
			_ = w.fsw.Remove(d) // already gone with a removed directory
			delete(w.watched, d)
		}
	}
}

// inTree reports whether p is under a directory root.
func (w *Watcher) inTree(p string) bool {
	for _, t := range w.trees {
		if p == t || strings.HasPrefix(p, t+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// relevant filters one event's path; it also starts watching new folders.
func (w *Watcher) relevant(ev fsnotify.Event) []string {
	p := ev.Name
	if w.files[p] {
		return []string{p}
	}
	if !w.inTree(p) {
		return nil
	}
	isDir := false
	if ev.Has(fsnotify.Create) {
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			isDir = true
		}
	}
	if w.opt.Ignore(p, isDir) {
		return nil
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.forget(p)
	}
	if isDir {
		found, err := w.addTree(p)
		if err == nil {
			return append([]string{p}, found...)
		}
	}
	return []string{p}
}

func (w *Watcher) run() {
	defer close(w.exited)
	pending := map[string]bool{}
	var quiet, maxT *time.Timer
	var quietC, maxC <-chan time.Time
	flush := func() {
		if quiet != nil {
			quiet.Stop()
		}
		if maxT != nil {
			maxT.Stop()
		}
		quietC, maxC = nil, nil
		if len(pending) == 0 {
			return
		}
		paths := slices.Sorted(maps.Keys(pending))
		clear(pending)
		w.onChange(paths)
	}
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			paths := w.relevant(ev)
			if len(paths) == 0 {
				continue
			}
			if w.opt.Debounce <= 0 {
				w.onChange(paths)
				continue
			}
			for _, p := range paths {
				pending[p] = true
			}
			if quiet == nil {
				quiet = time.NewTimer(w.opt.Debounce)
			} else {
				quiet.Reset(w.opt.Debounce)
			}
			quietC = quiet.C
			if maxC == nil {
				if maxT == nil {
					maxT = time.NewTimer(w.opt.MaxDelay)
				} else {
					maxT.Reset(w.opt.MaxDelay)
				}
				maxC = maxT.C
			}
		case <-quietC:
			flush()
		case <-maxC:
			flush()
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow (or any error) may have lost events: report every
			// root as changed so callers rescan.
			for _, t := range w.trees {
				pending[t] = true
			}
			for f := range w.files {
				pending[f] = true
			}
			flush()
		}
	}
}
