// This file implements compressed variants of site files: gzip and brotli,
// made once per file version, never per request (the product promises no
// per-request compression), as snapshots' are. They are made off the loop: compressing a large file with brotli
// takes tens of milliseconds, which would stall every connection of the
// loop. Until its variants are ready, a file is sent as it is.

package serve

import (
	"bytes"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

const (
	// Files outside this size range are always sent as they are: below it
	// the saving is a few bytes, above it the variants would double a
	// large file's memory in every loop.
	minCompress = 512
	maxCompress = 8 << 20

	// siteBrotliQuality is lower than the snapshots' (9): site files are
	// compressed by the workers, and quality 5 is several times faster for
	// a few percent more bytes.
	siteBrotliQuality = 5
)

// compressSlots bounds the compressions running at once in this process to
// one, so a deployment of many files does not take every core from the
// loops; the one running uses siteCompressor.
var (
	compressSlots  = make(chan struct{}, 1)
	siteCompressor = snapshot.NewCompressor(gzip.DefaultCompression, siteBrotliQuality)
)

// siteVariants are a site file's compressed bodies; nil when not smaller.
type siteVariants struct {
	gz, br []byte
}

// compressible reports whether a content type is worth compressing: text,
// and the structured types that are text underneath. Images, fonts (woff
// and woff2 are compressed already) and archives are not.
func compressible(ctype string) bool {
	if strings.HasPrefix(ctype, "text/") {
		return true
	}
	base, _, _ := strings.Cut(ctype, ";")
	switch base {
	case "application/json", "application/javascript", "application/xml", "application/wasm",
		"application/manifest+json", "image/svg+xml", "image/x-icon":
		return true
	}
	return strings.HasSuffix(base, "+json") || strings.HasSuffix(base, "+xml")
}

// startCompress makes f's variants in the background when its type and
// size call for them; f.enc is set when they are ready. The goroutine
// reads the file itself (never f's mapping, which the loop may unmap) and
// drops its result if the file changed meanwhile.
func startCompress(f *siteFile, path string) {
	if f.size < minCompress || f.size > maxCompress || !compressible(f.ctype) {
		return
	}
	f.compressible = true // set before f is shared: the loop reads it
	// Compressor goroutine: reads path, writes only f.enc (atomic).
	go func() {
		compressSlots <- struct{}{}
		defer func() { <-compressSlots }()
		body, err := os.ReadFile(path)
		if err != nil || int64(len(body)) != f.size {
			return
		}
		if st, err := os.Stat(path); err != nil || !sameFile(f, st) {
			return // changed while read: its new version gets its own
		}
		f.enc.Store(compressVariants(body))
	}()
}

// compressVariants returns body's gzip and brotli encodings, each kept
// only when smaller than body. The caller holds a compressSlot.
func compressVariants(body []byte) *siteVariants {
	var v siteVariants
	if gz, err := siteCompressor.Gzip(body); err == nil && len(gz) < len(body) {
		v.gz = bytes.Clone(gz)
	}
	if br, err := siteCompressor.Brotli(body); err == nil && len(br) < len(body) {
		v.br = bytes.Clone(br)
	}
	return &v
}
