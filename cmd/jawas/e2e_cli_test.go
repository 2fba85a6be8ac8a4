//go:build linux

package main

// End-to-end tests of the real binary's one-shot commands: build, init and
// usage errors, with their exit codes (0 success, 1 failure, 2 usage).

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestE2EBuild(t *testing.T) {
	dir := newProject(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runJawas(t, dir, "build", "-o", out)
	if code != 0 {
		t.Fatalf("jawas build: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"clock.json", "static.json", "version.json", "index.html", "hello.txt", "sub/index.html", "_jawas/client.js"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Errorf("build output: %v", err)
			continue
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Errorf("%s is not JSON: %q", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "version.json")); string(b) != `{"version":"v1"}` {
		t.Errorf("version.json = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "index.html")); !strings.Contains(string(b), `<p id="v">v1</p>`) {
		t.Errorf("index.html not rendered from the snapshot: %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, ".secret")); err == nil {
		t.Errorf("build copied a dotfile")
	}
	if !strings.Contains(stdout, "/clock.json") {
		t.Errorf("build did not list its files:\n%s", stdout)
	}
}

// TestE2EBuildRemovesStale: a rebuild removes what the previous build wrote
// and this one no longer does (a deleted source's snapshot, a deleted site
// file and the directory it leaves empty), and nothing else: not a file the
// user put in the output directory, nor a path outside it that a tampered
// manifest names.
func TestE2EBuildRemovesStale(t *testing.T) {
	dir := newProject(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	build := func() string {
		t.Helper()
		code, stdout, stderr := runJawas(t, dir, "build", "-o", out)
		if code != 0 {
			t.Fatalf("jawas build: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		return stderr
	}
	build()
	for _, f := range []string{"static.json", "sub/index.html", ".jawas-build"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("first build: %v", err)
		}
	}
	writeFile(t, filepath.Join(out, "mine.txt"), "the user's\n")
	writeFile(t, filepath.Join(tmp, "outside.txt"), "not jawas's\n")
	m, _ := os.ReadFile(filepath.Join(out, ".jawas-build"))
	writeFile(t, filepath.Join(out, ".jawas-build"), string(m)+"/../outside.txt\n/mine.txt/../../outside.txt\n")
	os.Remove(filepath.Join(dir, "sources", "static.js"))
	os.RemoveAll(filepath.Join(dir, "site", "sub"))

	stderr := build()
	for _, f := range []string{"static.json", "sub/index.html", "sub"} {
		if _, err := os.Stat(filepath.Join(out, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after the rebuild %s: %v, want it removed", f, err)
		}
	}
	for _, f := range []string{filepath.Join(out, "mine.txt"), filepath.Join(tmp, "outside.txt"), filepath.Join(out, "clock.json"), filepath.Join(out, "hello.txt")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after the rebuild: %v, want it kept", err)
		}
	}
	if !strings.Contains(stderr, "removed /static.json") {
		t.Errorf("the rebuild did not say what it removed:\n%s", stderr)
	}
	if m, _ := os.ReadFile(filepath.Join(out, ".jawas-build")); strings.Contains(string(m), "static.json") || strings.Contains(string(m), "outside") {
		t.Errorf("manifest still lists removed or foreign paths:\n%s", m)
	}
}

func TestE2EBuildSyntaxError(t *testing.T) {
	dir := newProject(t)
	writeFile(t, filepath.Join(dir, "sources", "broken.js"), "// line 1\nexport default function render() {\n  return { a: 1 ;\n}\n")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runJawas(t, dir, "build", "-o", out)
	if code != 1 {
		t.Fatalf("build with a syntax error: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`sources/broken\.js:3:\d+`).MatchString(stderr) {
		t.Fatalf("stderr does not name sources/broken.js:3:COL:\n%s", stderr)
	}
	t.Logf("stderr:\n%s", stderr)
}

func TestE2EInitRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runJawas(t, dir, "init", "fresh")
	if code != 0 {
		t.Fatalf("init into a new dir: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh", "jawas.toml")); err != nil {
		t.Fatal(err)
	}
	// A directory already holding a project file: refused, nothing touched.
	target := filepath.Join(dir, "taken")
	writeFile(t, filepath.Join(target, "jawas.toml"), "# mine\n")
	code, stdout, stderr = runJawas(t, dir, "init", "taken")
	if code != 1 {
		t.Fatalf("init into a non-empty project dir: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "jawas.toml") {
		t.Errorf("refusal does not name the clashing file: %q", stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "jawas.toml")); string(b) != "# mine\n" {
		t.Errorf("init overwrote jawas.toml: %q", b)
	}
	if _, err := os.Stat(filepath.Join(target, "sources")); err == nil {
		t.Errorf("init wrote files although it refused")
	}
}

func TestE2EUsageErrors(t *testing.T) {
	dir := newProject(t)
	for _, args := range [][]string{
		{"serve", "--nope"},
		{"build", "--nope"},
		{"serve", "--workers", "many"},
		{"init", "a", "b"},
	} {
		code, stdout, stderr := runJawas(t, dir, args...)
		if code != 2 {
			t.Errorf("jawas %v: exit %d, want 2\n%s%s", args, code, stdout, stderr)
			continue
		}
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		// One line saying what is wrong (plus at most a pointer to -h).
		if len(lines) > 2 || !strings.HasPrefix(lines[0], "jawas "+args[0]+": ") {
			t.Errorf("jawas %v: want a one-line error, got:\n%s", args, stderr)
		}
		if stdout != "" {
			t.Errorf("jawas %v: usage error wrote to stdout: %q", args, stdout)
		}
	}
	for _, cmd := range []string{"serve", "build", "init"} {
		code, stdout, _ := runJawas(t, dir, cmd, "-h")
		if code != 0 || strings.Count(stdout, "Usage:") != 1 {
			t.Errorf("jawas %s -h: exit %d, want 0 and the usage once:\n%s", cmd, code, stdout)
		}
	}
	code, _, stderr := runJawas(t, dir, "frobnicate")
	if code != 2 || !strings.Contains(strings.SplitN(stderr, "\n", 2)[0], `unknown command "frobnicate"`) {
		t.Errorf("unknown subcommand: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, _ = runJawas(t, dir)
	if code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}
