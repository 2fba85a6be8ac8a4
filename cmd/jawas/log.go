package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// newLogger returns a slog logger writing to w: "text" (readable in a
// terminal) or "json" (for log collectors), at level debug|info|warn|error.
// In text, an attribute named "frame" (an author error's code frame) is
// printed as the lines it is, indented under its record, not as one
// escaped string.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(&frameHandler{Handler: slog.NewTextHandler(w, opts), w: w, mu: new(sync.Mutex)})
}

// frameHandler prints the "frame" attribute of a record after it, line by
// line. Any goroutine: mu keeps a record and its frame together.
type frameHandler struct {
	slog.Handler
	w  io.Writer
	mu *sync.Mutex
}

func (h *frameHandler) Handle(ctx context.Context, r slog.Record) error {
	var frame string
	plain := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "frame" && a.Value.Kind() == slog.KindString {
			frame = strings.Trim(a.Value.String(), "\n")
		} else {
			plain.AddAttrs(a)
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.Handler.Handle(ctx, plain); err != nil || frame == "" {
		return err
	}
	var b strings.Builder
	for _, line := range strings.Split(frame, "\n") {
		b.WriteString("    ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *frameHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &frameHandler{Handler: h.Handler.WithAttrs(as), w: h.w, mu: h.mu}
}

func (h *frameHandler) WithGroup(name string) slog.Handler {
	return &frameHandler{Handler: h.Handler.WithGroup(name), w: h.w, mu: h.mu}
}
