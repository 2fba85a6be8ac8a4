package snapshot_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

// randomValue makes a JSON value of the shapes snapshots have: objects,
// arrays of objects with ids, plain arrays, strings with escapes and
// non-ASCII, numbers, literals.
func randomValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(10); {
	case depth > 3 || k < 3:
		switch r.IntN(6) {
		case 0:
			return r.IntN(1000)
		case 1:
			return float64(r.IntN(100000)) / 100
		case 2:
			return []string{"a", "é", "\"q\"", "x\\y", "日本", "line\nbreak"}[r.IntN(6)]
		case 3:
			return r.IntN(2) == 0
		case 4:
			return nil
		}
		return fmt.Sprint("s", r.IntN(50))
	case k < 5:
		n := r.IntN(8)
		a := make([]any, n)
		for i := range a {
			a[i] = map[string]any{"id": r.IntN(20), "v": randomValue(r, depth+1)}
		}
		return a
	case k < 7:
		a := make([]any, r.IntN(6))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	}
	o := map[string]any{}
	for range r.IntN(6) {
		o[fmt.Sprint("k", r.IntN(8))] = randomValue(r, depth+1)
	}
	return o
}

// mutate changes v a little: what a render does between periods.
func mutate(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		o := map[string]any{}
		for k, e := range x {
			if r.IntN(8) == 0 {
				continue // removed
			}
			o[k] = mutate(r, e)
		}
		if r.IntN(5) == 0 {
			o[fmt.Sprint("k", r.IntN(8))] = randomValue(r, 2)
		}
		return o
	case []any:
		var a []any
		for _, e := range x {
			switch r.IntN(10) {
			case 0: // removed
			case 1:
				a = append(a, randomValue(r, 2), mutate(r, e))
			default:
				a = append(a, mutate(r, e))
			}
		}
		if len(a) > 1 && r.IntN(6) == 0 {
			i, j := r.IntN(len(a)), r.IntN(len(a))
			a[i], a[j] = a[j], a[i]
		}
		return a
	}
	if r.IntN(4) == 0 {
		return randomValue(r, 3)
	}
	return v
}

// TestSpliceRoundTrip: for random documents and mutations, the patch
// rebuilds the new version byte for byte, and unchanged documents give an
// empty patch.
func TestSpliceRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		av := randomValue(r, 0)
		a, _ := json.Marshal(av)
		b, _ := json.Marshal(mutate(r, av))
		if i%7 == 0 { // also indented documents: the spans include whitespace
			var buf bytes.Buffer
			json.Indent(&buf, b, "", "  ")
			b = buf.Bytes()
		}
		checkSplice(t, a, b)
	}
	p, err := snapshot.Splice([]byte(`{"a":[1,2]}`), []byte(`{"a":[1,2]}`))
	if err != nil || string(p) != "[]\n" {
		t.Errorf("patch between equal documents = %q, %v; want \"[]\\n\"", p, err)
	}
}

func checkSplice(t *testing.T, a, b []byte) {
	t.Helper()
	p, err := snapshot.Splice(a, b)
	if err != nil {
		t.Fatalf("Splice(%s, %s): %v", a, b, err)
	}
	got, err := snapshot.ApplySplice(a, p)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("a %s\nb %s\npatch %q\ngot %s (%v)", a, b, p, got, err)
	}
}

// TestSpliceSmall: a changed field costs its own bytes, not its element's.
func TestSpliceSmall(t *testing.T) {
	a := []byte(`{"tick":1,"entities":[{"id":1,"x":10.5,"name":"a"},{"id":2,"x":3,"name":"b"},{"id":3,"x":4,"name":"c"}]}`)
	b := []byte(`{"tick":2,"entities":[{"id":1,"x":10.5,"name":"a"},{"id":3,"x":4.25,"name":"c"},{"id":4,"x":0,"name":"d"}]}`)
	checkSplice(t, a, b)
	p, _ := snapshot.Splice(a, b)
	// tick 1→2; the bytes between ids 1 and 3 (id 2) become ","; x 4→4.25; id 4 appended
	want := "[8,1,1,41,27,1,12,1,4,12,0,26]\n2," + `4.25,{"id":4,"x":0,"name":"d"}`
	if string(p) != want {
		t.Errorf("patch %q\nwant  %q", p, want)
	}
}

// TestSpliceNotJSON: a body that is not JSON gets no patch.
func TestSpliceNotJSON(t *testing.T) {
	for _, b := range []string{"", "{", `{"a":}`, "[1,2", `"abc`, `{"a":1}x`, "<html>"} {
		if _, err := snapshot.Splice([]byte(`{"a":1}`), []byte(b)); err == nil {
			t.Errorf("Splice to %q: no error", b)
		}
	}
}

// FuzzSplice: whatever two documents the diff accepts, its patch rebuilds
// the second byte for byte; ApplySplice never panics on any patch.
func FuzzSplice(f *testing.F) {
	f.Add([]byte(`{"a":[{"id":1,"x":2},{"id":2}]}`), []byte(`{"a":[{"id":2},{"id":3,"x":2}]}`), []byte("[1,2,3]\nabc"))
	f.Add([]byte(`[1,2,3]`), []byte(`[0,1,2,3]`), []byte("[]\n"))
	f.Add([]byte(`{"s":"a\"b"}`), []byte(`{"s":"a\\\"c","t":null}`), []byte("[9,9,9]\n"))
	f.Fuzz(func(t *testing.T, a, b, patch []byte) {
		snapshot.ApplySplice(a, patch)
		if !json.Valid(a) || !json.Valid(b) {
			return
		}
		checkSplice(t, a, b)
	})
}
