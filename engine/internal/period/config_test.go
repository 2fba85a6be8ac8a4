package period

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawas/jawas/engine"
)

// TestUnknownSourceConfigOneRule: a [source."NAME"] table naming no
// source is the same diagnostic for Load (production: serve, SIGHUP,
// build refuse it) and for dev mode (shown until it is fixed): the file,
// the table's line and the source it probably meant. In dev mode it
// appears when the source it named is deleted and goes when the table is
// renamed.
func TestUnknownSourceConfigOneRule(t *testing.T) {
	const toml = "period = \"1s\"\n\n[source.\"scroes\"]\nperiod = \"2s\"\n"
	const want = `jawas.toml:3: [source."scroes"] configures a source that does not exist (no file for /scroes.json under sources/); did you mean [source."scores"]?`
	cfg := project(t, toml, map[string]string{"scores.js": "export default () => ({});\n", "clock.js": "export default () => ({});\n"})

	_, err := Load(cfg, quiet)
	var ds engine.Diagnostics
	if !errors.As(err, &ds) || len(ds) != 1 || ds[0].Error() != want {
		t.Fatalf("Load: %v\nwant the diagnostic %s", err, want)
	}

	dev, err := NewDev(cfg, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if errs := dev.State().Errors; len(errs) != 1 || errs[0].Error() != want {
		t.Fatalf("dev errors %v, want the same diagnostic %s", errs, want)
	}
	// Fixing the table's name fixes it; deleting the source it names
	// brings it back.
	must(t, os.WriteFile(filepath.Join(cfg.Dir, "jawas.toml"), []byte(strings.Replace(toml, "scroes", "scores", 1)), 0o644))
	dev.sched = &Scheduler{}
	dev.Changed([]string{filepath.Join(cfg.Dir, "jawas.toml")})
	if errs := dev.allErrs(); len(errs) != 0 {
		t.Fatalf("after the fix: %v", errs)
	}
	must(t, os.Remove(filepath.Join(cfg.Dir, "sources", "scores.js")))
	dev.Changed([]string{filepath.Join(cfg.Dir, "sources", "scores.js")})
	if errs := dev.allErrs(); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), `jawas.toml:3: [source."scores"] configures a source that does not exist`) {
		t.Fatalf("after deleting sources/scores.js: %v", errs)
	}
}
