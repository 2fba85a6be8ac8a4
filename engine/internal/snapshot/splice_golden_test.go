package snapshot_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// spliceGolden is the sha256 of the patches TestSpliceGolden makes, as the
// first version of the diff (before the speed work of issue 18 part 2:
// lazy trees, the guided parse, runs of equal members) made them.
const spliceGolden = "40e27fe68a96203b89854ef863aa677c57357286664d195d979b2ae7f73df17a"

// TestSpliceGolden: the diff makes byte for byte the patches it made
// before it was made faster, on generated documents (random shapes, and
// arrays of a few hundred objects with ids, as the workload has), each
// diffed with a few mutations of itself in a chain.
func TestSpliceGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	h := sha256.New()
	for i := range 400 {
		var v any
		if i%4 == 0 {
			a := make([]any, 100+r.IntN(300))
			for k := range a {
				a[k] = object{{"id", k}, {"s", sorted(randomValue(r, 2))}, {"x", r.IntN(1000)}}
			}
			v = object{{"items", a}, {"t", i}}
		} else {
			v = sorted(randomValue(r, 0))
		}
		prev, _ := json.Marshal(v)
		for range 3 {
			if i%4 == 0 { // as the workload changes: a few elements, one leaving, one joining
				v = mutateItems(r, v.(object))
			} else {
				v = mutateSorted(r, v)
			}
			next, _ := json.Marshal(v)
			p, err := snapshot.Splice(prev, next)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(p)
			prev = next
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != spliceGolden {
		t.Errorf("the patches' sha256 is %s, want %s", got, spliceGolden)
	}
}

// sorted returns v with its objects' members in key order (as
// json.Marshal writes them) in ordered slices, so mutateSorted visits them
// in the same order on every run: mutate ranges over maps.
type member struct {
	k string
	v any
}
type object []member

func (o object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(m.k)
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

func sorted(v any) any {
	switch x := v.(type) {
	case map[string]any:
		o := object{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			o = append(o, member{k, sorted(x[k])})
		}
		return o
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = sorted(e)
		}
		return a
	}
	return v
}

// mutateSorted is mutate for sorted values: members removed, changed,
// added; elements removed, inserted, swapped; scalars replaced.
func mutateSorted(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case object:
		var o object
		for _, m := range x {
			if r.IntN(8) == 0 {
				continue
			}
			o = append(o, member{m.k, mutateSorted(r, m.v)})
		}
		if r.IntN(5) == 0 {
			k := fmt.Sprint("k", r.IntN(8))
			if !slices.ContainsFunc(o, func(m member) bool { return m.k == k }) {
				o = append(o, member{k, sorted(randomValue(r, 2))})
				slices.SortFunc(o, func(a, b member) int { return strings.Compare(a.k, b.k) })
			}
		}
		return o
	case []any:
		var a []any
		for _, e := range x {
			switch r.IntN(10) {
			case 0:
			case 1:
				a = append(a, sorted(randomValue(r, 2)), mutateSorted(r, e))
			default:
				a = append(a, mutateSorted(r, e))
			}
		}
		if len(a) > 1 && r.IntN(6) == 0 {
			i, j := r.IntN(len(a)), r.IntN(len(a))
			a[i], a[j] = a[j], a[i]
		}
		return a
	}
	if r.IntN(4) == 0 {
		return sorted(randomValue(r, 3))
	}
	return v
}

func mutateItems(r *rand.Rand, o object) object {
	a := slices.Clone(o[0].v.([]any))
	for range 1 + r.IntN(8) {
		k := r.IntN(len(a))
		a[k] = mutateSorted(r, a[k])
	}
	if r.IntN(2) == 0 {
		k := r.IntN(len(a))
		a = append(a[:k], a[k+1:]...)
		a = append(a, object{{"id", 1000 + r.IntN(1000)}, {"x", 1}})
	}
	return object{{"items", a}, {"t", o[1].v.(int) + 1}}
}
