//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// devState is /_jawas/dev.json.
type devState struct {
	Build  int `json:"build"`
	Errors []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Message string `json:"message"`
		Frame   string `json:"frame"`
	} `json:"errors"`
}

func (s *server) dev(t *testing.T) devState {
	t.Helper()
	st, body := s.get("/_jawas/dev.json")
	if st != 200 {
		t.Fatalf("GET /_jawas/dev.json: %d %s", st, body)
	}
	var d devState
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("dev.json: %v: %s", err, body)
	}
	return d
}

// TestDevMode walks the author's loop against `jawas serve --dev` with two
// worker processes, observing each change over HTTP within a bounded time
// (generous: the machine is shared; the measured times are logged).
func TestDevMode(t *testing.T) {
	dir := demoCopy(t)
	s := serve(t, dir, "--dev")
	const max = 3 * time.Second
	src := func(p string) string { return filepath.Join(dir, "sources", p) }

	if st, page := s.get("/"); st != 200 || !strings.Contains(page, `<meta name="jawas-dev">`) {
		t.Fatalf("dev page must carry the jawas-dev meta tag: %d %.300s", st, page)
	}
	build0 := s.dev(t).Build

	t.Run("source change: new data, no reload", func(t *testing.T) {
		edit(t, src("clock.js"), "source: ctx.source,", "source: ctx.source, edited: \"yes\",")
		d := s.waitFor(t, "edited clock", max, func() bool {
			_, b := s.get("/clock.json")
			return strings.Contains(b, `"edited":"yes"`)
		})
		t.Logf("saved clock.js → new snapshot served after %v", d)
		if b := s.dev(t).Build; b != build0 {
			t.Errorf("a source change bumped the build (%d → %d): pages would reload for data", build0, b)
		}
	})
	t.Run("template change: re-rendered page, new build", func(t *testing.T) {
		edit(t, filepath.Join(dir, "templates", "index.html"), "Every visitor sees", "Every single visitor sees")
		d := s.waitFor(t, "edited template", max, func() bool {
			_, b := s.get("/")
			return strings.Contains(b, "Every single visitor sees")
		})
		t.Logf("saved index.html → page served after %v", d)
		if b := s.dev(t).Build; b <= build0 {
			t.Errorf("template change: build %d, want > %d", b, build0)
		}
	})
	t.Run("site change: served, new build", func(t *testing.T) {
		before := s.dev(t).Build
		edit(t, filepath.Join(dir, "site", "style.css"), ":root", "/* edited */\n:root")
		d := s.waitFor(t, "edited css", max, func() bool {
			_, b := s.get("/style.css")
			return strings.Contains(b, "/* edited */")
		})
		t.Logf("saved style.css → served after %v", d)
		s.waitFor(t, "build bump", max, func() bool { return s.dev(t).Build > before })
	})
	t.Run("add and delete a source", func(t *testing.T) {
		write(t, src("extra/hello.ts"), "export default (s: unknown, ctx: {nowMs: number}) => ({ hello: \"world\", at: ctx.nowMs });\n")
		d := s.waitFor(t, "new source", max, func() bool {
			st, b := s.get("/extra/hello.json")
			return st == 200 && strings.Contains(b, `"hello":"world"`)
		})
		t.Logf("new sources/extra/hello.ts → /extra/hello.json served after %v", d)
		if err := removeFile(src("extra/hello.ts")); err != nil {
			t.Fatal(err)
		}
		d = s.waitFor(t, "deleted source", max, func() bool {
			st, _ := s.get("/extra/hello.json")
			return st == 404
		})
		t.Logf("deleted → 404 after %v", d)
	})
	t.Run("a source added while running accepts writes", func(t *testing.T) {
		write(t, src("votes.js"), "export const initial = { n: 0 };\nexport function post(state) { state.n++; }\nexport default (state) => ({ n: state.n });\n")
		s.waitFor(t, "new source", max, func() bool {
			st, b := s.get("/votes.json")
			return st == 200 && strings.Contains(b, `"n":0`)
		})
		var status int
		d := s.waitFor(t, "write accepted", max, func() bool { // routes are republished with the next commit
			resp, err := http.Post(s.url+"/votes.json", "application/json", strings.NewReader("{}"))
			if err != nil {
				return false
			}
			resp.Body.Close()
			status = resp.StatusCode
			return status == 202
		})
		t.Logf("new source with a reducer accepts POST after %v", d)
		s.waitFor(t, "write applied", max, func() bool {
			_, b := s.get("/votes.json")
			return strings.Contains(b, `"n":1`)
		})
		if err := removeFile(src("votes.js")); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, "deleted source refuses writes", max, func() bool {
			resp, err := http.Post(s.url+"/votes.json", "application/json", strings.NewReader("{}"))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 404 || resp.StatusCode == 405
		})
	})
	t.Run("syntax error and fix", func(t *testing.T) {
		good := read(t, src("clock.js"))
		edit(t, src("clock.js"), "const iso = ctx.now.toISOString();", "const iso = ctx.now.toISOString(;")
		var ds devState
		d := s.waitFor(t, "error in dev.json", max, func() bool {
			ds = s.dev(t)
			return len(ds.Errors) > 0
		})
		e := ds.Errors[0]
		t.Logf("error published after %v: %s:%d: %s\n%s", d, e.File, e.Line, e.Message, e.Frame)
		if e.File != "sources/clock.js" || e.Line != 7 || e.Frame == "" {
			t.Errorf("error must name sources/clock.js:7 with a code frame, got %+v", e)
		}
		if st, b := s.get("/clock.json"); st != 200 || !strings.Contains(b, `"edited":"yes"`) {
			t.Errorf("while broken, the last good code keeps serving: %d %s", st, b)
		}
		if !strings.Contains(s.log.String(), "sources/clock.js:7") {
			t.Errorf("the terminal must show the error with file:line")
		}
		write(t, src("clock.js"), strings.Replace(good, `edited: "yes"`, `edited: "fixed"`, 1))
		d = s.waitFor(t, "fixed", max, func() bool {
			_, b := s.get("/clock.json")
			return len(s.dev(t).Errors) == 0 && strings.Contains(b, `"edited":"fixed"`)
		})
		t.Logf("fixed → errors cleared and new snapshot after %v", d)
	})
}

// TestProductionPickup: without --dev, site files and templates are picked
// up (a deployment by copying files), sources are not (they change only on
// SIGHUP, which validates them first).
func TestProductionPickup(t *testing.T) {
	dir := demoCopy(t)
	s := serve(t, dir)
	if _, page := s.get("/"); strings.Contains(page, "jawas-dev") {
		t.Fatalf("production pages must not carry the dev tag")
	}
	if st, _ := s.get("/_jawas/dev.json"); st != 404 {
		t.Errorf("production serves no dev.json, got %d", st)
	}
	s.get("/app.js") // cached and mapped by whichever worker answered

	edit(t, filepath.Join(dir, "site", "app.js"), "// The demo page's behaviour", "// deployed v2\n// The demo page's behaviour")
	d := s.waitFor(t, "site file", 3*time.Second, func() bool {
		_, b := s.get("/app.js")
		return strings.HasPrefix(b, "// deployed v2")
	})
	t.Logf("copied site/app.js → served after %v", d)
	write(t, filepath.Join(dir, "site", "new.txt"), "new file\n")
	d = s.waitFor(t, "new site file", 3*time.Second, func() bool {
		st, b := s.get("/new.txt")
		return st == 200 && b == "new file\n"
	})
	t.Logf("added site/new.txt → served after %v", d)

	edit(t, filepath.Join(dir, "templates", "index.html"), "Every visitor sees", "Every deployed visitor sees")
	d = s.waitFor(t, "template", 3*time.Second, func() bool {
		_, b := s.get("/")
		return strings.Contains(b, "Every deployed visitor sees")
	})
	t.Logf("copied templates/index.html → page served after %v", d)

	edit(t, filepath.Join(dir, "sources", "clock.js"), "source: ctx.source,", "source: ctx.source, edited: \"prod\",")
	time.Sleep(1500 * time.Millisecond)
	if _, b := s.get("/clock.json"); strings.Contains(b, "prod") {
		t.Errorf("production must not pick up a source change without SIGHUP: %s", b)
	}
}

func removeFile(p string) error { return os.Remove(p) }
