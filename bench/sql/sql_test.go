//go:build linux

// Package sqlbench measures the founding claim against a real database
// (`make bench`, MODE=sql): a jawas source answering from PostgreSQL,
// polled as hard as wrk can, against (a) a Go net/http server querying
// PostgreSQL on every request and (b) nginx proxy_cache with a 1 s
// microcache in front of (a). For each: req/s, p99, and the queries/s
// PostgreSQL itself counted (pg_stat_statements). It is a benchmark only:
// `go test -run '^$' -bench BenchmarkSQL -benchtime 1x ./bench/sql/`.
package sqlbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jawas/jawas/bench/internal/proc"
	"github.com/jawas/jawas/internal/pgtest"
)

// query is the backend work each answer stands for: a small aggregate plus
// 1 ms of server time, like a real query of about a millisecond.
const query = "SELECT count(*) AS n, sum(v) AS total FROM items, pg_sleep(0.001)"

// env returns the environment variable or def.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// result is one wrk run against one server.
type result struct {
	name    string
	conns   int
	rps     float64
	p99ms   float64
	errors  int64
	queries float64 // per second, as PostgreSQL counted them
	cpuUs   float64 // CPU of the server and of PostgreSQL per request, µs
	reqs    int64
}

// selfCPU is the CPU this process used (the Go server of (a) runs in it;
// wrk, a child, is not counted: RUSAGE_SELF).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// treeCPU is the CPU of pid and its descendants.
func treeCPU(b *testing.B, pid int) time.Duration {
	c, err := proc.Tree(pid)
	if err != nil {
		b.Fatal(err)
	}
	return c.Total()
}

func BenchmarkSQL(b *testing.B) {
	if b.N > 1 {
		b.Skip("run with -benchtime 1x: one pass is the whole table")
	}
	dur := env("SQL_DURATION", "10s")
	d, err := time.ParseDuration(dur)
	if err != nil {
		b.Fatalf("SQL_DURATION: %v", err)
	}
	var conns []int
	for _, f := range strings.Fields(env("SQL_CONNS", "100 1000")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("SQL_CONNS: %v", err)
		}
		conns = append(conns, n)
	}
	jawas := os.Getenv("JAWAS_BIN")
	if jawas == "" {
		jawas = filepath.Join(b.TempDir(), "jawas")
		if out, err := exec.Command("go", "build", "-o", jawas, "github.com/jawas/jawas/cmd/jawas").CombinedOutput(); err != nil {
			b.Fatalf("go build cmd/jawas: %v\n%s", err, out)
		}
	}
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is missing: apt-get install -y nginx wrk (bench/run.sh does it)", tool)
		}
	}

	srv := pgtest.Start(b, "shared_preload_libraries=pg_stat_statements", "max_connections=200")
	srv.Exec(`CREATE EXTENSION pg_stat_statements;
CREATE TABLE items (id int PRIMARY KEY, v int);
INSERT INTO items SELECT i, i % 97 FROM generate_series(1, 2000) i;
ANALYZE items`)
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	queryMs := measureQuery(b, admin)
	calls := func() int64 {
		var n int64
		if err := admin.QueryRow(ctx, "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements WHERE query LIKE '%pg_sleep%' AND query LIKE '%FROM items%'").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}

	// (a) net/http querying PostgreSQL per request.
	pool, err := pgxpool.New(ctx, srv.URL()+"&pool_max_conns=32")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	goURL := startGoServer(b, pool)
	// (b) nginx microcache in front of (a).
	nginxURL, nginxPid := startNginx(b, strings.TrimSuffix(strings.TrimPrefix(goURL, "http://"), "/"))

	var rows []result
	pgPid := srv.Pid()
	run := func(name, url string, c int, cpu func() time.Duration) {
		before, cpu0 := calls(), cpu()
		r := runWrk(b, url, c, dur)
		r.name = name
		r.queries = float64(calls()-before) / d.Seconds()
		if r.reqs > 0 {
			r.cpuUs = float64((cpu() - cpu0).Microseconds()) / float64(r.reqs)
		}
		rows = append(rows, r)
	}
	goCPU := func() time.Duration { return selfCPU() + treeCPU(b, pgPid) }
	nginxCPU := func() time.Duration { return treeCPU(b, nginxPid) + goCPU() }
	for _, c := range conns {
		run("(a) net/http, a query per request", goURL, c, goCPU)
		run("(b) nginx 1 s microcache → (a)", nginxURL, c, nginxCPU)
	}
	// jawas runs last and alone: its engine queries every period while it runs.
	jawasURL, jawasPid, stop := startJawas(b, jawas, srv.URL())
	jawasCPU := func() time.Duration { return treeCPU(b, jawasPid) + treeCPU(b, pgPid) }
	for _, c := range conns {
		run("jawas, one query per period", jawasURL, c, jawasCPU)
	}
	stop()

	fmt.Printf("\n## SQL: a source answering from PostgreSQL, polled as hard as wrk can (wrk -t2 -d%s, all 127.0.0.1)\n\n", dur)
	fmt.Printf("The query (%s) takes %.2f ms alone. (a): Go net/http, pgx pool of 32, one query per request; (b): nginx proxy_cache, 1 s validity, cache lock, stale while updating, in front of (a); jawas: a source with period 200 ms, 2 workers.\n\n", "`"+query+"`", queryMs)
	fmt.Printf("| %-36s | %5s | %9s | %8s | %6s | %12s | %14s | %9s | %9s |\n", "server", "conns", "req/s", "p99 ms", "errors", "PG queries/s", "CPU µs/req", "jawas ÷ a", "jawas ÷ b")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 38), "------:", "----------:", "---------:", "-------:", "-------------:", "---------------:", "----------:", "----------:")
	byKey := map[string]result{}
	for _, r := range rows {
		byKey[fmt.Sprintf("%s|%d", r.name[:3], r.conns)] = r
	}
	goalA, goalB, goalQ := true, true, true
	for _, r := range rows {
		ra, rb := "", ""
		if strings.HasPrefix(r.name, "jawas") {
			a, bb := byKey[fmt.Sprintf("(a)|%d", r.conns)], byKey[fmt.Sprintf("(b)|%d", r.conns)]
			xa, xb := r.rps/a.rps, r.rps/bb.rps
			ra, rb = fmt.Sprintf("%.1f×", xa), fmt.Sprintf("%.2f×", xb)
			goalA = goalA && xa >= 10 && r.errors == 0
			goalB = goalB && xb >= 1 && r.errors == 0
			goalQ = goalQ && r.queries <= 5.5 // 200 ms period: 5/s, plus a boundary's rounding
		}
		fmt.Printf("| %-36s | %5d | %9.0f | %8.2f | %6d | %12.1f | %14.1f | %9s | %9s |\n", r.name, r.conns, r.rps, r.p99ms, r.errors, r.queries, r.cpuUs, ra, rb)
	}
	met := map[bool]string{true: "met", false: "NOT met"}
	fmt.Printf("\nGoals: jawas ≥ 10× (a)'s req/s: %s; ≥ 1.0× (b)'s: %s; PostgreSQL runs one query per period (5/s at 200 ms) whatever the request rate: %s.\n", met[goalA], met[goalB], met[goalQ])
	fmt.Printf("CPU µs/req: user+sys of the serving processes (the Go server; nginx's tree; jawas's tree) and of PostgreSQL's tree during the run ÷ requests (wrk's own CPU excluded): the least noisy column.\n")
	fmt.Printf("PG queries/s: pg_stat_statements calls of the query during the run ÷ its duration. wrk, PostgreSQL and the servers share this machine's %d cores with other work: compare rows of one run.\n", numCPU())
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// measureQuery runs the query alone and returns its mean time in ms.
func measureQuery(b *testing.B, pool *pgxpool.Pool) float64 {
	ctx := context.Background()
	const n = 200
	start := time.Now()
	for range n {
		var cnt, total int64
		if err := pool.QueryRow(ctx, query).Scan(&cnt, &total); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Microseconds()) / n / 1000
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGoServer serves the query's result as JSON, querying per request.
func startGoServer(b *testing.B, pool *pgxpool.Pool) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n, total int64
		if err := pool.QueryRow(r.Context(), query).Scan(&n, &total); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{"n": n, "total": total})
	})
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String() + "/"
}

// startNginx runs Debian's nginx as a microcache in front of upstream
// (HOST:PORT) and stops it by its pid at cleanup.
func startNginx(b *testing.B, upstream string) (string, int) {
	run := b.TempDir()
	port := freePort(b)
	user := ""
	if os.Getuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 2;
worker_rlimit_nofile 20000;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
daemon on;
events { worker_connections 20000; use epoll; multi_accept on; }
http {
	access_log off;
	keepalive_requests 1000000000;
	keepalive_timeout 300s;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	proxy_cache_path %[2]s/cache levels=1 keys_zone=micro:10m max_size=64m inactive=60s use_temp_path=off;
	upstream app { server %[3]s; keepalive 64; }
	server {
		listen 127.0.0.1:%[4]d backlog=8192;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache micro;
			proxy_cache_valid 200 1s;
			proxy_cache_lock on;
			proxy_cache_use_stale updating;
			proxy_cache_background_update on;
		}
	}
}
`, user, run, upstream, port)
	confPath := filepath.Join(run, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("nginx", "-c", confPath, "-p", run).CombinedOutput(); err != nil {
		b.Fatalf("nginx: %v\n%s", err, out)
	}
	pidB, err := os.ReadFile(filepath.Join(run, "nginx.pid"))
	if err != nil {
		b.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidB)))
	b.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGQUIT) // nginx's graceful stop; its workers follow
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitOK(b, url)
	return url, pid
}

// startJawas serves a project whose one source answers from PostgreSQL.
func startJawas(b *testing.B, bin, pgURL string) (string, int, func()) {
	dir := b.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("jawas.toml", "period = \"200ms\"\ntimeout = \"2s\"\n\n[serve]\nworkers = 2\n\n[db.pg]\nurl = \""+pgURL+"\"\n")
	write("sources/stats.js", `import { db } from "jawas";
export default async function render() {
  const [row] = await db("pg").query(`+strconv.Quote(query)+`);
  return row;
}
`)
	port := freePort(b)
	logf, err := os.Create(filepath.Join(dir, "jawas.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-C", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", filepath.Join(dir, ".jawas"), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the process group it leads
			<-done
		}
		logf.Close()
	}
	b.Cleanup(stop)
	url := fmt.Sprintf("http://127.0.0.1:%d/stats.json", port)
	waitOK(b, url)
	return url, cmd.Process.Pid, stop
}

func waitOK(b *testing.B, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not answer 200 within 30 s (%v)", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqsRE   = regexp.MustCompile(`(\d+) requests in`)
	p99RE    = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)`)
	sockRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk runs wrk against url and parses its figures.
func runWrk(b *testing.B, url string, conns int, dur string) result {
	threads := 2
	if conns < threads {
		threads = conns
	}
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+dur, "--latency", url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	r := result{conns: conns}
	m := rpsRE.FindStringSubmatch(s)
	if m == nil {
		b.Fatalf("wrk output without Requests/sec:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reqsRE.FindStringSubmatch(s); m != nil {
		r.reqs, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := p99RE.FindStringSubmatch(s); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		r.p99ms = v
	}
	if m := sockRE.FindStringSubmatch(s); m != nil {
		for _, x := range m[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			r.errors += n
		}
	}
	if m := non2xxRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += n
	}
	return r
}
