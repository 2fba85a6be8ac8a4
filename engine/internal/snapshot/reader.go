package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Reader follows a store from another process (or the same one). It is safe
// for concurrent use by any number of goroutines: View is a pair of atomic
// loads in steady state; reloading after a commit takes a mutex, but only one
// goroutine does it while the others keep the previous view.
type Reader struct {
	dir  string
	ctrl []byte
	gen  *atomic.Uint64 // in the shared control page
	beat *atomic.Int64  // in the shared control page
	cur  atomic.Pointer[View]

	mu        sync.Mutex          // guards the fields below; never taken on the hot path
	maps      map[string]*mapping // version file name → its mapping, shared by views
	retired   []retiredView
	grace     time.Duration // RetireGrace; shortened in tests
	err       error         // last reload failure, nil after a success
	failedGen uint64
	failedAt  time.Time
}

type mapping struct {
	name string
	data []byte
	refs int // views holding it; guarded by Reader.mu
}

type retiredView struct {
	v  *View
	at time.Time
}

// View is an immutable picture of the store at one generation.
type View struct {
	r       *Reader
	gen     uint64
	entries map[string]*Entry
	maps    []*mapping
	refs    atomic.Int64 // the reader's own reference + Acquires
}

// OpenReader opens the store in dir for reading, creating dir and its control
// page if the writer has not started yet (the first view is then empty).
func OpenReader(dir string) (*Reader, error) {
	ctrl, err := openControl(dir, false)
	if err != nil {
		return nil, fmt.Errorf("open reader: %w", err)
	}
	r := &Reader{
		dir:   dir,
		ctrl:  ctrl,
		gen:   (*atomic.Uint64)(unsafe.Pointer(&ctrl[offGeneration])),
		beat:  (*atomic.Int64)(unsafe.Pointer(&ctrl[offHeartbeat])),
		maps:  make(map[string]*mapping),
		grace: RetireGrace,
	}
	g := r.gen.Load()
	v, err := r.load(g)
	if err != nil {
		unmap(ctrl)
		return nil, fmt.Errorf("open reader: %w", err)
	}
	r.cur.Store(v)
	return r, nil
}

// View returns the current view. It reloads the manifest only when the
// shared generation changed; otherwise it costs two atomic loads and no
// syscall. The result must not be used longer than RetireGrace after a newer
// view replaced it unless it was Acquired.
func (r *Reader) View() *View {
	v := r.cur.Load()
	if r.gen.Load() == v.gen {
		return v
	}
	return r.reload()
}

// Err returns the error of the last failed reload (the previous view is kept
// meanwhile), nil when the last reload succeeded.
func (r *Reader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Heartbeat returns the last time the writer called Store.Heartbeat, zero if
// it never did. A stale heartbeat means the engine is down or stuck.
func (r *Reader) Heartbeat() time.Time {
	ms := r.beat.Load()
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (r *Reader) reload() *View {
	if !r.mu.TryLock() {
		return r.cur.Load() // another goroutine is reloading: serve the previous view
	}
	cur := r.cur.Load()
	g := r.gen.Load()
	if g == cur.gen {
		r.mu.Unlock()
		return cur
	}
	now := time.Now()
	if r.err != nil && g == r.failedGen && now.Sub(r.failedAt) < time.Second {
		r.mu.Unlock()
		return cur
	}
	v, err := r.load(g)
	if err != nil {
		r.err, r.failedGen, r.failedAt = err, g, now
		r.mu.Unlock()
		return cur
	}
	r.err = nil
	r.cur.Store(v)
	r.retired = append(r.retired, retiredView{cur, now})
	expired := r.expire(now)
	r.mu.Unlock()
	for _, x := range expired {
		x.Release() // drop the reader's reference; unmaps unless Acquired
	}
	return v
}

// expire removes from the retired list the views retired at least grace ago.
// Called with r.mu held.
func (r *Reader) expire(now time.Time) []*View {
	n := 0
	for n < len(r.retired) && now.Sub(r.retired[n].at) >= r.grace {
		n++
	}
	if n == 0 {
		return nil
	}
	expired := make([]*View, n)
	for i := range n {
		expired[i] = r.retired[i].v
	}
	r.retired = append(r.retired[:0], r.retired[n:]...)
	return expired
}

// load builds the view for generation g from manifest.json. A version file
// can vanish between reading the manifest and mapping it (the writer moved
// on and collected it); the manifest is then read again. Called with r.mu
// held, or before the Reader is shared.
func (r *Reader) load(g uint64) (*View, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var v *View
		if v, err = r.tryLoad(g); err == nil {
			return v, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, fmt.Errorf("load snapshot view %d: %w", g, err)
}

func (r *Reader) tryLoad(g uint64) (*View, error) {
	v := &View{r: r, gen: g}
	v.refs.Store(1)
	data, err := os.ReadFile(filepath.Join(r.dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		v.entries = map[string]*Entry{}
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	v.entries = make(map[string]*Entry, len(m.Entries))
	for _, me := range m.Entries {
		e := &Entry{
			URL:         me.URL,
			ContentType: me.ContentType,
			ETag:        etagOf(me.Hash),
			Size:        me.Size,
			Period:      time.Duration(me.PeriodMS) * time.Millisecond,
			Status:      me.Status,
			Boundary:    time.UnixMilli(me.BoundaryMS),
			Modified:    time.UnixMilli(me.ModifiedMS),
		}
		if me.StaleMS != 0 {
			e.StaleSince = time.UnixMilli(me.StaleMS)
		}
		e.LastModified = e.Modified.UTC().AppendFormat(nil, httpTimeFormat)
		if _, ok := parseHash(me.Hash); !ok {
			v.unref()
			return nil, fmt.Errorf("manifest entry %s: bad hash %q", me.URL, me.Hash)
		}
		vname := versionDir + "/" + me.Hash
		if e.Body, err = v.mapVersion(vname, me.Size); err == nil && me.Gzip > 0 {
			e.Gzip, err = v.mapVersion(vname+".gz", me.Gzip)
			e.ETagGzip = etagOf(me.Hash + GzipETagSuffix)
		}
		if err == nil && me.Brotli > 0 {
			e.Brotli, err = v.mapVersion(vname+".br", me.Brotli)
			e.ETagBrotli = etagOf(me.Hash + BrotliETagSuffix)
		}
		if err == nil && len(me.Deltas) > 0 {
			err = v.mapDeltas(e, me)
		}
		if err != nil {
			v.unref()
			return nil, err
		}
		v.entries[me.URL] = e
	}
	return v, nil
}

// mapDeltas maps the file of the patches to me's version and slices it
// into e.Deltas.
func (v *View) mapDeltas(e *Entry, me manifestEntry) error {
	size := 0
	for _, md := range me.Deltas {
		size = max(size, md.Off+md.Size, md.GzipOff+md.Gzip, md.BrotliOff+md.Brotli)
	}
	if !strings.HasPrefix(me.DeltaFile, me.Hash+"-") || strings.ContainsAny(me.DeltaFile, "/.") {
		return fmt.Errorf("manifest entry %s: bad delta file %q", me.URL, me.DeltaFile)
	}
	data, err := v.mapVersion(deltaDir+"/"+me.DeltaFile, size) // the patches fill the file
	if err != nil {
		return err
	}
	e.Deltas = make([]Delta, len(me.Deltas))
	for i, md := range me.Deltas {
		if _, ok := parseHash(md.From); !ok || md.Off < 0 || md.GzipOff < 0 || md.BrotliOff < 0 {
			return fmt.Errorf("manifest entry %s: bad delta %+v", me.URL, md)
		}
		d := &e.Deltas[i]
		d.Base = []byte(md.From)
		d.Body = data[md.Off : md.Off+md.Size : md.Off+md.Size]
		if md.Gzip > 0 {
			d.Gzip = data[md.GzipOff : md.GzipOff+md.Gzip : md.GzipOff+md.Gzip]
		}
		if md.Brotli > 0 {
			d.Brotli = data[md.BrotliOff : md.BrotliOff+md.Brotli : md.BrotliOff+md.Brotli]
		}
	}
	return nil
}

// mapVersion returns the mapping of the store's file name (relative to
// the store directory: "v/<hash>", "d/<from>-<hash>.gz"), mapping it once
// per reader however many views and URLs use it. Called with r.mu held.
func (v *View) mapVersion(name string, size int) ([]byte, error) {
	r := v.r
	m := r.maps[name]
	if m == nil || len(m.data) != size {
		data, err := mapFile(filepath.Join(r.dir, name), size)
		if err != nil {
			return nil, err
		}
		if m != nil {
			// Same name, other size: cannot happen with content hashes unless
			// the directory was tampered with; keep the old mapping for its
			// views and track the new one separately.
			name += "\x00" + fmt.Sprint(size)
		}
		m = &mapping{name: name, data: data}
		r.maps[name] = m
	}
	m.refs++
	v.maps = append(v.maps, m)
	return m.data, nil
}

// unref drops the view's mappings. Called with r.mu held.
func (v *View) unref() {
	for _, m := range v.maps {
		m.refs--
		if m.refs == 0 {
			unmap(m.data)
			m.data = nil
			delete(v.r.maps, m.name)
		}
	}
	v.maps = nil
}

// Generation returns the store generation this view was loaded for.
func (v *View) Generation() uint64 { return v.gen }

// Lookup returns the entry published at url, nil if none.
func (v *View) Lookup(url string) *Entry { return v.entries[url] }

// LookupBytes is Lookup for a path still in a request buffer; it does not
// allocate.
func (v *View) LookupBytes(url []byte) *Entry { return v.entries[string(url)] }

// Len returns the number of published URLs.
func (v *View) Len() int { return len(v.entries) }

// Range calls f for every entry, in no particular order, until f returns false.
func (v *View) Range(f func(*Entry) bool) {
	for _, e := range v.entries {
		if !f(e) {
			return
		}
	}
}

// Acquire keeps the view's mappings alive until the matching Release, even
// after a newer view replaced it. It panics if the view was already freed
// (used without a reference for longer than RetireGrace after it was
// replaced): that is a bug in the caller, and a panic beats reading unmapped
// memory.
func (v *View) Acquire() {
	for {
		n := v.refs.Load()
		if n <= 0 {
			panic("snapshot: Acquire on a released View (hold a reference or call Reader.View again)")
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return
		}
	}
}

// Release drops a reference taken by Acquire. The last reference unmaps the
// view's version files that no other view uses.
func (v *View) Release() {
	n := v.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("snapshot: View released more times than acquired")
	}
	v.r.mu.Lock()
	v.unref()
	v.r.mu.Unlock()
}

// Close releases the reader's references to its views and unmaps the control
// page. Views still Acquired stay mapped until released. The Reader must not
// be used after Close.
func (r *Reader) Close() error {
	r.mu.Lock()
	views := []*View{r.cur.Load()}
	for _, x := range r.retired {
		views = append(views, x.v)
	}
	r.retired = nil
	r.mu.Unlock()
	for _, v := range views {
		v.Release()
	}
	if err := unmap(r.ctrl); err != nil {
		return fmt.Errorf("close reader: %w", err)
	}
	return nil
}
