package snapshot

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jawas/jawas/internal/atomicfile"
	"github.com/klauspost/compress/gzip"
)

// Store is the writer side of a snapshot store. It is used by one goroutine at
// a time (the engine's period scheduler); Heartbeat and Dir are safe from any
// goroutine.
type Store struct {
	dir  string
	ctrl []byte
	gen  *atomic.Uint64
	beat *atomic.Int64

	entries  map[string]*entry    // staged state, URL → entry
	versions map[hashKey]*version // every version file we know on disk
	dirty    bool

	now   func() time.Time // wall clock; replaced in tests
	grace time.Duration    // VersionGrace; shortened in tests

	comp *Compressor

	deltas  int                   // versions back a patch is made from; 0 = none (SetDeltas)
	patches map[string]*patch     // patches listed by staged entries, by "<from>-<to>"
	dfiles  map[string]*deltaFile // patch files we know on disk, by name
	diff    differ
	comp2   composer    // composes patches to older bases (store_delta.go)
	enc     []byte      // patch file being assembled
	pcomp   *Compressor // gzip for patches (brotli: comp)
	trees   []*jsonTree // parsed trees of versions no longer kept, for reuse
	bodies  [][]byte    // bodies of versions no longer kept, for reuse (bodyBuf)
}

type entry struct {
	url      string
	ct       string
	period   time.Duration
	status   int
	boundary time.Time
	modified time.Time
	stale    time.Time // when its source last rendered well, while it fails; zero otherwise
	v        *version

	// With deltas: the current version's body and parsed tree, the
	// previous versions newest first, and the patches from them to v.
	cur     *past
	past    []*past
	patches []*patch
	deltas  []manifestDelta // the listed patches, in dfile
	dfile   *deltaFile
}

type version struct {
	hash    hashKey
	hex     string
	etag    string
	size    int
	gz, br  int       // variant sizes, 0 = none
	refs    int       // staged entries referencing this version
	retired time.Time // when it stopped being referenced by a commit; zero while live
}

// patchGzipLevel is the gzip level of patches, made for every version from
// each of the last few: on the deltas workload's patches (TestPatchFormats)
// level 4 makes them 195 bytes a poll against 194 at level 6 and 193 at 9,
// in about 2/3 of level 6's time (9 µs a patch against 13.5).
const patchGzipLevel = 4

// brotliQuality trades ratio for time: a version is compressed once, but a
// source may change every period (200 ms), so quality 11 (milliseconds for a
// few KB) would eat the period.
const brotliQuality = 9

// Create opens the store in dir, creating dir and the control page if needed.
// An existing manifest is loaded, so unchanged content keeps its ETag and
// Last-Modified across engine restarts; version files it no longer references
// are removed after VersionGrace.
func Create(dir string) (*Store, error) {
	if !supported {
		_, err := openControl(dir, true)
		return nil, err
	}
	for _, sub := range []string{versionDir, deltaDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create store: %w", err)
		}
	}
	ctrl, err := openControl(dir, true)
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	s := &Store{
		dir:      dir,
		ctrl:     ctrl,
		gen:      (*atomic.Uint64)(unsafe.Pointer(&ctrl[offGeneration])),
		beat:     (*atomic.Int64)(unsafe.Pointer(&ctrl[offHeartbeat])),
		entries:  make(map[string]*entry),
		versions: make(map[hashKey]*version),
		patches:  make(map[string]*patch),
		dfiles:   make(map[string]*deltaFile),
		now:      time.Now,
		grace:    VersionGrace,
	}
	s.comp = NewCompressor(gzip.BestCompression, brotliQuality)
	s.pcomp = NewCompressor(patchGzipLevel, brotliQuality)
	if err := s.recover(); err != nil {
		s.Close()
		return nil, fmt.Errorf("create store: %w", err)
	}
	return s, nil
}

// recover loads what a previous engine left: the version files on disk and
// the manifest entries whose files are all present.
func (s *Store) recover() error {
	vdir := filepath.Join(s.dir, versionDir)
	des, err := os.ReadDir(vdir)
	if err != nil {
		return err
	}
	now := s.now()
	sizes := make(map[string]int64, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			os.Remove(filepath.Join(vdir, name)) // a writer died mid-write
			continue
		}
		if info, err := de.Info(); err == nil && info.Mode().IsRegular() {
			sizes[name] = info.Size()
		}
	}
	s.recoverPatches(now)
	for name, size := range sizes {
		h, ok := parseHash(name)
		if !ok {
			continue
		}
		v := &version{hash: h, hex: name, etag: etagOf(name), size: int(size), retired: now}
		v.gz = int(sizes[name+".gz"])
		v.br = int(sizes[name+".br"])
		s.versions[h] = v
	}

	data, err := os.ReadFile(filepath.Join(s.dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		// Renames make a torn manifest impossible; an unreadable one is from
		// another program or version: start empty rather than trust it.
		return nil
	}
	if m.Generation > s.gen.Load() {
		s.gen.Store(m.Generation)
	}
	for _, me := range m.Entries {
		h, ok := parseHash(me.Hash)
		v := s.versions[h]
		if !ok || v == nil || v.size != me.Size || v.gz != me.Gzip || v.br != me.Brotli {
			s.dirty = true // drop the entry: its files are not what it says
			continue
		}
		v.refs++
		v.retired = time.Time{}
		if len(me.Deltas) > 0 {
			s.dirty = true // their bases' bodies are gone: the next commit drops them
		}
		s.entries[me.URL] = &entry{
			url:      me.URL,
			ct:       me.ContentType,
			period:   time.Duration(me.PeriodMS) * time.Millisecond,
			status:   me.Status,
			boundary: time.UnixMilli(me.BoundaryMS),
			modified: time.UnixMilli(me.ModifiedMS),
			v:        v,
		}
	}
	return nil
}

func parseHash(name string) (hashKey, bool) {
	var h hashKey
	if len(name) != 2*len(h) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(name)); err != nil {
		return h, false
	}
	return h, true
}

// Dir returns the store directory.
func (s *Store) Dir() string { return s.dir }

// Generation returns the last committed generation.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// URLs returns the URLs currently staged, sorted, so the caller can Delete
// those it no longer publishes (for instance after a restart).
func (s *Store) URLs() []string {
	return slices.Sorted(maps.Keys(s.entries))
}

// Status returns the status of url's staged entry (0 for 200) and whether
// it has one.
func (s *Store) Status(url string) (status int, ok bool) {
	e := s.entries[url]
	if e == nil {
		return 0, false
	}
	return e.status, true
}

// Put stages body as the content of url. etag is the strong, quoted ETag of
// body. When url already has exactly this body and meta (Boundary aside),
// nothing is written and changed is false; Boundary is recorded only when the
// content changes. The change becomes visible to readers at the next Commit.
func (s *Store) Put(url string, body []byte, m Meta) (etag string, changed bool, err error) {
	h := hashOf(body)
	e := s.entries[url]
	if e != nil && e.v.hash == h && e.ct == m.ContentType && e.period == m.Period && e.status == m.Status {
		if !e.stale.IsZero() { // working again, with the same content
			e.stale = time.Time{}
			s.dirty = true
		}
		return e.v.etag, false, nil
	}
	v, err := s.version(h, body)
	if err != nil {
		return "", false, fmt.Errorf("put %s: %w", url, err)
	}
	if e == nil {
		e = &entry{url: url}
		s.entries[url] = e
	}
	if e.v != v {
		if e.v != nil {
			e.v.refs--
		}
		v.refs++
		e.v = v
		e.boundary = m.Boundary
		e.modified = s.now()
		if err := s.makePatches(e, body, m); err != nil {
			return "", false, fmt.Errorf("put %s: %w", url, err)
		}
	}
	e.ct, e.period, e.status = m.ContentType, m.Period, m.Status
	e.stale = time.Time{}
	s.dirty = true
	return v.etag, true, nil
}

// MarkStale records that url's source is failing and last rendered well at
// since: readers then see Entry.StaleSince (servers send X-Jawas-Stale).
// The next Put of url clears it. Marking an already marked or unknown url
// changes nothing.
func (s *Store) MarkStale(url string, since time.Time) {
	e := s.entries[url]
	if e == nil || !e.stale.IsZero() {
		return
	}
	e.stale = since
	s.dirty = true
}

// version returns the version file for body, writing it (and its compressed
// variants) when it does not exist yet.
func (s *Store) version(h hashKey, body []byte) (*version, error) {
	if v := s.versions[h]; v != nil && v.size == len(body) {
		return v, nil
	}
	name := h.String()
	v := &version{hash: h, hex: name, etag: etagOf(name), size: len(body)}
	base := filepath.Join(s.dir, versionDir, name)
	if len(body) >= minCompressSize {
		var err error
		if v.gz, err = variant(base+".gz", body, s.comp.Gzip); err != nil {
			return nil, err
		}
		if v.br, err = variant(base+".br", body, s.comp.Brotli); err != nil {
			return nil, err
		}
	}
	if err := writeFile(base, body); err != nil {
		return nil, err
	}
	s.versions[h] = v
	return v, nil
}

// variant compresses body and writes it to path when it is smaller than body.
// It returns the variant's size, 0 when none was written.
func variant(path string, body []byte, compress func([]byte) ([]byte, error)) (int, error) {
	enc, err := compress(body)
	if err != nil {
		return 0, fmt.Errorf("compress %s: %w", filepath.Base(path), err)
	}
	if len(enc) >= len(body) {
		os.Remove(path) // a stale variant from an older, different writer
		return 0, nil
	}
	if err := writeFile(path, enc); err != nil {
		return 0, err
	}
	return len(enc), nil
}

// writeFile writes data to path through a temporary file and a rename, so a
// reader sees either no file or the whole file. No fsync: the store is a
// runtime cache rebuilt by the engine after a crash.
func writeFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644, atomicfile.Options{TempPattern: tmpPrefix + "*"})
}

// Delete stages the removal of url. It is visible to readers at the next Commit.
func (s *Store) Delete(url string) {
	e := s.entries[url]
	if e == nil {
		return
	}
	e.v.refs--
	s.dropPatches(e)
	delete(s.entries, url)
	s.dirty = true
}

// Commit publishes everything staged since the last Commit: it replaces
// manifest.json, then increments the shared generation, which readers see on
// their next View. With nothing staged it only collects garbage and the
// generation does not move.
func (s *Store) Commit() error {
	if s.dirty {
		next := s.gen.Load() + 1
		data, err := s.manifestJSON(next)
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if err := writeFile(filepath.Join(s.dir, manifestName), data); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		s.gen.Store(next)
		s.dirty = false
	}
	s.collect()
	return nil
}

func (s *Store) manifestJSON(gen uint64) ([]byte, error) {
	m := manifest{Generation: gen, Entries: make([]manifestEntry, 0, len(s.entries))}
	for _, e := range s.entries {
		m.Entries = append(m.Entries, manifestEntry{
			URL:         e.url,
			ContentType: e.ct,
			Hash:        e.v.hex,
			Size:        e.v.size,
			Gzip:        e.v.gz,
			Brotli:      e.v.br,
			PeriodMS:    e.period.Milliseconds(),
			Status:      e.status,
			BoundaryMS:  e.boundary.UnixMilli(),
			ModifiedMS:  e.modified.UnixMilli(),
			StaleMS:     staleMS(e.stale),
			DeltaFile:   deltaFileName(e.dfile),
			Deltas:      e.deltas,
		})
	}
	slices.SortFunc(m.Entries, func(a, b manifestEntry) int { return strings.Compare(a.URL, b.URL) })
	return json.Marshal(&m)
}

// collect marks versions that the committed manifest no longer references and
// removes those that have been unreferenced for longer than the grace period.
// It is only called right after a commit (or with nothing staged), so the
// staged reference counts are the committed ones.
func (s *Store) collect() {
	now := s.now()
	for h, v := range s.versions {
		switch {
		case v.refs > 0:
			v.retired = time.Time{}
		case v.retired.IsZero():
			v.retired = now
		case now.Sub(v.retired) >= s.grace:
			base := filepath.Join(s.dir, versionDir, v.hex)
			os.Remove(base + ".gz")
			os.Remove(base + ".br")
			os.Remove(base)
			delete(s.versions, h)
		}
	}
	s.collectPatches(now)
}

// Heartbeat records t (unix ms) in the shared control page; readers see it
// through Reader.Heartbeat. Safe from any goroutine.
func (s *Store) Heartbeat(t time.Time) { s.beat.Store(t.UnixMilli()) }

// Close unmaps the control page. The files stay: workers keep serving them.
func (s *Store) Close() error {
	if s.ctrl == nil {
		return nil
	}
	err := unmap(s.ctrl)
	s.ctrl = nil
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func staleMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// EntryInfo describes one staged entry: what the next Commit publishes
// for its URL (cluster mode ships these to the other nodes).
type EntryInfo struct {
	URL         string
	Hash        string // hex; names the version (see Version)
	ContentType string
	Period      time.Duration
	Boundary    time.Time
	Size        int
}

// Entries lists the staged entries, sorted by URL.
func (s *Store) Entries() []EntryInfo {
	out := make([]EntryInfo, 0, len(s.entries))
	for _, u := range s.URLs() {
		e := s.entries[u]
		out = append(out, EntryInfo{URL: u, Hash: e.v.hex, ContentType: e.ct, Period: e.period, Boundary: e.boundary, Size: e.v.size})
	}
	return out
}

// Hash returns the hash of url's staged content, "" when it has none.
func (s *Store) Hash(url string) string {
	if e := s.entries[url]; e != nil {
		return e.v.hex
	}
	return ""
}

// Version returns the body of the version named hash (hex), as Put was
// given it.
func (s *Store) Version(hash string) ([]byte, error) {
	if _, ok := parseHash(hash); !ok {
		return nil, fmt.Errorf("version %q: not a version hash", hash)
	}
	return os.ReadFile(filepath.Join(s.dir, versionDir, hash))
}

// HashOf returns the hash (hex) Put names body's version by.
func HashOf(body []byte) string { return hashOf(body).String() }

// Lookup returns url's staged entry.
func (s *Store) Lookup(url string) (EntryInfo, bool) {
	e := s.entries[url]
	if e == nil {
		return EntryInfo{}, false
	}
	return EntryInfo{URL: url, Hash: e.v.hex, ContentType: e.ct, Period: e.period, Boundary: e.boundary, Size: e.v.size}, true
}
