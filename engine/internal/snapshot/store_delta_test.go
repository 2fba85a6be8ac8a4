package snapshot

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// state is a JSON document of n entities of which version v changed the
// first v%n: like a game state, ≥ MinDeltaSize for n ≥ 100.
func state(n, v int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"v":%d,"entities":[`, v)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		x := i
		if i < v%n {
			x = i + 1000*v
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"unit-%04d","x":%d}`, i, i, x)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func deltaFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, deltaDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func unzip(t *testing.T, b []byte, br bool) []byte {
	t.Helper()
	var r io.Reader
	if br {
		r = brotli.NewReader(bytes.NewReader(b))
	} else {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeltas: each new version lists patches from the previous ones
// (newest first, at most SetDeltas), each rebuilding the new body from
// its base in every coding; the window rolls and patches that are no
// longer listed are removed after the grace period.
func TestDeltas(t *testing.T) {
	s := newStore(t)
	now := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return now }
	s.SetDeltas(2)
	r := openReader(t, s.Dir())
	bodies := map[string][]byte{}
	var hashes []string
	for v := 1; v <= 5; v++ {
		body := state(200, v)
		mustPut(t, s, "/game.json", body)
		mustCommit(t, s)
		h := hashOf(body).String()
		bodies[h] = body
		hashes = append(hashes, h)

		e := r.View().Lookup("/game.json")
		var bases []string
		for _, d := range e.Deltas {
			bases = append(bases, string(d.Base))
			ps := [][]byte{d.Body}
			if d.Gzip != nil {
				ps = append(ps, unzip(t, d.Gzip, false))
			}
			if d.Brotli != nil {
				ps = append(ps, unzip(t, d.Brotli, true))
			}
			for _, p := range ps {
				got, err := ApplySplice(bodies[string(d.Base)], p)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("version %d: the patch from %s does not rebuild it (%v)", v, d.Base, err)
				}
			}
		}
		var want []string
		for i := len(hashes) - 2; i >= 0 && i >= len(hashes)-3; i-- {
			want = append(want, hashes[i])
		}
		if !slices.Equal(bases, want) {
			t.Fatalf("version %d: patches from %v, want %v", v, bases, want)
		}
		if !slices.Equal(s.Patches("/game.json"), want) {
			t.Fatalf("version %d: Store.Patches = %v, want %v", v, s.Patches("/game.json"), want)
		}
		now = now.Add(time.Second)
	}
	// v5 lists v4 and v3 in one file; the files of v2..v4 are no longer
	// listed: gone after the grace period.
	files := deltaFiles(t, s.Dir())
	if len(files) != 4 {
		t.Fatalf("d/ holds %v, want the files of v2..v5", files)
	}
	now = now.Add(VersionGrace)
	mustCommit(t, s)
	if files = deltaFiles(t, s.Dir()); len(files) != 1 || !strings.HasPrefix(files[0], hashes[4]+"-") {
		t.Errorf("after the grace period, d/ holds %v, want v5's file only", files)
	}
}

// TestDeltasBackToEarlier: content going back to a version in the window
// gets patches from the others, none from itself; a patch made once is
// reused, not made again.
func TestDeltasBackToEarlier(t *testing.T) {
	s := newStore(t)
	s.SetDeltas(4)
	a, b := state(200, 1), state(200, 2)
	ha, hb := hashOf(a).String(), hashOf(b).String()
	mustPut(t, s, "/g.json", a)
	mustPut(t, s, "/g.json", b)
	mustPut(t, s, "/g.json", a)
	if got := s.Patches("/g.json"); !slices.Equal(got, []string{hb}) {
		t.Fatalf("back to a: patches from %v, want [%s]", got, hb)
	}
	p := s.patches[ha+"-"+hb]
	mustPut(t, s, "/g.json", b)
	if p == nil || s.patches[ha+"-"+hb] != p {
		t.Error("the patch a→b was made again")
	}
	if got := s.Patches("/g.json"); !slices.Equal(got, []string{ha}) {
		t.Fatalf("back to b: patches from %v, want [%s]", got, ha)
	}
}

// TestDeltasOnlyWhenWorthIt: no patches for small bodies, non-JSON types,
// error bodies, with deltas off, or when the patch is not smaller than
// the body.
func TestDeltasOnlyWhenWorthIt(t *testing.T) {
	big1, big2 := state(200, 1), state(200, 2)
	small1, small2 := state(3, 1), state(3, 2)
	unrelated := bytes.Repeat([]byte(`["x"]`), len(big1)/5+1) // a whole other document
	cases := []struct {
		name   string
		deltas int
		meta   Meta
		a, b   []byte
	}{
		{"small", 4, Meta{ContentType: "application/json"}, small1, small2},
		{"html", 4, Meta{ContentType: "text/html; charset=utf-8"}, big1, big2},
		{"503", 4, Meta{ContentType: "application/json", Status: 503}, big1, big2},
		{"off", 0, Meta{ContentType: "application/json"}, big1, big2},
		{"not smaller", 4, Meta{ContentType: "application/json"}, big1, unrelated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			s.SetDeltas(c.deltas)
			for _, body := range [][]byte{c.a, c.b} {
				if _, _, err := s.Put("/x", body, c.meta); err != nil {
					t.Fatal(err)
				}
			}
			mustCommit(t, s)
			if got := s.Patches("/x"); len(got) != 0 {
				t.Errorf("patches from %v, want none", got)
			}
			if got := deltaFiles(t, s.Dir()); len(got) != 0 {
				t.Errorf("d/ holds %v", got)
			}
		})
	}
	// and the control: the same store settings do make one for big1 → big2
	s := newStore(t)
	s.SetDeltas(4)
	mustPut(t, s, "/x", big1)
	mustPut(t, s, "/x", big2)
	if len(s.Patches("/x")) != 1 {
		t.Error("no patch big1 → big2")
	}
}

// TestDeltasAfterRestart: a new engine on the same store has no bodies
// of the old versions: its first commit drops the listed patches, and
// their files go after the grace period.
func TestDeltasAfterRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeltas(2)
	mustPut(t, s, "/g.json", state(200, 1))
	mustPut(t, s, "/g.json", state(200, 2))
	mustCommit(t, s)
	s.Close()

	s2, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	now := time.Now()
	s2.now = func() time.Time { return now }
	mustCommit(t, s2)
	r := openReader(t, dir)
	if e := r.View().Lookup("/g.json"); e == nil || len(e.Deltas) != 0 {
		t.Fatalf("after a restart the entry is %+v, want it without deltas", e)
	}
	if len(deltaFiles(t, dir)) == 0 {
		t.Fatal("patch files removed at once: workers may still serve them")
	}
	now = now.Add(VersionGrace + time.Second)
	mustCommit(t, s2)
	if got := deltaFiles(t, dir); len(got) != 0 {
		t.Errorf("after the grace period d/ holds %v", got)
	}
}
