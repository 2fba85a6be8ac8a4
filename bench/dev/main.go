//go:build unix

// Command dev measures dev mode's author loop: from saving a source to the
// new snapshot being served. It copies the demo project (the repository
// root) to a temp dir, starts `jawas serve --dev` on 127.0.0.1:0 with two
// workers, then saves sources/clock.js N times (an editor's write-and-
// rename, with a new marker each time) and polls /clock.json over one
// keep-alive connection every millisecond until the marker is served.
// It prints every figure and the p50/p95/max against the 100 ms goal, and
// exits non-zero when p50 misses it.
//
//	go run ./bench/dev -jawas bin/jawas -n 20
//
// It stops the server it started (SIGTERM to its pid, SIGKILL to its own
// process group after 15 s).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jawas/jawas/bench/internal/jawasproc"
)

func main() {
	bin := flag.String("jawas", "bin/jawas", "the jawas binary")
	root := flag.String("project", ".", "the demo project to copy (the repository root)")
	n := flag.Int("n", 20, "saves to measure")
	flag.Parse()
	if err := run(*bin, *root, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dev:", err)
		os.Exit(1)
	}
}

func run(bin, root string, n int) error {
	bin, _ = filepath.Abs(bin)
	tmp, err := os.MkdirTemp("", "jawas-bench-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	proj := filepath.Join(tmp, "demo")
	for _, d := range []string{"sources", "site", "templates"} {
		if err := os.CopyFS(filepath.Join(proj, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return fmt.Errorf("copy the demo: %w", err)
		}
	}
	toml, err := os.ReadFile(filepath.Join(root, "jawas.toml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(proj, "jawas.toml"), toml, 0o644); err != nil {
		return err
	}

	cmd := exec.Command(bin, "serve", "--dev", "-C", proj, "--listen", "127.0.0.1:0", "--workers", "2", "--data-dir", filepath.Join(tmp, "data"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer jawasproc.Stop(cmd)
	url, err := jawasproc.ServerURL(stderr)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stderr) // keep the server's log pipe drained

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	get := func() string {
		resp, err := client.Get(url + "/clock.json")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(get(), `"source"`) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the demo was not served within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	src := filepath.Join(proj, "sources", "clock.js")
	orig, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for i := range n {
		marker := fmt.Sprintf("save%d_%d", i, time.Now().UnixNano())
		code := strings.Replace(string(orig), "source: ctx.source,", fmt.Sprintf("source: ctx.source, bench: %q,", marker), 1)
		time.Sleep(150 * time.Millisecond) // settle between saves; never on a fixed phase of the period
		tmpf := filepath.Join(filepath.Dir(src), ".clock.js.swp")
		start := time.Now()
		if err := os.WriteFile(tmpf, []byte(code), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmpf, src); err != nil {
			return err
		}
		for !strings.Contains(get(), marker) {
			if time.Since(start) > 5*time.Second {
				return fmt.Errorf("save %d not served within 5 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	var all []string
	for _, d := range lat {
		all = append(all, ms(d))
	}
	fmt.Printf("dev mode, save a source → new snapshot served (%d saves, 2 workers, demo project):\n", n)
	fmt.Printf("| p50 ms | p95 ms | max ms | goal | met |\n|---:|---:|---:|---:|:---:|\n")
	met := "yes"
	if q(0.5) > 100*time.Millisecond {
		met = "NO"
	}
	fmt.Printf("| %s | %s | %s | < 100 ms | %s |\n", ms(q(0.5)), ms(q(0.95)), ms(lat[len(lat)-1]), met)
	fmt.Printf("all (ms, sorted): %s\n", strings.Join(all, " "))
	fmt.Printf("load average: %s\n", jawasproc.LoadAvg())
	if met != "yes" {
		return fmt.Errorf("p50 %v misses the 100 ms goal", q(0.5))
	}
	return nil
}
