package writes

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/period"
)

// lifeProject is a project on disk whose sources a test rewrites, with an
// engine's applier opened and closed (or crashed) in-process.
type lifeProject struct {
	t   *testing.T
	dir string
	log syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newLifeProject(t *testing.T) *lifeProject {
	dir := t.TempDir()
	noErr(t, os.MkdirAll(filepath.Join(dir, "sources"), 0o755))
	return &lifeProject{t: t, dir: dir}
}

func (p *lifeProject) write(name, code string) {
	p.t.Helper()
	noErr(p.t, os.WriteFile(filepath.Join(p.dir, "sources", name), []byte(code), 0o644))
}

func (p *lifeProject) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&p.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// open loads the project and opens an applier on its data directory.
func (p *lifeProject) open() (*period.Project, *Applier) {
	p.t.Helper()
	cfg, err := config.Load(p.dir)
	noErr(p.t, err)
	proj, err := period.Load(cfg, p.logger())
	noErr(p.t, err)
	a, err := OpenApplier(proj, ApplierOptions{DataDir: cfg.Path(cfg.Serve.DataDir), Log: p.logger(), LockWait: time.Second})
	noErr(p.t, err)
	return proj, a
}

// crash drops an applier without its final checkpoint, as a killed engine.
func crash(a *Applier) {
	a.gate.close()
	a.lock.Close()
}

// post appends committed POST records with these bodies.
func (p *lifeProject) post(source string, bodies ...string) {
	p.t.Helper()
	w, err := journal.OpenWriter(filepath.Join(p.dir, ".jawas"), 0, journal.WriterOptions{Durability: journal.Sync})
	noErr(p.t, err)
	for _, b := range bodies {
		_, err := w.Append(&journal.Record{Source: source, Method: "POST", ContentType: "application/json", Body: []byte(b)})
		noErr(p.t, err)
	}
	noErr(p.t, w.Commit())
	noErr(p.t, w.Close())
}

// apply applies everything journaled until now to s.
func apply(a *Applier, s *period.Source) { a.BeforeRender(s, time.Now().Add(time.Millisecond)) }

func state(t *testing.T, s *period.Source) string {
	t.Helper()
	return string(s.Module().State())
}

func (p *lifeProject) checkpoint() *journal.Checkpoint {
	p.t.Helper()
	cp, err := journal.LoadCheckpoint(filepath.Join(p.dir, ".jawas"))
	noErr(p.t, err)
	return cp
}

const counterV1 = `
export const version = 1;
export const initial = { n: 0 };
export function post(state, event) { state.n += event.body.k; }
export default function render(state) { return state; }
`

const counterV2 = `
export const version = 2;
export const initial = { total: 0, log: [] };
export function migrate(old, from) {
  if (from !== 1) throw new Error("no migration from " + from);
  return { total: old.n, log: ["migrated from " + from] };
}
export function post(state, event) { state.total += event.body.k; state.log.push(event.body.k); }
export default function render(state) { return state; }
`

// TestMigrateOnVersionChange: a new version's migrate converts the
// checkpointed state once; the migrated state is checkpointed with its
// version before anything else is applied, so a crash after it replays the
// events after it on the migrated state and does not migrate again.
func TestMigrateOnVersionChange(t *testing.T) {
	p := newLifeProject(t)
	p.write("counter.js", counterV1)
	proj, a := p.open()
	s := proj.Source("counter")
	p.post("counter", `{"k":1}`, `{"k":2}`, `{"k":3}`)
	apply(a, s)
	if got := state(t, s); got != `{"n":6}` {
		t.Fatalf("v1 state %s", got)
	}
	noErr(t, a.Close())
	if m := p.checkpoint().Meta["counter"]; m.Version != 1 {
		t.Fatalf("checkpointed meta %+v, want version 1", m)
	}

	p.write("counter.js", counterV2)
	p.post("counter", `{"k":10}`) // journaled after the checkpoint: applied after the migration
	proj, a = p.open()
	s = proj.Source("counter")
	if got := state(t, s); got != `{"total":6,"log":["migrated from 1"]}` {
		t.Fatalf("migrated state %s", got)
	}
	cp := p.checkpoint()
	if m := cp.Meta["counter"]; m.Version != 2 || string(cp.States["counter"]) != `{"total":6,"log":["migrated from 1"]}` {
		t.Fatalf("after the migration the checkpoint holds %s at %+v, want the migrated state at version 2", cp.States["counter"], m)
	}
	apply(a, s)
	want := `{"total":16,"log":["migrated from 1",10]}`
	if got := state(t, s); got != want {
		t.Fatalf("after the event: %s, want %s", got, want)
	}
	crash(a) // before any further checkpoint

	proj, a = p.open()
	s = proj.Source("counter")
	apply(a, s)
	if got := state(t, s); got != want {
		t.Fatalf("replay after the crash: %s, want %s (the same events on the same migrated state, migrated once)", got, want)
	}
	if n := strings.Count(p.log.String(), "state migrated from version 1 to 2"); n != 1 {
		t.Errorf("migrated %d times, want once:\n%s", n, p.log.String())
	}
	noErr(t, a.Close())
}

// TestMigrateFailureKeepsState: at an engine start, a migrate that throws
// quarantines the source (status says why), and its state stays as it was,
// with its version, in the checkpoint; fixed code migrates it later.
func TestMigrateFailureKeepsState(t *testing.T) {
	p := newLifeProject(t)
	p.write("counter.js", strings.Replace(counterV1, "version = 1", "version = 0", 1))
	proj, a := p.open()
	p.post("counter", `{"k":5}`)
	apply(a, proj.Source("counter"))
	noErr(t, a.Close())

	p.write("counter.js", counterV2) // migrate throws for version 0
	proj, a = p.open()
	s := proj.Source("counter")
	q := s.Quarantined()
	if !strings.Contains(q, "no migration from 0") {
		t.Fatalf("quarantine reason %q", q)
	}
	if r, _ := s.Evaluate(time.Now()); r.Err == nil || !strings.Contains(r.Err.Error(), "quarantined") {
		t.Fatalf("a quarantined source rendered: %+v", r)
	}
	noErr(t, a.Close())
	cp := p.checkpoint()
	if string(cp.States["counter"]) != `{"n":5}` || cp.Meta["counter"].Version != 0 {
		t.Fatalf("checkpoint after the failed migration: %s at %+v", cp.States["counter"], cp.Meta["counter"])
	}

	p.write("counter.js", strings.Replace(counterV2, "from !== 1", "from !== 0", 1))
	proj, a = p.open()
	if got := state(t, proj.Source("counter")); got != `{"total":5,"log":["migrated from 0"]}` {
		t.Fatalf("fixed migrate: %s", got)
	}
	noErr(t, a.Close())
}

// TestInitialChanged: with the same version, a changed initial is reported
// once and the state kept; a state that was still the old initial starts
// from the new one; bumping the version without migrate starts over.
func TestInitialChanged(t *testing.T) {
	p := newLifeProject(t)
	p.write("counter.js", counterV1)
	p.write("still.js", `export const initial = { a: 1 }; export default (s) => s;`)
	proj, a := p.open()
	p.post("counter", `{"k":4}`)
	apply(a, proj.Source("counter"))
	noErr(t, a.Close())

	p.write("counter.js", strings.Replace(counterV1, "{ n: 0 }", "{ n: 100 }", 1))
	p.write("still.js", `export const initial = { a: 2 }; export default (s) => s;`)
	for i := 0; i < 2; i++ {
		proj, a = p.open()
		if got := state(t, proj.Source("counter")); got != `{"n":4}` {
			t.Fatalf("open %d: counter %s, want the kept state", i, got)
		}
		if got := state(t, proj.Source("still")); got != `{"a":2}` {
			t.Fatalf("open %d: still %s, want the new initial (the state was the old one)", i, got)
		}
		noErr(t, a.Close())
	}
	if n := strings.Count(p.log.String(), "counter's initial changed but its version did not"); n != 1 {
		t.Fatalf("the changed initial was reported %d times, want once:\n%s", n, p.log.String())
	}

	p.write("counter.js", strings.Replace(strings.Replace(counterV1, "{ n: 0 }", "{ n: 100 }", 1), "version = 1", "version = 2", 1))
	proj, a = p.open()
	if got := state(t, proj.Source("counter")); got != `{"n":100}` {
		t.Fatalf("version bump without migrate: %s, want the new initial", got)
	}
	noErr(t, a.Close())
}

// TestInitialAddedInDev: in dev mode, a source that had no state (null)
// and now exports initial starts from it (it rendered null, and threw,
// before); a changed version migrates the running state at the reload.
func TestInitialAddedInDev(t *testing.T) {
	p := newLifeProject(t)
	p.write("box.js", `export default (s) => ({ items: s.items.length });`)
	cfg, err := config.Load(p.dir)
	noErr(t, err)
	var reported syncBuf // what dev mode prints in the terminal (and shows in the overlay)
	dev, err := period.NewDev(cfg, p.logger(), func(ds engine.Diagnostics) { reported.Write([]byte(ds.Error())) })
	noErr(t, err)
	defer dev.Close()
	a, err := OpenApplier(dev.Project(), ApplierOptions{DataDir: cfg.Path(cfg.Serve.DataDir), Log: p.logger()})
	noErr(t, err)
	defer a.Close()
	sc := &period.Scheduler{Project: dev.Project()}
	dev.Attach(sc)
	dev.Adopt = a.Adopt
	if r, _ := dev.Project().Source("box").Evaluate(time.Now()); r.Err == nil {
		t.Fatalf("box without initial rendered %s", r.JSON)
	}

	p.write("box.js", `export const initial = { items: [] };
export function post(s, e) { s.items.push(e.body); }
export default (s) => ({ items: s.items.length });`)
	dev.Changed([]string{filepath.Join(p.dir, "sources", "box.js")})
	s := dev.Project().Source("box")
	r, _ := s.Evaluate(time.Now())
	if r.Err != nil || string(r.JSON) != `{"items":0}` {
		t.Fatalf("after adding initial: %s, %v", r.JSON, r.Err)
	}

	p.post("box", `1`, `2`)
	p.write("box.js", `export const version = 1;
export const initial = { list: [] };
export function migrate(old) { return { list: old.items }; }
export function post(s, e) { s.list.push(e.body); }
export default (s) => ({ items: s.list.length });`)
	dev.Changed([]string{filepath.Join(p.dir, "sources", "box.js")})
	s = dev.Project().Source("box")
	// The two events journaled before the reload were applied by the old
	// code, then migrated.
	if got := state(t, s); got != `{"list":[1,2]}` {
		t.Fatalf("after the migration: %s", got)
	}
	if m := p.checkpoint().Meta["box"]; m.Version != 1 {
		t.Fatalf("the migration was not checkpointed: %+v", m)
	}

	p.write("box.js", `export const version = 2;
export function migrate() { throw new Error("not yet"); }
export default (s) => s;`)
	dev.Changed([]string{filepath.Join(p.dir, "sources", "box.js")})
	if s2 := dev.Project().Source("box"); s2 != s {
		t.Fatal("a failed migrate replaced the running code")
	}
	if !strings.Contains(reported.String(), "not yet") {
		t.Fatalf("dev reported %q, want the migrate error", reported.String())
	}
}

// TestResetRecord: a reset is a journal record: the events before it are
// applied before it, those after it after it; appended and not yet applied,
// it survives a crash.
func TestResetRecord(t *testing.T) {
	p := newLifeProject(t)
	p.write("counter.js", counterV1)
	proj, a := p.open()
	s := proj.Source("counter")
	p.post("counter", `{"k":1}`)
	_, _, err := journal.AppendReset(filepath.Join(p.dir, ".jawas"), "counter")
	noErr(t, err)
	p.post("counter", `{"k":2}`)
	apply(a, s)
	if got := state(t, s); got != `{"n":2}` {
		t.Fatalf("after post, reset, post: %s", got)
	}
	noErr(t, a.Close())

	_, _, err = journal.AppendReset(filepath.Join(p.dir, ".jawas"), "counter")
	noErr(t, err)
	proj, a = p.open()
	crash(a)
	proj, a = p.open()
	apply(a, proj.Source("counter"))
	if got := state(t, proj.Source("counter")); got != `{"n":0}` {
		t.Fatalf("reset after a crash: %s", got)
	}
	noErr(t, a.Close())
	var st map[string]json.RawMessage = p.checkpoint().States
	if string(st["counter"]) != `{"n":0}` {
		t.Fatalf("checkpointed %s", st["counter"])
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
