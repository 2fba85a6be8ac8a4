package writes

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/http1"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/serve"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// BenchmarkAccept measures the worker's side of a write with durability
// "none", as the loop drives it when 64 writers' requests arrive in one
// iteration: 64 Writes then one Flush, on a real journal (a write(2), no
// fsync). Reported per write: ns, bytes and allocations.
func BenchmarkAccept(b *testing.B) {
	dir := b.TempDir()
	store, err := snapshot.Create(filepath.Join(dir, "snap"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	doc, _ := json.Marshal(Routes{Routes: map[string]Route{"/q.json": {Source: "q", Methods: []string{"POST"}, PeriodMs: 200}}})
	if _, _, err := store.Put(RoutesURL, doc, snapshot.Meta{ContentType: "application/json", Period: 200 * time.Millisecond, Boundary: time.Now().Truncate(200 * time.Millisecond)}); err != nil {
		b.Fatal(err)
	}
	if err := store.Commit(); err != nil {
		b.Fatal(err)
	}
	rd, err := snapshot.OpenReader(filepath.Join(dir, "snap"))
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	a, err := NewAcceptor(AcceptorOptions{DataDir: dir, Slot: 1, Durability: journal.None, Store: rd})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	const writers = 64
	body := []byte(`{"id":1}`)
	var accepted int
	done := func(r serve.WriteResult) {
		if r.Status != 202 {
			b.Fatalf("status %d: %s", r.Status, r.Body)
		}
		accepted++
	}
	w := serve.Write{Method: http1.MethodPost, URL: "/q.json", Period: 200 * time.Millisecond, Body: body, ContentType: "application/json", RemoteAddr: "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		w.Time = time.Now()
		for i := range writers {
			w.Conn = uint64(i)
			a.Write(w, serve.DoneFunc(done))
		}
		a.Flush()
	}
	if accepted != b.N*writers {
		b.Fatalf("%d accepted, want %d", accepted, b.N*writers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*writers), "ns/write")
}
