package main

// This file starts the supervisor's children: `jawas serve` re-executes its
// own binary with its role in the environment (Go cannot fork), and main
// calls runChild first. A child parses the same serve flags the supervisor
// got and re-reads jawas.toml, so every process agrees on the config; the
// roles themselves are engine/api's.

import (
	"fmt"
	"os"

	"github.com/jawas/jawas/engine/api"
)

// runChild runs this process as a supervisor child (engine, worker or
// validate) when the environment says so; ok is false for a normal run.
func runChild() (code int, ok bool) {
	role := api.ChildRole()
	if role == "" {
		return 0, false
	}
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	var f serveFlags
	fs := m.serveFlagSet(&f)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "jawas %s: %v\n", role, err)
		return 2, true
	}
	cfg, err := loadServeConfig(&f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jawas %s: %v\n", role, err)
		return 1, true
	}
	log := newLogger(os.Stderr, f.logFormat, f.logLevel).With("role", role, "pid", os.Getpid())
	err = api.RunChild(cfg, api.ServeOptions{Log: log, Dev: f.dev, Diagnostics: os.Stderr})
	if api.PrintDiagnostics(os.Stderr, "cannot load the project", err) {
		return 1, true
	}
	if err != nil {
		log.Error("exiting", "error", err)
		return 1, true
	}
	return 0, true
}
