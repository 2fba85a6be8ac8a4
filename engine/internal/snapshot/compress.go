package snapshot

import (
	"bytes"
	"math/bits"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// Brotli's window is sized to the body: its default 4 MB window makes every
// Reset clear megabytes of tables.
const (
	minBrotliWindow = 10
	maxBrotliWindow = 22
)

// Compressor makes the gzip and brotli encodings of bodies, reusing its
// writers and buffer from body to body: the store's versions, and the
// workers' site files (engine/serve). Not safe for concurrent use.
type Compressor struct {
	brQuality int
	buf       bytes.Buffer
	gz        *gzip.Writer
	br        [maxBrotliWindow + 1]*brotli.Writer // by window bits, made on first use
}

// NewCompressor returns a Compressor at the given gzip level and brotli
// quality.
func NewCompressor(gzipLevel, brotliQuality int) *Compressor {
	c := &Compressor{brQuality: brotliQuality}
	var err error
	if c.gz, err = gzip.NewWriterLevel(&c.buf, gzipLevel); err != nil {
		panic(err) // a level the caller fixed; not input
	}
	return c
}

// Gzip returns body's gzip encoding, valid until the next call.
func (c *Compressor) Gzip(body []byte) ([]byte, error) {
	c.buf.Reset()
	c.gz.Reset(&c.buf)
	if _, err := c.gz.Write(body); err != nil {
		return nil, err
	}
	if err := c.gz.Close(); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

// Brotli returns body's brotli encoding, valid until the next call.
func (c *Compressor) Brotli(body []byte) ([]byte, error) {
	c.buf.Reset()
	lg := min(max(bits.Len(uint(len(body))), minBrotliWindow), maxBrotliWindow)
	w := c.br[lg]
	if w == nil {
		w = brotli.NewWriterOptions(&c.buf, brotli.WriterOptions{Quality: c.brQuality, LGWin: lg})
		c.br[lg] = w
	}
	w.Reset(&c.buf)
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}
