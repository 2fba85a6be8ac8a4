// Package engine holds the domain types every other jawas package shares:
// a Source (an author's data source and the URL it is published at) and a
// Diagnostic (an author's mistake, located in the author's own file).
//
// It must never import another jawas package: packages depend on this core,
// not on each other.
package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// SourceExts are the file extensions that make a file under sources/ a source.
var SourceExts = []string{".js", ".mjs", ".ts", ".jsx", ".tsx"}

// Source is one author data source.
type Source struct {
	Name string // "game/arena": slash-separated path under sources/, no extension
	URL  string // "/game/arena.json"
	File string // project-relative file, slash-separated: "sources/game/arena.ts"
}

// URLFor returns the URL a source named name is served at.
func URLFor(name string) string { return "/" + name + ".json" }

// SourceName turns a path relative to the sources directory ("game/arena.ts")
// into a source name ("game/arena"). ok is false when the file is not a source:
// wrong extension, or a file or folder on its path starts with "_" or ".".
func SourceName(rel string) (name string, ok bool) {
	rel = path.Clean(strings.ReplaceAll(rel, "\\", "/"))
	ext := path.Ext(rel)
	if !slices.Contains(SourceExts, ext) || strings.HasSuffix(rel, ".d.ts") {
		return "", false
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") || part == "node_modules" {
			return "", false
		}
	}
	return strings.TrimSuffix(rel, ext), true
}

// Diagnostic is an error in an author's file, located in the original source
// (after source maps), with an optional code frame for the terminal and page.
type Diagnostic struct {
	File    string `json:"file,omitempty"` // project-relative, e.g. "sources/clock.js"
	Line    int    `json:"line,omitempty"` // 1-based; 0 when unknown
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	Frame   string `json:"frame,omitempty"` // a few source lines with a caret, may be empty
}

// Error formats the diagnostic as "file:line:column: message".
func (d Diagnostic) Error() string {
	loc := d.File
	if loc != "" && d.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, d.Line)
		if d.Column > 0 {
			loc = fmt.Sprintf("%s:%d", loc, d.Column)
		}
	}
	if loc == "" {
		return d.Message
	}
	return loc + ": " + d.Message
}

// Diagnostics is a list of author errors reported together.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// SourceStatus is what the engine knows about one source at a moment: its
// settings, its last evaluation and publish, and its last error. The engine
// keeps it per source; the status page and metrics show it.
type SourceStatus struct {
	Name         string      `json:"name"`
	URL          string      `json:"url"`
	File         string      `json:"file"`
	PeriodMs     int64       `json:"period_ms"`
	LastBoundary time.Time   `json:"last_boundary"`
	LastPublish  time.Time   `json:"last_publish"`
	ETag         string      `json:"etag,omitempty"`
	Size         int         `json:"size"`
	EvalMicros   int64       `json:"eval_us"`
	Evaluations  uint64      `json:"evaluations"`
	Versions     uint64      `json:"versions"`
	Errors       uint64      `json:"errors"`
	Skipped      uint64      `json:"skipped_periods"`
	LastError    *Diagnostic `json:"last_error,omitempty"`
	LastErrorAt  time.Time   `json:"last_error_at,omitempty"`
	// FailingSince is when the current streak of failed evaluations began
	// (zero while the source works); Failures counts that streak. The last
	// good snapshot stays published meanwhile.
	FailingSince time.Time `json:"failing_since,omitempty"`
	Failures     uint64    `json:"consecutive_failures,omitempty"`
	// Quarantined, when set, says why the source is not evaluated (its
	// memory limit hit again and again, or its migrate failed) until its
	// file changes or a reload.
	Quarantined string `json:"quarantined,omitempty"`
	MemoryHits  int    `json:"memory_hits,omitempty"` // memory-limit hits in the last 10 minutes
}
