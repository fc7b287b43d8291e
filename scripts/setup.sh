#!/usr/bin/env bash
# One-time (idempotent) set-up of a Debian 12 host for trove, run as root:
# the database engines from Debian's packages, the unprivileged user they run as,
# the npm dependencies and the TypeScript build. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "trove setup: run as root (it installs Debian packages and creates the engine user)" >&2
  exit 1
fi

# python3-openstackclient + python3-troveclient: the real client, used by the interop tests and benchmarks;
# tmux: a real terminal for the tests of the interactive views.
pkgs=(mariadb-server mariadb-backup postgresql redis-server procps iproute2 util-linux python3-openstackclient python3-troveclient tmux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "trove setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packaged services must not start: each instance runs its own engine process.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The unprivileged system user every engine runs as (PostgreSQL and Redis refuse or should not run as root).
if ! id -u troveguest >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin troveguest
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
