//go:build linux

// Command idle measures what `jawas serve` costs when nobody uses it (issue
// 18, part 4): it starts the real binary on a copy of the demo project,
// lets it settle, and reads the CPU time of the whole process tree from
// /proc over a window (60 s by default), with no request sent in it. It
// prints the share of one core beside the goal (< 0.5%), and per process
// (supervisor, engine, workers) the CPU share and the wake-ups per second
// (voluntary + involuntary context switches of all its threads), which
// say which loop still wakes.
//
// The demo project is not idle in one respect: its clock source renders
// and publishes a new version every 200 ms (gzip and brotli included), and
// so does its arena (its output carries the boundary's time), which is
// work the product promises, not waste. -quiet replaces the clock with a
// source that never changes and drops the time from the arena's output,
// to show the floor of the process model itself; both are printed by
// bench/run.sh MODE=idle, each with the versions the sources published in
// the window (none for -quiet, or the figure is not the floor).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jawas/jawas/bench/internal/jawasproc"
	"github.com/jawas/jawas/engine/api"
)

func main() {
	bin := flag.String("jawas", "bin/jawas", "jawas binary")
	root := flag.String("root", ".", "the demo project (repository root)")
	window := flag.Duration("d", 60*time.Second, "measurement window")
	settle := flag.Duration("settle", 5*time.Second, "wait after the server is up before measuring")
	quiet := flag.Bool("quiet", false, "replace the demo's clock with a source that never changes")
	goal := flag.Float64("goal", 0.5, "goal: % of one core, whole process tree")
	flag.Parse()
	if err := run(*bin, *root, *window, *settle, *quiet, *goal); err != nil {
		fmt.Fprintln(os.Stderr, "bench/idle:", err)
		os.Exit(1)
	}
}

func run(bin, root string, window, settle time.Duration, quiet bool, goal float64) error {
	bin, _ = filepath.Abs(bin)
	tmp, err := os.MkdirTemp("", "jawas-bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	proj := filepath.Join(tmp, "demo")
	for _, d := range []string{"sources", "site", "templates", "data"} { // data: market.js's SQLite file
		if err := os.CopyFS(filepath.Join(proj, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return fmt.Errorf("copy the demo: %w", err)
		}
	}
	toml, err := os.ReadFile(filepath.Join(root, "jawas.toml"))
	if err != nil {
		return err
	}
	// A generous budget: on a loaded machine a first render (arena.ts's top
	// level) can overrun 50 ms and fail the start; the budget costs nothing idle.
	toml = regexp.MustCompile(`(?m)^timeout = .*$`).ReplaceAll(toml, []byte(`timeout = "2s"`))
	if err := os.WriteFile(filepath.Join(proj, "jawas.toml"), toml, 0o644); err != nil {
		return err
	}
	what := "demo project (clock and arena publish a new version every 200 ms)"
	if quiet {
		what = "demo project, clock replaced by a constant source, arena without its time"
		constant := "export const period = \"200ms\";\nexport default function render() { return { ok: true }; }\n"
		if err := os.WriteFile(filepath.Join(proj, "sources", "clock.js"), []byte(constant), 0o644); err != nil {
			return err
		}
		arena := filepath.Join(proj, "sources", "arena.ts")
		src, err := os.ReadFile(arena)
		if err != nil {
			return err
		}
		const stamped = "return { now: ctx.nowMs, "
		if !bytes.Contains(src, []byte(stamped)) {
			return fmt.Errorf("%s: no %q to drop: the constant variant would publish every period", arena, stamped)
		}
		if err := os.WriteFile(arena, bytes.Replace(src, []byte(stamped), []byte("return { "), 1), 0o644); err != nil {
			return err
		}
	}
	dataDir := filepath.Join(tmp, "data")
	cfg, err := api.LoadConfig(proj)
	if err != nil {
		return err
	}
	cfg.Serve.DataDir = dataDir
	status := filepath.Join(api.RunDir(cfg), "metrics", "engine.json") // engine/internal/metrics.EngineFile

	cmd := exec.Command(bin, "serve", "-C", proj, "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer jawasproc.Stop(cmd)
	if _, err := jawasproc.ServerURL(stderr); err != nil {
		return err
	}
	// Keep the server's log pipe drained, and its warnings and errors (a
	// child replaced in the window says why here).
	var logMu sync.Mutex
	var problems []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if l := sc.Text(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				logMu.Lock()
				problems = append(problems, l)
				logMu.Unlock()
			}
		}
	}()
	time.Sleep(settle) // startup (first renders, workers' first reads) is not idle

	before, err := sample(cmd.Process.Pid)
	if err != nil {
		return err
	}
	vBefore, err := versions(status)
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(window)
	after, err := sample(cmd.Process.Pid)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	// The status file is rewritten at most once a second when only
	// counters moved: read it a second later for what the window did.
	time.Sleep(1100 * time.Millisecond)
	vAfter, err := versions(status)
	if err != nil {
		return err
	}

	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	var total time.Duration
	var wakes float64
	rows := []string{}
	pids := make([]int, 0, len(after))
	for pid := range after {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		a := after[pid]
		b, ok := before[pid]
		if !ok {
			b = proc{role: a.role} // started within the window: all of it counts
		}
		cpu := a.cpu - b.cpu
		w := float64(a.switches-b.switches) / wall.Seconds()
		total += cpu
		wakes += w
		rows = append(rows, fmt.Sprintf("| %s (pid %d) | %.3f%% | %.1f |", a.role, pid, pct(cpu), w))
	}
	for pid, b := range before {
		if _, ok := after[pid]; !ok {
			rows = append(rows, fmt.Sprintf("| %s (pid %d) exited in the window | | |", b.role, pid))
		}
	}
	verdict := "met"
	if pct(total) >= goal {
		verdict = "MISSED"
	}
	fmt.Printf("## Idle server: `jawas serve`, %s, no requests, %s after %s to settle\n\n", what, wall.Round(time.Second), settle)
	fmt.Printf("| process | CPU, %% of one core | wake-ups/s |\n|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("| **whole tree** | **%.3f%%** (goal < %.1f%%: %s) | %.1f |\n\n", pct(total), goal, verdict, wakes)
	allNS := true
	for pid, a := range after {
		allNS = allNS && a.ns && (before[pid].ns || before[pid].role == "")
	}
	if allNS {
		fmt.Printf("CPU from /proc/PID/task/*/schedstat (ns); wake-ups are context switches of every thread. Load average: %s\n", jawasproc.LoadAvg())
	} else {
		fmt.Printf("CPU from /proc/PID/stat (10 ms ticks: ±%.3f%% over this window); wake-ups are context switches of every thread. Load average: %s\n",
			pct(10*time.Millisecond*time.Duration(len(after))), jawasproc.LoadAvg())
	}
	var published []string
	names := slices.Sorted(maps.Keys(vAfter))
	for _, name := range names {
		if d := vAfter[name] - vBefore[name]; d > 0 {
			published = append(published, fmt.Sprintf("%s %d", name, d))
		}
	}
	if len(published) == 0 {
		published = []string{"none"}
	}
	fmt.Printf("Versions published in the window (engine status file): %s\n", strings.Join(published, ", "))
	logMu.Lock()
	defer logMu.Unlock()
	if len(problems) > 0 {
		fmt.Printf("\nServer warnings and errors (%d):\n", len(problems))
		for _, l := range problems[max(0, len(problems)-10):] {
			fmt.Println("    " + l)
		}
	}
	return nil
}

// versions reads each source's count of published versions from the
// engine status file.
func versions(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine status: %w", err)
	}
	var st struct { // engine/internal/metrics.EngineStatus, what is read of it
		Sources []struct {
			Name     string `json:"name"`
			Versions uint64 `json:"versions"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("engine status %s: %w", path, err)
	}
	out := map[string]uint64{}
	for _, s := range st.Sources {
		out[s.Name] = s.Versions
	}
	return out, nil
}

// proc is one process's counters.
type proc struct {
	role     string
	cpu      time.Duration
	ns       bool // cpu is schedstat's (ns), not stat's ticks
	switches int64
}

// sample reads pid and its descendants.
func sample(root int) (map[int]proc, error) {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := os.ReadFile(d + "/stat"); err == nil {
			if f := statFields(st); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	in := func(pid int) bool {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				return true
			}
		}
		return false
	}
	out := map[int]proc{}
	for pid := range parent {
		if !in(pid) {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited while we walked
		}
		f := statFields(st)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
		stt, _ := strconv.ParseInt(f[12], 10, 64)
		p := proc{role: role(pid, root), cpu: time.Duration(ut+stt) * 10 * time.Millisecond}
		// Each thread's time on a CPU in ns (schedstat's first field): the
		// 10 ms ticks of stat are 0.05% of a core over 20 s, a tenth of the
		// goal. A thread that exited took its ns with it; Go's threads do
		// not exit.
		var ns time.Duration
		nsOK := true
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, t := range tasks {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(t), "schedstat")); err == nil {
				if f := strings.Fields(string(b)); len(f) > 0 {
					v, err := strconv.ParseInt(f[0], 10, 64)
					nsOK = nsOK && err == nil
					ns += time.Duration(v)
				}
			} else {
				nsOK = false
			}
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					p.switches += n
				}
			}
		}
		if nsOK && ns > 0 {
			p.cpu, p.ns = ns, true
		}
		out[pid] = p
	}
	if _, ok := out[root]; !ok {
		return nil, fmt.Errorf("jawas (pid %d) is gone", root)
	}
	return out, nil
}

// statFields are /proc/PID/stat's fields after the command: f[0] is the
// state (field 3).
func statFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func role(pid, root int) string {
	if pid == root {
		return "supervisor"
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	r, w := "", ""
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("JAWAS_ROLE=")); ok {
			r = string(v)
		}
		if v, ok := bytes.CutPrefix(kv, []byte("JAWAS_WORKER=")); ok {
			w = string(v)
		}
	}
	switch {
	case r == "worker":
		return "worker " + w
	case r != "":
		return r
	}
	return "child"
}
