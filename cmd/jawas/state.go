package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/jawas/jawas/engine/api"
)

const stateSummary = `Look at and act on the sources' state.

  list            every source: version, state bytes, journal records pending
  show SOURCE     one source's state, as JSON on stdout
  reset SOURCE    journal a reset of SOURCE to its initial: a write like any
                  other, applied at the next boundary (by the next engine
                  when no server runs)

Against a running server (found by the lock on serve.data_dir, or named with
--server) it asks the server's admin endpoints (serve.admin_networks, or
serve.admin_token), which read the engine's last checkpoint. Against a
stopped data directory it reads the checkpoint and replays the journal
after it through the sources' reducers, read-only.`

func (m *Main) runState(ctx context.Context, args []string) error {
	fs := m.flags("state", "[-C PROJECT] [--server URL] [--token TOKEN] list|show SOURCE|reset SOURCE", stateSummary)
	dir := fs.String("C", ".", "project directory (where jawas.toml is)")
	server := fs.String("server", "", "base URL of a running server (default: serve.listen when a server holds the data directory)")
	token := fs.String("token", "", "admin token for --server (default: serve.admin_token)")
	dataDir := fs.String("data-dir", "", "data directory (default: serve.data_dir in jawas.toml)")
	// Flags may come before or after the action and its SOURCE.
	var pos []string
	for rest := args; ; {
		if err := m.parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) == 0 {
		return usageError{"missing action: list, show SOURCE or reset SOURCE"}
	}
	action, rest := pos[0], pos[1:]
	source := ""
	switch action {
	case "list":
		if len(rest) != 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", rest[0])}
		}
	case "show", "reset":
		if len(rest) != 1 {
			return usageError{fmt.Sprintf("%s takes one SOURCE (a name such as game/arena)", action)}
		}
		source = rest[0]
	default:
		return usageError{fmt.Sprintf("unknown action %q: list, show SOURCE or reset SOURCE", action)}
	}
	cfg, err := api.LoadConfig(*dir)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.Serve.DataDir = *dataDir
	}
	base := *server
	if base == "" && api.ServerRunning(cfg) {
		base = api.ServerURL(cfg)
	}
	if *token == "" {
		*token = cfg.Serve.AdminToken
	}
	if action == "reset" {
		var res *api.ResetResult
		if base != "" {
			res, err = api.ServerReset(base, *token, source)
		} else {
			res, err = api.DataDirReset(cfg, nil, source)
		}
		if err != nil {
			if api.PrintDiagnostics(m.Stderr, "state", err) {
				return errSilent
			}
			return err
		}
		where := "the running server applies it at its next boundary"
		if res.Via != "server" {
			where = "no server runs: the next engine applies it at its first boundary"
		}
		fmt.Fprintf(m.Stdout, "reset of %s journaled (id %s); %s.\n", res.Source, res.ID, where)
		return nil
	}
	var rep *api.StateReport
	if base != "" {
		rep, err = api.ServerState(base, *token, source)
	} else {
		rep, err = api.DataDirState(cfg, nil, source, action == "show")
	}
	if err != nil {
		if api.PrintDiagnostics(m.Stderr, "state", err) {
			return errSilent
		}
		return err
	}
	fmt.Fprintf(m.Stderr, "jawas state: from %s\n", rep.From)
	if action == "show" {
		if len(rep.Sources) != 1 {
			return fmt.Errorf("no state for %s", source)
		}
		s := rep.Sources[0]
		if s.Error != "" {
			fmt.Fprintf(m.Stderr, "jawas state: %s: %s\n", s.Source, s.Error)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, s.State, "", "  "); err != nil {
			out.Reset()
			out.Write(s.State)
		}
		fmt.Fprintln(m.Stdout, out.String())
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tVERSION\tBYTES\tPENDING\tNOTE")
	for _, s := range rep.Sources {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", s.Source, s.Version, s.Bytes, s.Pending, s.Error)
	}
	return tw.Flush()
}
