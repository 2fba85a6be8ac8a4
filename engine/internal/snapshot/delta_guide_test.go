package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// genDoc and mutateDoc make chains of versions of a document shaped like
// snapshots (arrays of objects with ids holding nested objects and
// arrays, arrays of numbers, strings with escapes), each version a few
// changes from the last: numbers growing a digit (so a value of the
// previous version is a prefix of the new one), members added, removed
// and moved, keys coming and going.
func genDoc(r *rand.Rand, n int) map[string]any {
	ents := make([]any, n)
	for i := range ents {
		ents[i] = genEntity(r, i)
	}
	grid := make([]any, 4)
	for i := range grid {
		row := make([]any, 6)
		for j := range row {
			row[j] = r.IntN(10)
		}
		grid[i] = row
	}
	return map[string]any{"tick": 1, "entities": ents, "grid": grid, "meta": map[string]any{"name": "g\"1\\", "n": n}}
}

func genEntity(r *rand.Rand, id int) map[string]any {
	e := map[string]any{
		"id": id, "name": fmt.Sprintf("unit-%d é\n", id), "x": r.IntN(100), "pos": map[string]any{"x": r.IntN(9), "y": 1.5},
		"tags": []any{"a", "b"}, "inv": []any{map[string]any{"id": "s", "n": r.IntN(5)}},
	}
	if r.IntN(3) == 0 {
		delete(e, "tags")
	}
	return e
}

func mutateDoc(r *rand.Rand, d map[string]any, next *int) {
	d["tick"] = d["tick"].(int) + 1
	ents := d["entities"].([]any)
	for range 1 + r.IntN(4) {
		if len(ents) == 0 {
			break
		}
		e := ents[r.IntN(len(ents))].(map[string]any)
		switch r.IntN(6) {
		case 0:
			e["x"] = e["x"].(int)*10 + r.IntN(10) // the old digits are a prefix of the new
		case 1:
			e["pos"].(map[string]any)["x"] = r.IntN(99)
		case 2:
			e["inv"] = append(e["inv"].([]any), map[string]any{"id": fmt.Sprint("i", r.IntN(9)), "n": 1})
		case 3:
			if _, ok := e["tags"]; ok {
				delete(e, "tags")
			} else {
				e["tags"] = []any{"c"}
			}
		case 4:
			e["name"] = e["name"].(string) + "\\"
		case 5:
			e["z"] = r.IntN(3)
		}
	}
	switch r.IntN(5) {
	case 0: // one leaves, one joins
		k := r.IntN(len(ents))
		ents = append(ents[:k], ents[k+1:]...)
		*next++
		ents = append(ents, genEntity(r, *next))
	case 1: // two swap
		i, j := r.IntN(len(ents)), r.IntN(len(ents))
		ents[i], ents[j] = ents[j], ents[i]
	case 2: // one joins in front
		*next++
		ents = append([]any{genEntity(r, *next)}, ents...)
	}
	d["entities"] = ents
	g := d["grid"].([]any)
	row := g[r.IntN(len(g))].([]any)
	row[r.IntN(len(row))] = row[r.IntN(len(row))].(int)*10 + 1
	if r.IntN(4) == 0 {
		d["extra"] = r.IntN(2) == 0
	}
}

func encodeDoc(d map[string]any, indent bool) []byte {
	if indent {
		b, _ := json.MarshalIndent(d, "", " ")
		return b
	}
	b, _ := json.Marshal(d)
	return b
}

// dumpTree writes t's structure from node n, expanding every container:
// the spans, kinds, ids and members a diff can see.
func dumpTree(w *strings.Builder, t *jsonTree, n int32) {
	t.expand(n)
	nd := t.nodes[n]
	fmt.Fprintf(w, "(%d %d %c %d %d", nd.start, nd.end, max(nd.kind, '.'), nd.idStart, nd.idEnd)
	if nd.kidN > 0 {
		for _, k := range t.kids[nd.kidOff : nd.kidOff+nd.kidN] {
			dumpTree(w, t, k)
		}
	}
	w.WriteByte(')')
}

func treeString(t *jsonTree) string {
	var w strings.Builder
	dumpTree(&w, t, 0)
	return w.String()
}

// TestGuidedParseSameTree: a version parsed following the previous
// version's tree has the very tree it has parsed alone, over chains of
// generated versions, whatever the previous tree had expanded; so the
// guide changes the time a patch takes, never its bytes.
func TestGuidedParseSameTree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for chain := range 60 {
		d := genDoc(r, 5+r.IntN(40))
		ids := 1000
		indent := chain%5 == 0
		var prev *jsonTree
		for v := range 30 {
			if chain%7 == 0 && v%4 == 0 {
				indent = !indent // every member moves
			}
			body := encodeDoc(d, indent)
			var alone, guided, kept jsonTree
			if err := parseTree(&alone, body, nil); err != nil {
				t.Fatal(err)
			}
			if err := parseTree(&guided, body, prev); err != nil {
				t.Fatalf("chain %d version %d: guided parse: %v", chain, v, err)
			}
			if err := parseTree(&kept, body, prev); err != nil {
				t.Fatal(err)
			}
			if prev != nil && v%3 != 0 { // expanded further by a diff, as in the store
				var df differ
				df.diff(prev, &kept)
			}
			if g, a := treeString(&guided), treeString(&alone); g != a {
				t.Fatalf("chain %d version %d: the guided tree differs\n%s\nguided %s\nalone  %s", chain, v, body, g, a)
			}
			// the next version's guide: as the store keeps it, or expanded everywhere
			if prev = &kept; v%5 == 4 {
				prev = &guided
			}
			mutateDoc(r, d, &ids)
		}
	}
}

// TestStorePatchesAreDirectDiffs: over chains of generated versions, every
// patch the store lists rebuilds its version from its base; the patch from
// the previous version (made from trees parsed following the version
// before, and diffed) is byte for byte a fresh diff's; the patches from
// older bases, composed from two patches without a diff, are about as
// small as a fresh diff's.
func TestStorePatchesAreDirectDiffs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var composed, direct, older int
	for chain := range 6 {
		s := newStore(t)
		s.SetDeltas(4)
		rd := openReader(t, s.Dir())
		d := genDoc(r, 60)
		ids := 1000
		bodies := map[string][]byte{}
		var hashes []string
		checked := 0
		for v := range 40 {
			body := encodeDoc(d, chain == 5 && v%10 < 5)
			h := hashOf(body).String()
			bodies[h] = body
			mustPut(t, s, "/g.json", body)
			mustCommit(t, s)
			for _, dl := range rd.View().Lookup("/g.json").Deltas {
				base := bodies[string(dl.Base)]
				got, err := ApplySplice(base, dl.Body)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("chain %d version %d: the patch from %s does not rebuild it (%v)", chain, v, dl.Base, err)
				}
				var ta, tb jsonTree
				parseTree(&ta, base, nil)
				parseTree(&tb, body, nil)
				var df differ
				df.diff(&ta, &tb)
				want := encodeSplices(nil, base, df.out)
				if string(dl.Base) == hashes[len(hashes)-1] {
					if !bytes.Equal(dl.Body, want) {
						t.Fatalf("chain %d version %d: the patch from the previous version is\n%q\na fresh diff's is\n%q", chain, v, dl.Body, want)
					}
				} else {
					composed += len(dl.Body)
					direct += len(want)
					older++
				}
				checked++
			}
			hashes = append(hashes, h)
			mutateDoc(r, d, &ids)
		}
		if checked < 100 {
			t.Fatalf("chain %d: %d patches checked, want most versions to have 4", chain, checked)
		}
	}
	t.Logf("%d patches from older bases: %d bytes composed, %d bytes diffed (%.1f%%)", older, composed, direct, 100*float64(composed)/float64(direct))
	if composed > direct*21/20 {
		t.Errorf("the composed patches are %d bytes, fresh diffs %d: more than 5%% larger", composed, direct)
	}
}

// TestAlignScansAsTheMap: align pairs the same keys whether it looks keys
// up by scanning or in the map, on random key sequences with duplicates,
// moves, additions and removals.
func TestAlignScansAsTheMap(t *testing.T) {
	defer func(n int) { alignScans = n }(alignScans)
	r := rand.New(rand.NewPCG(7, 8))
	var d differ
	pairs := func(ka, kb [][]byte, scans int) string {
		alignScans = scans
		d.ka, d.kb, d.matches = ka, kb, d.matches[:0]
		d.align(len(ka), len(kb))
		return fmt.Sprint(d.matches)
	}
	for range 3000 {
		var ka, kb [][]byte
		for range r.IntN(30) {
			ka = append(ka, []byte(fmt.Sprint(r.IntN(25))))
		}
		for _, k := range ka {
			switch r.IntN(6) {
			case 0: // removed
			case 1:
				kb = append(kb, []byte(fmt.Sprint(r.IntN(40))), k)
			default:
				kb = append(kb, k)
			}
		}
		if len(kb) > 1 && r.IntN(3) == 0 {
			i, j := r.IntN(len(kb)), r.IntN(len(kb))
			kb[i], kb[j] = kb[j], kb[i]
		}
		if scan, mapped := pairs(ka, kb, 1<<30), pairs(ka, kb, 0); scan != mapped {
			t.Fatalf("a %q\nb %q\nscanning: %s\nthe map:  %s", ka, kb, scan, mapped)
		}
	}
}

// randomSplices returns random splices over n bytes: in order, of any
// length including empty deletions and insertions, at the start and end.
func randomSplices(r *rand.Rand, n int) []splice {
	var out []splice
	pos := 0
	for pos <= n && r.IntN(4) != 0 {
		start := pos + r.IntN(n-pos+1)
		end := start + r.IntN(n-start+1)/(1+r.IntN(4))
		ins := make([]byte, r.IntN(6))
		for i := range ins {
			ins[i] = byte('A' + r.IntN(26))
		}
		out = append(out, splice{start, end, ins})
		pos = end + 1
	}
	return out
}

// TestComposeSplices: composing A→M and M→B gives a patch that turns A
// into B, on random bytes and random splices (edges included: empty
// documents, splices at both ends, adjacent ones, whole replacements),
// and on chains of generated documents diffed by the store's diff.
func TestComposeSplices(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var c composer
	check := func(a, ab, mb []byte) {
		t.Helper()
		m, err := ApplySplice(a, ab)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ApplySplice(m, mb)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.compose(len(a), ab, mb)
		if err != nil {
			t.Fatalf("compose: %v", err)
		}
		p := encodeSplices(nil, a, out)
		if got, err := ApplySplice(a, p); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("a %q\nab %q\nmb %q\ncomposed %q\ngives %q (%v)\nwant %q", a, ab, mb, p, got, err, b)
		}
	}
	for range 20000 {
		a := make([]byte, r.IntN(40))
		for i := range a {
			a[i] = byte('a' + r.IntN(26))
		}
		ab := encodeSplices(nil, a, randomSplices(r, len(a)))
		m, _ := ApplySplice(a, ab)
		check(a, ab, encodeSplices(nil, m, randomSplices(r, len(m))))
	}
	for range 200 {
		d := genDoc(r, 5+r.IntN(20))
		ids := 1000
		var vs [][]byte
		for range 4 {
			vs = append(vs, encodeDoc(d, r.IntN(8) == 0))
			mutateDoc(r, d, &ids)
		}
		p01, _ := Splice(vs[0], vs[1])
		p12, _ := Splice(vs[1], vs[2])
		check(vs[0], p01, p12)
		out, _ := c.compose(len(vs[0]), p01, p12)
		p02 := encodeSplices(nil, vs[0], out)
		p23, _ := Splice(vs[2], vs[3])
		check(vs[0], p02, p23) // a composed patch composed again
	}
}
