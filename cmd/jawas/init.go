package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jawas/jawas/engine/api"
)

func (m *Main) runInit(ctx context.Context, args []string) error {
	fs := m.flags("init", "[DIR]", "Create a working jawas project (config, a source, a page, a template) in DIR.\nWrites nothing when any file it would create already exists.")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError{fmt.Sprintf("expected at most one directory, got %d arguments", fs.NArg())}
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	written, err := api.Init(dir)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(m.Stdout, "Created a jawas project in %s:\n", abs)
	for _, f := range written {
		fmt.Fprintf(m.Stdout, "  %s\n", f)
	}
	cd := ""
	if dir != "." {
		cd = "cd " + dir + " && "
	}
	fmt.Fprintf(m.Stdout, "\nNext:\n  %sjawas serve --dev     # serve at http://127.0.0.1:8080/ and reload on save\n  %sjawas build           # write a static site to dist/\n", cd, cd)
	return nil
}
