#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing:
# chromium for the browser tests, node for the client library's tests
# (engine/internal/client: node --test), nginx and varnish for the
# caching-proxy tests (cmd/jawas/e2e_cache_test.go; varnishd compiles its
# VCL with gcc), postgresql for the SQL tests (a real server each test
# starts: internal/pgtest). Go modules come from the module proxy.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v varnishd >/dev/null 2>&1 || [ -x /usr/sbin/varnishd ] || need+=(varnish)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# Debian puts the server binaries outside PATH, one directory per version.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "ensure-deps: installing ${need[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
