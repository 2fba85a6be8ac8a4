package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jawas/jawas/engine/api"
)

func (m *Main) runBuild(ctx context.Context, args []string) error {
	fs := m.flags("build", "[-o DIR] [-C PROJECT]", "Evaluate every source once (ctx.now = build time), render templates, copy site/,\nand write a plain static site that any static web server can serve.")
	out := fs.String("o", "", "output directory (default: output in jawas.toml, \"dist\")")
	dir := fs.String("C", ".", "project directory (where jawas.toml is)")
	fromData := fs.Bool("from-data-dir", false, "render from the state in serve.data_dir (checkpoint + journal, read-only; safe while a server runs) instead of each source's initial state")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := api.LoadConfig(*dir)
	if err != nil {
		return err
	}
	if *out != "" {
		cfg.Output = *out
	}
	start := time.Now()
	res, err := api.BuildWith(cfg, m.Stderr, api.BuildOptions{FromDataDir: *fromData})
	if err != nil {
		if api.PrintDiagnostics(m.Stderr, "build", err) {
			return errSilent
		}
		return err
	}
	rows := res.Rows
	fmt.Fprintf(m.Stdout, "Rendering from %s.\n\n", res.State)
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "URL\tbytes\tgzip\teval\t")
	for _, r := range rows {
		eval := "-"
		if r.Eval > 0 {
			eval = fmt.Sprintf("%.2fms", float64(r.Eval.Microseconds())/1000)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", r.URL, r.Bytes, r.Gzip, eval)
	}
	tw.Flush()
	fmt.Fprintf(m.Stdout, "\nWrote %d files to %s in %s.\n", len(rows), cfg.Path(cfg.Output), time.Since(start).Round(time.Millisecond))
	return nil
}
