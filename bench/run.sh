#!/usr/bin/env bash
# bench/run.sh — the benchmark `make bench` runs. Two tables, all on 127.0.0.1:
#
#  1. throughput: wrk -t2 -d$WRK_DURATION at c=100/1000/10000 against nginx
#     serving a ~1 KB JSON file, net/http encoding JSON per request, net/http
#     serving bytes cached once per period (and jawas when JAWAS_URL is set):
#     requests/s, p50/p99, errors, server CPU µs/request, sys share, ratio to
#     nginx at the same connection count.
#  2. capacity: the jawas load generator (bench/cmd/jbench = internal/loadgen):
#     1,000 / 5,000 / 10,000 clients each polling once per 200 ms, against
#     nginx, net/http cached (and jawas): rate held, p99, errors, server CPU.
#
# Server CPU is user+sys of the server's whole process tree from /proc,
# sampled before and after each run (bench/cpustat), divided by requests.
# The load generator shares the 2 cores with the server: compare ratios from
# the same run, not absolute figures across runs.
#
# Environment:
#   JAWAS_URL   a running jawas server's snapshot URL (e.g. http://127.0.0.1:8080/clock.json)
#   JAWAS_PID   its supervisor pid, for CPU figures (optional)
#   MODE        all | wrk | capacity | dev | writes | process | engine | idle | cluster | sql   (default all)
#   SQL_DURATION (10s)  SQL_CONNS ("100 1000")   MODE=sql
#   WRK_DURATION (10s)  CONNS ("100 1000 10000")
#   CAP_DURATION (10s)  CAP_WARMUP (2s)  CLIENTS ("1000 5000 10000")  IDLE_DURATION (60s)
# Bounded: every run has a fixed duration; the default total is ~5 minutes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
MODE=${MODE:-all}
WRK_DURATION=${WRK_DURATION:-10s}
CONNS=${CONNS:-"100 1000 10000"}
CAP_DURATION=${CAP_DURATION:-10s}
CAP_WARMUP=${CAP_WARMUP:-2s}
CLIENTS=${CLIENTS:-"1000 5000 10000"}

work=$(mktemp -d /tmp/jawas-bench.XXXXXX)
pids=()
nginx_pid=""
cleanup() {
	# Stop only what this script started, by pid.
	[ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null || true
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# nginx is a daemon, not our child: wait for its master to exit.
	for _ in $(seq 50); do
		[ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null && kill -KILL "$nginx_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# --- machine setup -----------------------------------------------------------
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
	[ "$(id -u)" = 0 ] || { log "need nginx and wrk: apt-get install -y nginx wrk"; exit 1; }
	log "installing nginx and wrk"
	DEBIAN_FRONTEND=noninteractive apt-get install -y nginx wrk >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx wrk >&2; }
fi
ulimit -n "$(ulimit -Hn)"
if [ "$(id -u)" = 0 ]; then
	sysctl -q -w net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192 || log "sysctl failed; continuing"
fi

log "building baselines into $work/bin"
(cd "$root" && go build -o "$work/bin/" ./bench/baselines/nethttp ./bench/cmd/jbench ./bench/cpustat)
bin=$work/bin

free_port() {
	local p
	for p in $(seq "$1" $(($1 + 200))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port near $1"
	exit 1
}

wait_up() { # URL [tries of 0.1 s]
	for _ in $(seq "${2:-50}"); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	log "server at $1 did not come up"
	exit 1
}

# --- servers -------------------------------------------------------------------
p_per=$(free_port 18101)
"$bin/nethttp" -mode perrequest -addr "127.0.0.1:$p_per" & pid_per=$!; pids+=("$pid_per")
wait_up "http://127.0.0.1:$p_per/"
p_cached=$(free_port $((p_per + 1)))
"$bin/nethttp" -mode cached -addr "127.0.0.1:$p_cached" & pid_cached=$!; pids+=("$pid_cached")
wait_up "http://127.0.0.1:$p_cached/"

# nginx serves the very bytes the baselines send (~1 KB).
mkdir -p "$work/www"
curl -sf "http://127.0.0.1:$p_cached/" >"$work/www/data.json"
p_nginx=$(free_port $((p_cached + 1)))
nginx_pid=$("$root/bench/nginx.sh" "$work/www" "$p_nginx" "$work/nginx")
wait_up "http://127.0.0.1:$p_nginx/data.json"
log "body $(wc -c <"$work/www/data.json") bytes; nginx pid $nginx_pid (:$p_nginx), net/http perrequest pid $pid_per (:$p_per), cached pid $pid_cached (:$p_cached)"

# name|url|pid rows; nginx first: it is the reference for the ratios.
targets=(
	"nginx static file|http://127.0.0.1:$p_nginx/data.json|$nginx_pid"
	"net/http JSON per request|http://127.0.0.1:$p_per/|$pid_per"
	"net/http cached bytes|http://127.0.0.1:$p_cached/|$pid_cached"
)
# ---- JAWAS SLOT --------------------------------------------------------------
# `jawas serve` joins both tables. Either give a running server
# (`JAWAS_URL=http://127.0.0.1:8080/clock.json JAWAS_PID=<supervisor pid>`), or
# let this script start $JAWAS_BIN (default bin/jawas, which `make bench`
# builds) on a fresh project whose one source, bench/jawas-project/bench.js,
# renders the baselines' ~1 KB document once per 200 ms. JAWAS_BIN=none: skip.
JAWAS_BIN=${JAWAS_BIN:-$root/bin/jawas}
if [ -z "${JAWAS_URL:-}" ] && [ "$JAWAS_BIN" != none ] && [ -x "$JAWAS_BIN" ]; then
	jp=$work/jawas-project
	"$JAWAS_BIN" init "$jp" >/dev/null
	cp "$root/bench/jawas-project/bench.js" "$jp/sources/bench.js"
	p_jawas=$(free_port $((p_nginx + 1)))
	"$JAWAS_BIN" serve -C "$jp" --listen "127.0.0.1:$p_jawas" --data-dir "$jp/.jawas" --log-level warn >"$work/jawas.log" 2>&1 &
	JAWAS_PID=$!
	pids+=("$JAWAS_PID")
	JAWAS_URL=http://127.0.0.1:$p_jawas/bench.json
	log "jawas serve pid $JAWAS_PID (:$p_jawas), log $work/jawas.log"
fi
if [ -n "${JAWAS_URL:-}" ]; then
	wait_up "$JAWAS_URL" 300
	targets+=("jawas serve|$JAWAS_URL|${JAWAS_PID:-}")
fi
# -----------------------------------------------------------------------------

cpu() { # PID → "user_us sys_us", or "" without a pid
	[ -n "$1" ] && "$bin/cpustat" "$1" || echo ""
}

# cpu_cols BEFORE AFTER REQUESTS → "µs/req sys%"
cpu_cols() {
	if [ -z "$1" ] || [ -z "$2" ] || [ "${3:-0}" = 0 ]; then
		echo "n/a n/a"
		return
	fi
	awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN {
		split(b, x, " "); split(a, y, " ");
		u = y[1] - x[1]; s = y[2] - x[2];
		if (u + s <= 0) { print "0.0 n/a"; exit }
		printf "%.1f %.0f%%\n", (u + s) / n, 100 * s / (u + s) }'
}

# wrk latency like "1.23ms" / "512.00us" / "1.02s" → ms
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
		else print "n/a" }'
}

printf "\n%s, %s CPUs, load average at start: %s\n" "$(uname -sr)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
log "raw outputs (wrk, jbench JSON) stay in $work"

# --- table 1: wrk ------------------------------------------------------------
if [ "$MODE" = all ] || [ "$MODE" = wrk ]; then
	out=$work/wrk.txt
	printf "\n## Throughput: wrk -t2 -d%s, keep-alive, ~1 KB JSON (all 127.0.0.1)\n\n" "$WRK_DURATION"
	printf "| %-26s | %6s | %9s | %8s | %8s | %7s | %10s | %6s | %8s |\n" server conns "req/s" "p50 ms" "p99 ms" errors "CPU µs/req" "sys" "vs nginx"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" "----------------------------" "-------:" "----------:" "---------:" "---------:" "--------:" "-----------:" "-------:" "---------:"
	declare -A nginx_rps
	for c in $CONNS; do
		for t in "${targets[@]}"; do
			IFS='|' read -r name url pid <<<"$t"
			before=$(cpu "$pid")
			wrk -t2 -c"$c" -d"$WRK_DURATION" --latency "$url" >"$out" 2>&1 || true
			after=$(cpu "$pid")
			rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
			reqs=$(awk '/requests in/ {print $1}' "$out")
			p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
			p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
			errs=$(awk '/Socket errors/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $NF} END {print s + 0}' "$out")
			read -r cpuus sys <<<"$(cpu_cols "$before" "$after" "$reqs")"
			[ "$name" = "nginx static file" ] && nginx_rps[$c]=${rps:-0}
			ratio=$(awk -v a="${rps:-0}" -v b="${nginx_rps[$c]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
			printf "| %-26s | %6s | %9s | %8s | %8s | %7s | %10s | %6s | %8s |\n" "$name" "$c" "${rps:-fail}" "$p50" "$p99" "$errs" "$cpuus" "$sys" "$ratio"
			if [ -z "$rps" ]; then log "wrk failed against $name:"; cat "$out" >&2; fi
		done
	done
fi

# --- table 2: capacity with the jawas load generator ----------------------------
if [ "$MODE" = all ] || [ "$MODE" = capacity ]; then
	printf "\n## Capacity: N clients, each polling once per 200 ms on its own connection (jbench = internal/loadgen), %s measured after %s warmup\n\n" "$CAP_DURATION" "$CAP_WARMUP"
	printf "| %-26s | %7s | %8s | %8s | %6s | %8s | %8s | %7s | %10s | %6s | %8s | %10s | %5s | %9s |\n" server clients "asked/s" "got/s" held "p50 ms" "p99 ms" errors "CPU µs/req" "sys" "lag p99" "gen µs/req" "304 %" "stale p99"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" "----------------------------" "--------:" "---------:" "---------:" "-------:" "---------:" "---------:" "--------:" "-----------:" "-------:" "---------:" "-----------:" "------:" "----------:"
	# Like-for-like jawas row (process-model work): nginx's file never changes
	# (100% 304s) while bench.js changes every period (mostly 200s), so a second
	# jawas serves const.js, the same document with constant bytes (304s too).
	cap_targets=("${targets[@]}")
	if [ -n "${jp:-}" ]; then
		jc=$work/jawas-const
		"$JAWAS_BIN" init "$jc" >/dev/null
		cp "$root/bench/jawas-project/const.js" "$jc/sources/const.js"
		p_jconst=$(free_port $((p_jawas + 1)))
		"$JAWAS_BIN" serve -C "$jc" --listen "127.0.0.1:$p_jconst" --data-dir "$jc/.jawas" --log-level warn >"$work/jawas-const.log" 2>&1 &
		pid_jconst=$!
		pids+=("$pid_jconst")
		cap_targets+=("jawas, constant document|http://127.0.0.1:$p_jconst/const.json|$pid_jconst")
		wait_up "http://127.0.0.1:$p_jconst/const.json" 300
	fi
	for n in $CLIENTS; do
		for t in "${cap_targets[@]}"; do
			IFS='|' read -r name url pid <<<"$t"
			[ "$name" = "net/http JSON per request" ] && continue # the cached variant is the fairer Go baseline here
			[ "$name" = "jawas serve" ] && name="jawas, data changes every period"
			js=$work/cap-$n-$(echo "$name" | tr -c 'a-z0-9' _).json
			before=$(cpu "$pid")
			rc=0
			"$bin/jbench" "$url" --clients "$n" --period 200ms --duration "$CAP_DURATION" --warmup "$CAP_WARMUP" \
				--json "$js" >"$work/cap.txt" 2>"$work/cap.err" || rc=$?
			after=$(cpu "$pid")
			if [ ! -s "$js" ]; then
				log "jbench failed against $name (exit $rc):"; cat "$work/cap.err" >&2
				continue
			fi
			num() { jq -r "$1" "$js"; }
			asked=$(num '.asked_rate | floor')
			got=$(num '.achieved_rate | floor')
			held=$([ "$rc" = 0 ] && echo yes || echo NO)
			errs=$(num '[.errors[]] | add // 0')
			read -r cpuus sys <<<"$(cpu_cols "$before" "$after" "$(num .total_sent)")"
			printf "| %-26s | %7s | %8s | %8s | %6s | %8.2f | %8.2f | %7s | %10s | %6s | %8.1f | %10.1f | %5s | %9s |\n" "$name" "$n" "$asked" "$got" "$held" \
				"$(num .latency.p50_ms)" "$(num .latency.p99_ms)" "$errs" "$cpuus" "$sys" "$(num .lag.p99_ms)" "$(num .generator_cpu_us_per_request)" \
				"$(num 'if (.ok_200 + .not_modified_304) > 0 then (100 * .not_modified_304 / (.ok_200 + .not_modified_304) | floor) else 0 end')" \
				"$(num 'if .staleness then (.staleness.p99_ms * 10 | floor) / 10 else "n/a" end')"
		done
	done
	echo
	echo "held: achieved ≥ 95% of asked with no errors (jbench exit 0). CPU µs/req counts ramp and warmup requests too."
	echo "gen µs/req: the load generator's own CPU per request (it shares the cores with the server)."
	echo "304 %: share of polls answered Not Modified (a static file never changes; a 200 ms source changes every period)."
	echo "jawas, constant document: bench/jawas-project/const.js, the same ~1 KB document with constant bytes, so it gets 304s like nginx's file (like for like)."
	echo "stale p99: age of the served snapshot at receipt, from X-Jawas-Period/X-Jawas-Next (ms; n/a without them)."
	echo "lag p99: how far behind schedule the generator sent (ms); at or above the 200 ms period means the generator itself was starved (CPU) and could not send on time."
fi
printf "\nload average at end: %s (other work on the machine inflates every figure; compare rows of one run)\n" "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- DEV MODE: save → served (bench/dev; owned by the dev-mode work) --------
# `jawas serve --dev` on a copy of the demo: saves sources/clock.js 20 times
# and measures until the new snapshot is served. Goal: p50 < 100 ms.
if [ "$MODE" = all ] || [ "$MODE" = dev ]; then
	printf "\n## Dev mode: save a source → new snapshot served\n\n"
	(cd "$root" && go build -o "$work/bin/jawas-dev" ./cmd/jawas &&
		go run ./bench/dev -jawas "$work/bin/jawas-dev" -project "$root" -n 20) || log "bench/dev failed (see above)"
fi

# ---- WRITES: acknowledged writes/s, fsyncs/s, reads while writing (bench/writes; owned by the write-path work)
if [ "$MODE" = all ] || [ "$MODE" = writes ]; then
	printf "\n## Writes: group commit (sync), none, reads while writing\n\n"
	(cd "$root" && go build -o "$work/bin/jawas-writes" ./cmd/jawas &&
		go run ./bench/writes -jawas "$work/bin/jawas-writes" -d 5s -rounds 9) || log "bench/writes failed (see above)"
	# The crash-consistency check of make test, larger: 16 clients × 400
	# unique ids, 40 SIGKILLs of workers, engine and supervisor, with each
	# durability (about a minute).
	printf "\n### Crash consistency, large (JAWAS_CRASH_LARGE=1 TestCrashConsistency)\n\n"
	(cd "$root" && JAWAS_CRASH_LARGE=1 go test -count=1 -run 'TestCrashConsistency' -v ./engine/internal/writes/ |
		grep -E -- '--- (PASS|FAIL)|lost [0-9]+, duplicated|^(ok|FAIL)') || log "crash consistency (large) failed (see above)"
fi

# ---- PROCESS MODEL: prefork vs single-process, snapshot PSS, restart, idle memory, p99 (bench/process; owned by the process-model work)
# Starts its own jawas servers (workers 1/2/4, --single-process, a 10 MB
# snapshot, 10,000 idle connections, 20 worker kills); about 2.5 minutes.
if [ "$MODE" = all ] || [ "$MODE" = process ]; then
	printf "\n## Process model\n"
	(cd "$root" && go build -o "$work/bin/jawas-process" ./cmd/jawas && go build -o "$work/bin/process" ./bench/process &&
		"$work/bin/process" -jawas "$work/bin/jawas-process" -nginx "$root/bench/nginx.sh" -source "$root/bench/jawas-project/bench.js") ||
		log "bench/process failed (see above)"
fi

# ---- ENGINE: per-period cost of a source, 100 sources' CPU share, build time (engine/internal/bench/engine)
if [ "$MODE" = all ] || [ "$MODE" = engine ]; then
	printf "\n"
	(cd "$root" && go build -o "$work/bin/jawas-engine" ./cmd/jawas && go build -o "$work/bin/engine" ./engine/internal/bench/engine &&
		"$work/bin/engine" -jawas "$work/bin/jawas-engine" -root "$root" -duration 5s) || log "engine/internal/bench/engine failed (see above)"
fi

# ---- IDLE: what `jawas serve` costs with nothing to do (bench/idle; issue 18)
# The real binary on a copy of the demo project, no requests: CPU of the
# whole process tree from /proc over 60 s after 5 s to settle, per process
# with its wake-ups/s. Twice: the demo as it is (its clock and arena publish
# a new version every 200 ms: real work) and with the clock replaced by a
# constant source and the arena's time dropped (the floor of the process
# model; no version published). Goal < 0.5% of one core. ~2.5 min.
if [ "$MODE" = all ] || [ "$MODE" = idle ]; then
	printf "\n"
	(cd "$root" && go build -o "$work/bin/jawas-idle" ./cmd/jawas && go build -o "$work/bin/idle" ./bench/idle &&
		"$work/bin/idle" -jawas "$work/bin/jawas-idle" -root "$root" -d "${IDLE_DURATION:-60s}" &&
		printf "\n" && "$work/bin/idle" -jawas "$work/bin/jawas-idle" -root "$root" -d "${IDLE_DURATION:-60s}" -quiet) ||
		log "bench/idle failed (see above)"
fi

# ---- CLUSTER: three nodes on embedded NATS (fsync before every ack): replicated
# writes/s at 64 and 256 writers vs one node with the same client, write-to-
# visible on another node, a follower's reads vs one node's, failover time
# from a leader SIGKILL with the default lease_ttl (external and embedded
# NATS), each beside its goal (bench/cluster, about three minutes); then the
# fault tests of engine/internal/cluster under write load.
if [ "$MODE" = all ] || [ "$MODE" = cluster ]; then
	printf "\n## Cluster (NATS JetStream, three nodes on this machine)\n\n"
	(cd "$root" && go build -o "$work/bin/jawas-cluster" ./cmd/jawas && go build -o "$work/bin/cluster" ./bench/cluster &&
		"$work/bin/cluster" -jawas "$work/bin/jawas-cluster") || log "bench/cluster failed (see above)"
	(cd "$root" && go test -count=1 -run 'TestKillLeaderUnderWrites|TestKillStreamLeaderUnderWrites' -v ./engine/internal/cluster/ |
		grep -E -- '--- (PASS|FAIL)|killed|acknowledged writes, all|^(ok|FAIL)') || log "cluster fault tests failed (see above)"
fi

# ---- SQL: a source answering from PostgreSQL vs (a) net/http querying per
# request and (b) nginx with a 1 s microcache in front of (a): req/s, p99 and
# the queries/s PostgreSQL counted (bench/sql, a real server via
# internal/pgtest); 3 servers × SQL_CONNS × SQL_DURATION, about a minute.
if [ "$MODE" = all ] || [ "$MODE" = sql ]; then
	(cd "$root" && go build -o "$work/bin/jawas-sql" ./cmd/jawas &&
		SQL_DURATION=${SQL_DURATION:-10s} SQL_CONNS=${SQL_CONNS:-"100 1000"} JAWAS_BIN="$work/bin/jawas-sql" \
			go test -count=1 -run '^$' -bench BenchmarkSQL -benchtime 1x -timeout 20m ./bench/sql/ |
		grep -vE '^(goos|goarch|pkg|cpu|PASS|ok|BenchmarkSQL)') || log "bench/sql failed (see above)"
fi
