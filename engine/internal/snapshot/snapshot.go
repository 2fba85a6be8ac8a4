// Package snapshot owns published content: the immutable version files, the
// manifest that maps URLs to them, and the shared control page through which
// the engine process tells worker processes that something changed. It is the
// only way a server finds what to serve, in this process or in another one.
//
// It must never evaluate sources, speak HTTP, or do per-request work beyond a
// couple of atomic loads and a map lookup: compression and hashing happen once
// per new version, in the writer.
//
// # Layout of a store directory
//
//	control            64 bytes, mmapped MAP_SHARED by everyone:
//	                   magic "JAWASSN1", uint64 generation, int64 heartbeat (unix ms)
//	manifest.json      {"generation": N, "entries": [...]}, replaced by rename
//	v/<hash>           the body of one version (hash = 32 hex chars of sha256)
//	v/<hash>.gz        gzip variant, only when smaller than the body
//	v/<hash>.br        brotli variant, only when smaller than the body
//	d/<hash>-<sum>     the patches from earlier versions to version <hash>
//	                   (delta.go), each with its compressed variants; the
//	                   manifest entry gives their byte ranges
//
// Every file is written to a temporary name and renamed, so a reader never
// sees a partial file. The writer renames the manifest first and only then
// increments the generation, so a reader that sees a new generation always
// finds a manifest at least that new.
//
// # Writer (the engine's period scheduler)
//
//	s, err := snapshot.Create(dir)
//	for each period {
//	    for each source: etag, changed, err := s.Put(url, json, snapshot.Meta{...})
//	    err = s.Commit()          // no-op (no generation bump) when nothing changed
//	    s.Heartbeat(time.Now())
//	}
//
// A Store is used by one goroutine at a time (Heartbeat and Dir excepted, which
// are safe from any goroutine). Put of unchanged content writes nothing and
// does not allocate.
//
// # Reader (one per worker process, shared by all its event loops)
//
//	r, err := snapshot.OpenReader(dir)
//	// per request, on any event loop:
//	v := r.View()                 // lock-free, allocation-free in steady state
//	e := v.LookupBytes(path)      // nil: not published
//	// write headers + e.Body (or e.Gzip / e.Brotli when non-nil and accepted)
//	// if the body cannot be written completely now, keep the view alive:
//	v.Acquire()  ... later, when the body is written or the connection dies: v.Release()
//
// A view that is not acquired stays mapped for RetireGrace after it was
// superseded, which covers writing a response within one event-loop turn.
// Anything held longer (a partial write waiting for EPOLLOUT) must Acquire.
// Entry byte slices point into read-only mappings: never write to them.
//
// Put dir on tmpfs (/dev/shm, $XDG_RUNTIME_DIR): it is a runtime cache,
// rebuilt by the engine, and on a disk filesystem each new version costs
// milliseconds of metadata work (create, rename) instead of tens of µs.
//
// The store is Linux-only (shared mmap); on other systems Create and
// OpenReader return an error.
package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Meta describes a published body.
type Meta struct {
	ContentType string        // e.g. "application/json"
	Period      time.Duration // the source's period; servers derive Cache-Control from it
	Boundary    time.Time     // logical time (period boundary) of the content
	// Status is the HTTP status servers answer with; 0 means 200. A non-200
	// entry stands for a route that has no content yet (a source failing
	// from the start: 503 with its error as the body): servers send the
	// body with no ETag or caching, and Retry-After one period.
	Status int
}

// Entry is one published URL as a reader sees it. All fields are read-only.
type Entry struct {
	URL         string
	ContentType string
	ETag        string // strong, quoted: "\"<hash>\"", of the identity body
	Size        int    // len(Body)
	Body        []byte // identity body (slice of a read-only mapping)
	Gzip        []byte // gzip variant, nil if none
	Brotli      []byte // brotli variant, nil if none
	Period      time.Duration
	Status      int // 0: 200 (see Meta.Status)
	// ETagGzip and ETagBrotli are the strong ETags of the compressed
	// variants ("\"<hash>-gzip\"", "\"<hash>-br\""; "" when the variant is
	// absent): a strong ETag names one sequence of bytes, so each content
	// coding of a version has its own (RFC 9110 §8.8.3). ETag names the
	// version everywhere else (status, the store's Put).
	ETagGzip, ETagBrotli string
	// Boundary is the logical time of the boundary at which this content was
	// first published (it does not move while the content stays the same).
	Boundary time.Time
	// Modified is the wall time this version was first published for this URL.
	Modified time.Time
	// LastModified is Modified formatted for the Last-Modified header
	// (RFC 1123, GMT), preformatted so servers never format per request.
	LastModified []byte
	// StaleSince, when not zero, says the source is failing and this is
	// its last good content, rendered then.
	StaleSince time.Time
	// Deltas are patches (DeltaFormat) from recent earlier versions to
	// this one, newest base first; empty when the store makes none.
	Deltas []Delta
}

// Delta is a patch from the version whose hash is Base to an Entry's
// version. Its byte slices point into read-only mappings.
type Delta struct {
	Base         []byte // the base version's hash, 32 hex digits (its ETag without quotes)
	Body         []byte // the patch
	Gzip, Brotli []byte // its compressed variants, nil if none
}

// RetireGrace is how long a superseded View stays mapped without an explicit
// Acquire in a reader.
const RetireGrace = 2 * time.Second

// VersionGrace is how long the writer keeps a version file after the last
// manifest entry that referenced it was committed away.
const VersionGrace = 30 * time.Second

// minCompressSize: bodies smaller than this are not compressed.
const minCompressSize = 256

const (
	controlMagic  = "JAWASSN1"
	controlSize   = 64
	offGeneration = 8
	offHeartbeat  = 16

	controlName  = "control"
	manifestName = "manifest.json"
	versionDir   = "v"
	deltaDir     = "d"
	tmpPrefix    = ".tmp-"
)

// hashKey identifies a version: the first 16 bytes of the body's sha256.
type hashKey [16]byte

func hashOf(body []byte) hashKey {
	sum := sha256.Sum256(body)
	var h hashKey
	copy(h[:], sum[:16])
	return h
}

func (h hashKey) String() string { return hex.EncodeToString(h[:]) }

// manifest is the on-disk form of manifest.json.
type manifest struct {
	Generation uint64          `json:"generation"`
	Entries    []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	URL         string          `json:"url"`
	ContentType string          `json:"type"`
	Hash        string          `json:"hash"`
	Size        int             `json:"size"`
	Gzip        int             `json:"gzip,omitempty"` // size of v/<hash>.gz; 0 = none
	Brotli      int             `json:"br,omitempty"`   // size of v/<hash>.br; 0 = none
	PeriodMS    int64           `json:"period_ms"`
	Status      int             `json:"status,omitempty"` // 0: 200
	BoundaryMS  int64           `json:"boundary_ms"`
	ModifiedMS  int64           `json:"modified_ms"`
	StaleMS     int64           `json:"stale_ms,omitempty"` // the source is failing; it last rendered well then
	DeltaFile   string          `json:"dfile,omitempty"`    // d/<name>: the patches to this version
	Deltas      []manifestDelta `json:"deltas,omitempty"`
}

// manifestDelta is a patch from an earlier version (From) to the entry's:
// byte ranges of the entry's DeltaFile (the patch, and its compressed
// variants when they are smaller).
type manifestDelta struct {
	From      string `json:"from"`
	Off       int    `json:"off"`
	Size      int    `json:"size"`
	GzipOff   int    `json:"gzip_off,omitempty"`
	Gzip      int    `json:"gzip,omitempty"`
	BrotliOff int    `json:"br_off,omitempty"`
	Brotli    int    `json:"br,omitempty"`
}

// httpTimeFormat is net/http.TimeFormat, without importing net/http.
const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func etagOf(hexHash string) string { return `"` + hexHash + `"` }

// Suffixes of the ETags of a version's compressed variants (Entry.ETagGzip,
// Entry.ETagBrotli).
const (
	GzipETagSuffix   = "-gzip"
	BrotliETagSuffix = "-br"
)
