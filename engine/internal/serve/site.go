// This file implements the site file cache: files under SiteDir, mmapped on
// first request and kept per loop (no locks, plain reference counts). A
// changed size, mtime or inode replaces the mapping, and the old one is
// unmapped only when no queued response still points into it.
//
// When to look: one fsnotify watcher per Server (engine/watch, the whole
// site tree) bumps a generation counter on every event, and a cached file is
// re-checked with one stat only when the generation moved since it was last
// checked, so a file copied in by a deployment is served on the next request
// (not up to a second later) and the steady state costs one atomic load per
// request, no syscall. Without a watcher (inotify limits, or before Serve),
// a cached file falls back to one stat at most once per second.

package serve

import (
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/snapshot"
	"github.com/jawas/jawas/engine/internal/watch"
)

const (
	siteRecheck  = int64(time.Second)
	maxSiteFiles = 4096
)

type siteFile struct {
	full    string // joined (unresolved) path: what the recheck stats
	data    []byte // mapping; nil for an empty file
	size    int64
	mtime   time.Time
	ino     uint64
	etag    []byte // of the identity body; etagFor gives the compressed variants'
	etagGz  []byte // etag with the gzip suffix (snapshot.GzipETagSuffix)
	etagBr  []byte
	lastMod []byte
	ctype   string
	checked int64  // unix ns of the last stat
	gen     uint64 // siteWatch generation at the last stat
	refs    int    // queued responses using data
	stale   bool   // replaced or evicted: unmap when refs reaches 0
	dir     bool   // a directory with an index.html named without its '/': answered with a redirect, nothing mapped
	heap    bool   // data is a heap copy (Options.SiteHTML rewrote it), not a mapping

	compressible bool // startCompress makes variants: answers say Vary: Accept-Encoding

	enc atomic.Pointer[siteVariants] // compressed bodies, once made (site_compress.go); nil until then
}

type siteCache struct {
	root  string // SiteDir with symlinks resolved
	files map[string]*siteFile
	w     *siteWatch
	html  func([]byte) []byte // Options.SiteHTML
}

// siteWatch is the Server's site watcher state, shared by its loops.
type siteWatch struct {
	gen  atomic.Uint64 // bumped on every change under the site dir
	live atomic.Bool   // a watcher is running: trust gen, skip the periodic stat
}

// start watches dir and returns the function that stops watching. A
// watcher that cannot start is logged, and the loops fall back to the
// periodic stat.
func (w *siteWatch) start(dir string, s *Server) func() {
	if dir == "" {
		return func() {}
	}
	// Watcher goroutine (engine/watch): only bumps the generation.
	fw, err := watch.New([]string{dir}, watch.Options{}, func([]string) { w.gen.Add(1) })
	if err != nil {
		s.opt.Log.Warn("serve: site files are not watched; changes are seen within a second", "error", err)
		return func() {}
	}
	w.gen.Add(1) // anything cached before the watch started is checked again
	w.live.Store(true)
	return func() {
		w.live.Store(false)
		fw.Close()
	}
}

func newSiteCache(dir string, w *siteWatch) (*siteCache, error) {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, fmt.Errorf("site dir %s: %w", dir, err)
	}
	return &siteCache{root: root, files: make(map[string]*siteFile), w: w}, nil
}

// safePath reports whether a decoded URL path may name a site file: it is
// absolute, has no NUL or backslash, and no segment that is empty-dot,
// "..", or a dotfile/dotdir.
func safePath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case 0, '\\':
			return false
		case '/':
			if i+1 < len(p) && p[i+1] == '.' {
				return false
			}
		}
	}
	return true
}

// lookup returns the file for a URL path, loading or refreshing it; nil
// means 404. Loop goroutine only.
func (s *siteCache) lookup(path []byte, now int64) *siteFile {
	if !safePath(path) {
		return nil
	}
	f := s.files[string(path)]
	gen := s.w.gen.Load()
	if f != nil && f.gen == gen && (s.w.live.Load() || now-f.checked < siteRecheck) {
		return f
	}
	if f != nil {
		if st, err := os.Stat(f.full); err == nil && sameFile(f, st) {
			f.checked, f.gen = now, gen
			return f
		}
		delete(s.files, string(path))
		s.drop(f)
	}
	f, err := s.load(string(path), now)
	if err != nil || f == nil {
		return nil
	}
	f.gen = gen
	if len(s.files) >= maxSiteFiles {
		for k, old := range s.files {
			delete(s.files, k)
			s.drop(old)
		}
	}
	s.files[string(path)] = f
	return f
}

func sameFile(f *siteFile, st os.FileInfo) bool {
	return st.Mode().IsRegular() && st.Size() == f.size && st.ModTime().Equal(f.mtime) && inode(st) == f.ino
}

// load resolves a URL path under root, refusing anything whose real path
// (after symlinks) leaves root, and maps it. Directories serve index.html
// when named with a trailing '/'; named without it, they are a dir entry
// (the loop redirects to the '/' form, as nginx does, so the page's
// relative links resolve inside the directory); there is no listing.
func (s *siteCache) load(urlPath string, now int64) (*siteFile, error) {
	full := filepath.Join(s.root, filepath.FromSlash(urlPath))
	st, err := os.Stat(full)
	if err != nil {
		return nil, err
	}
	dir := st.IsDir()
	switch {
	case dir:
		full = filepath.Join(full, "index.html")
	case strings.HasSuffix(urlPath, "/"):
		return nil, nil // "/app.js/": Join dropped the '/', but a file is not a directory
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil, err
	}
	if real != s.root && !strings.HasPrefix(real, s.root+string(filepath.Separator)) {
		return nil, nil // escapes the site: a 404, never the file
	}
	if dir && !strings.HasSuffix(urlPath, "/") {
		return &siteFile{full: full, dir: true, checked: now}, nil
	}
	fh, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err = fh.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, err
	}
	data, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, err
	}
	f := &siteFile{full: full, data: data, size: st.Size(), mtime: st.ModTime(), ino: inode(st),
		ctype: contentType(real), checked: now}
	f.etag = fmt.Appendf(nil, `"%x-%x"`, st.Size(), st.ModTime().UnixNano())
	f.etagGz = fmt.Appendf(nil, `"%x-%x%s"`, st.Size(), st.ModTime().UnixNano(), snapshot.GzipETagSuffix)
	f.etagBr = fmt.Appendf(nil, `"%x-%x%s"`, st.Size(), st.ModTime().UnixNano(), snapshot.BrotliETagSuffix)
	f.lastMod = http1.AppendHTTPDate(nil, st.ModTime())
	if s.html != nil && strings.HasPrefix(f.ctype, "text/html") {
		f.data, f.heap = s.html(data), true
		unmapFile(data)
		return f, nil // no variants: they would be the file's, not this body's
	}
	startCompress(f, real)
	return f, nil
}

// etagFor returns the strong ETag of f's body in coding enc.
func (f *siteFile) etagFor(enc http1.Encoding) []byte {
	switch enc {
	case http1.EncGzip:
		return f.etagGz
	case http1.EncBrotli:
		return f.etagBr
	}
	return f.etag
}

// drop retires a file: unmapped now if unused, else when its last queued
// response is written.
func (s *siteCache) drop(f *siteFile) {
	f.stale = true
	if f.refs == 0 {
		f.unmap()
	}
}

// release ends one queued response's use of f.
func (s *siteCache) release(f *siteFile) {
	f.refs--
	if f.refs == 0 && f.stale {
		f.unmap()
	}
}

func (f *siteFile) unmap() {
	if !f.heap {
		unmapFile(f.data)
	}
	f.data = nil
}

var mimeDefaults = map[string]string{
	".html":  "text/html; charset=utf-8",
	".htm":   "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".wasm":  "application/wasm",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
	".map":   "application/json",
}

func contentType(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if t, ok := mimeDefaults[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
