// This file implements the store's side of deltas: when a URL gets a new
// version B, a patch from each of its last few versions A to B is made
// once, written like a version (d/<A>-<B>, precompressed) and listed in
// B's manifest entry, so every client holding A gets the same bytes and
// workers serve them from mappings. The patches are made on the publisher,
// right after the render, because that is the one place that has both
// bodies and runs once per version for everyone.

package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MinDeltaSize is the smallest body patches are made for: below it the
// full body compressed is a few hundred bytes, about a response's headers,
// and the patches would cost the engine more than they save.
const MinDeltaSize = 4096

// MaxDeltas bounds SetDeltas: each version back is one more patch per new
// version, and one more body kept in memory per URL.
const MaxDeltas = 32

// past is a version of a URL the store still holds the body of, to make
// patches from.
type past struct {
	hash hashKey
	hex  string
	body []byte
	tree *jsonTree // parsed on first use
	bad  bool      // not JSON after all: no patches from or to it
}

// patch is one patch, kept in memory while an entry lists it so that a
// version coming back makes no patch twice; none when it would not be
// smaller than the full body.
type patch struct {
	from    string // hex hash of the base version
	id, gz  []byte // the patch and its gzip variant (nil: not smaller)
	br      []byte // brotli variant, only for large patches (minBrotliPatch)
	none    bool
	refs    int // staged entries listing it
	retired time.Time
}

// deltaFile is the file holding all the patches to one version, listed by
// the manifest entries of that version. One file per version, not one per
// patch and coding: the engine writes a file per version anyway, and each
// file is a create, write and rename here and a mapping in every worker.
type deltaFile struct {
	name    string // <hash>-<8 hex digits of the file's own sha256>
	refs    int
	retired time.Time
}

// minBrotliPatch: smaller patches get gzip only. On patches of a few
// hundred bytes brotli saves a few bytes and costs several times gzip's
// time, once per patch, on the publisher.
const minBrotliPatch = 4096

// SetDeltas sets how many of a URL's previous versions each new version
// gets a patch from (0, the default, makes none; at most MaxDeltas). Only
// JSON bodies of at least MinDeltaSize bytes get patches. It applies from
// the next version published.
func (s *Store) SetDeltas(n int) { s.deltas = min(max(n, 0), MaxDeltas) }

// makePatches records e's new version (body) and makes the patches to it
// from e's previous versions, written in one file. Called by Put when e.v
// changed.
func (s *Store) makePatches(e *entry, body []byte, m Meta) error {
	prev, toPrev := e.cur, e.patches // the patches to prev, from its own window
	s.dropPatches(e)
	if s.deltas <= 0 || m.Status != 0 || len(body) < MinDeltaSize || !strings.HasPrefix(m.ContentType, "application/json") {
		e.cur, e.past = nil, nil
		return nil
	}
	cur := &past{hash: e.v.hash, hex: e.v.hex, body: append(s.bodyBuf(len(body)), body...)}
	hist := make([]*past, 0, s.deltas)
	if prev != nil && prev.hash != cur.hash {
		hist = append(hist, prev)
	}
	for _, p := range e.past {
		if p.hash != cur.hash && len(hist) < s.deltas { // back to an earlier version: no patch to itself
			hist = append(hist, p)
		}
	}
	for _, p := range e.past { // recycle the trees and bodies of versions leaving the window
		if !slices.Contains(hist, p) {
			if p.tree != nil {
				s.trees = append(s.trees, p.tree)
				p.tree = nil
			}
			if len(s.bodies) < maxPooledBodies {
				s.bodies = append(s.bodies, p.body[:0])
			}
			p.body = nil
		}
	}
	e.cur, e.past = cur, hist
	if prev != nil && prev.tree != nil { // parse the new version following the previous one
		s.parsed(cur, prev.tree)
	}
	buf := s.enc[:0]
	var prevTo *patch // prev → cur, made first: hist[0] is prev
	for _, a := range hist {
		var aToPrev *patch
		if a != prev {
			for _, q := range toPrev {
				if q.from == a.hex {
					aToPrev = q
				}
			}
		}
		p, err := s.patch(a, cur, aToPrev, prevTo)
		if err != nil {
			return err
		}
		if a == prev {
			prevTo = p
		}
		p.refs++
		e.patches = append(e.patches, p)
		if p.none {
			continue
		}
		md := manifestDelta{From: p.from, Off: len(buf), Size: len(p.id)}
		buf = append(buf, p.id...)
		if p.gz != nil {
			md.GzipOff, md.Gzip = len(buf), len(p.gz)
			buf = append(buf, p.gz...)
		}
		if p.br != nil {
			md.BrotliOff, md.Brotli = len(buf), len(p.br)
			buf = append(buf, p.br...)
		}
		e.deltas = append(e.deltas, md)
	}
	s.enc = buf
	if len(e.deltas) == 0 {
		return nil
	}
	sum := sha256.Sum256(buf)
	name := cur.hex + "-" + hex.EncodeToString(sum[:4])
	f := s.dfiles[name]
	if f == nil {
		if err := writeFile(filepath.Join(s.dir, deltaDir, name), buf); err != nil {
			return err
		}
		f = &deltaFile{name: name}
		s.dfiles[name] = f
	}
	f.refs++
	e.dfile = f
	return nil
}

// patch returns the patch from a to b, making it when it is not known.
// Given a's patch to b's previous version (toPrev) and that version's
// patch to b (prevTo), it composes them: an older base then costs no
// diff, only the few splices of the two patches. Otherwise it diffs a
// and b.
func (s *Store) patch(a, b *past, toPrev, prevTo *patch) (*patch, error) {
	name := a.hex + "-" + b.hex
	if p := s.patches[name]; p != nil {
		return p, nil
	}
	p := &patch{from: a.hex}
	s.patches[name] = p
	var out []splice
	if toPrev != nil && prevTo != nil && !toPrev.none && !prevTo.none {
		var err error
		if out, err = s.comp2.compose(len(a.body), toPrev.id, prevTo.id); err != nil {
			out = nil // not ours after all: diff
		}
	}
	if out == nil {
		if !s.parsed(a, nil) || !s.parsed(b, nil) {
			p.none = true
			return p, nil
		}
		s.diff.diff(a.tree, b.tree)
		out = s.diff.out
	}
	p.id = encodeSplices(nil, a.body, out)
	if len(p.id) >= len(b.body) {
		p.id, p.none = nil, true
		return p, nil
	}
	if gz, err := s.pcomp.Gzip(p.id); err != nil {
		return nil, fmt.Errorf("compress patch: %w", err)
	} else if len(gz) < len(p.id) {
		p.gz = bytes.Clone(gz)
	}
	if len(p.id) >= minBrotliPatch {
		if br, err := s.comp.Brotli(p.id); err != nil {
			return nil, fmt.Errorf("compress patch: %w", err)
		} else if len(br) < len(p.id) {
			p.br = bytes.Clone(br)
		}
	}
	return p, nil
}

// maxPooledBodies bounds the bodies of versions that left a window kept
// for the next versions' copies.
const maxPooledBodies = 4

// bodyBuf returns an empty buffer for a copy of a body of n bytes: one a
// version that left its window held when it is large enough. A new
// version's body is kept for the next versions' patches; reusing the
// buffer saves allocating and clearing ~100 KB per version.
func (s *Store) bodyBuf(n int) []byte {
	for len(s.bodies) > 0 {
		b := s.bodies[len(s.bodies)-1]
		s.bodies = s.bodies[:len(s.bodies)-1]
		if cap(b) >= n {
			return b
		}
	}
	return make([]byte, 0, n+n/16) // a little room: the next versions are about the same size
}

// parsed parses p's body unless done, in a recycled tree when there is
// one, following guide (the previous version's tree) when not nil, and
// reports whether it is JSON.
func (s *Store) parsed(p *past, guide *jsonTree) bool {
	if p.tree == nil && !p.bad {
		if n := len(s.trees); n > 0 {
			p.tree, s.trees = s.trees[n-1], s.trees[:n-1]
		} else {
			p.tree = new(jsonTree)
		}
		if parseTree(p.tree, p.body, guide) != nil {
			s.trees = append(s.trees, p.tree)
			p.tree, p.bad = nil, true
		}
	}
	return !p.bad
}

// dropPatches unlists e's patches and their file (collected after the
// grace period once nothing lists them).
func (s *Store) dropPatches(e *entry) {
	for _, p := range e.patches {
		p.refs--
	}
	if e.dfile != nil {
		e.dfile.refs--
	}
	e.patches, e.deltas, e.dfile = nil, nil, nil
}

// recoverPatches adopts the patch files a previous engine left, retired
// as of now: the workers may still serve them for the grace period.
func (s *Store) recoverPatches(now time.Time) {
	dir := filepath.Join(s.dir, deltaDir)
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if s.dfiles[name] == nil {
			s.dfiles[name] = &deltaFile{name: name, retired: now}
		}
	}
}

// collectPatches forgets the patches no staged entry lists and removes
// the patch files no committed entry has listed for the grace period (see
// collect).
func (s *Store) collectPatches(now time.Time) {
	for name, p := range s.patches {
		if p.refs <= 0 {
			delete(s.patches, name)
		}
	}
	for name, f := range s.dfiles {
		switch {
		case f.refs > 0:
			f.retired = time.Time{}
		case f.retired.IsZero():
			f.retired = now
		case now.Sub(f.retired) >= s.grace:
			os.Remove(filepath.Join(s.dir, deltaDir, name))
			delete(s.dfiles, name)
		}
	}
}

// Patches returns the bases (hex hashes) of the patches url's staged
// version has, newest first: for tests and status.
func (s *Store) Patches(url string) []string {
	e := s.entries[url]
	if e == nil {
		return nil
	}
	var out []string
	for _, d := range e.deltas {
		out = append(out, d.From)
	}
	return slices.Clip(out)
}

func deltaFileName(f *deltaFile) string {
	if f == nil {
		return ""
	}
	return f.name
}
