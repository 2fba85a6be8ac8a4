package snapshot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"
	"time"
)

func body1KB(i int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf(`{"seq":%08d,"pad":"abcdefghij"},`, i)), 32)
	return b[:1024]
}

var meta = Meta{ContentType: "application/json", Period: 200 * time.Millisecond}

// BenchmarkHash1KB is the baseline for BenchmarkPutUnchanged1KB: the content
// hash alone.
func BenchmarkHash1KB(b *testing.B) {
	body := body1KB(0)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sha256.Sum256(body)
	}
}

func BenchmarkPutUnchanged1KB(b *testing.B) {
	s := newStore(b)
	body := body1KB(0)
	mustPut(b, s, "/a.json", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := s.Put("/a.json", body, meta); changed || err != nil {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkPutChanged1KB publishes a new 1 KB version per iteration: hash,
// gzip, brotli, three temp-file writes and renames, manifest and commit; on
// tmpfs (where the store belongs) and on the test's temp dir (a disk here),
// and BenchmarkCompress1KB is the compression part alone.
func BenchmarkPutChanged1KB(b *testing.B) {
	b.Run("tmpfs", func(b *testing.B) {
		if _, err := os.Stat("/dev/shm"); err != nil {
			b.Skip("no /dev/shm")
		}
		dir, err := os.MkdirTemp("/dev/shm", "jawas-snapshot-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		s, err := Create(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchPutChanged(b, s)
	})
	b.Run("tempdir", func(b *testing.B) { benchPutChanged(b, newStore(b)) })
}

func BenchmarkCompress1KB(b *testing.B) {
	s := newStore(b)
	body := body1KB(1)
	b.Run("gzip", func(b *testing.B) {
		for b.Loop() {
			s.comp.Gzip(body)
		}
	})
	b.Run("brotli", func(b *testing.B) {
		for b.Loop() {
			s.comp.Brotli(body)
		}
	})
}

func benchPutChanged(b *testing.B, s *Store) {
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = body1KB(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := append(bodies[i%len(bodies)][:1000:1000], fmt.Sprintf("%024d", i)...)
		if _, _, err := s.Put("/a.json", body, meta); err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkViewLookup is the per-request cost of finding a body; compare with
// BenchmarkMapLookup, a plain map lookup.
func BenchmarkViewLookup(b *testing.B) {
	s := newStore(b)
	for i := range 100 {
		mustPut(b, s, fmt.Sprintf("/s%d.json", i), body1KB(i))
	}
	mustCommit(b, s)
	r := openReader(b, s.Dir())
	path := []byte("/s42.json")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r.View().LookupBytes(path) == nil {
				b.Fatal("missing")
			}
		}
	})
}

func BenchmarkMapLookup(b *testing.B) {
	m := map[string]*Entry{}
	for i := range 100 {
		m[fmt.Sprintf("/s%d.json", i)] = &Entry{}
	}
	path := []byte("/s42.json")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if m[string(path)] == nil {
				b.Fatal("missing")
			}
		}
	})
}
