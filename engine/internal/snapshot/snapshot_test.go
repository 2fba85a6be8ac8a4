package snapshot

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

const childEnv = "JAWAS_SNAPSHOT_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	os.Exit(m.Run())
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Create(filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openReader(t testing.TB, dir string) *Reader {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustPut(t testing.TB, s *Store, url string, body []byte) (string, bool) {
	t.Helper()
	etag, changed, err := s.Put(url, body, Meta{ContentType: "application/json", Period: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return etag, changed
}

func mustCommit(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
}

// checkEntry verifies that an entry's body is the one its ETag names.
func checkEntry(e *Entry) error {
	want := etagOf(hashOf(e.Body).String())
	if e.ETag != want || e.Size != len(e.Body) {
		return fmt.Errorf("%s: etag %s size %d, body hashes to %s size %d", e.URL, e.ETag, e.Size, want, len(e.Body))
	}
	return nil
}

func TestPutCommitRead(t *testing.T) {
	s := newStore(t)
	r := openReader(t, s.Dir())
	if v := r.View(); v.Len() != 0 || v.Generation() != 0 {
		t.Fatalf("fresh store: %d entries, generation %d", v.Len(), v.Generation())
	}

	etag1, changed := mustPut(t, s, "/a.json", []byte(`{"n":1}`))
	if !changed {
		t.Fatal("first put: changed = false")
	}
	if v := r.View(); v.Lookup("/a.json") != nil {
		t.Fatal("put visible before commit")
	}
	mustCommit(t, s)
	v := r.View()
	e := v.Lookup("/a.json")
	if e == nil || string(e.Body) != `{"n":1}` || e.ETag != etag1 || e.ContentType != "application/json" || e.Period != 200*time.Millisecond {
		t.Fatalf("after commit: %+v", e)
	}
	if err := checkEntry(e); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(httpTimeFormat, string(e.LastModified)); err != nil {
		t.Fatalf("LastModified %q: %v", e.LastModified, err)
	}
	gen := s.Generation()

	steps := []struct {
		name        string
		do          func() (etag string, changed bool)
		wantChanged bool
		wantGenUp   bool
		check       func(v *View) error
	}{
		{"unchanged keeps etag and generation", func() (string, bool) { return mustPut(t, s, "/a.json", []byte(`{"n":1}`)) }, false, false,
			func(v *View) error {
				if e := v.Lookup("/a.json"); e.ETag != etag1 {
					return fmt.Errorf("etag %s, want %s", e.ETag, etag1)
				}
				return nil
			}},
		{"new content new etag", func() (string, bool) { return mustPut(t, s, "/a.json", []byte(`{"n":2}`)) }, true, true,
			func(v *View) error {
				if e := v.Lookup("/a.json"); string(e.Body) != `{"n":2}` || e.ETag == etag1 {
					return fmt.Errorf("got %s %s", e.Body, e.ETag)
				}
				return nil
			}},
		{"same content other url shares the version", func() (string, bool) { return mustPut(t, s, "/b.json", []byte(`{"n":2}`)) }, true, true,
			func(v *View) error {
				a, b := v.Lookup("/a.json"), v.Lookup("/b.json")
				if b == nil || a.ETag != b.ETag || &a.Body[0] != &b.Body[0] {
					return fmt.Errorf("a %v b %v: want one shared mapping", a, b)
				}
				return nil
			}},
		{"meta change is a change", func() (string, bool) {
			etag, changed, err := s.Put("/b.json", []byte(`{"n":2}`), Meta{ContentType: "text/plain", Period: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return etag, changed
		}, true, true,
			func(v *View) error {
				if e := v.Lookup("/b.json"); e.ContentType != "text/plain" || e.Period != time.Second {
					return fmt.Errorf("got %+v", e)
				}
				return nil
			}},
		{"delete", func() (string, bool) { s.Delete("/b.json"); return "", true }, true, true,
			func(v *View) error {
				if v.Lookup("/b.json") != nil || v.Lookup("/a.json") == nil {
					return fmt.Errorf("b still there or a gone")
				}
				return nil
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, changed := st.do()
			if changed != st.wantChanged {
				t.Errorf("changed = %v, want %v", changed, st.wantChanged)
			}
			mustCommit(t, s)
			if up := s.Generation() != gen; up != st.wantGenUp {
				t.Errorf("generation %d -> %d, want bump %v", gen, s.Generation(), st.wantGenUp)
			}
			gen = s.Generation()
			v := r.View()
			if v.Generation() != gen {
				t.Errorf("view generation %d, store %d", v.Generation(), gen)
			}
			if err := st.check(v); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	random := make([]byte, 4096)
	rand.Read(random)
	compressible := bytes.Repeat([]byte(`{"player":"jawa","x":12,"y":34},`), 200)
	tests := []struct {
		name     string
		body     []byte
		wantComp bool
	}{
		{"tiny", []byte(`{"a":1,"a":1,"a":1,"a":1,"a":1,"a":1,"a":1}`), false},
		{"incompressible", random, false},
		{"compressible", compressible, true},
		{"empty", []byte{}, false},
	}
	s := newStore(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := "/" + tc.name + ".json"
			mustPut(t, s, url, tc.body)
			mustCommit(t, s)
			r := openReader(t, s.Dir())
			e := r.View().Lookup(url)
			if e == nil || !bytes.Equal(e.Body, tc.body) {
				t.Fatalf("body mismatch: %v", e)
			}
			if got := e.Gzip != nil && e.Brotli != nil; got != tc.wantComp {
				t.Fatalf("variants present = %v (gz %d br %d), want %v", got, len(e.Gzip), len(e.Brotli), tc.wantComp)
			}
			if !tc.wantComp {
				return
			}
			if len(e.Gzip) >= len(e.Body) || len(e.Brotli) >= len(e.Body) {
				t.Errorf("variants not smaller: gz %d br %d body %d", len(e.Gzip), len(e.Brotli), len(e.Body))
			}
			zr, err := gzip.NewReader(bytes.NewReader(e.Gzip))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, tc.body) {
				t.Errorf("gzip decodes to %d bytes, err %v", len(got), err)
			}
			if got, err := io.ReadAll(brotli.NewReader(bytes.NewReader(e.Brotli))); err != nil || !bytes.Equal(got, tc.body) {
				t.Errorf("brotli decodes to %d bytes, err %v", len(got), err)
			}
		})
	}
}

func versionFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, versionDir))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, de := range des {
		files[de.Name()] = true
	}
	return files
}

func TestGarbageCollection(t *testing.T) {
	s := newStore(t)
	now := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return now }
	big := func(n int) []byte { return bytes.Repeat([]byte(fmt.Sprintf(`{"v":%d},`, n)), 100) }

	mustPut(t, s, "/a.json", big(1))
	mustPut(t, s, "/shared.json", big(1))
	mustCommit(t, s)
	old := hashOf(big(1)).String()
	mustPut(t, s, "/a.json", big(2)) // old still referenced by /shared.json
	mustCommit(t, s)
	now = now.Add(time.Hour)
	mustCommit(t, s)
	if !versionFiles(t, s.Dir())[old] {
		t.Fatal("version still referenced by /shared.json was removed")
	}

	s.Delete("/shared.json") // now old is unreferenced
	mustCommit(t, s)
	steps := []struct {
		advance  time.Duration
		wantOld  bool
		describe string
	}{
		{0, true, "just unreferenced"},
		{VersionGrace - time.Second, true, "inside grace"},
		{2 * time.Second, false, "after grace"},
	}
	for _, st := range steps {
		t.Run(st.describe, func(t *testing.T) {
			now = now.Add(st.advance)
			mustCommit(t, s)
			files := versionFiles(t, s.Dir())
			for _, suffix := range []string{"", ".gz", ".br"} {
				if files[old+suffix] != st.wantOld {
					t.Errorf("%s%s present = %v, want %v", old, suffix, files[old+suffix], st.wantOld)
				}
			}
			if cur := hashOf(big(2)).String(); !files[cur] {
				t.Errorf("current version %s removed", cur)
			}
		})
	}
}

func TestRecoverKeepsETag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	etag, _ := mustPut(t, s, "/a.json", []byte(`{"keep":true}`))
	mustPut(t, s, "/gone.json", []byte(`{"gone":true}`))
	mustCommit(t, s)
	gen := s.Generation()
	s.Close()
	os.WriteFile(filepath.Join(dir, versionDir, tmpPrefix+"junk"), []byte("x"), 0o644)

	s2, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.URLs(); strings.Join(got, ",") != "/a.json,/gone.json" {
		t.Fatalf("recovered URLs %v", got)
	}
	etag2, changed := mustPut(t, s2, "/a.json", []byte(`{"keep":true}`))
	if changed || etag2 != etag {
		t.Fatalf("after restart: etag %s changed %v, want %s unchanged", etag2, changed, etag)
	}
	if files := versionFiles(t, dir); files[tmpPrefix+"junk"] {
		t.Error("leftover temp file not removed")
	}
	s2.Delete("/gone.json")
	mustCommit(t, s2)
	if s2.Generation() != gen+1 {
		t.Fatalf("generation %d after restart, want %d", s2.Generation(), gen+1)
	}
}

func TestHeartbeat(t *testing.T) {
	s := newStore(t)
	r := openReader(t, s.Dir())
	if !r.Heartbeat().IsZero() {
		t.Fatal("heartbeat before any")
	}
	at := time.UnixMilli(1_700_000_000_123)
	s.Heartbeat(at)
	if got := r.Heartbeat(); !got.Equal(at) {
		t.Fatalf("heartbeat %v, want %v", got, at)
	}
}

func TestReaderBeforeWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	r := openReader(t, dir) // workers may start before the engine
	s, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPut(t, s, "/a.json", []byte(`1`))
	mustCommit(t, s)
	if e := r.View().Lookup("/a.json"); e == nil || string(e.Body) != "1" {
		t.Fatalf("reader opened first does not see the writer's commit: %v", e)
	}
}

func TestViewRefcount(t *testing.T) {
	s := newStore(t)
	r := openReader(t, s.Dir())
	r.grace = 0 // superseded views lose the reader's reference at the next reload

	mustPut(t, s, "/a.json", []byte(`{"v":1}`))
	mustCommit(t, s)
	held := r.View()
	held.Acquire()
	e1 := held.Lookup("/a.json")
	unheld := r.View() // same view, not acquired

	name := versionDir + "/" + hashOf([]byte(`{"v":1}`)).String() // the reader's key: the file under the store
	mapped := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.maps[name] != nil
	}
	for i := 2; i <= 3; i++ { // two reloads: the first retires held, the second expires it
		mustPut(t, s, "/a.json", []byte(fmt.Sprintf(`{"v":%d}`, i)))
		mustCommit(t, s)
		if v := r.View(); v == held {
			t.Fatal("view not reloaded")
		}
	}
	if unheld != held {
		t.Fatal("View returned different views for one generation")
	}
	if !mapped() || string(e1.Body) != `{"v":1}` {
		t.Fatal("acquired view lost its mapping")
	}
	held.Release()
	if mapped() {
		t.Fatal("mapping of a released, superseded view still held")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Acquire on a freed view did not panic")
			}
		}()
		held.Acquire()
	}()
}

func TestViewSharesMappings(t *testing.T) {
	s := newStore(t)
	r := openReader(t, s.Dir())
	mustPut(t, s, "/stable.json", []byte(`{"stable":1}`))
	mustPut(t, s, "/moving.json", []byte(`{"v":0}`))
	mustCommit(t, s)
	first := r.View().Lookup("/stable.json")
	mustPut(t, s, "/moving.json", []byte(`{"v":1}`))
	mustCommit(t, s)
	second := r.View().Lookup("/stable.json")
	if &first.Body[0] != &second.Body[0] {
		t.Fatal("unchanged version mapped twice")
	}
}

func TestViewAllocs(t *testing.T) {
	s := newStore(t)
	r := openReader(t, s.Dir())
	mustPut(t, s, "/a.json", []byte(`{"v":1}`))
	mustCommit(t, s)
	path := []byte("/a.json")
	r.View()
	allocs := testing.AllocsPerRun(1000, func() {
		v := r.View()
		if v.LookupBytes(path) == nil || v.Lookup("/a.json") == nil {
			t.Fatal("lookup failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("View+Lookup allocates %v times per call", allocs)
	}
}

func TestPutUnchangedAllocs(t *testing.T) {
	s := newStore(t)
	body := bytes.Repeat([]byte("x"), 1024)
	mustPut(t, s, "/a.json", body)
	m := Meta{ContentType: "application/json", Period: 200 * time.Millisecond}
	allocs := testing.AllocsPerRun(100, func() {
		if _, changed, err := s.Put("/a.json", body, m); changed || err != nil {
			t.Fatal(changed, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("unchanged Put allocates %v times", allocs)
	}
}

// TestCrossProcess publishes versions in a loop while a child process (this
// test binary, re-executed) reads them through its own Reader and checks that
// every body it sees hashes to its ETag: a torn or half-written body fails.
func TestCrossProcess(t *testing.T) {
	s := newStore(t)
	s.grace = 50 * time.Millisecond // collect while the child reads
	mustPut(t, s, "/data.json", payload(0))
	mustCommit(t, s)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+s.Dir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 300; i++ {
		mustPut(t, s, "/data.json", payload(i))
		mustCommit(t, s)
		if i%50 == 0 {
			time.Sleep(10 * time.Millisecond) // let the child catch a few
		}
	}
	mustPut(t, s, "/stop.json", []byte(`{}`))
	mustCommit(t, s)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("child failed: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("child did not finish\n%s", out.String())
	}
	var views int
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "ok %d", &views); err != nil || views < 2 {
		t.Fatalf("child output %q: want ok with at least 2 views", out.String())
	}
	t.Logf("child saw %d distinct views", views)
}

func payload(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf(`{"seq":%d,"pad":"abcdefghij"},`, i)), 40)
}

// runChild is the child side of TestCrossProcess.
func runChild(dir string) int {
	r, err := OpenReader(dir)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	seen := map[uint64]bool{}
	deadline := time.Now().Add(50 * time.Second)
	for time.Now().Before(deadline) {
		v := r.View()
		seen[v.Generation()] = true
		e := v.Lookup("/data.json")
		if e == nil {
			fmt.Println("no /data.json in generation", v.Generation())
			return 1
		}
		if err := checkEntry(e); err != nil {
			fmt.Println(err)
			return 1
		}
		if e.Gzip != nil {
			zr, err := gzip.NewReader(bytes.NewReader(e.Gzip))
			if err != nil {
				fmt.Println("gzip:", err)
				return 1
			}
			if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, e.Body) {
				fmt.Println("gzip variant does not match body:", err)
				return 1
			}
		}
		if v.Lookup("/stop.json") != nil {
			fmt.Printf("ok %d\n", len(seen))
			return 0
		}
	}
	fmt.Println("timeout waiting for /stop.json")
	return 1
}

// TestMarkStale: a failing source's entry carries when it last rendered
// well, readers see it, and the next Put (same content or not) clears it.
func TestMarkStale(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "/a.json", []byte(`{"a":1}`))
	mustCommit(t, s)
	r := openReader(t, s.dir)
	since := time.UnixMilli(1_700_000_000_000)
	s.MarkStale("/a.json", since)
	s.MarkStale("/gone.json", since) // unknown: nothing
	mustCommit(t, s)
	if got := r.View().Lookup("/a.json").StaleSince; !got.Equal(since) {
		t.Fatalf("StaleSince = %v, want %v", got, since)
	}
	if _, changed := mustPut(t, s, "/a.json", []byte(`{"a":1}`)); changed {
		t.Errorf("the same content reported changed")
	}
	mustCommit(t, s)
	if got := r.View().Lookup("/a.json").StaleSince; !got.IsZero() {
		t.Errorf("StaleSince after a good render = %v", got)
	}
}

// TestStatusEntry: an entry put with a Status (a failing source's 503)
// reaches readers with it, survives a restart of the store, and a good
// body put later replaces it with a 200 entry.
func TestStatusEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"error":"broken"}`)
	if _, _, err := s.Put("/b.json", body, Meta{ContentType: "application/json", Period: time.Second, Status: 503}); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s)
	r := openReader(t, dir)
	if e := r.View().Lookup("/b.json"); e == nil || e.Status != 503 || string(e.Body) != string(body) {
		t.Fatalf("reader sees %+v, want status 503 with the body", e)
	}
	s.Close()
	s2, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, ok := s2.Status("/b.json"); !ok || st != 503 {
		t.Fatalf("after restart: status %d %v, want 503", st, ok)
	}
	if _, changed, err := s2.Put("/b.json", body, Meta{ContentType: "application/json", Period: time.Second}); err != nil || !changed {
		t.Fatalf("the same body as a 200: changed %v, %v; want a change", changed, err)
	}
	mustCommit(t, s2)
	if st, ok := s2.Status("/b.json"); !ok || st != 0 {
		t.Fatalf("status %d %v after a good put, want 0", st, ok)
	}
}
