// This file implements the patches between versions of a JSON snapshot
// ("splice" deltas): a client holding version A's exact bytes turns them
// into version B's exact bytes, so it can check the result against B's
// ETag (a hash of B's bytes) without reproducing the server's
// serialization. The diff is structural (it walks both documents, skips
// equal subtrees by comparing their bytes, aligns array elements by their
// "id" and object members by key), but its output is byte ranges, which
// the README's measurements found as small as the JSON-level formats on
// the goal workload and far simpler to apply and verify exactly.
//
// Wire format (IM token "splice"): one line, a JSON array of integers
// [copy, delete, insert, copy, delete, insert, ...], then "\n", then the
// inserted bytes concatenated. Reading A from the start, each triple
// copies `copy` bytes of A, skips `delete` bytes of A and appends the next
// `insert` bytes of the tail; the rest of A is copied at the end.

package snapshot

import (
	"bytes"
	"errors"
	"strconv"
	"unsafe"
)

// DeltaFormat is the instance-manipulation token (RFC 3229 A-IM/IM) of the
// splice patches the store makes.
const DeltaFormat = "splice"

// jsonTree is a parsed JSON document: nodes with the byte spans they
// cover, so equal subtrees are found by comparing bytes.
type jsonTree struct {
	body  []byte
	nodes []jsonNode
	kids  []int32 // children of containers, contiguous per container; objects: key, value, key, value...
}

type jsonNode struct {
	start, end   int32 // span in body
	kind         byte  // '{', '[', or 0 for a scalar (string, number, literal)
	kidOff, kidN int32 // children in jsonTree.kids
	id           int32 // objects: the value node of the first "id" member, 0 if none (node 0 is the root)
}

var errBadJSON = errors.New("not a JSON document")

// parseTree parses body into t, reusing t's slices. The root is node 0.
func parseTree(t *jsonTree, body []byte) error {
	if len(body) > 1<<30 {
		return errBadJSON
	}
	t.body, t.nodes, t.kids = body, t.nodes[:0], t.kids[:0]
	if want := len(body)/4 + 16; cap(t.nodes) < want { // about a node per 5 bytes of compact JSON
		t.nodes = make([]jsonNode, 0, want)
		t.kids = make([]int32, 0, want)
	}
	p := treeParser{t: t, b: body}
	p.ws()
	if _, err := p.value(0); err != nil {
		return err
	}
	p.ws()
	if p.i != len(body) {
		return errBadJSON
	}
	return nil
}

type treeParser struct {
	t     *jsonTree
	b     []byte
	i     int
	stack []int32 // children being collected, for all open containers
}

func (p *treeParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses one value at p.i and returns its node index.
func (p *treeParser) value(depth int) (int32, error) {
	if p.i >= len(p.b) || depth > 10000 {
		return 0, errBadJSON
	}
	t := p.t
	n := int32(len(t.nodes))
	t.nodes = append(t.nodes, jsonNode{start: int32(p.i)})
	c := p.b[p.i]
	switch c {
	case '{', '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.i++
		base := len(p.stack)
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == close {
			p.i++
		} else {
			for {
				p.ws()
				if c == '{' {
					if p.i >= len(p.b) || p.b[p.i] != '"' {
						return 0, errBadJSON
					}
					k, err := p.value(depth + 1)
					if err != nil {
						return 0, err
					}
					p.stack = append(p.stack, k)
					p.ws()
					if p.i >= len(p.b) || p.b[p.i] != ':' {
						return 0, errBadJSON
					}
					p.i++
					p.ws()
				}
				v, err := p.value(depth + 1)
				if err != nil {
					return 0, err
				}
				p.stack = append(p.stack, v)
				p.ws()
				if p.i >= len(p.b) {
					return 0, errBadJSON
				}
				if p.b[p.i] == ',' {
					p.i++
					continue
				}
				if p.b[p.i] != close {
					return 0, errBadJSON
				}
				p.i++
				break
			}
		}
		nd := &t.nodes[n]
		nd.kind, nd.kidOff, nd.kidN = c, int32(len(t.kids)), int32(len(p.stack)-base)
		if c == '{' {
			for k := base; k < len(p.stack); k += 2 {
				if kn := &t.nodes[p.stack[k]]; kn.end-kn.start == 4 && string(p.b[kn.start:kn.end]) == `"id"` {
					nd.id = p.stack[k+1]
					break
				}
			}
		}
		t.kids = append(t.kids, p.stack[base:]...)
		p.stack = p.stack[:base]
	case '"':
		i := p.i + 1
		for {
			for i < len(p.b) && p.b[i] != '"' && p.b[i] != '\\' {
				i++
			}
			if i >= len(p.b) {
				return 0, errBadJSON
			}
			if p.b[i] == '"' {
				i++
				break
			}
			i += 2 // an escape: skip the escaped byte (\" included)
		}
		p.i = i
	default:
		j := p.i
		for j < len(p.b) {
			switch x := p.b[j]; {
			case x >= '0' && x <= '9', x >= 'a' && x <= 'z', x == '-', x == '+', x == '.', x == 'E':
				j++
				continue
			}
			break
		}
		if j == p.i {
			return 0, errBadJSON
		}
		p.i = j
	}
	t.nodes[n].end = int32(p.i)
	return n, nil
}

func (t *jsonTree) span(n int32) []byte {
	nd := &t.nodes[n]
	return t.body[nd.start:nd.end]
}

// splice replaces a's bytes [start, end) with ins.
type splice struct {
	start, end int
	ins        []byte
}

// differ computes splices from a to b. Reused across diffs (its slices
// keep their capacity); not safe for concurrent use.
type differ struct {
	a, b    *jsonTree
	out     []splice
	ka, kb  [][]byte
	pa, pb  map[string]int
	matches [][2]int32
}

// diff appends to d.out the splices that turn a into b, in order.
func (d *differ) diff(a, b *jsonTree) {
	d.a, d.b, d.out = a, b, d.out[:0]
	ra, rb := a.nodes[0], b.nodes[0]
	if !bytes.Equal(a.body[:ra.start], b.body[:rb.start]) { // white space around the root
		d.out = append(d.out, splice{0, int(ra.start), b.body[:rb.start]})
	}
	d.value(0, 0)
	if !bytes.Equal(a.body[ra.end:], b.body[rb.end:]) {
		d.out = append(d.out, splice{int(ra.end), len(a.body), b.body[rb.end:]})
	}
}

func (d *differ) value(ai, bi int32) {
	a, b := d.a, d.b
	sa, sb := a.span(ai), b.span(bi)
	if bytes.Equal(sa, sb) {
		return
	}
	na, nb := &a.nodes[ai], &b.nodes[bi]
	if na.kind == 0 || na.kind != nb.kind {
		d.out = append(d.out, splice{int(na.start), int(na.end), sb})
		return
	}
	d.container(ai, bi)
}

// container diffs two objects or two arrays: it pairs their members
// (objects by key; arrays by "id" when every element has one, else by
// position), diffs each pair, and replaces the bytes between consecutive
// pairs in a by those between the matching pairs in b (commas, and the
// members that have no pair: added, removed or moved).
func (d *differ) container(ai, bi int32) {
	a, b := d.a, d.b
	na, nb := a.nodes[ai], b.nodes[bi]
	step := int32(1)
	if na.kind == '{' {
		step = 2
	}
	ea := a.kids[na.kidOff : na.kidOff+na.kidN]
	eb := b.kids[nb.kidOff : nb.kidOff+nb.kidN]
	m0 := len(d.matches)
	switch {
	case step == 2:
		d.ka, d.kb = d.keys(d.ka[:0], a, ea, step, false), d.keys(d.kb[:0], b, eb, step, false)
		d.align(len(ea)/2, len(eb)/2)
	case d.ids(a, ea) && d.ids(b, eb):
		if d.sameIDs(ea, eb) { // the common case: the same elements in the same order
			for i := range ea {
				d.matches = append(d.matches, [2]int32{int32(i), int32(i)})
			}
			break
		}
		d.ka, d.kb = d.keys(d.ka[:0], a, ea, 1, true), d.keys(d.kb[:0], b, eb, 1, true)
		d.align(len(ea), len(eb))
	default:
		d.positions(ea, eb)
	}
	matches := d.matches[m0:]
	// the gap before the first pair starts after the bracket, the one after
	// the last pair ends at the closing bracket
	prevA, prevB := int(na.start)+1, int(nb.start)+1
	for k := 0; k <= len(matches); k++ {
		endA, endB := int(na.end)-1, int(nb.end)-1
		var m [2]int32
		if k < len(matches) {
			m = matches[k]
			ka, kb := ea[m[0]*step], eb[m[1]*step] // the member's first node (key, or the element)
			endA, endB = int(a.nodes[ka].start), int(b.nodes[kb].start)
		}
		if !bytes.Equal(a.body[prevA:endA], b.body[prevB:endB]) {
			d.out = append(d.out, splice{prevA, endA, b.body[prevB:endB]})
		}
		if k == len(matches) {
			break
		}
		va, vb := ea[m[0]*step+step-1], eb[m[1]*step+step-1]
		if step == 2 { // the colon and any space between key and value
			ca, cb := a.body[a.nodes[keyNode(ea, m[0])].end:a.nodes[va].start], b.body[b.nodes[keyNode(eb, m[1])].end:b.nodes[vb].start]
			if !bytes.Equal(ca, cb) {
				d.out = append(d.out, splice{int(a.nodes[keyNode(ea, m[0])].end), int(a.nodes[va].start), cb})
			}
		}
		d.value(va, vb)
		prevA, prevB = int(a.nodes[va].end), int(b.nodes[vb].end)
	}
	d.matches = d.matches[:m0]
}

// sameIDs reports whether two arrays of elements with ids have the same
// ids in the same order.
func (d *differ) sameIDs(ea, eb []int32) bool {
	if len(ea) != len(eb) {
		return false
	}
	a, b := d.a, d.b
	for i := range ea {
		if !bytes.Equal(a.span(a.nodes[ea[i]].id), b.span(b.nodes[eb[i]].id)) {
			return false
		}
	}
	return true
}

// keyNode returns the key node of object member i.
func keyNode(kids []int32, i int32) int32 { return kids[2*i] }

// ids reports whether every element of an array is an object with an
// "id" member (and there is at least one).
func (d *differ) ids(t *jsonTree, elems []int32) bool {
	for _, e := range elems {
		if t.nodes[e].id == 0 {
			return false
		}
	}
	return len(elems) > 0
}

// keys appends the identity of each member: an object's raw keys
// (step 2), or the raw value of each element's "id" member (byID).
func (d *differ) keys(dst [][]byte, t *jsonTree, kids []int32, step int32, byID bool) [][]byte {
	for i := 0; i < len(kids); i += int(step) {
		if byID {
			dst = append(dst, t.span(t.nodes[kids[i]].id))
		} else {
			dst = append(dst, t.span(kids[i]))
		}
	}
	return dst
}

// align appends to d.matches increasing pairs (i in a, j in b) of equal
// keys in d.ka and d.kb: a greedy walk that treats a key found further on
// in the other side as moved there, and everything unmatched as removed
// or added.
func (d *differ) align(na, nb int) {
	same := na == nb
	for i := 0; same && i < na; i++ {
		same = bytes.Equal(d.ka[i], d.kb[i])
	}
	if same { // the common case: the same members in the same order
		for i := range na {
			d.matches = append(d.matches, [2]int32{int32(i), int32(i)})
		}
		return
	}
	if d.pa == nil {
		d.pa, d.pb = make(map[string]int), make(map[string]int)
	}
	clear(d.pa)
	clear(d.pb)
	for i, k := range d.ka {
		d.pa[unsafe.String(unsafe.SliceData(k), len(k))] = i
	}
	for j, k := range d.kb {
		d.pb[unsafe.String(unsafe.SliceData(k), len(k))] = j
	}
	i, j := 0, 0
	for i < na && j < nb {
		if bytes.Equal(d.ka[i], d.kb[j]) {
			d.matches = append(d.matches, [2]int32{int32(i), int32(j)})
			i++
			j++
			continue
		}
		kb := d.kb[j]
		if p, ok := d.pa[unsafe.String(unsafe.SliceData(kb), len(kb))]; !ok || p < i {
			j++ // added (or moved backwards): inserted from b's bytes
			continue
		}
		i++ // removed, or moved further on: b's bytes bring it back there
	}
}

// positions pairs array elements without ids: the common prefix and
// suffix, and in between element by element as far as both go.
func (d *differ) positions(ea, eb []int32) {
	for i := range min(len(ea), len(eb)) {
		d.matches = append(d.matches, [2]int32{int32(i), int32(i)})
	}
	if len(ea) == len(eb) {
		return
	}
	// Equal elements at the end pair with each other, so an element
	// added at the front does not change every position after it.
	n := 0
	for n < len(ea) && n < len(eb) && bytes.Equal(d.a.span(ea[len(ea)-1-n]), d.b.span(eb[len(eb)-1-n])) {
		n++
	}
	m0 := len(d.matches) - min(len(ea), len(eb))
	short := min(len(ea), len(eb)) - n
	d.matches = d.matches[:m0+short]
	for k := n; k > 0; k-- {
		d.matches = append(d.matches, [2]int32{int32(len(ea) - k), int32(len(eb) - k)})
	}
}

// mergeGap: splices closer than this in a are merged (the bytes between
// them are sent again), which costs less than another triple.
const mergeGap = 8

// encodeSplices appends the wire form of d.out to dst.
func encodeSplices(dst []byte, a []byte, out []splice) []byte {
	// merge close splices first
	merged := out[:0]
	for _, s := range out {
		if k := len(merged) - 1; k >= 0 && s.start-merged[k].end < mergeGap {
			p := &merged[k]
			ins := make([]byte, 0, len(p.ins)+s.start-p.end+len(s.ins))
			ins = append(append(append(ins, p.ins...), a[p.end:s.start]...), s.ins...)
			p.ins, p.end = ins, s.end
			continue
		}
		merged = append(merged, s)
	}
	dst = append(dst, '[')
	pos := 0
	for k, s := range merged {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(s.start-pos), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(s.end-s.start), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(len(s.ins)), 10)
		pos = s.end
	}
	dst = append(dst, "]\n"...)
	for _, s := range merged {
		dst = append(dst, s.ins...)
	}
	return dst
}

// ApplySplice applies a splice patch to a and returns the result: the
// reference decoder (the client library has its own, in JavaScript).
func ApplySplice(a, patch []byte) ([]byte, error) {
	nl := bytes.IndexByte(patch, '\n')
	if nl < 2 || patch[0] != '[' || patch[nl-1] != ']' {
		return nil, errors.New("splice: no header line")
	}
	ins := patch[nl+1:]
	out := make([]byte, 0, len(a)+len(ins))
	pos := 0
	head := patch[1 : nl-1]
	var nums [3]int
	for k := 0; len(head) > 0; k++ {
		c := bytes.IndexByte(head, ',')
		field := head
		if c >= 0 {
			field, head = head[:c], head[c+1:]
		} else {
			head = nil
		}
		n, err := strconv.Atoi(string(field))
		if err != nil || n < 0 {
			return nil, errors.New("splice: bad number in the header")
		}
		nums[k%3] = n
		if k%3 != 2 {
			continue
		}
		cp, del, in := nums[0], nums[1], nums[2]
		if pos+cp+del > len(a) || in > len(ins) {
			return nil, errors.New("splice: out of range")
		}
		out = append(out, a[pos:pos+cp]...)
		out = append(out, ins[:in]...)
		pos, ins = pos+cp+del, ins[in:]
	}
	if len(ins) != 0 {
		return nil, errors.New("splice: inserted bytes left over")
	}
	return append(out, a[pos:]...), nil
}
