#!/usr/bin/env bash
# bench/nginx.sh DIR PORT [RUNDIR] — start Debian's nginx as the static-file
# baseline: 2 workers, access_log off, sendfile on, keep-alive without a
# request limit, serving DIR on 127.0.0.1:PORT. Prints the master's pid on
# stdout; stop it with `kill -QUIT PID` (the workers follow their master).
# The generated config, pid file and error log live in RUNDIR (default: a new
# temp dir). Installs nginx (and wrk) with apt-get when missing.
set -euo pipefail

dir=${1:?usage: nginx.sh DIR PORT [RUNDIR]}
port=${2:?usage: nginx.sh DIR PORT [RUNDIR]}
run=${3:-$(mktemp -d /tmp/jawas-nginx.XXXXXX)}
dir=$(cd "$dir" && pwd)
mkdir -p "$run"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "nginx.sh: nginx/wrk missing and not root: apt-get install -y nginx wrk" >&2
		exit 1
	fi
	echo "nginx.sh: installing nginx and wrk" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y nginx wrk >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx wrk >&2; }
fi

user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;" # workers must read DIR, which may be a 0700 temp dir

cat >"$run/nginx.conf" <<CONF
$user_line
worker_processes 2;
worker_rlimit_nofile 20000;
pid $run/nginx.pid;
error_log $run/error.log warn;
daemon on;
events {
	worker_connections 20000;
	use epoll;
	multi_accept on;
}
http {
	types { application/json json; text/html html; text/plain txt; }
	default_type application/octet-stream;
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_requests 1000000000;
	keepalive_timeout 300s;
	open_file_cache max=1000 inactive=60s;
	client_body_temp_path $run/body;
	proxy_temp_path $run/proxy;
	fastcgi_temp_path $run/fastcgi;
	uwsgi_temp_path $run/uwsgi;
	scgi_temp_path $run/scgi;
	server {
		listen 127.0.0.1:$port backlog=8192;
		root $dir;
		etag on;
	}
}
CONF

rm -f "$run/nginx.pid"
nginx -p "$run" -c "$run/nginx.conf" -e "$run/error.log"
for _ in $(seq 50); do
	[ -s "$run/nginx.pid" ] && break
	sleep 0.1
done
if [ ! -s "$run/nginx.pid" ]; then
	echo "nginx.sh: nginx did not start; $run/error.log:" >&2
	cat "$run/error.log" >&2 || true
	exit 1
fi
cat "$run/nginx.pid"
