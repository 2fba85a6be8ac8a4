package snapshot_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/engine/internal/snapshot"
)

func Example() {
	dir, _ := os.MkdirTemp("", "jawas-example-")
	defer os.RemoveAll(dir)
	run := filepath.Join(dir, "snap")

	// Engine process: publish once per period.
	store, err := snapshot.Create(run)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	meta := snapshot.Meta{ContentType: "application/json", Period: 200 * time.Millisecond, Boundary: time.UnixMilli(1_700_000_000_000)}
	store.Put("/clock.json", []byte(`{"tick":1}`), meta)
	store.Commit()
	_, changed, _ := store.Put("/clock.json", []byte(`{"tick":1}`), meta)
	fmt.Println("unchanged put changed:", changed)

	// Worker process: one Reader, a View per event-loop turn.
	r, err := snapshot.OpenReader(run)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	v := r.View()
	e := v.Lookup("/clock.json")
	fmt.Println(v.Generation(), e.ContentType, string(e.Body))
	// Output:
	// unchanged put changed: false
	// 1 application/json {"tick":1}
}
