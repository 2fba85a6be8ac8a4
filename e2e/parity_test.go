//go:build linux

package e2e

// Tests that dev mode and production behave the same where an author
// would be surprised if they did not.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// modes are the two ways to serve a project, each test runs in both.
var modes = []struct {
	name  string
	flags []string
}{{"production", nil}, {"dev", []string{"--dev"}}}

// TestFailingSourceURL: a source whose render throws from the start has a
// route but nothing published: its URL answers 503 with a JSON body naming
// the source and its error, Retry-After one period (at least 1 s) and no
// caching, in dev mode and in production; once fixed (dev mode picks the
// file up), it serves its snapshot.
func TestFailingSourceURL(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := demoCopy(t)
			src := filepath.Join(dir, "sources", "broken.js")
			write(t, src, "export const period = \"2s\";\nexport default function render(state, ctx) {\n  return ctx.missing.value;\n}\n")
			s := serve(t, dir, m.flags...)
			var resp *http.Response
			var body []byte
			s.waitFor(t, "503 at /broken.json", 10*time.Second, func() bool {
				r, err := client.Get(s.url + "/broken.json")
				if err != nil {
					return false
				}
				defer r.Body.Close()
				resp, body = r, must(io.ReadAll(r.Body))
				return r.StatusCode == 503
			})
			var doc struct {
				Error, Source string
				Diagnostic    struct {
					File    string
					Line    int
					Message string
				}
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("503 body is not JSON: %v: %s", err, body)
			}
			t.Logf("GET /broken.json: %d %s Retry-After=%s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
			if doc.Source != "broken" || doc.Diagnostic.File != "sources/broken.js" || doc.Diagnostic.Line != 3 || !strings.Contains(doc.Error, "Cannot read property 'value' of ctx.missing, which is undefined or null") {
				t.Errorf("503 body must name the source, file:line and the error: %s", body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if ra := resp.Header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After %q, want one period (2 s)", ra)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" || resp.Header.Get("ETag") != "" {
				t.Errorf("a 503 must not be cached: Cache-Control %q, ETag %q", cc, resp.Header.Get("ETag"))
			}
			// The terminal shows the code frame as lines, not one escaped string.
			s.waitFor(t, "the error's code frame in the log", 5*time.Second, func() bool {
				return strings.Contains(s.log.String(), "\n    > 3 |   return ctx.missing.value;\n")
			})
			if m.name == "dev" {
				write(t, src, "export const period = \"2s\";\nexport default function render(state, ctx) {\n  return { fixed: true };\n}\n")
				s.waitFor(t, "fixed source served", 10*time.Second, func() bool {
					st, b := s.get("/broken.json")
					return st == 200 && strings.Contains(b, `"fixed":true`)
				})
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDevStatusListsCurrentSources: in dev mode /_jawas/status.json and
// /_jawas/metrics follow the sources as they are added and deleted, as
// they do for the sources a production server starts with.
func TestDevStatusListsCurrentSources(t *testing.T) {
	dir := demoCopy(t)
	s := serve(t, dir, "--dev")
	listed := func() (status, metrics bool) {
		_, st := s.get("/_jawas/status.json")
		_, m := s.get("/_jawas/metrics")
		return strings.Contains(st, `"url": "/extra/added.json"`), strings.Contains(m, `source="extra/added"`)
	}
	src := filepath.Join(dir, "sources", "extra", "added.js")
	write(t, src, "export default (s, ctx) => ({ at: ctx.nowMs });\n")
	s.waitFor(t, "added source served", 10*time.Second, func() bool { st, _ := s.get("/extra/added.json"); return st == 200 })
	s.waitFor(t, "added source in status and metrics", 5*time.Second, func() bool { a, b := listed(); return a && b })
	if err := removeFile(src); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "deleted source gone from status and metrics", 5*time.Second, func() bool { a, b := listed(); return !a && !b })
	if _, st := s.get("/_jawas/status.json"); !strings.Contains(st, `"url": "/clock.json"`) {
		t.Errorf("status lost the demo's sources: %.300s", st)
	}
}

// TestUnknownSourceConfig: [source."NAME"] naming no source is one rule:
// production refuses to start (exit status 1) and dev mode shows it in
// dev.json (the overlay) while it serves, both with the key's line and
// the source it probably meant.
func TestUnknownSourceConfig(t *testing.T) {
	const want = `jawas.toml:LINE: [source."clokc"] configures a source that does not exist (no file for /clokc.json under sources/); did you mean [source."clock"]?`
	dir := demoCopy(t)
	toml := read(t, filepath.Join(dir, "jawas.toml"))
	line := strings.Count(toml, "\n") + 2
	write(t, filepath.Join(dir, "jawas.toml"), toml+"\n[source.\"clokc\"]\nperiod = \"1s\"\n")
	msg := strings.Replace(want, "LINE", fmt.Sprint(line), 1)

	t.Run("production", func(t *testing.T) {
		cmd := exec.Command(jawasBin, "serve", "-C", dir, "--listen", "127.0.0.1:0", "--workers", "1", "--data-dir", filepath.Join(t.TempDir(), "data"))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("jawas serve: %v, want exit status 1; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), msg) {
			t.Errorf("output does not say %s:\n%s", msg, out)
		}
	})
	t.Run("dev", func(t *testing.T) {
		s := serve(t, dir, "--dev")
		var errs []string
		s.waitFor(t, "the error in dev.json", 5*time.Second, func() bool {
			errs = errs[:0]
			for _, e := range s.dev(t).Errors {
				errs = append(errs, fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message))
			}
			return len(errs) > 0
		})
		if len(errs) != 1 || errs[0] != msg {
			t.Errorf("dev.json errors %q, want [%s]", errs, msg)
		}
		if !strings.Contains(s.log.String(), fmt.Sprintf("jawas.toml:%d", line)) {
			t.Errorf("the terminal does not show the error with its line:\n%s", s.log.String())
		}
		write(t, filepath.Join(dir, "jawas.toml"), toml)
		s.waitFor(t, "fixed: no errors", 5*time.Second, func() bool { return len(s.dev(t).Errors) == 0 })
	})
}
