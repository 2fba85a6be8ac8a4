package snapshot_test

// The patch formats the README compares, implemented far enough to
// measure bytes per poll on the goal workload (testdata/game.js) and to
// check each one reproduces the next version: RFC 7396 merge patch, RFC
// 6902 JSON Patch (arrays of objects aligned by "id"), an id-keyed diff,
// and the store's splices. Run with -v to print the table:
//
//	go test -run TestPatchFormats -v ./engine/internal/snapshot/

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// ---- RFC 7396 merge patch: objects key by key, anything else replaced whole.

func mergeDiff(a, b any) (any, bool) {
	ao, aok := a.(map[string]any)
	bo, bok := b.(map[string]any)
	if !aok || !bok {
		if equalJSON(a, b) {
			return nil, false
		}
		return b, true
	}
	p := map[string]any{}
	for k, bv := range bo {
		av, ok := ao[k]
		if !ok {
			p[k] = bv
			continue
		}
		if d, ch := mergeDiff(av, bv); ch {
			p[k] = d
		}
	}
	for k := range ao {
		if _, ok := bo[k]; !ok {
			p[k] = nil
		}
	}
	return p, len(p) > 0
}

func mergeApply(a, p any) any {
	po, ok := p.(map[string]any)
	if !ok {
		return p
	}
	ao, ok := a.(map[string]any)
	if !ok {
		ao = map[string]any{}
	}
	out := map[string]any{}
	for k, v := range ao {
		out[k] = v
	}
	for k, v := range po {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = mergeApply(out[k], v)
		}
	}
	return out
}

// ---- RFC 6902 JSON Patch: replace/add/remove, arrays of objects with
// "id" aligned by id (index paths), other arrays of equal length index by
// index, else replaced.

type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func ptrEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func idOf(v any) (string, bool) {
	o, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := o["id"]
	if !ok {
		return "", false
	}
	b, _ := json.Marshal(id)
	return string(b), true
}

func allIDs(a []any) ([]string, bool) {
	if len(a) == 0 {
		return nil, false
	}
	ids := make([]string, len(a))
	for i, v := range a {
		id, ok := idOf(v)
		if !ok {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

// alignIDs is the greedy id alignment the store uses: events in order,
// 'm' match, 'd' delete a[i], 'i' insert b[j].
func alignIDs(ia, ib []string) []byte {
	pa := map[string]int{}
	for i, id := range ia {
		pa[id] = i
	}
	var ev []byte
	i, j := 0, 0
	for i < len(ia) && j < len(ib) {
		switch p, ok := pa[ib[j]]; {
		case ia[i] == ib[j]:
			ev = append(ev, 'm')
			i++
			j++
		case !ok || p < i:
			ev = append(ev, 'i')
			j++
		default:
			ev = append(ev, 'd')
			i++
		}
	}
	for ; i < len(ia); i++ {
		ev = append(ev, 'd')
	}
	for ; j < len(ib); j++ {
		ev = append(ev, 'i')
	}
	return ev
}

func jsonPatchDiff(path string, a, b any, ops []op) []op {
	if equalJSON(a, b) {
		return ops
	}
	switch bv := b.(type) {
	case map[string]any:
		ao, ok := a.(map[string]any)
		if !ok {
			break
		}
		for k := range ao {
			if _, ok := bv[k]; !ok {
				ops = append(ops, op{Op: "remove", Path: path + "/" + ptrEscape(k)})
			}
		}
		for k, v := range bv {
			if av, ok := ao[k]; ok {
				ops = jsonPatchDiff(path+"/"+ptrEscape(k), av, v, ops)
			} else {
				ops = append(ops, op{Op: "add", Path: path + "/" + ptrEscape(k), Value: v})
			}
		}
		return ops
	case []any:
		aa, ok := a.([]any)
		if !ok {
			break
		}
		ia, oka := allIDs(aa)
		ib, okb := allIDs(bv)
		if oka && okb {
			i, j, k := 0, 0, 0
			for _, e := range alignIDs(ia, ib) {
				switch e {
				case 'm':
					ops = jsonPatchDiff(path+"/"+strconv.Itoa(k), aa[i], bv[j], ops)
					i, j, k = i+1, j+1, k+1
				case 'd':
					ops = append(ops, op{Op: "remove", Path: path + "/" + strconv.Itoa(k)})
					i++
				case 'i':
					ops = append(ops, op{Op: "add", Path: path + "/" + strconv.Itoa(k), Value: bv[j]})
					j, k = j+1, k+1
				}
			}
			return ops
		}
		if len(aa) == len(bv) {
			for i := range aa {
				ops = jsonPatchDiff(path+"/"+strconv.Itoa(i), aa[i], bv[i], ops)
			}
			return ops
		}
	}
	return append(ops, op{Op: "replace", Path: path, Value: b})
}

func jsonPatchApply(doc any, ops []op) any {
	for _, o := range ops {
		doc = pointerSet(doc, strings.Split(o.Path, "/")[1:], o)
	}
	return doc
}

func pointerSet(doc any, toks []string, o op) any {
	if len(toks) == 0 {
		return o.Value // replace of the root
	}
	tok := strings.ReplaceAll(strings.ReplaceAll(toks[0], "~1", "/"), "~0", "~")
	switch d := doc.(type) {
	case map[string]any:
		if len(toks) > 1 {
			d[tok] = pointerSet(d[tok], toks[1:], o)
		} else if o.Op == "remove" {
			delete(d, tok)
		} else {
			d[tok] = o.Value
		}
		return d
	case []any:
		i, _ := strconv.Atoi(tok)
		if len(toks) > 1 {
			d[i] = pointerSet(d[i], toks[1:], o)
			return d
		}
		switch o.Op {
		case "remove":
			return append(d[:i:i], d[i+1:]...)
		case "add":
			return append(d[:i:i], append([]any{o.Value}, d[i:]...)...)
		}
		d[i] = o.Value
		return d
	}
	panic("bad pointer")
}

// ---- id-keyed diff: a merge patch in which an array of objects with
// "id" becomes {"~": {"del": [ids], "ins": [[index, element]...], "upd":
// {id: merge patch of the element}}}.

func idDiff(a, b any) (any, bool) {
	aa, oka := a.([]any)
	ba, okb := b.([]any)
	if oka && okb {
		ia, ok1 := allIDs(aa)
		ib, ok2 := allIDs(ba)
		if ok1 && ok2 {
			del, ins, upd := []any{}, []any{}, map[string]any{}
			i, j := 0, 0
			for _, e := range alignIDs(ia, ib) {
				switch e {
				case 'm':
					if d, ch := idDiff(aa[i], ba[j]); ch {
						upd[ia[i]] = d
					}
					i, j = i+1, j+1
				case 'd':
					del = append(del, json.RawMessage(ia[i]))
					i++
				case 'i':
					ins = append(ins, []any{j, ba[j]})
					j++
				}
			}
			if len(del)+len(ins)+len(upd) == 0 {
				return nil, false
			}
			p := map[string]any{}
			if len(del) > 0 {
				p["del"] = del
			}
			if len(ins) > 0 {
				p["ins"] = ins
			}
			if len(upd) > 0 {
				p["upd"] = upd
			}
			return map[string]any{"~": p}, true
		}
	}
	ao, aok := a.(map[string]any)
	bo, bok := b.(map[string]any)
	if !aok || !bok {
		if equalJSON(a, b) {
			return nil, false
		}
		return b, true
	}
	p := map[string]any{}
	for k, bv := range bo {
		if av, ok := ao[k]; !ok {
			p[k] = bv
		} else if d, ch := idDiff(av, bv); ch {
			p[k] = d
		}
	}
	for k := range ao {
		if _, ok := bo[k]; !ok {
			p[k] = nil
		}
	}
	return p, len(p) > 0
}

func idApply(a, p any) any {
	po, ok := p.(map[string]any)
	if !ok {
		return p
	}
	if t, ok := po["~"].(map[string]any); ok {
		arr := append([]any(nil), a.([]any)...)
		if del, ok := t["del"].([]any); ok {
			gone := map[string]bool{}
			for _, id := range del {
				b, _ := json.Marshal(id)
				gone[string(b)] = true
			}
			kept := arr[:0]
			for _, x := range arr {
				if id, _ := idOf(x); !gone[id] {
					kept = append(kept, x)
				}
			}
			arr = kept
		}
		if upd, ok := t["upd"].(map[string]any); ok {
			for i, x := range arr {
				id, _ := idOf(x)
				if d, ok := upd[id]; ok {
					arr[i] = idApply(x, d)
				}
			}
		}
		if ins, ok := t["ins"].([]any); ok {
			for _, x := range ins {
				pair := x.([]any)
				i, _ := pair[0].(json.Number).Int64()
				arr = append(arr[:i:i], append([]any{pair[1]}, arr[i:]...)...)
			}
		}
		return arr
	}
	ao, _ := a.(map[string]any)
	out := map[string]any{}
	for k, v := range ao {
		out[k] = v
	}
	for k, v := range po {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = idApply(out[k], v)
		}
	}
	return out
}

// sizes is one patch (or body) in the three codings the store keeps.
type sizes struct{ id, gz, br int }

func (s *sizes) add(c *snapshot.Compressor, b []byte) {
	s.id += len(b)
	g, _ := c.Gzip(b)
	s.gz += len(g)
	r, _ := c.Brotli(b)
	s.br += len(r)
}

// TestPatchFormats measures the candidate formats on consecutive
// versions of the goal workload (a client polling once per period holds
// the previous version) and checks that each patch rebuilds the next
// version. The goal (issue 18): bytes per poll ≤ 3% of the full gzip body;
// the chosen format (splice) must meet it.
func TestPatchFormats(t *testing.T) {
	const n = 61
	vs := gameVersions(t, n)
	c := snapshot.NewCompressor(9, 9)                        // the store's settings for versions (gzip BestCompression, brotli 9)
	pc := snapshot.NewCompressor(snapshot.PatchGzipLevel, 9) // and for patches
	var full, merge, jp, idk, sp sizes
	for i := 1; i < n; i++ {
		a, b := vs[i-1], vs[i]
		av, bv := decode(t, a), decode(t, b)
		full.add(c, b)

		mp, _ := mergeDiff(av, bv)
		mb, _ := json.Marshal(mp)
		if got := mergeApply(decode(t, a), decode(t, mb)); !equalJSON(got, bv) {
			t.Fatalf("version %d: the merge patch does not rebuild it", i)
		}
		merge.add(pc, mb)

		ops := jsonPatchDiff("", av, bv, nil)
		ob, _ := json.Marshal(ops)
		var ops2 []op
		d := json.NewDecoder(bytes.NewReader(ob))
		d.UseNumber()
		if err := d.Decode(&ops2); err != nil {
			t.Fatal(err)
		}
		if got := jsonPatchApply(decode(t, a), ops2); !equalJSON(got, bv) {
			t.Fatalf("version %d: the JSON Patch does not rebuild it", i)
		}
		jp.add(pc, ob)

		ip, _ := idDiff(av, bv)
		ib, _ := json.Marshal(ip)
		if got := idApply(decode(t, a), decode(t, ib)); !equalJSON(got, bv) {
			t.Fatalf("version %d: the id-keyed diff does not rebuild it", i)
		}
		idk.add(pc, ib)

		s, err := snapshot.Splice(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := snapshot.ApplySplice(a, s); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("version %d: the splice patch does not rebuild it byte for byte (%v)", i, err)
		}
		sp.add(pc, s)
	}
	polls := float64(n - 1)
	row := func(name string, s sizes) {
		t.Logf("| %s | %.0f | %.0f | %.0f | %.2f%% |", name, float64(s.id)/polls, float64(s.gz)/polls, float64(s.br)/polls, 100*float64(s.gz)/float64(full.gz))
	}
	t.Logf("%d polls, each holding the previous version; mean bytes per poll:", n-1)
	t.Logf("| format | identity | gzip | br | gzip ÷ full gzip |")
	t.Logf("|---|---:|---:|---:|---:|")
	row("full body", full)
	row("RFC 7396 merge patch", merge)
	row("RFC 6902 JSON Patch (id-aligned)", jp)
	row("id-keyed diff", idk)
	row("splice (chosen)", sp)
	if pct := 100 * float64(sp.gz) / float64(full.gz); pct > 3 {
		t.Errorf("splice patches are %.2f%% of the full gzip body per poll, goal ≤ 3%%", pct)
	}
}
