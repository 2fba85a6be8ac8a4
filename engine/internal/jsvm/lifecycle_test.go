package jsvm

import (
	"strings"
	"testing"
	"time"
)

// TestModuleVariablesSurviveBudget: a call that overruns its time budget
// rolls the state back but keeps the runtime, so a module-level counter
// keeps counting (it was reset to its top-level value by a rebuild before).
func TestModuleVariablesSurviveBudget(t *testing.T) {
	m := load(t, "counter", Options{Timeout: 50 * time.Millisecond})
	if got := render(t, m, 0); got != `{"n":0,"calls":1}` {
		t.Fatalf("first render = %s", got)
	}
	if _, err := m.Render(RenderContext{Now: time.UnixMilli(1), Period: time.Second}); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("odd boundary: err = %v, want the budget error", err)
	}
	if got := render(t, m, 2); got != `{"n":0,"calls":3}` {
		t.Fatalf("after the interrupted call: %s, want calls 3 (the counter kept, the interrupted call counted)", got)
	}
}

// TestMemoryGuard: a render that allocates without end is interrupted once
// it allocated more than MaxMemory, with a MemoryError naming the limit; the
// runtime is rebuilt (module-level variables start over) and renders again.
func TestMemoryGuard(t *testing.T) {
	m := load(t, "membomb", Options{Timeout: time.Minute, MaxMemory: 32 << 20})
	if got := render(t, m, 0); got != `{"kept":1}` {
		t.Fatalf("first render = %s", got)
	}
	_, err := m.Render(RenderContext{Now: time.UnixMilli(1), Period: time.Second})
	if !IsMemoryError(err) {
		t.Fatalf("bomb: err = %v (%T), want a MemoryError", err, err)
	}
	diag(t, err, "sources/membomb.js", 6, "allocated more than its max_memory (32 MiB)")
	if got := render(t, m, 2); got != `{"kept":1}` {
		t.Fatalf("after the memory interrupt: %s, want a rebuilt runtime (kept starts over)", got)
	}
}

// TestLifecycleExports: version, initial and migrate are read at Load;
// Migrate returns the new state without setting it.
func TestLifecycleExports(t *testing.T) {
	m := load(t, "lifecycle", Options{})
	if m.Version() != 3 || !m.HasMigrate() || string(m.Initial()) != `{"items":[]}` || m.InitialHash() == "" {
		t.Fatalf("version %d migrate %v initial %s hash %q", m.Version(), m.HasMigrate(), m.Initial(), m.InitialHash())
	}
	got, err := m.Migrate([]byte(`{"list":[1,2]}`), 1)
	if err != nil || string(got) != `{"items":[1,2],"from":1}` {
		t.Fatalf("Migrate from 1 = %s, %v", got, err)
	}
	got, err = m.Migrate([]byte(`{"items":[7]}`), 2)
	if err != nil || string(got) != `{"items":[7],"from":2}` {
		t.Fatalf("Migrate from 2 (in place) = %s, %v", got, err)
	}
	_, err = m.Migrate([]byte(`{}`), 0)
	diag(t, err, "sources/lifecycle.js", 6, "cannot migrate from version 0")
	if string(m.State()) != `{"items":[]}` {
		t.Fatalf("Migrate changed the state: %s", m.State())
	}
	if m2 := load(t, "counter", Options{}); m2.Version() != 0 || m2.HasMigrate() {
		t.Fatalf("no exports: version %d migrate %v", m2.Version(), m2.HasMigrate())
	}
	_, err = Load(output(t, "badversion"), Options{})
	if err == nil || !strings.Contains(err.Error(), `export "version" = 1.5 must be a whole number`) {
		t.Fatalf("bad version: %v", err)
	}
}
