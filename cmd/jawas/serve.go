package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/jawas/jawas/engine/api"
)

// serveFlags are the flags of `jawas serve`; they override jawas.toml.
type serveFlags struct {
	dir, listen, dataDir, logFormat, logLevel string
	workers                                   int
	dev, single                               bool
}

func (m *Main) serveFlagSet(f *serveFlags) *flag.FlagSet {
	fs := m.flags("serve", "[flags]", "Serve the project: snapshots, rendered pages and site files over HTTP/1.1.")
	fs.StringVar(&f.dir, "C", ".", "project directory (where jawas.toml is)")
	fs.StringVar(&f.listen, "listen", "", "address to listen on, host:port (default: serve.listen, \"127.0.0.1:8080\")")
	f.workers = -1 // unset: serve.workers decides
	fs.Var(workersFlag{&f.workers}, "workers", "`N` worker processes (default: serve.workers; 0 = one per core)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory for the journal and runtime files (default: serve.data_dir, \".jawas\")")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.dev, "dev", false, "development mode: watch sources, site and templates; reload open pages")
	fs.BoolVar(&f.single, "single-process", false, "run the engine and the serving loops in this one process (no supervisor; for debugging and benchmarks)")
	return fs
}

// workersFlag is -workers: unset (-1) means "use serve.workers".
type workersFlag struct{ n *int }

func (w workersFlag) String() string {
	if w.n == nil || *w.n < 0 {
		return ""
	}
	return strconv.Itoa(*w.n)
}

func (w workersFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("expected a number of workers (0 = one per core), got %q", v)
	}
	*w.n = n
	return nil
}

// loadServeConfig reads jawas.toml and applies the command-line overrides.
func loadServeConfig(f *serveFlags) (*api.Config, error) {
	cfg, err := api.LoadConfig(f.dir)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		cfg.Serve.Listen = f.listen
	}
	if f.workers >= 0 {
		cfg.Serve.Workers = f.workers
	}
	if f.dataDir != "" {
		cfg.Serve.DataDir = f.dataDir
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return nil, usageError{fmt.Sprintf("-log-format: expected text or json, got %q", f.logFormat)}
	}
	switch f.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, usageError{fmt.Sprintf("-log-level: expected debug, info, warn or error, got %q", f.logLevel)}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	return cfg, nil
}

func (m *Main) runServe(ctx context.Context, args []string) error {
	var f serveFlags
	fs := m.serveFlagSet(&f)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadServeConfig(&f)
	if err != nil {
		return err
	}
	if m.Process && !f.single {
		api.PrepareServe(cfg) // may re-execute this process, once
	}
	opt := api.ServeOptions{
		Log:         newLogger(m.Stderr, f.logFormat, f.logLevel),
		Dev:         f.dev,
		Diagnostics: m.Stderr,
		Reload:      func() (*api.Config, error) { return loadServeConfig(&f) },
	}
	if f.single {
		err = api.ServeSingle(ctx, cfg, opt)
	} else {
		err = api.Supervise(ctx, cfg, opt)
	}
	if api.PrintDiagnostics(m.Stderr, "cannot load the project", err) {
		return errSilent
	}
	return err
}
