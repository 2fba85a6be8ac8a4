package snapshot

// Splice returns the splice patch from a to b (the store's diff), or an
// error when either is not JSON: for the external tests and benchmarks.
func Splice(a, b []byte) ([]byte, error) {
	var ta, tb jsonTree
	if err := parseTree(&ta, a, nil); err != nil {
		return nil, err
	}
	if err := parseTree(&tb, b, nil); err != nil {
		return nil, err
	}
	var d differ
	d.diff(&ta, &tb)
	return encodeSplices(nil, a, d.out), nil
}

// PatchMaker makes the patches to each new body from the previous n,
// the way Put does, without the files: what BenchmarkDeltaCost times.
type PatchMaker struct {
	s *Store
	e entry
}

func NewPatchMaker(dir string, n int) (*PatchMaker, error) {
	s, err := Create(dir)
	if err != nil {
		return nil, err
	}
	s.SetDeltas(n)
	s.grace = 0 // the benchmark makes thousands: remove them as soon as unlisted
	return &PatchMaker{s: s}, nil
}

// Version records body's hash as the new version, as Put does whether it
// makes patches or not.
func (pm *PatchMaker) Version(body []byte) {
	h := hashOf(body)
	pm.e.v = &version{hash: h, hex: h.String()}
}

// Next makes the patches to the version body (after Version), written to
// the store's directory, compressed, as Put does.
func (pm *PatchMaker) Next(body []byte) (patches int, err error) {
	err = pm.s.makePatches(&pm.e, body, Meta{ContentType: "application/json"})
	pm.s.collect()
	return len(pm.e.patches), err
}

func (pm *PatchMaker) Close() { pm.s.Close() }

// The parts of making a patch, for BenchmarkDeltaParts.
type (
	Tree   = jsonTree
	Differ = differ
)

func ParseTree(t *Tree, body []byte) error { return parseTree(t, body, nil) }

func ParseTreeLike(t *Tree, body []byte, guide *Tree) error { return parseTree(t, body, guide) }

func (d *Differ) Encode(a, b *Tree, dst []byte) []byte {
	d.diff(a, b)
	return encodeSplices(dst[:0], a.body, d.out)
}

// PatchGzipLevel is the gzip level of the store's patches.
const PatchGzipLevel = patchGzipLevel
