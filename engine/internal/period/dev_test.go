package period

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/snapshot"
)

// devRun is a Dev attached to a running Scheduler, with a reader of what it
// publishes. The test plays the watcher: it edits files, then calls Changed.
type devRun struct {
	t    *testing.T
	cfg  *config.Config
	dev  *Dev
	read *snapshot.Reader

	mu      sync.Mutex
	reports []engine.Diagnostics // what Dev.Report was given
}

func startDev(t *testing.T, cfg *config.Config) *devRun {
	t.Helper()
	r := &devRun{t: t, cfg: cfg}
	d, err := NewDev(cfg, quiet, func(ds engine.Diagnostics) {
		r.mu.Lock()
		r.reports = append(r.reports, ds)
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r.dev = d
	dir := filepath.Join(t.TempDir(), "store")
	store, err := snapshot.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := &Scheduler{Project: d.Project(), Pages: d.Pages(), Store: store, Log: quiet}
	sc.Hooks = append(sc.Hooks, d.Attach(sc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		store.Close()
	})
	if r.read, err = snapshot.OpenReader(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.read.Close() })
	return r
}

// write writes a project file (path relative to the project) and tells the
// Dev, as the watcher would.
func (r *devRun) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.cfg.Dir, rel)
	must(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(r.t, os.WriteFile(p, []byte(content), 0o644))
	r.dev.Changed([]string{p})
}

func (r *devRun) remove(rel string) {
	r.t.Helper()
	p := filepath.Join(r.cfg.Dir, rel)
	must(r.t, os.Remove(p))
	r.dev.Changed([]string{p})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (r *devRun) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// body returns the published body at url, or "" when nothing is published.
func (r *devRun) body(url string) string {
	if r.read == nil {
		return ""
	}
	if e := r.read.View().Lookup(url); e != nil {
		return string(e.Body)
	}
	return ""
}

// state returns the published dev.json.
func (r *devRun) state() DevState {
	r.t.Helper()
	var st DevState
	b := r.body(DevURL)
	if b == "" {
		r.t.Fatal("dev.json is not published")
	}
	must(r.t, json.Unmarshal([]byte(b), &st))
	return st
}

func (r *devRun) lastReport() engine.Diagnostics {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reports) == 0 {
		return nil
	}
	return r.reports[len(r.reports)-1]
}

func errorIn(st DevState, file string) *engine.Diagnostic {
	for i := range st.Errors {
		if st.Errors[i].File == file {
			return &st.Errors[i]
		}
	}
	return nil
}

func TestDevReloadsSources(t *testing.T) {
	cfg := project(t, `period = "50ms"`+"\n", map[string]string{
		"a.js": `export default () => ({ v: 1 });`,
	})
	r := startDev(t, cfg)
	r.waitFor("/a.json v1", func() bool { return r.body("/a.json") == `{"v":1}` })
	if st := r.state(); st.Build != 1 || len(st.Errors) != 0 {
		t.Fatalf("dev.json at start = %+v, want build 1 and no errors", st)
	}

	// A source added: published, and no page reload (build unchanged).
	r.write("sources/b.js", `export default () => ({ b: true });`)
	r.waitFor("/b.json", func() bool { return r.body("/b.json") == `{"b":true}` })
	if st := r.state(); st.Build != 1 {
		t.Errorf("build %d after a source change, want 1 (sources do not reload pages)", st.Build)
	}

	// A source edited: its new output replaces the old.
	r.write("sources/a.js", `export default () => ({ v: 2 });`)
	r.waitFor("/a.json v2", func() bool { return r.body("/a.json") == `{"v":2}` })

	// A source broken: the error (file:line) is reported and published,
	// and its last good code keeps running and publishing.
	r.write("sources/a.js", "export default () => ({ v: 3 };\n")
	r.waitFor("a.js's error in dev.json", func() bool { return errorIn(r.state(), "sources/a.js") != nil })
	if d := errorIn(r.state(), "sources/a.js"); d.Line != 1 {
		t.Errorf("error %+v, want it at sources/a.js:1", d)
	}
	if rep := r.lastReport(); len(rep) == 0 || rep[0].File != "sources/a.js" {
		t.Errorf("Report got %v, want the error in sources/a.js", rep)
	}
	if got := r.body("/a.json"); got != `{"v":2}` {
		t.Errorf("/a.json = %s while broken, want the last good {\"v\":2}", got)
	}
	if got := r.body("/b.json"); got != `{"b":true}` {
		t.Errorf("/b.json = %s while a.js is broken, want it untouched", got)
	}

	// Fixed: the new code runs and the error is gone.
	r.write("sources/a.js", `export default () => ({ v: 4 });`)
	r.waitFor("/a.json v4 and no errors", func() bool {
		return r.body("/a.json") == `{"v":4}` && len(r.state().Errors) == 0
	})

	// A source removed: its URL is no longer published.
	r.remove("sources/b.js")
	r.waitFor("/b.json gone", func() bool { return r.body("/b.json") == "" })
	if got := r.body("/a.json"); got != `{"v":4}` {
		t.Errorf("/a.json = %s after b.js was removed", got)
	}
}

func TestDevSourceThatThrowsIsAnError(t *testing.T) {
	cfg := project(t, `period = "50ms"`+"\n", map[string]string{
		"a.js": `export default () => ({ ok: 1 });`,
	})
	r := startDev(t, cfg)
	r.waitFor("/a.json", func() bool { return r.body("/a.json") == `{"ok":1}` })
	// Builds and loads, but its render throws: an evaluation error, shown
	// in dev.json while the last snapshot stays.
	r.write("sources/a.js", "export default () => {\n  throw new Error(\"render broke\");\n};\n")
	r.waitFor("the render error in dev.json", func() bool {
		d := errorIn(r.state(), "sources/a.js")
		return d != nil && strings.Contains(d.Message, "render broke")
	})
	if got := r.body("/a.json"); got != `{"ok":1}` {
		t.Errorf("/a.json = %s, want the last good snapshot", got)
	}
}

func TestDevReloadsConfigAndTemplates(t *testing.T) {
	cfg := project(t, `period = "50ms"`+"\n", map[string]string{
		"a.js": `export default () => ({ v: 1 });`,
	})
	r := startDev(t, cfg)
	r.write("templates/index.html", `<html><head></head><body>{{ len .Data }} sources</body></html>`)
	r.waitFor("the page", func() bool { return strings.Contains(r.body("/index.html"), "1 sources") })
	page := r.body("/index.html")
	if !strings.Contains(page, "<head>"+DevTag) {
		t.Errorf("page without the dev tag after <head>: %s", page)
	}
	st := r.state()
	if st.Build != 2 {
		t.Errorf("build %d after a template change, want 2", st.Build)
	}

	// A broken template: the error is published, the last good page stays.
	r.write("templates/index.html", `<html><head></head><body>{{ len .Data </body></html>`)
	r.waitFor("the template error", func() bool { return errorIn(r.state(), "templates/index.html") != nil })
	if r.body("/index.html") != page {
		t.Errorf("the last good page was not kept while the template is broken")
	}
	r.write("templates/index.html", `<html><head></head><body>fixed, {{ len .Data }} sources</body></html>`)
	r.waitFor("the fixed page", func() bool { return strings.Contains(r.body("/index.html"), "fixed, 1 sources") })
	build := r.state().Build

	// A config change reloads everything and bumps the build; a new
	// default period applies to the sources that take it.
	r.write(config.FileName, `period = "100ms"`+"\n")
	r.waitFor("the build bump after the config change", func() bool { return r.state().Build > build })
	r.waitFor("a.json at the new period", func() bool {
		e := r.read.View().Lookup("/a.json")
		return e != nil && e.Period == 100*time.Millisecond
	})

	// A broken config is an error naming jawas.toml; the running config stays.
	build = r.state().Build
	r.write(config.FileName, "period = \n")
	r.waitFor("the config error", func() bool { return errorIn(r.state(), config.FileName) != nil })
	if st := r.state(); st.Build != build {
		t.Errorf("build %d -> %d on a broken config, want unchanged", build, st.Build)
	}
	if e := r.read.View().Lookup("/a.json"); e == nil || e.Period != 100*time.Millisecond {
		t.Errorf("a.json after a broken config: %+v, want it still at 100ms", e)
	}
	r.write(config.FileName, `period = "100ms"`+"\n")
	r.waitFor("the config error gone", func() bool { return len(r.state().Errors) == 0 })
}
