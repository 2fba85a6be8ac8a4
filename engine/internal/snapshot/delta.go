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
	"slices"
	"strconv"
	"unsafe"
)

// DeltaFormat is the instance-manipulation token (RFC 3229 A-IM/IM) of the
// splice patches the store makes.
const DeltaFormat = "splice"

// jsonTree is a JSON document parsed lazily: nodes with the byte spans
// they cover, so equal subtrees are found by comparing bytes. Parsing
// makes nodes for the root's members only; a container's members get
// nodes when the diff first looks inside it (expand), which it does only
// where two versions' bytes differ. A version is parsed once and diffed
// against several others, so what one diff expanded the next reuses.
type jsonTree struct {
	body  []byte
	nodes []jsonNode
	kids  []int32 // children of expanded containers, contiguous per container; objects: key, value, key, value...
	stack []int32 // members being collected by expandLike
}

type jsonNode struct {
	start, end     int32 // span in body
	kidOff, kidN   int32 // children in jsonTree.kids; kidN < 0: not expanded yet
	idStart, idEnd int32 // objects: the span of the first "id" member's value; idEnd 0 if none
	kind           byte  // '{', '[', or 0 for a scalar (string, number, literal) or a container found not to be JSON inside
}

var errBadJSON = errors.New("not a JSON document")

// maxDepth bounds the nesting the parser and the diff follow; deeper
// containers are compared, and replaced, whole.
const maxDepth = 10000

// parseTree parses body into t, reusing t's slices. The root is node 0,
// expanded: the document's top level is checked (its members are well
// formed, nothing follows the root); inside the root's members only
// strings and brackets are checked, until the diff expands them. A patch
// is byte ranges, so it rebuilds the new body whatever is inside.
//
// guide, when not nil, is the parsed previous version of the document: a
// member whose bytes are those of the guide's member at about the same
// place is taken without reading it, as the same value moved by the
// length difference (see expandLike). The tree is the same either way.
func parseTree(t *jsonTree, body []byte, guide *jsonTree) error {
	if len(body) > 1<<30 {
		return errBadJSON
	}
	t.body, t.nodes, t.kids = body, t.nodes[:0], t.kids[:0]
	i, j := skipWS(body, 0), len(body)
	for j > i && isWS(body[j-1]) {
		j--
	}
	if i == j {
		return errBadJSON
	}
	c := body[i]
	if c != '{' && c != '[' {
		if _, end, err := t.node(i); err != nil || end != j {
			return errBadJSON
		}
		return nil
	}
	if body[j-1] != c+2 { // '{'+2 is '}', '['+2 is ']'
		return errBadJSON
	}
	t.nodes = append(t.nodes, jsonNode{start: int32(i), end: int32(j), kidN: -1, kind: c})
	if guide != nil && len(guide.nodes) > 0 && guide.nodes[0].kind == c && guide.nodes[0].kidN >= 0 {
		if end, ok := t.expandLike(0, guide, 0, 0); ok && end == j {
			return nil
		}
		t.nodes, t.kids = t.nodes[:1], t.kids[:0]
		t.nodes[0] = jsonNode{start: int32(i), end: int32(j), kidN: -1, kind: c}
	}
	if !t.expand(0) {
		return errBadJSON
	}
	t.setID(0)
	return nil
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isScalarByte reports whether c can continue a number or literal: a
// value taken from the guide must be followed by a byte that cannot.
func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// setID sets expanded object n's id span from its members, as skipValue
// finds it: the value of the first member whose key is "id".
func (t *jsonTree) setID(n int32) {
	nd := &t.nodes[n]
	nd.idStart, nd.idEnd = 0, 0
	if nd.kind != '{' {
		return
	}
	kids := t.kids[nd.kidOff : nd.kidOff+nd.kidN]
	for k := 0; k+1 < len(kids); k += 2 {
		if kn := t.nodes[kids[k]]; kn.end-kn.start == 4 && string(t.body[kn.start:kn.end]) == `"id"` {
			v := t.nodes[kids[k+1]]
			nd.idStart, nd.idEnd = v.start, v.end
			return
		}
	}
}

// expandLike expands container n, which starts at its node's start and
// whose end is not known yet, following container g of the guide gt
// (what n was in the previous version). For each member it first tries
// the guide's next few members: one whose bytes are at the position
// (followed by a byte that cannot continue a number) is the same value,
// and its nodes are the guide's moved, without reading the bytes again.
// Other members are read: a container whose guide member is expanded
// recursively like it, anything else by skipValue. It returns n's end,
// or false when n is not well formed (its nodes then removed).
func (t *jsonTree) expandLike(n int32, gt *jsonTree, g int32, depth int) (int, bool) {
	b, gb := t.body, gt.body
	nd, gn := t.nodes[n], gt.nodes[g]
	open := nd.kind
	close := open + 2
	step := 1
	if open == '{' {
		step = 2
	}
	gkids := gt.kids[gn.kidOff : gn.kidOff+gn.kidN]
	gm := len(gkids) / step // the guide's members
	gi := 0                 // the guide's next member
	n0, k0 := len(t.nodes), len(t.kids)
	base := len(t.stack) // this container's members are collected on the stack (nested expansions add theirs to kids first)
	i := skipWS(b, int(nd.start)+1)
	if i < len(b) && b[i] == close {
		i++
		goto done
	}
	for {
		i = skipWS(b, i)
		matched := false
		for d := 0; d < 3 && gi+d < gm; d++ {
			m := gi + d
			first, last := gkids[m*step], gkids[m*step+step-1]
			ms, me := int(gt.nodes[first].start), int(gt.nodes[last].end)
			if e := i + me - ms; e <= len(b) && (e == len(b) || !isScalarByte(b[e])) && bytes.Equal(b[i:e], gb[ms:me]) {
				off := int32(i - ms)
				for _, k := range gkids[m*step : m*step+step] {
					x := gt.nodes[k]
					x.start += off
					x.end += off
					x.kidOff, x.kidN = 0, -1
					if x.idEnd != 0 {
						x.idStart += off
						x.idEnd += off
					}
					t.stack = append(t.stack, int32(len(t.nodes)))
					t.nodes = append(t.nodes, x)
				}
				gi, i, matched = m+1, e, true
				break
			}
		}
		if !matched {
			gv := int32(-1) // the guide's value for this member
			if open == '{' {
				if i >= len(b) || b[i] != '"' {
					goto bad
				}
				k, end, err := t.node(i)
				if err != nil {
					goto bad
				}
				t.stack = append(t.stack, k)
				if gi < gm {
					if gk := gkids[gi*2]; bytes.Equal(gt.span(gk), b[i:end]) {
						gv = gkids[gi*2+1]
					}
				}
				i = skipWS(b, end)
				if i >= len(b) || b[i] != ':' {
					goto bad
				}
				i = skipWS(b, i+1)
			} else if gi < gm {
				gv = gkids[gi]
			}
			if i >= len(b) {
				goto bad
			}
			if c := b[i]; gv >= 0 && (c == '{' || c == '[') && gt.nodes[gv].kind == c && gt.nodes[gv].kidN >= 0 && depth < maxDepth {
				v := int32(len(t.nodes))
				t.nodes = append(t.nodes, jsonNode{start: int32(i), kidN: -1, kind: c})
				if end, ok := t.expandLike(v, gt, gv, depth+1); ok {
					t.stack = append(t.stack, v)
					i = end
					gi++
					goto next
				}
				t.nodes = t.nodes[:v] // not well formed: read it as below
			}
			v, end, err := t.node(i)
			if err != nil {
				goto bad
			}
			t.stack = append(t.stack, v)
			i = end
			if gv >= 0 {
				gi++
			}
		}
	next:
		i = skipWS(b, i)
		if i >= len(b) {
			goto bad
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != close {
			goto bad
		}
		i++
		break
	}
done:
	{
		k0 := len(t.kids)
		t.kids = append(t.kids, t.stack[base:]...)
		t.stack = t.stack[:base]
		nd := &t.nodes[n]
		nd.end, nd.kidOff, nd.kidN = int32(i), int32(k0), int32(len(t.kids)-k0)
		t.setID(n)
		return i, true
	}
bad:
	t.nodes, t.kids, t.stack = t.nodes[:n0], t.kids[:k0], t.stack[:base]
	return 0, false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// node appends a node for the value at i, without expanding it, and
// returns its index and the end of the value.
func (t *jsonTree) node(i int) (int32, int, error) {
	n := int32(len(t.nodes))
	end, idS, idE, err := skipValue(t.body, i, 0)
	if err != nil {
		return 0, 0, err
	}
	nd := jsonNode{start: int32(i), end: int32(end), kidN: -1, idStart: int32(idS), idEnd: int32(idE)}
	if c := t.body[i]; c == '{' || c == '[' {
		nd.kind = c
	}
	t.nodes = append(t.nodes, nd)
	return n, end, nil
}

// expand makes the nodes of container n's members, once. It reports
// false, and makes n a scalar (compared and replaced whole), when n's
// inside is not well-formed JSON at its top level.
func (t *jsonTree) expand(n int32) bool {
	nd := t.nodes[n]
	if nd.kidN >= 0 {
		return true
	}
	if nd.kind == 0 {
		return false
	}
	b, open := t.body, nd.kind
	close := byte('}')
	if open == '[' {
		close = ']'
	}
	n0, k0 := len(t.nodes), len(t.kids)
	i := skipWS(b, int(nd.start)+1)
	if i < len(b) && b[i] == close {
		i++
	} else {
		for {
			i = skipWS(b, i)
			if open == '{' {
				if i >= len(b) || b[i] != '"' {
					goto bad
				}
				k, end, err := t.node(i)
				if err != nil {
					goto bad
				}
				t.kids = append(t.kids, k)
				i = skipWS(b, end)
				if i >= len(b) || b[i] != ':' {
					goto bad
				}
				i = skipWS(b, i+1)
			}
			v, end, err := t.node(i)
			if err != nil {
				goto bad
			}
			t.kids = append(t.kids, v)
			i = skipWS(b, end)
			if i >= len(b) {
				goto bad
			}
			if b[i] == ',' {
				i++
				continue
			}
			if b[i] != close {
				goto bad
			}
			i++
			break
		}
	}
	if i != int(nd.end) {
		goto bad
	}
	t.nodes[n].kidOff, t.nodes[n].kidN = int32(k0), int32(len(t.kids)-k0)
	return true
bad:
	t.nodes, t.kids = t.nodes[:n0], t.kids[:k0]
	t.nodes[n].kind = 0
	return false
}

// structural marks the bytes skipContainer stops at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true, ',': true}

// skipValue returns the end of the value at i and, for an object, the
// span of its first "id" member's value (0, 0 if none).
func skipValue(b []byte, i, depth int) (end, idS, idE int, err error) {
	if i >= len(b) || depth > maxDepth {
		return 0, 0, 0, errBadJSON
	}
	switch b[i] {
	case '"':
		if end = skipString(b, i); end < 0 {
			return 0, 0, 0, errBadJSON
		}
		return end, 0, 0, nil
	case '{', '[':
		return skipContainer(b, i, depth)
	}
	j := i
	for j < len(b) {
		switch x := b[j]; {
		case x >= '0' && x <= '9', x >= 'a' && x <= 'z', x == '-', x == '+', x == '.', x == 'E':
			j++
			continue
		}
		break
	}
	if j == i {
		return 0, 0, 0, errBadJSON
	}
	return j, 0, 0, nil
}

// skipString returns the end of the string starting at i (after its
// closing quote), or -1 when it does not end.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return -1
		}
		if b[j] == '"' {
			return j + 1
		}
		j += 2 // an escape: skip the escaped byte (\" included)
	}
}

// skipContainer returns the end of the object or array at i, checking
// that its brackets match and its strings end, and for an object the span
// of its first "id" member's value.
func skipContainer(b []byte, i, depth int) (end, idS, idE int, err error) {
	var buf [32]byte
	open := append(buf[:0], b[i]) // the open brackets
	obj := b[i] == '{'
	key := obj // the next string at the object's own level is a key
	j := i + 1
	for j < len(b) {
		c := b[j]
		if !structural[c] {
			j++
			continue
		}
		switch c {
		case '"':
			k := skipString(b, j)
			if k < 0 {
				return 0, 0, 0, errBadJSON
			}
			if key && len(open) == 1 {
				key = false
				if idE == 0 && k-j == 4 && string(b[j:k]) == `"id"` {
					k = skipWS(b, k)
					if k >= len(b) || b[k] != ':' {
						return 0, 0, 0, errBadJSON
					}
					k = skipWS(b, k+1)
					e, _, _, err := skipValue(b, k, depth+1)
					if err != nil {
						return 0, 0, 0, err
					}
					idS, idE = k, e
					k = e
				}
			}
			j = k
		case '{', '[':
			if depth+len(open) > maxDepth {
				return 0, 0, 0, errBadJSON
			}
			open = append(open, c)
			j++
		case '}', ']':
			if (open[len(open)-1] == '{') != (c == '}') {
				return 0, 0, 0, errBadJSON
			}
			open = open[:len(open)-1]
			j++
			if len(open) == 0 {
				return j, idS, idE, nil
			}
		case ',':
			key = obj && len(open) == 1
			j++
		}
	}
	return 0, 0, 0, errBadJSON
}

func (t *jsonTree) span(n int32) []byte {
	nd := &t.nodes[n]
	return t.body[nd.start:nd.end]
}

// idSpan returns the raw value of object n's "id" member.
func (t *jsonTree) idSpan(n int32) []byte {
	nd := &t.nodes[n]
	return t.body[nd.idStart:nd.idEnd]
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
	pa      map[string]int // where each key of ka is (the last one), made when align needs it often
	matches [][2]int32
	depth   int // containers being diffed
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
	na, nb := a.nodes[ai], b.nodes[bi] // copies: expand appends nodes
	if na.kind == 0 || na.kind != nb.kind || d.depth >= maxDepth || !a.expand(ai) || !b.expand(bi) {
		d.out = append(d.out, splice{int(na.start), int(na.end), sb})
		return
	}
	d.depth++
	d.container(ai, bi)
	d.depth--
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
			d.matches = slices.Grow(d.matches, len(ea))
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
		if w := d.equalRun(matches[k:], ea, eb, step); w > 0 { // members that need no diff
			last := matches[k+w-1]
			prevA, prevB = int(a.nodes[ea[last[0]*step+step-1]].end), int(b.nodes[eb[last[1]*step+step-1]].end)
			k += w - 1
			continue
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

// equalRun returns how many of the pairs in ms (64 or 8) are consecutive
// members on both sides whose bytes, with the gaps between them, are
// equal, or 0: one comparison for many members, none of which then needs
// its own. The splices are those of diffing each member.
func (d *differ) equalRun(ms [][2]int32, ea, eb []int32, step int32) int {
	a, b := d.a, d.b
	for _, w := range [...]int{64, 8} {
		if len(ms) < w {
			continue
		}
		f, l := ms[0], ms[w-1]
		if l[0]-f[0] != int32(w-1) || l[1]-f[1] != int32(w-1) {
			continue
		}
		sa, za := a.nodes[ea[f[0]*step]].start, a.nodes[ea[l[0]*step+step-1]].end
		sb, zb := b.nodes[eb[f[1]*step]].start, b.nodes[eb[l[1]*step+step-1]].end
		if bytes.Equal(a.body[sa:za], b.body[sb:zb]) {
			return w
		}
	}
	return 0
}

// sameIDs reports whether two arrays of elements with ids have the same
// ids in the same order.
func (d *differ) sameIDs(ea, eb []int32) bool {
	if len(ea) != len(eb) {
		return false
	}
	a, b := d.a, d.b
	for i := range ea {
		if !equalShort(a.idSpan(ea[i]), b.idSpan(eb[i])) {
			return false
		}
	}
	return true
}

// equalShort is bytes.Equal for the few bytes of an id: for a thousand
// ids of 1 to 4 digits an inlined loop beats as many calls.
func equalShort(x, y []byte) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) > 8 {
		return bytes.Equal(x, y)
	}
	for i := range x {
		if x[i] != y[i] {
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
		if t.nodes[e].idEnd == 0 {
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
			dst = append(dst, t.idSpan(kids[i]))
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
	i, j, looks := 0, 0, 0
	for i < na && j < nb {
		if bytes.Equal(d.ka[i], d.kb[j]) {
			d.matches = append(d.matches, [2]int32{int32(i), int32(j)})
			i++
			j++
			continue
		}
		if !d.ahead(d.kb[j], i, &looks) {
			j++ // added (or moved backwards): inserted from b's bytes
			continue
		}
		i++ // removed, or moved further on: b's bytes bring it back there
	}
}

// alignScans is how many times align looks for a key by scanning the
// rest of a before it indexes a's keys in a map: an element added and
// one removed (the common change) take two looks. A variable for the
// test that checks both ways give the same pairs.
var alignScans = 8

// ahead reports whether key is one of d.ka[i:].
func (d *differ) ahead(key []byte, i int, looks *int) bool {
	if *looks++; *looks <= alignScans {
		for _, k := range d.ka[i:] {
			if bytes.Equal(k, key) {
				return true
			}
		}
		return false
	}
	if *looks == alignScans+1 {
		if d.pa == nil {
			d.pa = make(map[string]int)
		}
		clear(d.pa)
		for i, k := range d.ka {
			d.pa[unsafe.String(unsafe.SliceData(k), len(k))] = i // the last one
		}
	}
	p, ok := d.pa[unsafe.String(unsafe.SliceData(key), len(key))]
	return ok && p >= i
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

// decodeSplices appends the splices of a wire patch to dst, in the base's
// coordinates; their inserted bytes are slices of patch.
func decodeSplices(dst []splice, patch []byte, baseLen int) ([]splice, error) {
	nl := bytes.IndexByte(patch, '\n')
	if nl < 2 || patch[0] != '[' || patch[nl-1] != ']' {
		return nil, errors.New("splice: no header line")
	}
	ins, head := patch[nl+1:], patch[1:nl-1]
	pos := 0
	var nums [3]int
	for k := 0; len(head) > 0; k++ {
		n := 0
		j := 0
		for j < len(head) && head[j] != ',' {
			c := head[j]
			if c < '0' || c > '9' || n > baseLen+len(patch) {
				return nil, errors.New("splice: bad number in the header")
			}
			n = n*10 + int(c-'0')
			j++
		}
		if j == 0 {
			return nil, errors.New("splice: bad number in the header")
		}
		if head = head[j:]; len(head) > 0 {
			head = head[1:]
		}
		nums[k%3] = n
		if k%3 != 2 {
			continue
		}
		cp, del, in := nums[0], nums[1], nums[2]
		if pos+cp+del > baseLen || in > len(ins) {
			return nil, errors.New("splice: out of range")
		}
		dst = append(dst, splice{pos + cp, pos + cp + del, ins[:in:in]})
		pos, ins = pos+cp+del, ins[in:]
	}
	if len(ins) != 0 {
		return nil, errors.New("splice: inserted bytes left over")
	}
	return dst, nil
}

// composer composes patches: from A to M and from M to B into one from A
// to B, without reading the documents. Reused; not safe for concurrent use.
type composer struct {
	p1, p2 []splice
	segs   []segment
	out    []splice
	lit    []byte   // the inserted bytes of out, concatenated
	litAt  [][2]int // each splice's inserted bytes in lit
	posA   int      // A is copied up to here
	litOff int      // the pending inserted bytes start here in lit
}

// segment is a run of M's bytes: copied from A at a (a ≥ 0), or inserted
// by the first patch (lit).
type segment struct {
	m, n, a int
	lit     []byte
}

// compose returns the splices from A (lenA bytes) to B given the wire
// patches A→M (ab) and M→B (mb), valid until the next call. M's bytes
// each come from A or from ab's inserted bytes; B's bytes that M keeps
// are traced back through them, so the result copies from A what both
// patches keep and inserts the rest.
func (c *composer) compose(lenA int, ab, mb []byte) ([]splice, error) {
	var err error
	if c.p1, err = decodeSplices(c.p1[:0], ab, lenA); err != nil {
		return nil, err
	}
	// M as segments
	c.segs = c.segs[:0]
	m, pos := 0, 0
	for _, s := range c.p1 {
		if s.start > pos {
			c.segs = append(c.segs, segment{m: m, n: s.start - pos, a: pos})
			m += s.start - pos
		}
		if len(s.ins) > 0 {
			c.segs = append(c.segs, segment{m: m, n: len(s.ins), a: -1, lit: s.ins})
			m += len(s.ins)
		}
		pos = s.end
	}
	if lenA > pos {
		c.segs = append(c.segs, segment{m: m, n: lenA - pos, a: pos})
		m += lenA - pos
	}
	lenM := m
	if c.p2, err = decodeSplices(c.p2[:0], mb, lenM); err != nil {
		return nil, err
	}
	c.out, c.lit, c.litAt, c.posA, c.litOff = c.out[:0], c.lit[:0], c.litAt[:0], 0, 0
	k, mpos := 0, 0
	for _, s := range c.p2 {
		k = c.keep(k, mpos, s.start)
		c.lit = append(c.lit, s.ins...)
		mpos = s.end
	}
	c.keep(k, mpos, lenM)
	if c.posA < lenA || len(c.lit) > c.litOff {
		c.emit(lenA)
	}
	for i := range c.out {
		at := c.litAt[i]
		c.out[i].ins = c.lit[at[0]:at[1]:at[1]]
	}
	return c.out, nil
}

// keep adds M's bytes [x, y) to B, from segment k on; it returns the
// segment where y is.
func (c *composer) keep(k, x, y int) int {
	for k < len(c.segs) && c.segs[k].m+c.segs[k].n <= x {
		k++
	}
	for ; k < len(c.segs) && x < y; k++ {
		sg := c.segs[k]
		e := min(y, sg.m+sg.n)
		if sg.a >= 0 {
			ax := sg.a + x - sg.m
			if ax > c.posA || len(c.lit) > c.litOff {
				c.emit(ax)
			}
			c.posA = sg.a + e - sg.m
		} else {
			c.lit = append(c.lit, sg.lit[x-sg.m:e-sg.m]...)
		}
		x = e
		if e < sg.m+sg.n {
			break // y is inside this segment
		}
	}
	return k
}

// emit replaces A's bytes from posA to end with the pending inserted bytes.
func (c *composer) emit(end int) {
	c.out = append(c.out, splice{start: c.posA, end: end})
	c.litAt = append(c.litAt, [2]int{c.litOff, len(c.lit)})
	c.litOff = len(c.lit)
}
