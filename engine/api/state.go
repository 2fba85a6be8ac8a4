package api

// This file implements `jawas state` (list, show, reset) and the state
// behind `jawas build --from-data-dir`. Against a running server it goes
// through the state admin endpoints (engine/internal/serve/admin_state.go),
// which read the engine's checkpoint (at most a second behind the writes it
// applied) and journal resets. Against a stopped data directory it reads
// the checkpoint and replays the journal after it through the sources'
// reducers, read-only; a reset is appended to the journal like any write
// and applied by the next engine at its first boundary.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/serve"
	"github.com/jawas/jawas/engine/internal/sqlhost"
	"github.com/jawas/jawas/engine/internal/writes"
)

// SourceState is one source's state as `jawas state` shows it.
type SourceState struct {
	Source  string          `json:"source"`
	Version int             `json:"version"`
	Bytes   int             `json:"bytes"`
	Pending int             `json:"pending"`         // journal records applied after the checkpoint (data dir) or read but not applied (server)
	Error   string          `json:"error,omitempty"` // a failed migrate: the state shown is the kept one
	State   json.RawMessage `json:"state,omitempty"`
}

// StateReport is the answer of `jawas state list` and `show`.
type StateReport struct {
	// From says where the states come from, in words for the user.
	From     string        `json:"from"`
	Boundary time.Time     `json:"boundary"` // the checkpoint's last boundary
	Sources  []SourceState `json:"sources"`
}

// ResetResult is the answer of `jawas state reset`.
type ResetResult struct {
	Source string    `json:"source"`
	ID     string    `json:"id"`
	At     time.Time `json:"journaled_at"`
	Via    string    `json:"via"` // "server" or "data dir"
}

// ServerRunning reports whether a server runs on cfg's data directory.
func ServerRunning(cfg *Config) bool { return writes.EngineRunning(cfg.Path(cfg.Serve.DataDir)) }

// DataDirState reads the state of every source from cfg's data directory
// (checkpoint and journal, read-only): the project is loaded and the
// journal replayed through its reducers. source "" means every source;
// withState includes the states.
func DataDirState(cfg *Config, log *slog.Logger, source string, withState bool) (*StateReport, error) {
	proj, rep, db, err := replayDataDir(cfg, log)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if source != "" && proj.Source(source) == nil {
		return nil, unknownSource(source, proj)
	}
	out := &StateReport{From: rep.from(cfg), Boundary: rep.Boundary}
	for _, s := range proj.Sources {
		if source != "" && s.Name != source {
			continue
		}
		st := rep.States[s.Name]
		ss := SourceState{Source: s.Name, Version: rep.Meta[s.Name].Version, Bytes: len(st), Pending: rep.Pending[s.Name]}
		if err := rep.Errors[s.Name]; err != nil {
			ss.Error = err.Error()
		}
		if withState {
			ss.State = st
		}
		out.Sources = append(out.Sources, ss)
	}
	return out, nil
}

type replayed struct{ *writes.Replayed }

func (r replayed) from(cfg *Config) string {
	if r.Boundary.IsZero() && r.Records == 0 {
		return fmt.Sprintf("the data directory %s (no checkpoint, no journal: each source's initial state)", cfg.Path(cfg.Serve.DataDir))
	}
	return fmt.Sprintf("the data directory %s: checkpoint of %s + %d journal record(s) replayed", cfg.Path(cfg.Serve.DataDir), r.Boundary.Format(time.RFC3339), r.Records)
}

// replayDataDir loads the project and sets its sources' states from the
// data directory; the caller closes the project's databases.
func replayDataDir(cfg *Config, log *slog.Logger) (*period.Project, replayed, *sqlhost.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proj, db, err := loadProject(cfg, log)
	if err != nil {
		return nil, replayed{}, nil, err
	}
	rep, err := writes.ReplayDataDir(proj, cfg.Path(cfg.Serve.DataDir))
	if err != nil {
		db.Close()
		return nil, replayed{}, nil, err
	}
	return proj, replayed{rep}, db, nil
}

func unknownSource(name string, proj *period.Project) error {
	var names []string
	for _, s := range proj.Sources {
		names = append(names, s.Name)
	}
	return fmt.Errorf("no source named %q (sources: %s)", name, strings.Join(names, ", "))
}

// DataDirReset journals a reset of source in cfg's data directory: the next
// engine applies it at its first boundary (a running one at its next).
func DataDirReset(cfg *Config, log *slog.Logger, source string) (*ResetResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proj, db, err := loadProject(cfg, log)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if proj.Source(source) == nil {
		return nil, unknownSource(source, proj)
	}
	id, at, err := journal.AppendReset(cfg.Path(cfg.Serve.DataDir), source)
	if err != nil {
		return nil, err
	}
	return &ResetResult{Source: source, ID: id, At: at, Via: "data dir"}, nil
}

// ServerURL is the base URL of the server cfg describes.
func ServerURL(cfg *Config) string { return "http://" + cfg.Serve.Listen }

// ServerState asks a running server (base URL) for its sources' state;
// token is serve.admin_token ("" none).
func ServerState(base, token, source string) (*StateReport, error) {
	path := serve.StatePrefix
	if source != "" {
		path += "/" + source
	}
	var out StateReport
	if err := adminCall(http.MethodGet, base, path, token, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ServerReset asks a running server to journal a reset of source.
func ServerReset(base, token, source string) (*ResetResult, error) {
	var out ResetResult
	if err := adminCall(http.MethodPost, base, serve.StatePrefix+"/"+source+"/reset", token, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func adminCall(method, base, path, token string, out any) error {
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", base, err)
	}
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("ask the server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return fmt.Errorf("ask the server: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s", method, u, e.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

// stateHandler answers the state admin endpoints of a worker from the
// data directory dir: the engine's checkpoint, and resets journaled
// (serve.Admin.State; loop goroutine).
func stateHandler(dir string) func(method, path string) (int, []byte) {
	fail := func(status int, format string, args ...any) (int, []byte) {
		b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(format, args...)})
		return status, b
	}
	return func(method, path string) (int, []byte) {
		name := strings.TrimPrefix(strings.TrimPrefix(path, serve.StatePrefix), "/")
		switch method {
		case "GET", "HEAD":
		case "POST":
			src, ok := strings.CutSuffix(name, "/reset")
			if !ok || src == "" {
				return fail(404, "POST %s/SOURCE/reset resets a source; nothing else takes a POST here", serve.StatePrefix)
			}
			sums, _, err := writes.SummarizeCheckpoint(dir, false)
			if err != nil {
				return fail(500, "%v", err)
			}
			if !hasSummary(sums, src) {
				return fail(404, "no source named %q in the engine's checkpoint", src)
			}
			id, at, err := journal.AppendReset(dir, src)
			if err != nil {
				return fail(500, "%v", err)
			}
			b, _ := json.Marshal(ResetResult{Source: src, ID: id, At: at, Via: "server"})
			return 202, b
		default:
			return fail(405, "method %s not allowed here", method)
		}
		sums, boundary, err := writes.SummarizeCheckpoint(dir, name != "")
		if err != nil {
			return fail(500, "%v", err)
		}
		rep := StateReport{From: "the running server's last checkpoint (at most a second behind the writes it applied)", Boundary: boundary, Sources: []SourceState{}}
		for _, s := range sums {
			if name != "" && s.Source != name {
				continue
			}
			rep.Sources = append(rep.Sources, SourceState{Source: s.Source, Version: s.Version, Bytes: s.Bytes, Pending: s.Pending, State: s.State})
		}
		if name != "" && len(rep.Sources) == 0 {
			return fail(404, "no source named %q in the engine's checkpoint", name)
		}
		sort.Slice(rep.Sources, func(i, j int) bool { return rep.Sources[i].Source < rep.Sources[j].Source })
		b, err := json.Marshal(rep)
		if err != nil {
			return fail(500, "%v", err)
		}
		return 200, b
	}
}

func hasSummary(sums []writes.CheckpointSummary, name string) bool {
	for _, s := range sums {
		if s.Source == name {
			return true
		}
	}
	return false
}

// checkMigrations runs, on proj's freshly loaded modules and in memory
// only, the migrations the data directory's checkpoint needs, so that new
// code whose migrate fails is refused (SIGHUP keeps the running set; serve
// does not start) before it replaces anything. A missing checkpoint needs
// none.
func checkMigrations(cfg *Config, proj *period.Project) error {
	cp, err := journal.LoadCheckpoint(cfg.Path(cfg.Serve.DataDir))
	if err != nil {
		return err
	}
	var diags engine.Diagnostics
	for _, s := range proj.Sources {
		st, had := cp.States[s.Name]
		if !had {
			continue
		}
		if _, err := writes.Adopt(s.Module(), s.Name, st, had, cp.Meta[s.Name]); err != nil {
			var d engine.Diagnostic
			if !errors.As(err, &d) {
				d = engine.Diagnostic{File: s.File, Message: err.Error()}
			}
			d.Message = "the checkpointed state cannot be migrated: " + d.Message
			diags = append(diags, d)
		}
	}
	if len(diags) > 0 {
		return diags
	}
	return nil
}
