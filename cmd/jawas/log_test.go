package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLogFrames: in text logs an author error's code frame is printed as
// the lines it is, under its record; JSON keeps it a string field.
func TestLogFrames(t *testing.T) {
	frame := "  2 | export default function render(state, ctx) {\n> 3 |   return ctx.missing.value;\n    |                      ^"
	var text bytes.Buffer
	newLogger(&text, "text", "info").With("role", "engine").Error("source failed", "source", "broken", "frame", "\n"+frame)
	want := "    > 3 |   return ctx.missing.value;\n"
	if !strings.Contains(text.String(), want) || strings.Contains(text.String(), `\n`) {
		t.Errorf("text log:\n%s\nwant the frame's lines, unescaped, e.g. %q", text.String(), want)
	}
	if first, _, _ := strings.Cut(text.String(), "\n"); !strings.Contains(first, "role=engine") || !strings.Contains(first, "source=broken") || strings.Contains(first, "frame") {
		t.Errorf("first line %q: want the record with its other attributes and without the frame", first)
	}
	var js bytes.Buffer
	newLogger(&js, "json", "info").Error("source failed", "frame", frame)
	if strings.Count(js.String(), "\n") != 1 || !strings.Contains(js.String(), `"frame":"  2 |`) {
		t.Errorf("json log: %s, want one line with the frame as a string", js.String())
	}
}
